//! Processes: CreateProcess (running a Linux program), process handles (waitable, signalled
//! when the process exits), GetExitCodeProcess, TerminateProcess, ExitProcess, and handle
//! inheritance into the child.
//!
//! - The command line is split with Windows' rules (quotes, backslashes before quotes); its
//!   first token is the program, looked up as Windows does: in the directory of the calling
//!   program, the current directory, then each directory of PATH (a name with a `/` is a path).
//!   `child.exe` also finds `child`. The program gets every token as its `argv`.
//! - Standard handles: with STARTF_USESTDHANDLES the STARTUPINFO's three handles, otherwise
//!   this process's standard handles (GetStdHandle), become the child's descriptors 0, 1, 2. A
//!   handle that cannot reach the child (NULL, not inheritable, or bInheritHandles FALSE) leaves
//!   /dev/null there. A named pipe end as a standard handle is carried by a relay thread of
//!   this process (see `relay`): the child gets a kernel pipe.
//! - With bInheritHandles, every inheritable file and anonymous pipe handle reaches the child
//!   at the same handle value (programs pass handle values on the command line): the
//!   descriptors are passed and their values listed in `NPIPE_INHERITED_HANDLES`, which libnpipe
//!   in the child reads before it makes its first handle. Nothing else crosses: descriptors stay
//!   close-on-exec, so a handle that is not inheritable is never open in the child.
//! - A process handle is signalled when the process exits; a thread reaps it then. Its exit code
//!   is the program's exit status; a process killed by a signal has the code TerminateProcess
//!   gave, or the Windows status for that crash (SIGSEGV: 0xC0000005...), else 128 + signal.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::handles::CloseHandle;
use crate::handles::{self, Entry, Object, HANDLE_FLAG_INHERIT};
use crate::sync::Signal;
use crate::threads::STILL_ACTIVE;
use crate::*;

/// `STARTF_USESTDHANDLES`.
const STARTF_USESTDHANDLES: DWORD = 0x100;
/// `CREATE_SUSPENDED`.
const CREATE_SUSPENDED: DWORD = 0x4;
/// `CREATE_NEW_PROCESS_GROUP`.
const CREATE_NEW_PROCESS_GROUP: DWORD = 0x200;
/// `CREATE_UNICODE_ENVIRONMENT`.
const CREATE_UNICODE_ENVIRONMENT: DWORD = 0x400;
/// `ERROR_BAD_EXE_FORMAT`.
const ERROR_BAD_EXE_FORMAT: DWORD = 193;
/// `ERROR_DIRECTORY`: lpCurrentDirectory is not a directory.
const ERROR_DIRECTORY: DWORD = 267;

/// `STARTUPINFOA` (and `STARTUPINFOW`: the same layout, with wide strings).
#[repr(C)]
#[derive(Debug)]
pub struct STARTUPINFOA {
    /// Size of the structure.
    pub cb: DWORD,
    /// Reserved.
    pub lp_reserved: *mut c_char,
    /// Desktop (ignored).
    pub lp_desktop: *mut c_char,
    /// Console title (ignored).
    pub lp_title: *mut c_char,
    /// Window placement and console fields (ignored).
    pub dw_x: DWORD,
    /// See `dw_x`.
    pub dw_y: DWORD,
    /// See `dw_x`.
    pub dw_x_size: DWORD,
    /// See `dw_x`.
    pub dw_y_size: DWORD,
    /// See `dw_x`.
    pub dw_x_count_chars: DWORD,
    /// See `dw_x`.
    pub dw_y_count_chars: DWORD,
    /// See `dw_x`.
    pub dw_fill_attribute: DWORD,
    /// STARTF_* flags: STARTF_USESTDHANDLES is the one that matters here.
    pub dw_flags: DWORD,
    /// Ignored.
    pub w_show_window: u16,
    /// Reserved.
    pub cb_reserved2: u16,
    /// Reserved.
    pub lp_reserved2: *mut u8,
    /// The child's standard input with STARTF_USESTDHANDLES.
    pub h_std_input: HANDLE,
    /// The child's standard output.
    pub h_std_output: HANDLE,
    /// The child's standard error.
    pub h_std_error: HANDLE,
}

/// `PROCESS_INFORMATION`.
#[repr(C)]
#[derive(Debug)]
pub struct PROCESS_INFORMATION {
    /// A handle to the process (waitable, CloseHandle it).
    pub h_process: HANDLE,
    /// A handle to its main thread: here another handle to the process, signalled at exit.
    pub h_thread: HANDLE,
    /// The process id (the Linux pid).
    pub dw_process_id: DWORD,
    /// The main thread's id (the Linux tid of the main thread, which is the pid).
    pub dw_thread_id: DWORD,
}

#[derive(Debug, Default)]
struct State {
    /// The exit code once the process has exited.
    code: Option<DWORD>,
    /// The code TerminateProcess asked for.
    terminated_with: Option<DWORD>,
}

/// A process: a child this process made, or this process itself.
#[derive(Debug)]
pub(crate) struct Process {
    pid: u32,
    /// Set (manual reset) when the process has exited.
    done: Signal,
    /// The same for its main thread (`hThread`), a signal of its own so that a wait-all
    /// naming the process and its thread names two objects, as on Windows.
    main_thread_done: Signal,
    state: Mutex<State>,
}

impl Process {
    /// Set when the process has exited.
    pub(crate) fn done(&self) -> &Signal {
        &self.done
    }

    /// Set when its main thread has ended, which is when the process has exited.
    pub(crate) fn main_thread_done(&self) -> &Signal {
        &self.main_thread_done
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Linux pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    fn is_self(&self) -> bool {
        self.pid == std::process::id()
    }

    /// Runs `f` under the lock `reap` reaps under, so that the pid stays this process's while
    /// `f` runs (before it is reaped it cannot be reused); `None` once it has been reaped.
    pub(crate) fn unreaped<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let st = self.state();
        st.code.is_none().then(f)
    }

    /// The exit code, or STILL_ACTIVE (its main thread's too).
    pub(crate) fn exit_code(&self) -> DWORD {
        self.state().code.unwrap_or(STILL_ACTIVE)
    }
}

/// This process, as DuplicateHandle(GetCurrentProcess()) makes it a real handle.
pub(crate) fn this_process() -> Process {
    Process {
        pid: std::process::id(),
        done: Signal::new(false, false),
        main_thread_done: Signal::new(false, false),
        state: Mutex::new(State::default()),
    }
}

/// Waits for `p` to exit (without reaping, so its pid cannot be reused while TerminateProcess
/// may still signal it), then reaps it under the state lock and publishes the exit code.
fn reap(p: Arc<Process>) {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let Some(pid) = Pid::from_raw(p.pid as i32) else {
        return;
    };
    while let Err(rustix::io::Errno::INTR) = waitid(
        WaitId::Pid(pid),
        WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
    ) {}
    let mut st = p.state();
    let status = loop {
        match waitid(WaitId::Pid(pid), WaitIdOptions::EXITED) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r.ok().flatten(),
        }
    };
    let code = match status {
        Some(s) => {
            if let Some(c) = s.exit_status() {
                c as DWORD
            } else if let Some(sig) = s.terminating_signal() {
                st.terminated_with.unwrap_or(match sig {
                    libc::SIGSEGV | libc::SIGBUS => 0xC000_0005,
                    libc::SIGILL => 0xC000_001D,
                    libc::SIGFPE => 0xC000_0094,
                    libc::SIGABRT => 3,
                    libc::SIGINT => 0xC000_013A,
                    s => 128 + s as DWORD,
                })
            } else {
                st.terminated_with.unwrap_or(1)
            }
        }
        // Someone else reaped it (a SIGCHLD handler of the program): the code is lost.
        None => st.terminated_with.unwrap_or(1),
    };
    st.code = Some(code);
    drop(st);
    p.main_thread_done.set();
    p.done.set();
}

/// What one standard descriptor of the child becomes.
enum StdSource {
    /// Leave the descriptor this process has there.
    Keep,
    /// A descriptor of this process (dup'd above 2, close-on-exec until placed), or
    /// /dev/null.
    Fd(OwnedFd),
}

fn devnull() -> io::Result<OwnedFd> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    high(OwnedFd::from(null))
}

/// `fd` itself when it is numbered 3 or above, else a copy that is: the child's standard
/// descriptors are placed with dup2 from sources that must not be 0, 1 or 2 themselves (a
/// parent that closed its standard input would otherwise get /dev/null or a pipe end there,
/// and dup2 onto itself would leave it close-on-exec).
fn high(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= 3 {
        Ok(fd)
    } else {
        dup_high(fd.as_fd())
    }
}

/// A close-on-exec copy of `fd` numbered 3 or above.
fn dup_high(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(io::Error::from)
}

/// The descriptor a handle's object can give a child, and how to name it in
/// NPIPE_INHERITED_HANDLES: `r` anonymous read end, `w` write end, `f<access>` a file.
fn fd_of(o: &Object) -> Option<(BorrowedFd<'_>, String)> {
    match o {
        Object::AnonRead(r) => Some((r.as_fd(), "r".into())),
        Object::AnonWrite(w) => Some((w.as_fd(), "w".into())),
        Object::File(f) => Some((f.fd(), format!("f{}", f.access_bits()))),
        _ => None,
    }
}

/// The relays started for one child: the end, the direction and the descriptor the child gets,
/// so that one named pipe end given as two standard handles (output and error) has one relay
/// and keeps the order of what the child writes to both.
type Started = Vec<(Arc<Entry>, bool, RawFd)>;

/// The source of standard descriptor `i` of the child, from the handle `h`: /dev/null when
/// the handle cannot reach the child (NULL, not open, not inheritable or `inherit` false; the
/// program's own standard handles always reach it, as console handles do on Windows).
fn std_source(
    h: HANDLE,
    inherit: bool,
    relays: &mut Vec<crate::relay::Relay>,
    started: &mut Started,
    i: usize,
) -> io::Result<StdSource> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        return Ok(StdSource::Fd(devnull()?));
    }
    let Some(e) = handles::get(h) else {
        return Ok(StdSource::Fd(devnull()?));
    };
    let flags = handles::flags(h).unwrap_or(0);
    let original_std = e.std_slot.is_some();
    if !original_std && (!inherit || flags & HANDLE_FLAG_INHERIT == 0) {
        return Ok(StdSource::Fd(devnull()?));
    }
    if let Some((fd, _)) = fd_of(&e.obj) {
        return Ok(StdSource::Fd(dup_high(fd)?));
    }
    match &e.obj {
        Object::Server(_) | Object::Client(_) => {
            let to_child = i == 0;
            if let Some(&(_, _, fd)) = started
                .iter()
                .find(|(s, dir, _)| Arc::ptr_eq(s, &e) && *dir == to_child)
            {
                // SAFETY: `fd` is the child's end of a relay started for this child; its OwnedFd
                // is held in the caller's sources until the child has been made.
                let same = unsafe { BorrowedFd::borrow_raw(fd) };
                return Ok(StdSource::Fd(dup_high(same)?));
            }
            let (relay, fd) = crate::relay::Relay::start(&e, to_child)?;
            relays.push(relay);
            let fd = high(fd)?;
            started.push((e.clone(), to_child, fd.as_raw_fd()));
            Ok(StdSource::Fd(fd))
        }
        _ => Ok(StdSource::Fd(devnull()?)),
    }
}

/// Builds the child's environment from a Win32 environment block.
///
/// # Safety
/// `env` is a block of NUL-terminated strings ending with an empty one, of bytes, or of
/// UTF-16 units when `wide`.
unsafe fn env_block(env: *const c_void, wide: bool) -> Vec<(OsString, OsString)> {
    let mut out = Vec::new();
    let mut entries: Vec<String> = Vec::new();
    if wide {
        let mut p = env.cast::<u16>();
        // SAFETY: the block is terminated (caller), so each string is.
        while let Some(s) = unsafe { name_w(p) } {
            if s.is_empty() {
                break;
            }
            let n = s.encode_utf16().count();
            entries.push(s);
            // SAFETY: past the string and its terminator, still inside the block.
            p = unsafe { p.add(n + 1) };
        }
    } else {
        let mut p = env.cast::<c_char>();
        loop {
            // SAFETY: the block is terminated (caller), so each string is.
            let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
            if bytes.is_empty() {
                break;
            }
            entries.push(String::from_utf8_lossy(bytes).into_owned());
            // SAFETY: past the string and its terminator, still inside the block.
            p = unsafe { p.add(bytes.len() + 1) };
        }
    }
    for e in entries {
        // Windows keeps per-drive entries such as "=C:=C:\" with a leading '='.
        if let Some(eq) = e
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '=')
            .map(|(i, _)| i)
        {
            out.push((
                OsString::from(e[..eq].to_owned()),
                OsString::from(e[eq + 1..].to_owned()),
            ));
        }
    }
    out
}

/// The arguments of CreateProcessA/W, decoded.
pub(crate) struct Spawn {
    pub(crate) app: Option<String>,
    pub(crate) cmdline: Option<String>,
    pub(crate) inherit: bool,
    pub(crate) flags: DWORD,
    pub(crate) env: Option<Vec<(OsString, OsString)>>,
    pub(crate) cwd: Option<String>,
    pub(crate) std: Option<[HANDLE; 3]>,
}

/// CreateProcess: returns the process and its pid, or the Win32 error.
fn spawn(s: Spawn) -> io::Result<Arc<Process>> {
    let bad = |code: DWORD, msg: String| npipe::Error::io(code, msg);
    if s.flags & CREATE_SUSPENDED != 0 {
        return Err(bad(
            ERROR_NOT_SUPPORTED,
            "CREATE_SUSPENDED: a Linux program cannot be created without running".into(),
        ));
    }
    // Without a command line, the program's name is the command line, quoted when it holds
    // a blank so that it stays one argument (as Windows' GetCommandLine shows it).
    let line = match (&s.cmdline, &s.app) {
        (Some(c), _) if !c.is_empty() => c.clone(),
        (_, Some(app)) if app.contains([' ', '\t']) => format!("\"{app}\""),
        (_, Some(app)) => app.clone(),
        (_, None) => String::new(),
    };
    let mut argv = crate::cmdline::split_command_line(&line);
    let cwd = s.cwd.as_deref().map(PathBuf::from);
    if let Some(d) = &cwd {
        if !d.is_dir() {
            return Err(bad(
                ERROR_DIRECTORY,
                format!("lpCurrentDirectory {} is not a directory", d.display()),
            ));
        }
    }
    let program = match &s.app {
        // lpApplicationName is a path (relative to the current directory), not searched.
        Some(app) => {
            let p = PathBuf::from(app);
            if !crate::cmdline::is_executable(&p) {
                return Err(bad(
                    if p.exists() {
                        ERROR_ACCESS_DENIED
                    } else {
                        ERROR_FILE_NOT_FOUND
                    },
                    format!("CreateProcess: {app} is not an executable file"),
                ));
            }
            p
        }
        None => {
            // CreateProcess looks for the program past the blanks a line may start with,
            // which the child's runtime reads as an empty first argument.
            let first = crate::cmdline::split_command_line(line.trim_start_matches([' ', '\t']))
                .into_iter()
                .next()
                .unwrap_or_default();
            if first.is_empty() {
                return Err(bad(
                    ERROR_FILE_NOT_FOUND,
                    "CreateProcess: no program in an empty command line".into(),
                ));
            }
            crate::cmdline::resolve(&first).ok_or_else(|| {
                bad(
                    ERROR_FILE_NOT_FOUND,
                    format!("CreateProcess: {first}: no such program (looked beside this program, in the current directory and on PATH)"),
                )
            })?
        }
    };
    if argv.is_empty() {
        argv.push(program.to_string_lossy().into_owned());
    }
    // Found from this process's directory: the child starts in lpCurrentDirectory, so exec
    // must not look for a relative path there.
    let program = if program.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(&program))
            .unwrap_or(program)
    } else {
        program
    };
    let mut cmd = std::process::Command::new(&program);
    cmd.arg0(&argv[0]).args(&argv[1..]);
    if let Some(d) = &cwd {
        cmd.current_dir(d);
    }
    if let Some(env) = &s.env {
        cmd.env_clear();
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
    }
    // The line as written, for the child's GetCommandLineA (after lpEnvironment, which
    // replaces the rest).
    cmd.env(crate::cmdline::COMMAND_LINE_VAR, &line);
    if s.flags & CREATE_NEW_PROCESS_GROUP != 0 {
        cmd.process_group(0);
    }

    // Standard descriptors.
    let mut relays = Vec::new();
    let mut started = Started::new();
    let mut sources = Vec::with_capacity(3);
    // The handle each standard descriptor is a copy of, where it is one (a file or an
    // anonymous pipe end): an inheritable one is that standard handle in the child.
    let mut std_values: [Option<usize>; 3] = [None; 3];
    for i in 0..3 {
        let h = match s.std {
            Some(hs) => Some(hs[i]),
            None if !crate::files::std_was_taken(i) => None,
            None => Some(crate::files::std_handles()[i]),
        };
        let src = match h {
            Some(h) => std_source(h, s.inherit, &mut relays, &mut started, i)?,
            None => StdSource::Keep,
        };
        if let (Some(h), StdSource::Fd(_)) = (h, &src) {
            if handles::get(h).is_some_and(|e| fd_of(&e.obj).is_some()) {
                std_values[i] = Some(h as usize);
            }
        }
        sources.push(src);
    }
    // Inherited handles.
    let mut passed: Vec<OwnedFd> = Vec::new();
    let mut listing = Vec::new();
    if s.inherit {
        for (value, e) in handles::inheritable() {
            if let Some((fd, kind)) = fd_of(&e.obj) {
                let st = rustix::fs::fstat(fd).map_err(io::Error::from)?;
                // Given as standard handles too: listed at those descriptors first, so the
                // child's standard handle is this handle, and closing it releases the file or
                // pipe, as on Windows (a second copy kept it open until the child exited). The
                // copy below still follows, for a child of an earlier build, which takes no
                // standard descriptor; this build's child closes it.
                for i in (0..3).filter(|&i| std_values[i] == Some(value)) {
                    listing.push(crate::inherit::listing_item(
                        value,
                        i as RawFd,
                        &kind,
                        st.st_dev as u64,
                        st.st_ino as u64,
                    ));
                }
                let d = dup_high(fd)?;
                listing.push(crate::inherit::listing_item(
                    value,
                    d.as_raw_fd(),
                    &kind,
                    st.st_dev as u64,
                    st.st_ino as u64,
                ));
                passed.push(d);
            }
        }
    }
    if listing.is_empty() {
        cmd.env_remove(crate::inherit::INHERITED_VAR);
    } else {
        cmd.env(crate::inherit::INHERITED_VAR, listing.join(","));
    }
    let std_fds: [RawFd; 3] = std::array::from_fn(|i| match &sources[i] {
        StdSource::Fd(fd) => fd.as_raw_fd(),
        _ => -1,
    });
    let pass_fds: Vec<RawFd> = passed.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: the closure runs in the child between fork and exec and only calls dup2 and
    // fcntl on descriptor numbers computed before the fork (no allocation, no locks), which
    // are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            for (i, &fd) in std_fds.iter().enumerate() {
                if fd >= 0 && libc::dup2(fd, i as RawFd) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            for &fd in &pass_fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let code = match e.raw_os_error() {
            Some(libc::ENOEXEC) => ERROR_BAD_EXE_FORMAT,
            Some(libc::EACCES) | Some(libc::EPERM) => ERROR_ACCESS_DENIED,
            Some(libc::ENOENT) => ERROR_FILE_NOT_FOUND,
            Some(libc::E2BIG) => ERROR_FILENAME_EXCED_RANGE,
            Some(libc::ENOMEM) | Some(libc::EAGAIN) => ERROR_NOT_ENOUGH_MEMORY,
            _ => ERROR_GEN_FAILURE,
        };
        bad(code, format!("CreateProcess: {}: {e}", program.display()))
    })?;
    let p = Arc::new(Process {
        pid: child.id(),
        done: Signal::new(false, false),
        main_thread_done: Signal::new(false, false),
        state: Mutex::new(State::default()),
    });
    // The descriptors given to the child close here: only the child holds them now.
    drop((sources, passed));
    for r in relays {
        r.run();
    }
    let waiter = p.clone();
    if let Err(e) = crate::threads::spawn_service("npipe-reap", move || reap(waiter)) {
        // Without a reaper the process could never be waited for: end it now.
        let _ = terminate(&p, 1);
        reap(p);
        return Err(e);
    }
    // The Child is only a pid now; reap() waits for it.
    drop(child);
    Ok(p)
}

/// `ERROR_GEN_FAILURE`.
const ERROR_GEN_FAILURE: DWORD = 31;

/// Fills PROCESS_INFORMATION with two handles to `p`.
///
/// # Safety
/// `pi` is null or writable.
unsafe fn publish(p: Arc<Process>, pi: *mut PROCESS_INFORMATION) -> BOOL {
    let pid = p.pid;
    let hp = handles::insert(Entry::new(Object::Process(p.clone()), false));
    if hp == INVALID_HANDLE_VALUE {
        return FALSE;
    }
    let mut thread = Entry::new(Object::Process(p), false);
    thread.main_thread = true;
    let ht = handles::insert(thread);
    if ht == INVALID_HANDLE_VALUE {
        CloseHandle(hp);
        return FALSE;
    }
    // SAFETY: null or writable (caller).
    unsafe {
        put(
            pi,
            PROCESS_INFORMATION {
                h_process: hp,
                h_thread: ht,
                dw_process_id: pid,
                dw_thread_id: pid,
            },
        )
    };
    set_error(ERROR_SUCCESS);
    TRUE
}

fn run(s: Spawn, pi: *mut PROCESS_INFORMATION) -> BOOL {
    if pi.is_null() {
        return fail(ERROR_NOACCESS);
    }
    match spawn(s) {
        // SAFETY: pi is non-null and writable (caller of CreateProcess).
        Ok(p) => unsafe { publish(p, pi) },
        Err(e) => fail_io(&e),
    }
}

/// The standard handles a STARTUPINFO names with STARTF_USESTDHANDLES.
///
/// # Safety
/// `si` is null or a readable STARTUPINFOA/W.
unsafe fn std_of(si: *const STARTUPINFOA) -> Option<[HANDLE; 3]> {
    if si.is_null() {
        return None;
    }
    // SAFETY: non-null and readable (caller).
    let si = unsafe { &*si };
    (si.dw_flags & STARTF_USESTDHANDLES != 0).then_some([
        si.h_std_input,
        si.h_std_output,
        si.h_std_error,
    ])
}

/// `CreateProcessA`: runs a Linux program (see the module comment). Process and thread
/// security attributes are ignored.
///
/// # Safety
/// Strings are null or NUL-terminated; `env` is null or an environment block; `si` is null or
/// a readable STARTUPINFOA; `pi` is null or writable.
#[export_name = "npipe_CreateProcessA"]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn CreateProcessA(
    app: *const c_char,
    cmdline: *mut c_char,
    _process_attrs: *mut c_void,
    _thread_attrs: *mut c_void,
    inherit: BOOL,
    flags: DWORD,
    env: *mut c_void,
    cwd: *const c_char,
    si: *mut STARTUPINFOA,
    pi: *mut PROCESS_INFORMATION,
) -> BOOL {
    // SAFETY: forwarded contracts.
    let s = unsafe {
        Spawn {
            app: name_a(app),
            cmdline: name_a(cmdline),
            inherit: inherit != 0,
            flags,
            env: (!env.is_null()).then(|| env_block(env, flags & CREATE_UNICODE_ENVIRONMENT != 0)),
            cwd: name_a(cwd),
            std: std_of(si),
        }
    };
    run(s, pi)
}

/// `CreateProcessW`: as [`CreateProcessA`] with UTF-16 strings (`STARTUPINFOW` has the same
/// layout as `STARTUPINFOA`).
///
/// # Safety
/// As [`CreateProcessA`].
#[export_name = "npipe_CreateProcessW"]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn CreateProcessW(
    app: *const u16,
    cmdline: *mut u16,
    _process_attrs: *mut c_void,
    _thread_attrs: *mut c_void,
    inherit: BOOL,
    flags: DWORD,
    env: *mut c_void,
    cwd: *const u16,
    si: *mut STARTUPINFOA,
    pi: *mut PROCESS_INFORMATION,
) -> BOOL {
    // SAFETY: forwarded contracts.
    let s = unsafe {
        Spawn {
            app: name_w(app),
            cmdline: name_w(cmdline),
            inherit: inherit != 0,
            flags,
            env: (!env.is_null()).then(|| env_block(env, flags & CREATE_UNICODE_ENVIRONMENT != 0)),
            cwd: name_w(cwd),
            std: std_of(si),
        }
    };
    run(s, pi)
}

/// The process behind `h`: a process handle, or `GetCurrentProcess()`.
fn process_of(h: HANDLE) -> Option<Arc<Process>> {
    if h == INVALID_HANDLE_VALUE {
        return Some(Arc::new(this_process()));
    }
    let e = handles::get(h)?;
    match &e.obj {
        Object::Process(p) if !e.main_thread => Some(p.clone()),
        _ => None,
    }
}

/// The process whose main thread `h` is (CreateProcess's `hThread`).
pub(crate) fn main_thread_of(h: HANDLE) -> Option<Arc<Process>> {
    let e = handles::get(h)?;
    match &e.obj {
        Object::Process(p) if e.main_thread => Some(p.clone()),
        _ => None,
    }
}

/// `GetExitCodeProcess`: STILL_ACTIVE (259) while the process runs, then its exit code.
///
/// # Safety
/// `code` is null or writable.
#[export_name = "npipe_GetExitCodeProcess"]
pub unsafe extern "C" fn GetExitCodeProcess(h: HANDLE, code: *mut DWORD) -> BOOL {
    let Some(p) = process_of(h) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    if code.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(code, p.exit_code()) };
    TRUE
}

/// `GetProcessId`.
#[export_name = "npipe_GetProcessId"]
pub extern "C" fn GetProcessId(h: HANDLE) -> DWORD {
    match process_of(h) {
        Some(p) => p.pid,
        None => {
            set_error(ERROR_INVALID_HANDLE);
            0
        }
    }
}

/// `TerminateProcess`: kills the process (SIGKILL); its exit code becomes `code`. On this
/// process it is ExitProcess without running exit handlers. ERROR_ACCESS_DENIED once the
/// process has exited, as on Windows.
#[export_name = "npipe_TerminateProcess"]
pub extern "C" fn TerminateProcess(h: HANDLE, code: DWORD) -> BOOL {
    let Some(p) = process_of(h) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    if p.is_self() {
        // SAFETY: _exit ends the process at once; nothing runs after it.
        unsafe { libc::_exit(code as i32) };
    }
    match terminate(&p, code) {
        Ok(()) => TRUE,
        Err(c) => fail(c),
    }
}

/// Kills `p` (not this process) with `code` as its exit code; ERROR_ACCESS_DENIED once it
/// has exited.
fn terminate(p: &Process, code: DWORD) -> Result<(), DWORD> {
    let mut st = p.state();
    if st.code.is_some() {
        return Err(ERROR_ACCESS_DENIED);
    }
    st.terminated_with.get_or_insert(code);
    // The process has not been reaped (reap() reaps under this lock), so the pid is still its.
    if let Some(pid) = rustix::process::Pid::from_raw(p.pid as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    Ok(())
}

/// `ExitProcess`: ends the process with `code` after the C library's exit handlers (stdio
/// buffers are flushed, as the C runtime does on Windows). npipe departs: a Linux exit status
/// keeps only the low 8 bits of the code.
#[export_name = "npipe_ExitProcess"]
pub extern "C" fn ExitProcess(code: DWORD) -> ! {
    // SAFETY: exit runs the atexit handlers and ends the process.
    unsafe { libc::exit(code as i32) }
}

/// `GetModuleFileNameA`: with `module` NULL, the path of this program (`/proc/self/exe`). A
/// buffer too small gets the first `size - 1` bytes and a NUL, returns `size` and sets
/// ERROR_INSUFFICIENT_BUFFER, as Windows XP and later do. Another module: ERROR_MOD_NOT_FOUND
/// (npipe departs: shared libraries are not modules here).
///
/// # Safety
/// `buf` is valid for `size` bytes of writing.
#[export_name = "npipe_GetModuleFileNameA"]
pub unsafe extern "C" fn GetModuleFileNameA(
    module: HANDLE,
    buf: *mut c_char,
    size: DWORD,
) -> DWORD {
    /// `ERROR_MOD_NOT_FOUND`.
    const ERROR_MOD_NOT_FOUND: DWORD = 126;
    if !module.is_null() && module != crate::modules::program() {
        set_error(ERROR_MOD_NOT_FOUND);
        return 0;
    }
    let path = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            fail_io(&e);
            return 0;
        }
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    if size == 0 || buf.is_null() {
        set_error(ERROR_INSUFFICIENT_BUFFER);
        return 0;
    }
    let n = bytes.len().min(size as usize - 1);
    // SAFETY: `buf` holds `size` bytes (caller) and n + 1 <= size.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), buf, n);
        buf.add(n).write(0);
    }
    if n < bytes.len() {
        set_error(ERROR_INSUFFICIENT_BUFFER);
        return size;
    }
    set_error(ERROR_SUCCESS);
    n as DWORD
}

/// `GetCurrentProcess`: the pseudo handle `(HANDLE)-1`.
#[export_name = "npipe_GetCurrentProcess"]
pub extern "C" fn GetCurrentProcess() -> HANDLE {
    INVALID_HANDLE_VALUE
}
