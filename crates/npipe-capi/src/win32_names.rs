//! The Win32 names: `CreateNamedPipeA`, `ReadFile`... exported as plain symbols that forward to
//! the `npipe_`-prefixed functions the library defines (`npipe_CreateNamedPipeA`...).
//!
//! `<npipe/win32.h>` maps every Win32 name to its `npipe_` symbol, so programs compiled against
//! the headers only ever call the prefixed ones; these plain twins are for callers that bind by
//! name without the headers (`dlsym`, foreign-function interfaces). The `prefixed` cargo feature
//! leaves this whole module out, so a process that has another Win32 layer (Wine, a compatibility
//! library) can load libnpipe without its names interposing on that layer's.
//!
//! The list is checked both ways by `tests/exports.rs`: every `npipe_` Win32 symbol has its
//! plain twin here and every twin forwards to a symbol the headers declare. The same list gives
//! GetProcAddress its names ([`address_of`]), with or without the `prefixed` feature.
// Without the twins (`prefixed`) only the table uses the functions, not their argument types.
#![cfg_attr(feature = "prefixed", allow(unused_imports))]

use std::ffi::{c_char, c_void};

use crate::acls::EXPLICIT_ACCESS_A;
use crate::anonymous::SECURITY_ATTRIBUTES;
use crate::find::WIN32_FIND_DATAA;
use crate::iocp::OVERLAPPED_ENTRY;
use crate::overlapped::{Routine, OVERLAPPED};
use crate::process::{PROCESS_INFORMATION, STARTUPINFOA};
use crate::regwait::WaitCallback;
use crate::sids::SID_IDENTIFIER_AUTHORITY;
use crate::threads::{ApcFunc, ThreadStart};
use crate::wnet::{NETRESOURCEA, NETRESOURCEW};
use crate::{
    accounts, acls, anonymous, dup, files, find, handles, impersonate, io_calls, iocp, mailslots,
    messages,
};
use crate::{cmdline, descriptors, modules, pipes, process, regwait, sddl, sids, token, wnet};
use crate::{results, sync, threads, BOOL, DWORD, HANDLE};

/// Defines each plain-named twin: an `extern "C"` function of the same signature that calls the
/// prefixed implementation.
macro_rules! win32_names {
    ($($module:ident::$name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;)*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`, forwarding to `npipe_", stringify!($name), "`.")]
            ///
            /// # Safety
            /// The caller's obligations are those of the Win32 function of the same name.
            #[cfg(not(feature = "prefixed"))]
            #[no_mangle]
            #[allow(unused_unsafe, clippy::missing_safety_doc, clippy::too_many_arguments)]
            pub unsafe extern "C" fn $name($($arg: $ty),*) $(-> $ret)? {
                // SAFETY: the same contract as the function called, which the caller upholds.
                unsafe { $module::$name($($arg),*) }
            }
        )*

        /// The address of the library's function of Win32 name `name` (its `npipe_` symbol),
        /// for GetProcAddress.
        pub(crate) fn address_of(name: &[u8]) -> Option<*const c_void> {
            $(
                if name == stringify!($name).as_bytes() {
                    return Some($module::$name as *const c_void);
                }
            )*
            if name == b"ExitThread" {
                return Some(threads::ExitThread as *const c_void);
            }
            None
        }
    };
}

win32_names! {
    process::CreateProcessA(
        app: *const c_char,
        cmdline: *mut c_char,
        process_attrs: *mut c_void,
        thread_attrs: *mut c_void,
        inherit: BOOL,
        flags: DWORD,
        env: *mut c_void,
        cwd: *const c_char,
        si: *mut STARTUPINFOA,
        pi: *mut PROCESS_INFORMATION,
    ) -> BOOL;
    process::CreateProcessW(
        app: *const u16,
        cmdline: *mut u16,
        process_attrs: *mut c_void,
        thread_attrs: *mut c_void,
        inherit: BOOL,
        flags: DWORD,
        env: *mut c_void,
        cwd: *const u16,
        si: *mut STARTUPINFOA,
        pi: *mut PROCESS_INFORMATION,
    ) -> BOOL;
    anonymous::CreatePipe(
        read: *mut HANDLE,
        write: *mut HANDLE,
        sa: *const SECURITY_ATTRIBUTES,
        size: DWORD,
    ) -> BOOL;
    dup::DuplicateHandle(
        source_process: HANDLE,
        source: HANDLE,
        target_process: HANDLE,
        target: *mut HANDLE,
        access: DWORD,
        inherit: BOOL,
        options: DWORD,
    ) -> BOOL;
    dup::GetHandleInformation(h: HANDLE, flags: *mut DWORD) -> BOOL;
    dup::SetHandleInformation(h: HANDLE, mask: DWORD, flags: DWORD) -> BOOL;
    files::GetStdHandle(which: DWORD) -> HANDLE;
    files::SetStdHandle(which: DWORD, h: HANDLE) -> BOOL;
    files::GetFileType(h: HANDLE) -> DWORD;
    files::GetFileSizeEx(h: HANDLE, size: *mut i64) -> BOOL;
    files::GetFileSize(h: HANDLE, high: *mut DWORD) -> DWORD;
    files::SetFilePointerEx(h: HANDLE, distance: i64, new_pos: *mut i64, method: DWORD) -> BOOL;
    files::SetFilePointer(h: HANDLE, low: i32, high: *mut i32, method: DWORD) -> DWORD;
    files::SetEndOfFile(h: HANDLE) -> BOOL;
    files::DeleteFileA(name: *const c_char) -> BOOL;
    find::FindFirstFileA(spec: *const c_char, data: *mut WIN32_FIND_DATAA) -> HANDLE;
    find::FindNextFileA(h: HANDLE, data: *mut WIN32_FIND_DATAA) -> BOOL;
    find::FindClose(h: HANDLE) -> BOOL;
    handles::CloseHandle(h: HANDLE) -> BOOL;
    io_calls::ReadFile(
        h: HANDLE,
        buffer: *mut c_void,
        size: DWORD,
        read: *mut DWORD,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    io_calls::WriteFile(
        h: HANDLE,
        buffer: *const c_void,
        size: DWORD,
        written: *mut DWORD,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    io_calls::ReadFileEx(
        h: HANDLE,
        buffer: *mut c_void,
        size: DWORD,
        ov: *mut OVERLAPPED,
        routine: Option<Routine>,
    ) -> BOOL;
    io_calls::WriteFileEx(
        h: HANDLE,
        buffer: *const c_void,
        size: DWORD,
        ov: *mut OVERLAPPED,
        routine: Option<Routine>,
    ) -> BOOL;
    io_calls::FlushFileBuffers(h: HANDLE) -> BOOL;
    crate::GetLastError() -> DWORD;
    crate::SetLastError(code: DWORD);
    crate::GetCurrentProcessId() -> DWORD;
    mailslots::CreateMailslotA(
        name: *const c_char,
        max_message: DWORD,
        read_timeout: DWORD,
        sa: *mut c_void,
    ) -> HANDLE;
    mailslots::CreateMailslotW(
        name: *const u16,
        max_message: DWORD,
        read_timeout: DWORD,
        sa: *mut c_void,
    ) -> HANDLE;
    mailslots::GetMailslotInfo(
        h: HANDLE,
        max_message: *mut DWORD,
        next_size: *mut DWORD,
        count: *mut DWORD,
        read_timeout: *mut DWORD,
    ) -> BOOL;
    mailslots::SetMailslotInfo(h: HANDLE, read_timeout: DWORD) -> BOOL;
    messages::FormatMessageA(
        flags: DWORD,
        source: *const c_void,
        id: DWORD,
        lang: DWORD,
        buffer: *mut c_char,
        size: DWORD,
        args: *const c_void,
    ) -> DWORD;
    messages::FormatMessageW(
        flags: DWORD,
        source: *const c_void,
        id: DWORD,
        lang: DWORD,
        buffer: *mut u16,
        size: DWORD,
        args: *const c_void,
    ) -> DWORD;
    pipes::CreateNamedPipeA(
        name: *const c_char,
        open_mode: DWORD,
        pipe_mode: DWORD,
        max: DWORD,
        out: DWORD,
        inb: DWORD,
        timeout: DWORD,
        sa: *mut c_void,
    ) -> HANDLE;
    pipes::CreateNamedPipeW(
        name: *const u16,
        open_mode: DWORD,
        pipe_mode: DWORD,
        max: DWORD,
        out: DWORD,
        inb: DWORD,
        timeout: DWORD,
        sa: *mut c_void,
    ) -> HANDLE;
    pipes::CreateFileA(
        name: *const c_char,
        access: DWORD,
        share: DWORD,
        sa: *mut c_void,
        disposition: DWORD,
        flags: DWORD,
        template: HANDLE,
    ) -> HANDLE;
    pipes::CreateFileW(
        name: *const u16,
        access: DWORD,
        share: DWORD,
        sa: *mut c_void,
        disposition: DWORD,
        flags: DWORD,
        template: HANDLE,
    ) -> HANDLE;
    pipes::ConnectNamedPipe(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL;
    pipes::DisconnectNamedPipe(h: HANDLE) -> BOOL;
    pipes::PeekNamedPipe(
        h: HANDLE,
        buffer: *mut c_void,
        size: DWORD,
        read: *mut DWORD,
        avail: *mut DWORD,
        left: *mut DWORD,
    ) -> BOOL;
    pipes::TransactNamedPipe(
        h: HANDLE,
        inb: *mut c_void,
        in_size: DWORD,
        outb: *mut c_void,
        out_size: DWORD,
        read: *mut DWORD,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    pipes::CallNamedPipeA(
        name: *const c_char,
        inb: *mut c_void,
        in_size: DWORD,
        outb: *mut c_void,
        out_size: DWORD,
        read: *mut DWORD,
        timeout: DWORD,
    ) -> BOOL;
    pipes::CallNamedPipeW(
        name: *const u16,
        inb: *mut c_void,
        in_size: DWORD,
        outb: *mut c_void,
        out_size: DWORD,
        read: *mut DWORD,
        timeout: DWORD,
    ) -> BOOL;
    pipes::WaitNamedPipeA(name: *const c_char, timeout: DWORD) -> BOOL;
    wnet::WNetAddConnection2A(
        res: *const NETRESOURCEA,
        password: *const c_char,
        user: *const c_char,
        flags: DWORD,
    ) -> DWORD;
    wnet::WNetAddConnection2W(
        res: *const NETRESOURCEW,
        password: *const u16,
        user: *const u16,
        flags: DWORD,
    ) -> DWORD;
    wnet::WNetCancelConnection2A(name: *const c_char, flags: DWORD, force: BOOL) -> DWORD;
    wnet::WNetCancelConnection2W(name: *const u16, flags: DWORD, force: BOOL) -> DWORD;
    pipes::WaitNamedPipeW(name: *const u16, timeout: DWORD) -> BOOL;
    pipes::SetNamedPipeHandleState(
        h: HANDLE,
        mode: *mut DWORD,
        max_collection: *mut DWORD,
        collect_timeout: *mut DWORD,
    ) -> BOOL;
    pipes::GetNamedPipeHandleStateA(
        h: HANDLE,
        state: *mut DWORD,
        cur: *mut DWORD,
        max_collection: *mut DWORD,
        collect_timeout: *mut DWORD,
        user: *mut c_char,
        user_size: DWORD,
    ) -> BOOL;
    pipes::GetNamedPipeHandleStateW(
        h: HANDLE,
        state: *mut DWORD,
        cur: *mut DWORD,
        max_collection: *mut DWORD,
        collect_timeout: *mut DWORD,
        user: *mut u16,
        user_size: DWORD,
    ) -> BOOL;
    pipes::GetNamedPipeInfo(
        h: HANDLE,
        flags: *mut DWORD,
        out: *mut DWORD,
        inb: *mut DWORD,
        max: *mut DWORD,
    ) -> BOOL;
    pipes::GetNamedPipeClientProcessId(h: HANDLE, id: *mut u32) -> BOOL;
    pipes::GetNamedPipeServerProcessId(h: HANDLE, id: *mut u32) -> BOOL;
    process::GetExitCodeProcess(h: HANDLE, code: *mut DWORD) -> BOOL;
    process::GetProcessId(h: HANDLE) -> DWORD;
    process::TerminateProcess(h: HANDLE, code: DWORD) -> BOOL;
    process::ExitProcess(code: DWORD) -> !;
    process::GetModuleFileNameA(module: HANDLE, buf: *mut c_char, size: DWORD) -> DWORD;
    modules::GetModuleHandleA(name: *const c_char) -> HANDLE;
    modules::GetModuleHandleW(name: *const u16) -> HANDLE;
    modules::LoadLibraryA(name: *const c_char) -> HANDLE;
    modules::LoadLibraryW(name: *const u16) -> HANDLE;
    modules::FreeLibrary(module: HANDLE) -> BOOL;
    modules::GetProcAddress(module: HANDLE, name: *const c_char) -> *mut c_void;
    cmdline::GetCommandLineA() -> *const c_char;
    process::GetCurrentProcess() -> HANDLE;
    results::GetOverlappedResult(
        h: HANDLE,
        ov: *mut OVERLAPPED,
        count: *mut DWORD,
        wait: BOOL,
    ) -> BOOL;
    results::GetOverlappedResultEx(
        h: HANDLE,
        ov: *mut OVERLAPPED,
        count: *mut DWORD,
        ms: DWORD,
        alertable: BOOL,
    ) -> BOOL;
    results::CancelIo(h: HANDLE) -> BOOL;
    results::CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL;
    iocp::CreateIoCompletionPort(
        file: HANDLE,
        existing: HANDLE,
        key: usize,
        threads: DWORD,
    ) -> HANDLE;
    iocp::GetQueuedCompletionStatus(
        port: HANDLE,
        bytes: *mut DWORD,
        key: *mut usize,
        ov: *mut *mut OVERLAPPED,
        ms: DWORD,
    ) -> BOOL;
    iocp::GetQueuedCompletionStatusEx(
        port: HANDLE,
        entries: *mut OVERLAPPED_ENTRY,
        count: u32,
        removed: *mut u32,
        ms: DWORD,
        alertable: BOOL,
    ) -> BOOL;
    iocp::PostQueuedCompletionStatus(
        port: HANDLE,
        bytes: DWORD,
        key: usize,
        ov: *mut OVERLAPPED,
    ) -> BOOL;
    iocp::SetFileCompletionNotificationModes(h: HANDLE, flags: u8) -> BOOL;
    regwait::RegisterWaitForSingleObject(
        wait: *mut HANDLE,
        object: HANDLE,
        callback: Option<WaitCallback>,
        context: *mut c_void,
        ms: DWORD,
        flags: DWORD,
    ) -> BOOL;
    regwait::UnregisterWait(h: HANDLE) -> BOOL;
    regwait::UnregisterWaitEx(h: HANDLE, completion: HANDLE) -> BOOL;
    sync::CreateEventA(
        sa: *mut c_void,
        manual_reset: BOOL,
        initial: BOOL,
        name: *const c_char,
    ) -> HANDLE;
    sync::CreateEventW(
        sa: *mut c_void,
        manual_reset: BOOL,
        initial: BOOL,
        name: *const u16,
    ) -> HANDLE;
    sync::OpenEventA(access: DWORD, inherit: BOOL, name: *const c_char) -> HANDLE;
    sync::OpenEventW(access: DWORD, inherit: BOOL, name: *const u16) -> HANDLE;
    sync::SetEvent(h: HANDLE) -> BOOL;
    sync::ResetEvent(h: HANDLE) -> BOOL;
    sync::PulseEvent(h: HANDLE) -> BOOL;
    sync::WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD;
    sync::WaitForSingleObjectEx(h: HANDLE, ms: DWORD, alertable: BOOL) -> DWORD;
    sync::WaitForMultipleObjects(
        count: DWORD,
        handles: *const HANDLE,
        all: BOOL,
        ms: DWORD,
    ) -> DWORD;
    sync::WaitForMultipleObjectsEx(
        count: DWORD,
        handles: *const HANDLE,
        all: BOOL,
        ms: DWORD,
        alertable: BOOL,
    ) -> DWORD;
    sync::Sleep(ms: DWORD);
    sync::SleepEx(ms: DWORD, alertable: BOOL) -> DWORD;
    sync::GetTickCount() -> DWORD;
    sync::GetTickCount64() -> u64;
    sync::QueryPerformanceFrequency(freq: *mut i64) -> BOOL;
    sync::QueryPerformanceCounter(count: *mut i64) -> BOOL;
    threads::CreateThread(
        attributes: *mut c_void,
        stack_size: usize,
        start: Option<ThreadStart>,
        param: *mut c_void,
        flags: DWORD,
        thread_id: *mut DWORD,
    ) -> HANDLE;
    threads::GetCurrentThreadId() -> DWORD;
    threads::GetCurrentThread() -> HANDLE;
    threads::GetExitCodeThread(h: HANDLE, code: *mut DWORD) -> BOOL;
    threads::ResumeThread(h: HANDLE) -> DWORD;
    threads::QueueUserAPC(apc: Option<ApcFunc>, h: HANDLE, data: usize) -> DWORD;
    threads::CancelSynchronousIo(h: HANDLE) -> BOOL;
    acls::InitializeAcl(acl: *mut c_void, len: DWORD, revision: DWORD) -> BOOL;
    acls::AddAccessAllowedAce(
        acl: *mut c_void,
        revision: DWORD,
        mask: DWORD,
        sid: *mut c_void,
    ) -> BOOL;
    acls::AddAccessDeniedAce(
        acl: *mut c_void,
        revision: DWORD,
        mask: DWORD,
        sid: *mut c_void,
    ) -> BOOL;
    acls::IsValidAcl(acl: *const c_void) -> BOOL;
    acls::SetEntriesInAclA(
        count: u32,
        list: *const EXPLICIT_ACCESS_A,
        old: *const c_void,
        new: *mut *mut c_void,
    ) -> DWORD;
    descriptors::InitializeSecurityDescriptor(sd: *mut c_void, revision: DWORD) -> BOOL;
    descriptors::SetSecurityDescriptorDacl(
        sd: *mut c_void,
        present: BOOL,
        acl: *mut c_void,
        defaulted: BOOL,
    ) -> BOOL;
    descriptors::GetSecurityDescriptorDacl(
        sd: *const c_void,
        present: *mut BOOL,
        acl: *mut *mut c_void,
        defaulted: *mut BOOL,
    ) -> BOOL;
    descriptors::IsValidSecurityDescriptor(sd: *const c_void) -> BOOL;
    impersonate::ImpersonateNamedPipeClient(h: HANDLE) -> BOOL;
    impersonate::RevertToSelf() -> BOOL;
    impersonate::GetNamedPipeClientComputerNameA(h: HANDLE, name: *mut c_char, len: u32) -> BOOL;
    impersonate::GetNamedPipeClientSessionId(h: HANDLE, id: *mut u32) -> BOOL;
    impersonate::GetNamedPipeServerSessionId(h: HANDLE, id: *mut u32) -> BOOL;
    impersonate::GetNamedPipeClientComputerNameW(h: HANDLE, name: *mut u16, len: u32) -> BOOL;
    sddl::ConvertStringSecurityDescriptorToSecurityDescriptorA(
        text: *const c_char,
        revision: DWORD,
        out: *mut *mut c_void,
        len: *mut u32,
    ) -> BOOL;
    sddl::ConvertStringSecurityDescriptorToSecurityDescriptorW(
        text: *const u16,
        revision: DWORD,
        out: *mut *mut c_void,
        len: *mut u32,
    ) -> BOOL;
    sids::FreeSid(sid: *mut c_void) -> *mut c_void;
    sids::IsValidSid(sid: *const c_void) -> BOOL;
    sids::GetLengthSid(sid: *const c_void) -> DWORD;
    sids::EqualSid(a: *const c_void, b: *const c_void) -> BOOL;
    sids::ConvertSidToStringSidA(sid: *const c_void, out: *mut *mut c_char) -> BOOL;
    sids::ConvertStringSidToSidA(text: *const c_char, out: *mut *mut c_void) -> BOOL;
    descriptors::SetSecurityDescriptorOwner(sd: *mut c_void, owner: *mut c_void, defaulted: BOOL) -> BOOL;
    descriptors::SetSecurityDescriptorGroup(sd: *mut c_void, group: *mut c_void, defaulted: BOOL) -> BOOL;
    descriptors::GetSecurityDescriptorOwner(
        sd: *const c_void,
        owner: *mut *mut c_void,
        defaulted: *mut BOOL,
    ) -> BOOL;
    descriptors::GetSecurityDescriptorGroup(
        sd: *const c_void,
        group: *mut *mut c_void,
        defaulted: *mut BOOL,
    ) -> BOOL;
    token::OpenProcessToken(process: HANDLE, access: DWORD, token: *mut HANDLE) -> BOOL;
    token::OpenThreadToken(
        thread: HANDLE,
        access: DWORD,
        open_as_self: BOOL,
        token: *mut HANDLE,
    ) -> BOOL;
    token::GetTokenInformation(
        token: HANDLE,
        class: DWORD,
        info: *mut c_void,
        len: DWORD,
        ret: *mut DWORD,
    ) -> BOOL;
    sids::CopySid(len: DWORD, dest: *mut c_void, src: *const c_void) -> BOOL;
    sids::GetSidSubAuthority(sid: *mut c_void, n: DWORD) -> *mut DWORD;
    sids::GetSidSubAuthorityCount(sid: *mut c_void) -> *mut u8;
    sids::GetSidIdentifierAuthority(sid: *mut c_void) -> *mut SID_IDENTIFIER_AUTHORITY;
    accounts::LookupAccountSidA(
        system: *const c_char,
        sid: *const c_void,
        name: *mut c_char,
        cch_name: *mut DWORD,
        domain: *mut c_char,
        cch_domain: *mut DWORD,
        kind: *mut u32,
    ) -> BOOL;
    accounts::LookupAccountSidW(
        system: *const u16,
        sid: *const c_void,
        name: *mut u16,
        cch_name: *mut DWORD,
        domain: *mut u16,
        cch_domain: *mut DWORD,
        kind: *mut u32,
    ) -> BOOL;
    accounts::LookupAccountNameA(
        system: *const c_char,
        account: *const c_char,
        sid: *mut c_void,
        cb_sid: *mut DWORD,
        domain: *mut c_char,
        cch_domain: *mut DWORD,
        kind: *mut u32,
    ) -> BOOL;
    accounts::LookupAccountNameW(
        system: *const u16,
        account: *const u16,
        sid: *mut c_void,
        cb_sid: *mut DWORD,
        domain: *mut u16,
        cch_domain: *mut DWORD,
        kind: *mut u32,
    ) -> BOOL;
    accounts::GetUserNameA(buf: *mut c_char, len: *mut DWORD) -> BOOL;
    accounts::GetUserNameW(buf: *mut u16, len: *mut DWORD) -> BOOL;
    sids::ConvertSidToStringSidW(sid: *const c_void, out: *mut *mut u16) -> BOOL;
    sids::ConvertStringSidToSidW(text: *const u16, out: *mut *mut c_void) -> BOOL;
    sids::AllocateAndInitializeSid(
        auth: *const SID_IDENTIFIER_AUTHORITY,
        count: u8,
        s0: DWORD,
        s1: DWORD,
        s2: DWORD,
        s3: DWORD,
        s4: DWORD,
        s5: DWORD,
        s6: DWORD,
        s7: DWORD,
        out: *mut *mut c_void,
    ) -> BOOL;
}

/// `ExitThread`, forwarding to `npipe_ExitThread`. Its ABI is "C-unwind", as the function's: the
/// thread leaves through a forced unwind that must pass this frame.
///
/// # Safety
/// That of `ExitThread`: no frame above the caller may stop the unwind.
#[cfg(not(feature = "prefixed"))]
#[no_mangle]
pub unsafe extern "C-unwind" fn ExitThread(code: DWORD) -> ! {
    // SAFETY: the caller's contract is the function's.
    unsafe { threads::ExitThread(code) }
}
