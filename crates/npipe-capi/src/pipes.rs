//! Named pipes: CreateNamedPipe, CreateFile on a pipe or mailslot name, ConnectNamedPipe,
//! DisconnectNamedPipe, WaitNamedPipe, CallNamedPipe, TransactNamedPipe, PeekNamedPipe, and
//! the handle state and info calls.

use crate::handles::{insert, not_pipe, with, with_entry, Entry, Object};
use crate::overlapped::{self, finish_read};
use crate::*;

/// `FILE_FLAG_OVERLAPPED`.
pub(crate) const FILE_FLAG_OVERLAPPED: DWORD = 0x4000_0000;
/// CreateFile's security quality of service bits (`SECURITY_SQOS_PRESENT` and the rest).
const SECURITY_VALID_SQOS_FLAGS: DWORD = 0x001F_0000;

#[allow(clippy::too_many_arguments)]
fn create_named_pipe(
    name: Option<String>,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
    policy: Result<Option<npipe::AccessPolicy>, u32>,
) -> HANDLE {
    let Some(name) = name else {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    let mut opts = match ServerOptions::from_win32(open_mode, pipe_mode, max, out, inb, timeout) {
        Ok(o) => o,
        Err(e) => {
            fail_io(&e);
            return INVALID_HANDLE_VALUE;
        }
    };
    if !crate::acls::apply_policy(policy, |p| {
        opts.access_policy(p);
    }) {
        return INVALID_HANDLE_VALUE;
    }
    match opts.create_ex(&name) {
        Ok((s, existed)) => {
            set_error(if existed {
                ERROR_ALREADY_EXISTS
            } else {
                ERROR_SUCCESS
            });
            insert(Entry::new(
                Object::Server(s),
                open_mode & FILE_FLAG_OVERLAPPED != 0,
            ))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `CreateNamedPipeA`: the descriptor in `sa` sets the pipe's access policy (see `acls`).
///
/// # Safety
/// `name` is null or a NUL-terminated string. `sa` is null or a readable SECURITY_ATTRIBUTES whose descriptor is
/// null or valid.
#[export_name = "npipe_CreateNamedPipeA"]
pub unsafe extern "C" fn CreateNamedPipeA(
    name: *const c_char,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
    sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    let policy = unsafe { crate::acls::policy_of(sa.cast()) };
    let h = create_named_pipe(n, open_mode, pipe_mode, max, out, inb, timeout, policy);
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    unsafe { inherit_if_asked(h, sa.cast()) };
    h
}

/// `CreateNamedPipeW`: the descriptor in `sa` sets the pipe's access policy (see `acls`).
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string. `sa` is null or a readable SECURITY_ATTRIBUTES whose descriptor is
/// null or valid.
#[export_name = "npipe_CreateNamedPipeW"]
pub unsafe extern "C" fn CreateNamedPipeW(
    name: *const u16,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
    sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    let policy = unsafe { crate::acls::policy_of(sa.cast()) };
    let h = create_named_pipe(n, open_mode, pipe_mode, max, out, inb, timeout, policy);
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    unsafe { inherit_if_asked(h, sa.cast()) };
    h
}

fn create_file(name: Option<String>, access: DWORD, disposition: DWORD, flags: DWORD) -> HANDLE {
    let Some(name) = name else {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    if !crate::files::is_device_name(&name) {
        return crate::files::create_file(&name, access, disposition, flags);
    }
    // Routed on the normalised name: `\\.\mailslot\..\pipe\x` is a pipe.
    if npipe::is_mailslot_name(&name) {
        // W148: any access and share mode opens a writer.
        return match MailslotWriter::open(&name) {
            Ok(w) => {
                set_error(ERROR_SUCCESS);
                insert(Entry::new(
                    Object::MailslotWriter(w),
                    flags & FILE_FLAG_OVERLAPPED != 0,
                ))
            }
            Err(e) => {
                fail_io(&e);
                INVALID_HANDLE_VALUE
            }
        };
    }
    // The security quality of service (SECURITY_SQOS_PRESENT and its level and tracking
    // bits) goes to the server: with static tracking it may impersonate at once.
    match ClientOptions::new()
        .access_mask(access)
        .security_qos_flags(flags & SECURITY_VALID_SQOS_FLAGS)
        .open(&name)
    {
        Ok(c) => {
            // A ConnectNamedPipe pending in this process has completed when this returns.
            let obj = Object::Client(c);
            overlapped::settle_for(&obj);
            set_error(ERROR_SUCCESS);
            insert(Entry::new(obj, flags & FILE_FLAG_OVERLAPPED != 0))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// Marks `h` inheritable when `sa` asks for it (bInheritHandle), keeping the last error.
///
/// # Safety
/// `sa` is null or a readable SECURITY_ATTRIBUTES.
pub(crate) unsafe fn inherit_if_asked(h: HANDLE, sa: *const crate::anonymous::SECURITY_ATTRIBUTES) {
    // SAFETY: null or readable (caller).
    if h != INVALID_HANDLE_VALUE && !sa.is_null() && unsafe { (*sa).b_inherit_handle } != 0 {
        crate::handles::set_flags(
            h,
            crate::handles::HANDLE_FLAG_INHERIT,
            crate::handles::HANDLE_FLAG_INHERIT,
        );
    }
}

/// `CreateFileA`: a pipe or mailslot name (`\\.\pipe\...`, `\\.\mailslot\...`) opens
/// a client end or a mailslot writer; any other name is a file path (see `files`).
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[export_name = "npipe_CreateFileA"]
pub unsafe extern "C" fn CreateFileA(
    name: *const c_char,
    access: DWORD,
    _share: DWORD,
    sa: *mut c_void,
    disposition: DWORD,
    flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    let h = create_file(n, access, disposition, flags);
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    unsafe { inherit_if_asked(h, sa.cast()) };
    h
}

/// `CreateFileW`: as [`CreateFileA`].
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[export_name = "npipe_CreateFileW"]
pub unsafe extern "C" fn CreateFileW(
    name: *const u16,
    access: DWORD,
    _share: DWORD,
    sa: *mut c_void,
    disposition: DWORD,
    flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    let h = create_file(n, access, disposition, flags);
    // SAFETY: sa is null or a readable SECURITY_ATTRIBUTES (caller).
    unsafe { inherit_if_asked(h, sa.cast()) };
    h
}

/// `ConnectNamedPipe`. With an OVERLAPPED on a handle opened with FILE_FLAG_OVERLAPPED it
/// returns FALSE + ERROR_IO_PENDING until a client connects (W39).
///
/// # Safety
/// `ov` is null or a valid OVERLAPPED that stays in place until the operation completes.
#[export_name = "npipe_ConnectNamedPipe"]
pub unsafe extern "C" fn ConnectNamedPipe(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    with_entry(h, FALSE, |e| match &e.obj {
        Object::Server(s) => {
            if !ov.is_null() && e.overlapped && !s.is_nowait() {
                // SAFETY: ov is a valid OVERLAPPED that stays in place (caller).
                return unsafe { overlapped::issue_connect(e, s, ov) };
            }
            // SAFETY: ov is null or valid (caller).
            unsafe { overlapped::begin_sync(e, ov) };
            let r = match s.connect_status() {
                Ok(false) => Ok(MsgLen::new(0, 0)),
                Ok(true) => return fail(ERROR_PIPE_CONNECTED),
                Err(err) => Err(err),
            };
            // SAFETY: ov is null or valid (caller).
            unsafe { overlapped::finish_sync(e, r, std::ptr::null_mut(), ov) }
        }
        // W37: a client end cannot listen.
        Object::Client(_) => fail(ERROR_INVALID_FUNCTION),
        o => fail_not_pipe(o),
    })
}

/// Fails with what a named-pipe call gives on a handle that is not a named pipe (see
/// `handles::not_pipe`).
fn fail_not_pipe(o: &Object) -> BOOL {
    match not_pipe::<()>(o) {
        Err(e) => fail_io(&e),
        Ok(()) => TRUE,
    }
}

/// `DisconnectNamedPipe`.
#[export_name = "npipe_DisconnectNamedPipe"]
pub extern "C" fn DisconnectNamedPipe(h: HANDLE) -> BOOL {
    with(h, FALSE, |o| match o {
        Object::Server(s) => {
            // The client's pending operations fail (W48): when it is in this process, they
            // have completed by the time this returns.
            let local = crate::engine::busy() && overlapped::peer_is_local(o);
            let r = s.disconnect();
            if local {
                crate::engine::settle();
            }
            match r {
                Ok(()) => TRUE,
                Err(e) => fail_io(&e),
            }
        }
        Object::Client(_) => fail(ERROR_INVALID_FUNCTION),
        o => fail_not_pipe(o),
    })
}

/// `PeekNamedPipe`.
///
/// # Safety
/// `buffer` is valid for `size` bytes when `size > 0`; the out pointers are null or writable.
#[export_name = "npipe_PeekNamedPipe"]
pub unsafe extern "C" fn PeekNamedPipe(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    avail: *mut DWORD,
    left: *mut DWORD,
) -> BOOL {
    // SAFETY: valid for size bytes when non-null (caller); W82: (LPVOID)1 with size 0 is never
    // touched because buf_mut returns an empty slice for size 0.
    let given = unsafe { buf_mut(buffer, size) };
    // A NULL buffer is documented as "no data is to be read", whatever the size: Windows peeks
    // into a buffer of its own and reports the count without copying it anywhere.
    let mut scratch = Vec::new();
    let b = match given {
        Some(b) if !b.is_empty() => Some(b),
        Some(_) => None,
        None => {
            scratch.resize((size as usize).min(16 << 20), 0u8);
            Some(&mut scratch[..])
        }
    };
    with_entry(h, FALSE, |e| {
        // What this handle's pending operations have already met (a client that connected, data
        // that arrived) has completed them before the state is looked at, as on Windows.
        if e.io.any_outstanding() {
            crate::engine::settle();
        }
        let o = &e.obj;
        if lacks(o, FILE_READ_DATA) {
            return fail(ERROR_ACCESS_DENIED);
        }
        let r = match o {
            Object::Server(s) => s.peek(b),
            Object::Client(c) => c.peek(b),
            Object::AnonRead(r) => r.peek(b),
            _ => not_pipe(o),
        };
        match r {
            Ok(p) => {
                // SAFETY: out pointers are null or writable (caller).
                unsafe {
                    put(read, p.read);
                    put(avail, p.available);
                    put(left, p.left_this_message);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `TransactNamedPipe`.
///
/// # Safety
/// `inb` is valid for `in_size` bytes of reading, `outb` for `out_size` bytes of writing; `read`
/// and `ov` are null or writable.
#[export_name = "npipe_TransactNamedPipe"]
pub unsafe extern "C" fn TransactNamedPipe(
    h: HANDLE,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    with_entry(h, FALSE, |e| {
        if (in_size > 0 && inb.is_null()) || (out_size > 0 && outb.is_null()) {
            // Checked after the handle, as Windows does.
            return fail(ERROR_NOACCESS);
        }
        let pipe_end = matches!(e.obj, Object::Server(_) | Object::Client(_));
        if !ov.is_null() && e.overlapped && pipe_end {
            let op = overlapped::Op::Transact {
                req: overlapped::Buf::new(inb, in_size),
                reply: overlapped::Buf::new(outb, out_size),
                op: Default::default(),
            };
            // SAFETY: buffers and ov stay valid until completion (caller).
            let r = unsafe { overlapped::issue(e, ov, op, overlapped::Call::Transact, read) };
            overlapped::settle_for(&e.obj);
            return r;
        }
        // SAFETY: buffers valid for their sizes (caller), non-null when sized (checked).
        let (Some(req), Some(rep)) = (unsafe { (buf(inb, in_size), buf_mut(outb, out_size)) })
        else {
            return fail(ERROR_NOACCESS);
        };
        // SAFETY: ov is null or valid (caller).
        unsafe { overlapped::begin_sync(e, ov) };
        let r = match &e.obj {
            Object::Server(s) => s.transact(req, rep),
            Object::Client(c) => c.transact(req, rep),
            _ => not_pipe(&e.obj),
        };
        // SAFETY: forwarded contract.
        let ret = unsafe { overlapped::finish_sync(e, r, read, ov) };
        overlapped::settle_for(&e.obj);
        ret
    })
}

/// # Safety
/// Buffers valid for their sizes; `read` null or writable.
unsafe fn call_named_pipe(
    name: Option<String>,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    let Some(name) = name else {
        return fail(ERROR_PATH_NOT_FOUND);
    };
    // SAFETY: buffers valid for their sizes (caller).
    let (Some(req), Some(rep)) = (unsafe { (buf(inb, in_size), buf_mut(outb, out_size)) }) else {
        return fail(ERROR_NOACCESS);
    };
    let r = npipe::call_named_pipe(&name, req, rep, WaitFor::from_win32(timeout));
    // SAFETY: forwarded contract.
    unsafe { finish_read(r, read, std::ptr::null_mut()) }
}

/// `CallNamedPipeA`.
///
/// # Safety
/// `name` NUL-terminated; buffers valid for their sizes; `read` null or writable.
#[export_name = "npipe_CallNamedPipeA"]
pub unsafe extern "C" fn CallNamedPipeA(
    name: *const c_char,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { call_named_pipe(name_a(name), inb, in_size, outb, out_size, read, timeout) }
}

/// `CallNamedPipeW`.
///
/// # Safety
/// `name` NUL-terminated UTF-16; buffers valid for their sizes; `read` null or writable.
#[export_name = "npipe_CallNamedPipeW"]
pub unsafe extern "C" fn CallNamedPipeW(
    name: *const u16,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { call_named_pipe(name_w(name), inb, in_size, outb, out_size, read, timeout) }
}

fn wait_named_pipe(name: Option<String>, timeout: DWORD) -> BOOL {
    let Some(name) = name else {
        return fail(ERROR_PATH_NOT_FOUND);
    };
    match npipe::wait_named_pipe(&name, WaitFor::from_win32(timeout)) {
        Ok(()) => TRUE,
        Err(e) => fail_io(&e),
    }
}

/// `WaitNamedPipeA`.
///
/// # Safety
/// `name` is null or NUL-terminated.
#[export_name = "npipe_WaitNamedPipeA"]
pub unsafe extern "C" fn WaitNamedPipeA(name: *const c_char, timeout: DWORD) -> BOOL {
    // SAFETY: forwarded contract.
    wait_named_pipe(unsafe { name_a(name) }, timeout)
}

/// `WaitNamedPipeW`.
///
/// # Safety
/// `name` is null or NUL-terminated UTF-16.
#[export_name = "npipe_WaitNamedPipeW"]
pub unsafe extern "C" fn WaitNamedPipeW(name: *const u16, timeout: DWORD) -> BOOL {
    // SAFETY: forwarded contract.
    wait_named_pipe(unsafe { name_w(name) }, timeout)
}

/// `SetNamedPipeHandleState`. The collection parameters apply to remote pipes only and are
/// ignored, as Wine does.
///
/// # Safety
/// `mode` is null or readable.
#[export_name = "npipe_SetNamedPipeHandleState"]
pub unsafe extern "C" fn SetNamedPipeHandleState(
    h: HANDLE,
    mode: *mut DWORD,
    _max_collection: *mut DWORD,
    _collect_timeout: *mut DWORD,
) -> BOOL {
    let m = if mode.is_null() {
        None
    } else {
        // SAFETY: non-null and readable (caller).
        Some(unsafe { mode.read_unaligned() })
    };
    with(h, FALSE, |o| {
        let Some(m) = m else { return TRUE };
        if lacks(o, FILE_WRITE_ATTRIBUTES) {
            return fail(ERROR_ACCESS_DENIED);
        }
        let r = match o {
            Object::Server(s) => s.set_mode_bits(m),
            Object::Client(c) => c.set_mode_bits(m),
            // Anonymous pipes are named pipes on Windows: libuv and Git set their modes.
            Object::AnonRead(r) => r.set_mode_bits(m),
            Object::AnonWrite(w) => w.set_mode_bits(m),
            _ => not_pipe(o),
        };
        match r {
            Ok(()) => TRUE,
            Err(e) => fail_io(&e),
        }
    })
}

// The rights the calls below need: FILE_READ_DATA (PeekNamedPipe), FILE_READ_ATTRIBUTES
// (GetNamedPipeHandleState's and GetNamedPipeInfo's queries), FILE_WRITE_ATTRIBUTES
// (SetNamedPipeHandleState).
use npipe::rights::{
    FILE_GENERIC_READ, FILE_GENERIC_WRITE, FILE_READ_ATTRIBUTES, FILE_READ_DATA,
    FILE_WRITE_ATTRIBUTES,
};

/// Whether the handle lacks `right`, which the call about to run needs (W120): a server's
/// rights follow its pipe's direction (W24), a client's the access it was opened with;
/// CreatePipe opens its read end for reading and writing attributes, its write end for
/// writing and reading them, as Windows does.
fn lacks(o: &Object, right: DWORD) -> bool {
    let rights = match o {
        Object::Server(s) => s.access_rights(),
        Object::Client(c) => c.access_rights(),
        Object::AnonRead(_) => FILE_GENERIC_READ | FILE_WRITE_ATTRIBUTES,
        Object::AnonWrite(_) => FILE_GENERIC_WRITE | FILE_READ_ATTRIBUTES,
        _ => return false,
    };
    rights & right == 0
}

/// Where GetNamedPipeHandleState puts the client's user name: nowhere, or an ANSI or UTF-16
/// buffer of `size` characters.
#[derive(Clone, Copy)]
enum UserName {
    None,
    A(*mut c_char, DWORD),
    W(*mut u16, DWORD),
}

impl UserName {
    /// Copies `name` and its terminating NUL; ERROR_INSUFFICIENT_BUFFER when they do not fit
    /// (as GetUserName, which Windows calls for it).
    ///
    /// # Safety
    /// The buffer is writable for its size.
    unsafe fn put(self, name: &str) -> Result<(), DWORD> {
        let fits = match self {
            UserName::None => true,
            // SAFETY: writable for `size` bytes (caller).
            UserName::A(p, size) => unsafe {
                put_terminated(p.cast::<u8>(), size as usize, name.as_bytes())
            },
            UserName::W(p, size) => {
                let w: Vec<u16> = name.encode_utf16().collect();
                // SAFETY: writable for `size` units (caller).
                unsafe { put_terminated(p, size as usize, &w) }
            }
        };
        if fits {
            Ok(())
        } else {
            Err(ERROR_INSUFFICIENT_BUFFER)
        }
    }
}

/// # Safety
/// Out pointers null or writable; the user name's buffer writable for its size.
unsafe fn handle_state(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user: UserName,
) -> BOOL {
    with(h, FALSE, |o| {
        if (!state.is_null() || !cur.is_null()) && lacks(o, FILE_READ_ATTRIBUTES) {
            return fail(ERROR_ACCESS_DENIED);
        }
        // W118: the collection parameters are for a client of a remote pipe.
        if !max_collection.is_null() || !collect_timeout.is_null() {
            return fail(ERROR_INVALID_PARAMETER);
        }
        let st = match o {
            Object::Server(s) => s.handle_state(),
            Object::Client(c) => c.handle_state(),
            Object::AnonRead(r) => r.handle_state(),
            Object::AnonWrite(w) => w.handle_state(),
            _ => not_pipe(o),
        };
        let st = match st {
            Ok(st) => st,
            Err(e) => return fail_io(&e),
        };
        let bits = (st.nowait as DWORD)
            | if st.read_mode == ReadMode::Message {
                2
            } else {
                0
            };
        // SAFETY: out pointers null or writable (caller).
        unsafe {
            put(state, bits);
            put(cur, st.instances);
        }
        if !matches!(user, UserName::None) {
            // Windows impersonates the client to read its name, after the state: the errors
            // of ImpersonateNamedPipeClient (W133), whose client end cannot impersonate.
            let Object::Server(s) = o else {
                return fail(ERROR_CANNOT_IMPERSONATE);
            };
            let name = match s.client_user_name() {
                Ok(n) => n,
                Err(e) => return fail_io(&e),
            };
            // SAFETY: the buffer is writable for its size (caller).
            if let Err(code) = unsafe { user.put(&name) } {
                return fail(code);
            }
        }
        TRUE
    })
}

/// `GetNamedPipeHandleStateA`. On a server, `user` receives the client's user name (see
/// `NamedPipeServer::client_user_name`); a client end cannot give one
/// (ERROR_CANNOT_IMPERSONATE, as ImpersonateNamedPipeClient on it).
///
/// # Safety
/// Out pointers are null or writable; `user` is null or writable for `user_size` bytes.
#[export_name = "npipe_GetNamedPipeHandleStateA"]
pub unsafe extern "C" fn GetNamedPipeHandleStateA(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user: *mut c_char,
    user_size: DWORD,
) -> BOOL {
    let user = if user.is_null() {
        UserName::None
    } else {
        UserName::A(user, user_size)
    };
    // SAFETY: forwarded contract.
    unsafe { handle_state(h, state, cur, max_collection, collect_timeout, user) }
}

/// `GetNamedPipeHandleStateW`: as the A form, `user` counted in UTF-16 units.
///
/// # Safety
/// Out pointers are null or writable; `user` is null or writable for `user_size` units.
#[export_name = "npipe_GetNamedPipeHandleStateW"]
pub unsafe extern "C" fn GetNamedPipeHandleStateW(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user: *mut u16,
    user_size: DWORD,
) -> BOOL {
    let user = if user.is_null() {
        UserName::None
    } else {
        UserName::W(user, user_size)
    };
    // SAFETY: forwarded contract.
    unsafe { handle_state(h, state, cur, max_collection, collect_timeout, user) }
}

/// `GetNamedPipeInfo`.
///
/// # Safety
/// Out pointers are null or writable.
#[export_name = "npipe_GetNamedPipeInfo"]
pub unsafe extern "C" fn GetNamedPipeInfo(
    h: HANDLE,
    flags: *mut DWORD,
    out: *mut DWORD,
    inb: *mut DWORD,
    max: *mut DWORD,
) -> BOOL {
    with(h, FALSE, |o| {
        if lacks(o, FILE_READ_ATTRIBUTES) {
            return fail(ERROR_ACCESS_DENIED);
        }
        let info = match o {
            Object::Server(s) => s.info(),
            Object::Client(c) => c.info(),
            Object::AnonRead(r) => Ok(r.info()),
            Object::AnonWrite(w) => Ok(w.info()),
            _ => not_pipe(o),
        };
        match info {
            Ok(i) => {
                let f = (i.server_end as DWORD)
                    | if i.mode == npipe::PipeMode::Message {
                        4
                    } else {
                        0
                    };
                // SAFETY: out pointers null or writable (caller).
                unsafe {
                    put(flags, f);
                    put(out, i.out_buffer_size);
                    put(inb, i.in_buffer_size);
                    put(max, i.max_instances);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeClientProcessId`.
///
/// # Safety
/// `id` is null or writable.
#[export_name = "npipe_GetNamedPipeClientProcessId"]
pub unsafe extern "C" fn GetNamedPipeClientProcessId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => s.client_process_id(),
            Object::Client(c) => c.client_process_id(),
            _ => not_pipe(o),
        };
        match r {
            Ok(p) => {
                // SAFETY: id is non-null and writable (caller).
                unsafe { put(id, p) };
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeServerProcessId`.
///
/// # Safety
/// `id` is null or writable.
#[export_name = "npipe_GetNamedPipeServerProcessId"]
pub unsafe extern "C" fn GetNamedPipeServerProcessId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => Ok(s.server_process_id()),
            Object::Client(c) => c.server_process_id(),
            _ => not_pipe(o),
        };
        match r {
            Ok(p) => {
                // SAFETY: id is non-null and writable (caller).
                unsafe { put(id, p) };
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}
