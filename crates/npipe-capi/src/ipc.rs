//! The ipc.h C API (`include/ipc.h`): the client and server of the single-header ipc.h library,
//! source-compatible with its final version, on top of npipe's Rust service
//! ([`npipe::ServiceOptions`], [`npipe::ServiceClient`]).
//!
//! - Names: a bare `NAME` is `\\.\pipe\NAME`, case-insensitive; a full pipe name is taken as is.
//! - A request is one message of `strlen + 1` bytes (the NUL travels). The handler gets the
//!   request as a C string (a NUL is added to a request from another client that lacks one,
//!   and counts against the maximum length, so `strlen(request) < max` always holds) and
//!   a zeroed reply buffer of `capacity` bytes; the reply is sent as `strlen(reply) + 1` bytes
//!   (cut at `capacity - 1`), so even a handler that writes nothing answers with one NUL byte.
//! - When a connection ends, the handler is called once as `handler(NULL, user_data, NULL, 0)`.
//! - A function that fails leaves the Win32 error code in `GetLastError()` (`npipe/win32.h`).
//!
//! # Safety
//!
//! Every `extern "C"` function takes raw pointers from C. The module-wide rule, as in the rest of
//! this crate: a pointer is dereferenced only after a null check, and only for the size its
//! ipc.h contract gives it (a NUL-terminated string, `output_size` bytes of `output`, one `int`
//! for `received_size`). Client and server pointers are the boxes these functions returned, used
//! until the matching disconnect or stop.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;
use std::time::Duration;

use npipe::error::code::*;
use npipe::{Service, ServiceClient, ServiceOptions};
use npipe_core as npipe;

/// ipc.h's `IPC_MESSAGE_MAX_LENGTH`.
const IPC_MESSAGE_MAX_LENGTH: usize = 4096;
/// How long `ipc_client_connect` waits for a free instance, as ipc.h's `WaitNamedPipeA(20000)`.
const CONNECT_WAIT: Duration = Duration::from_secs(20);

/// `ipc_request_handler_t`: `void (*)(char const* request, void* user_data, char* response,
/// size_t capacity)`.
pub type IpcRequestHandler =
    Option<unsafe extern "C" fn(*const c_char, *mut c_void, *mut c_char, usize)>;

/// `ipc_receive_status_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcReceiveStatus {
    /// `IPC_RECEIVE_STATUS_DONE`: the rest of the message was received.
    Done = 0,
    /// `IPC_RECEIVE_STATUS_MORE_DATA`: the buffer is full; call again for the rest.
    MoreData = 1,
    /// `IPC_RECEIVE_STATUS_ERROR`: the connection failed (see `GetLastError`).
    Error = 2,
}

/// `ipc_client_t`: a connection (in message read mode on a message-type pipe).
#[derive(Debug)]
pub struct IpcClient {
    client: ServiceClient,
}

/// `ipc_server_t`: a running service.
#[derive(Debug)]
pub struct IpcServer {
    service: Service,
}

/// The `user_data` pointer, handed to the handler on the server's threads.
#[derive(Debug, Clone, Copy)]
struct UserData(*mut c_void);

impl UserData {
    /// The pointer. A method rather than the field, so a closure captures the whole `UserData`
    /// (which is `Send + Sync`) and not the bare pointer.
    fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: ipc.h passes `user_data` to the handler on the server's threads, concurrently for
// different clients, exactly as the original does (one thread per client). The pointer is never
// dereferenced here; making the handler's use of it thread-safe is the caller's side of the
// ipc.h contract, stated in the header.
unsafe impl Send for UserData {}
// SAFETY: as for Send: only copied and passed back to the caller's handler.
unsafe impl Sync for UserData {}

fn set_last_error(e: &std::io::Error) {
    crate::SetLastError(npipe::win32_code(e));
}

/// Decodes a C name: UTF-8 when valid, else each byte as Latin-1 (as the `A` functions do).
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn c_name(p: *const c_char) -> Option<String> {
    if p.is_null() {
        crate::SetLastError(ERROR_PATH_NOT_FOUND);
        return None;
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Some(match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    })
}

/// `ipc_client_connect`: connects to the pipe `pipe_name`. While every instance is busy it waits
/// up to 20 seconds for one to be free. NULL when nothing serves the name (at once; ipc.h waits
/// a second and tries again first), on timeout, or for a NULL name.
///
/// # Safety
/// `pipe_name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipc_client_connect(pipe_name: *const c_char) -> *mut IpcClient {
    // SAFETY: pipe_name is null or NUL-terminated (caller).
    let Some(name) = (unsafe { c_name(pipe_name) }) else {
        return ptr::null_mut();
    };
    match ServiceClient::connect_timeout(&name, CONNECT_WAIT) {
        Ok(client) => Box::into_raw(Box::new(IpcClient { client })),
        Err(e) => {
            set_last_error(&e);
            ptr::null_mut()
        }
    }
}

/// `ipc_client_disconnect`: closes the connection and frees it. What was sent stays readable
/// for the server (W113), so unlike ipc.h this does not wait in `FlushFileBuffers` first.
///
/// # Safety
/// `connection` is null or a pointer from `ipc_client_connect` not yet disconnected, and no other
/// thread uses it any more.
#[no_mangle]
pub unsafe extern "C" fn ipc_client_disconnect(connection: *mut IpcClient) {
    if !connection.is_null() {
        // SAFETY: a box from ipc_client_connect, given back exactly once (caller).
        drop(unsafe { Box::from_raw(connection) });
    }
}

/// `ipc_client_send`: sends `message` and its NUL as one message. Returns once the server's
/// quota has room for it.
///
/// # Safety
/// `connection` is null or a live pointer from `ipc_client_connect`; `message` is null or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ipc_client_send(
    connection: *mut IpcClient,
    message: *const c_char,
) -> bool {
    if connection.is_null() || message.is_null() {
        crate::SetLastError(ERROR_INVALID_PARAMETER);
        return false;
    }
    // SAFETY: 1. connection is a live box from ipc_client_connect (caller), only read here;
    // 2. message is non-null and NUL-terminated (caller).
    let (c, bytes) = unsafe { (&*connection, CStr::from_ptr(message).to_bytes_with_nul()) };
    match c.client.send(bytes) {
        Ok(()) => true,
        Err(e) => {
            set_last_error(&e);
            false
        }
    }
}

/// `ipc_client_receive`: waits for the server's reply and copies up to `output_size` bytes of it.
/// `IPC_RECEIVE_STATUS_MORE_DATA` when the message did not fit: the next call returns the rest
/// (the connection is in message read mode; ipc.h's stays in byte read mode, where Windows never
/// reports more data). `*received_size` (when not NULL) gets the bytes copied.
///
/// # Safety
/// `connection` is null or a live pointer from `ipc_client_connect`; `output` is valid for
/// `output_size` bytes of writing (or null with a size of 0 or less); `received_size` is null or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ipc_client_receive(
    connection: *mut IpcClient,
    output: *mut c_char,
    output_size: c_int,
    received_size: *mut c_int,
) -> IpcReceiveStatus {
    let size = usize::try_from(output_size).unwrap_or(0);
    if connection.is_null() || (output.is_null() && size > 0) {
        crate::SetLastError(ERROR_INVALID_PARAMETER);
        return IpcReceiveStatus::Error;
    }
    // SAFETY: a live box from ipc_client_connect (caller), only read here.
    let c = unsafe { &*connection };
    let buf: &mut [u8] = if size == 0 {
        &mut []
    } else {
        // SAFETY: output is non-null and valid for `size` bytes of writing (caller).
        unsafe { std::slice::from_raw_parts_mut(output.cast::<u8>(), size) }
    };
    match c.client.recv(buf) {
        Ok(m) => {
            if !received_size.is_null() {
                // SAFETY: non-null and writable (caller); m.read <= size <= c_int::MAX.
                unsafe { received_size.write_unaligned(m.read as c_int) };
            }
            if m.left > 0 {
                IpcReceiveStatus::MoreData
            } else {
                IpcReceiveStatus::Done
            }
        }
        Err(e) => {
            set_last_error(&e);
            IpcReceiveStatus::Error
        }
    }
}

/// `ipc_server_start`: serves `pipe_name` with `request_handler`, requests of at most 4096 bytes
/// with their NUL, up to 32 clients at once (a 33rd waits for a free instance). Returns once it
/// accepts clients; NULL (and the reason in `GetLastError`) when the name is invalid, already
/// served, or `request_handler` is NULL.
///
/// # Safety
/// `pipe_name` is null or a NUL-terminated string. `request_handler` is null or a function that
/// may be called on the server's threads, concurrently for different clients, with
/// `user_data` until `ipc_server_stop` returns, and does not unwind.
#[no_mangle]
pub unsafe extern "C" fn ipc_server_start(
    pipe_name: *const c_char,
    request_handler: IpcRequestHandler,
    user_data: *mut c_void,
) -> *mut IpcServer {
    // SAFETY: the caller's guarantees are the ones npipe_ipc_server_start_max needs: pipe_name
    // is null or NUL-terminated, request_handler is null or callable on server threads with
    // user_data until stop and does not unwind.
    unsafe {
        npipe_ipc_server_start_max(
            pipe_name,
            request_handler,
            user_data,
            IPC_MESSAGE_MAX_LENGTH,
        )
    }
}

/// `npipe_ipc_server_start_max`: `ipc_server_start` with another longest request (and reply
/// buffer) than 4096 bytes. ipc.h calls it when `IPC_MESSAGE_MAX_LENGTH` is defined to another
/// value before the header is included.
///
/// # Safety
/// As `ipc_server_start`.
#[no_mangle]
pub unsafe extern "C" fn npipe_ipc_server_start_max(
    pipe_name: *const c_char,
    request_handler: IpcRequestHandler,
    user_data: *mut c_void,
    max_message_length: usize,
) -> *mut IpcServer {
    // SAFETY: pipe_name is null or NUL-terminated (caller).
    let Some(name) = (unsafe { c_name(pipe_name) }) else {
        return ptr::null_mut();
    };
    let Some(handler) = request_handler else {
        crate::SetLastError(ERROR_INVALID_PARAMETER);
        return ptr::null_mut();
    };
    let user = UserData(user_data);
    let served = ServiceOptions::new()
        .max_message_len(max_message_length)
        // The handler gets the request as a C string: one without its NUL (from a client other
        // than ipc.h) gets one added, so at the maximum length it would be one byte over what
        // the handler may assume, and is refused as a longer one is.
        .refuse_if(move |request| request.len() >= max_message_length && request.last() != Some(&0))
        // As the original ipc.h on Windows: Everyone gets FILE_ALL_ACCESS, so a service
        // (root) can serve ordinary users.
        .access_policy(npipe::AccessPolicy::everyone())
        .on_disconnect(move |_| {
            // SAFETY: the handler accepts calls on server threads with user_data until stop
            // returns (caller); ipc.h's disconnect call passes NULL buffers and capacity 0.
            unsafe { handler(ptr::null(), user.get(), ptr::null_mut(), 0) }
        })
        .serve(&name, move |_, request, reply| {
            call_handler(handler, user, request, reply, max_message_length)
        });
    match served {
        Ok(service) => Box::into_raw(Box::new(IpcServer { service })),
        Err(e) => {
            set_last_error(&e);
            ptr::null_mut()
        }
    }
}

/// One request: the handler sees it as a C string and fills a zeroed reply of `capacity` bytes,
/// which is then cut to its string and NUL.
fn call_handler(
    handler: unsafe extern "C" fn(*const c_char, *mut c_void, *mut c_char, usize),
    user: UserData,
    request: &[u8],
    reply: &mut Vec<u8>,
    capacity: usize,
) {
    // An ipc.h client sends the NUL; a request from another client gets one added.
    let owned;
    let request: &[u8] = if request.last() == Some(&0) {
        request
    } else {
        owned = [request, &[0]].concat();
        &owned
    };
    reply.clear();
    reply.resize(capacity, 0);
    // SAFETY: 1. request is NUL-terminated and lives through the call; 2. reply holds `capacity`
    // writable bytes; 3. the handler accepts calls on server threads with user_data (caller of
    // ipc_server_start).
    unsafe {
        handler(
            request.as_ptr().cast(),
            user.get(),
            reply.as_mut_ptr().cast(),
            capacity,
        )
    };
    // ipc.h forces the last byte to NUL and sends strlen + 1 bytes.
    if let Some(last) = reply.last_mut() {
        *last = 0;
    }
    let len = reply
        .iter()
        .position(|&b| b == 0)
        .map_or(reply.len(), |n| n + 1);
    reply.truncate(len);
}

/// `ipc_server_stop`: stops accepting clients, lets handler calls in progress finish (their
/// replies are sent), ends every connection (the handler is called with NULL for each) and
/// returns when no handler runs any more; the name is gone then. Called from inside the handler,
/// it cannot wait for that call: it returns once every other call has finished, and the calling
/// one's reply is sent when it returns (see `npipe::Service::stop`).
///
/// # Safety
/// `server` is null or a pointer from `ipc_server_start` not yet stopped.
#[no_mangle]
pub unsafe extern "C" fn ipc_server_stop(server: *mut IpcServer) {
    if server.is_null() {
        return;
    }
    // SAFETY: a box from ipc_server_start, given back exactly once (caller).
    let s = unsafe { Box::from_raw(server) };
    if let Err(e) = s.service.stop() {
        set_last_error(&e);
    }
}

/// `pipe_exists`: whether a server of `pipe_name` (bare or full) exists, busy or not.
///
/// # Safety
/// `pipe_name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn pipe_exists(pipe_name: *const c_char) -> bool {
    // SAFETY: pipe_name is null or NUL-terminated (caller).
    match unsafe { c_name(pipe_name) } {
        Some(name) => npipe::pipe_exists(&name),
        None => false,
    }
}
