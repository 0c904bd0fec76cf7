//! The OVERLAPPED structure as Win32 lays it out, the NTSTATUS codes its `Internal` word
//! carries with their Win32 errors, and atomic access to its status words while another
//! thread may read them.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::*;

/// `OVERLAPPED`, as laid out by Win32.
#[repr(C)]
#[derive(Debug)]
pub struct OVERLAPPED {
    /// Completion status (NTSTATUS); STATUS_PENDING while the operation runs.
    pub internal: usize,
    /// Bytes transferred.
    pub internal_high: usize,
    /// Offset (unused for pipes).
    pub offset: u32,
    /// Offset high (unused for pipes).
    pub offset_high: u32,
    /// The event to signal on completion (NULL: the handle is signalled instead).
    pub h_event: HANDLE,
}

/// NTSTATUS values and their Win32 errors (the pairs RtlNtStatusToDosError gives).
pub(crate) mod status {
    /// `STATUS_SUCCESS`.
    pub(crate) const SUCCESS: u32 = 0;
    /// `STATUS_PENDING`.
    pub(crate) const PENDING: u32 = 0x103;
    /// `STATUS_BUFFER_OVERFLOW`: a partial message (a warning: the bytes are valid).
    pub(crate) const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    /// `STATUS_CANCELLED`.
    pub(crate) const CANCELLED: u32 = 0xC000_0120;
    /// `STATUS_PIPE_BROKEN`.
    pub(crate) const PIPE_BROKEN: u32 = 0xC000_014B;
    /// Codes with no NTSTATUS of their own travel as customer codes: this bit and the error.
    const CUSTOMER: u32 = 0xE000_0000;

    /// (NTSTATUS, Win32 error).
    const PAIRS: &[(u32, u32)] = &[
        (SUCCESS, 0),
        (BUFFER_OVERFLOW, 234), // ERROR_MORE_DATA
        (0xC000_0001, 31),      // STATUS_UNSUCCESSFUL -> ERROR_GEN_FAILURE
        (0xC000_0008, 6),       // STATUS_INVALID_HANDLE
        (0xC000_000D, 87),      // STATUS_INVALID_PARAMETER
        (0xC000_0010, 1),       // STATUS_INVALID_DEVICE_REQUEST -> ERROR_INVALID_FUNCTION
        (0xC000_0022, 5),       // STATUS_ACCESS_DENIED
        (0xC000_0023, 122),     // STATUS_BUFFER_TOO_SMALL -> ERROR_INSUFFICIENT_BUFFER
        (0xC000_0034, 2),       // STATUS_OBJECT_NAME_NOT_FOUND -> ERROR_FILE_NOT_FOUND
        (0xC000_009A, 1450),    // STATUS_INSUFFICIENT_RESOURCES -> ERROR_NO_SYSTEM_RESOURCES
        (0xC000_00AD, 230),     // STATUS_INVALID_PIPE_STATE -> ERROR_BAD_PIPE
        (0xC000_00AE, 231),     // STATUS_PIPE_BUSY
        (0xC000_00B0, 233),     // STATUS_PIPE_DISCONNECTED -> ERROR_PIPE_NOT_CONNECTED
        (0xC000_00B1, 232),     // STATUS_PIPE_CLOSING -> ERROR_NO_DATA
        (0xC000_00B2, 535),     // STATUS_PIPE_CONNECTED
        (0xC000_00B3, 536),     // STATUS_PIPE_LISTENING
        (0xC000_00B5, 121),     // STATUS_IO_TIMEOUT -> ERROR_SEM_TIMEOUT
        (0xC000_00BB, 50),      // STATUS_NOT_SUPPORTED
        (0xC000_0120, 995),     // STATUS_CANCELLED -> ERROR_OPERATION_ABORTED
        (PIPE_BROKEN, 109),     // STATUS_PIPE_BROKEN -> ERROR_BROKEN_PIPE
        (0xC000_0005, 998),     // STATUS_ACCESS_VIOLATION -> ERROR_NOACCESS
        (0xC000_0225, 1168),    // STATUS_NOT_FOUND
        (0xC000_0044, 1816),    // STATUS_QUOTA_EXCEEDED -> ERROR_NOT_ENOUGH_QUOTA
    ];

    /// The NTSTATUS an operation that failed with Win32 `code` completes with.
    pub(crate) fn from_win32(code: u32) -> u32 {
        PAIRS
            .iter()
            .find(|p| p.1 == code)
            .map_or(CUSTOMER | (code & 0xFFFF), |p| p.0)
    }

    /// The Win32 error of a completion status.
    pub(crate) fn to_win32(st: u32) -> u32 {
        if st & 0xF000_0000 == CUSTOMER {
            return st & 0xFFFF;
        }
        PAIRS.iter().find(|p| p.0 == st).map_or(317, |p| p.1) // ERROR_MR_MID_NOT_FOUND
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_pair_round_trips() {
            for &(st, code) in PAIRS {
                assert_eq!(from_win32(code), st, "{code}");
                assert_eq!(to_win32(st), code, "{st:#x}");
            }
            assert_eq!(to_win32(from_win32(1816)), 1816);
            assert_eq!(to_win32(from_win32(4242)), 4242);
        }
    }
}

/// The status words of a caller's OVERLAPPED, written with atomic stores: the caller may read
/// them (HasOverlappedIoCompleted) from another thread while the operation completes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OvPtr(pub(crate) *mut OVERLAPPED);

// SAFETY: the pointer is only dereferenced under the Win32 contract (the OVERLAPPED stays
// valid and in place until its operation completes), from whichever thread completes it.
unsafe impl Send for OvPtr {}

impl OvPtr {
    fn internal(&self) -> &AtomicUsize {
        // SAFETY: OVERLAPPED is pointer-aligned and `internal` is its first field; the caller
        // keeps it valid until completion (Win32 contract); AtomicUsize has usize's layout.
        unsafe { AtomicUsize::from_ptr(std::ptr::addr_of_mut!((*self.0).internal)) }
    }

    fn internal_high(&self) -> &AtomicUsize {
        // SAFETY: as in `internal`.
        unsafe { AtomicUsize::from_ptr(std::ptr::addr_of_mut!((*self.0).internal_high)) }
    }

    /// The status now.
    pub(crate) fn status(&self) -> u32 {
        // Acquire: pairs with the Release store in `finish`, so InternalHigh is read after.
        self.internal().load(Ordering::Acquire) as u32
    }

    /// Bytes transferred.
    pub(crate) fn count(&self) -> usize {
        self.internal_high().load(Ordering::Relaxed)
    }

    /// Marks the operation started: STATUS_PENDING (InternalHigh untouched, W78).
    pub(crate) fn start(&self) {
        self.internal()
            .store(status::PENDING as usize, Ordering::Relaxed);
    }

    /// Writes the result: the count, then the status (Release: a reader that sees the status
    /// sees the count).
    pub(crate) fn finish(&self, st: u32, n: usize) {
        self.internal_high().store(n, Ordering::Relaxed);
        self.internal().store(st as usize, Ordering::Release);
    }

    /// The caller's `hEvent`.
    pub(crate) fn event_handle(&self) -> HANDLE {
        // SAFETY: valid for reading (Win32 contract).
        unsafe { std::ptr::addr_of!((*self.0).h_event).read() }
    }

    /// The event `hEvent` names, null for none: its low bit only masks the completion port's
    /// packet (`iocp::wants_packet`).
    pub(crate) fn event(&self) -> HANDLE {
        (self.event_handle() as usize & !1) as HANDLE
    }
}
