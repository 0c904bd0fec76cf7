//! FormatMessageA/W: Windows' English texts for the error codes npipe sets (and the file and
//! process errors programs meet beside pipes), so a program that prints errors the usual way
//! prints Windows' words.
//!
//! FORMAT_MESSAGE_FROM_SYSTEM looks the code up (an HRESULT of FACILITY_WIN32 counts as its
//! code); FORMAT_MESSAGE_FROM_STRING formats `lpSource`. Inserts (`%1`, `%2!d!`...) are kept
//! with FORMAT_MESSAGE_IGNORE_INSERTS, filled from an array with FORMAT_MESSAGE_ARGUMENT_ARRAY
//! (`!s!` or no format: a string; `!d!`, `!u!`, `!x!`, `!X!`, `!lu!`...: a number), and otherwise
//! fail with ERROR_INVALID_PARAMETER (npipe departs: a C `va_list` cannot be read here). The
//! escapes `%0`, `%%`, `%n`, `%r`, `%t`, `%.`, `%!` and `% ` work as on Windows, and
//! FORMAT_MESSAGE_MAX_WIDTH_MASK turns line breaks into spaces. English only: a language other
//! than neutral, the defaults or English is ERROR_RESOURCE_LANG_NOT_FOUND.

use crate::*;

const FORMAT_MESSAGE_ALLOCATE_BUFFER: DWORD = 0x100;
const FORMAT_MESSAGE_IGNORE_INSERTS: DWORD = 0x200;
const FORMAT_MESSAGE_FROM_STRING: DWORD = 0x400;
const FORMAT_MESSAGE_FROM_HMODULE: DWORD = 0x800;
const FORMAT_MESSAGE_FROM_SYSTEM: DWORD = 0x1000;
const FORMAT_MESSAGE_ARGUMENT_ARRAY: DWORD = 0x2000;
const FORMAT_MESSAGE_MAX_WIDTH_MASK: DWORD = 0xFF;
/// `ERROR_MR_MID_NOT_FOUND`: no text for the code.
const ERROR_MR_MID_NOT_FOUND: DWORD = 317;
/// `ERROR_RESOURCE_LANG_NOT_FOUND`.
const ERROR_RESOURCE_LANG_NOT_FOUND: DWORD = 1815;

/// Windows' text for `code` (without the trailing CR LF every system message has).
pub(crate) fn text(code: DWORD) -> Option<&'static str> {
    Some(match code {
        0 => "The operation completed successfully.",
        1 => "Incorrect function.",
        2 => "The system cannot find the file specified.",
        3 => "The system cannot find the path specified.",
        4 => "The system cannot open the file.",
        5 => "Access is denied.",
        6 => "The handle is invalid.",
        8 => "Not enough memory resources are available to process this command.",
        12 => "The access code is invalid.",
        13 => "The data is invalid.",
        14 => "Not enough memory resources are available to complete this operation.",
        18 => "There are no more files.",
        19 => "The media is write protected.",
        21 => "The device is not ready.",
        31 => "A device attached to the system is not functioning.",
        32 => "The process cannot access the file because it is being used by another process.",
        33 => "The process cannot access the file because another process has locked a portion of the file.",
        38 => "Reached the end of the file.",
        39 => "The disk is full.",
        50 => "The request is not supported.",
        53 => "The network path was not found.",
        64 => "The specified network name is no longer available.",
        67 => "The network name cannot be found.",
        80 => "The file exists.",
        87 => "The parameter is incorrect.",
        109 => "The pipe has been ended.",
        112 => "There is not enough space on the disk.",
        120 => "This function is not supported on this system.",
        121 => "The semaphore timeout period has expired.",
        122 => "The data area passed to a system call is too small.",
        123 => "The filename, directory name, or volume label syntax is incorrect.",
        126 => "The specified module could not be found.",
        127 => "The specified procedure could not be found.",
        131 => "An attempt was made to move the file pointer before the beginning of the file.",
        145 => "The directory is not empty.",
        161 => "The specified path is invalid.",
        170 => "The requested resource is in use.",
        183 => "Cannot create a file when that file already exists.",
        193 => "%1 is not a valid Win32 application.",
        203 => "The system could not find the environment option that was entered.",
        206 => "The filename or extension is too long.",
        229 => "The pipe is local.",
        230 => "The pipe state is invalid.",
        231 => "All pipe instances are busy.",
        232 => "The pipe is being closed.",
        233 => "No process is on the other end of the pipe.",
        234 => "More data is available.",
        258 => "The wait operation timed out.",
        259 => "No more data is available.",
        267 => "The directory name is invalid.",
        317 => "The system cannot find message text for message number 0x%1 in the message file for %2.",
        535 => "There is a process on other end of the pipe.",
        536 => "Waiting for a process to open the other end of the pipe.",
        574 => "{Application Error}\r\nThe exception %s (0x%08lx) occurred in the application at location 0x%08lx.",
        // The message file gives this code's own name as its text.
        735 => "ERROR_ABANDONED_WAIT_0",
        995 => "The I/O operation has been aborted because of either a thread exit or an application request.",
        996 => "Overlapped I/O event is not in a signaled state.",
        997 => "Overlapped I/O operation is in progress.",
        998 => "Invalid access to memory location.",
        1008 => "An attempt was made to reference a token that does not exist.",
        1117 => "The request could not be performed because of an I/O device error.",
        1131 => "A potential deadlock condition has been detected.",
        1168 => "Element not found.",
        1200 => "The specified device name is invalid.",
        1223 => "The operation was canceled by the user.",
        1359 => "An internal error occurred.",
        1305 => "The revision level is unknown.",
        1306 => "Indicates two revision levels are incompatible.",
        1314 => "A required privilege is not held by the client.",
        1326 => "The user name or password is incorrect.",
        1332 => "No mapping between account names and security IDs was done.",
        1336 => "The access control list (ACL) structure is invalid.",
        1337 => "The security ID structure is invalid.",
        1338 => "The security descriptor structure is invalid.",
        1344 => "No more memory is available for security information updates.",
        1368 => "Unable to impersonate using a named pipe until data has been read from that pipe.",
        1450 => "Insufficient system resources exist to complete the requested service.",
        1460 => "This operation returned because the timeout period expired.",
        1722 => "The RPC server is unavailable.",
        1815 => "The specified resource language ID cannot be found in the image file.",
        1816 => "Not enough quota is available to process this command.",
        1921 => "The name of the file cannot be resolved by the system.",
        2250 => "This network connection does not exist.",
        _ => return None,
    })
}

/// Whether FormatMessage has texts in `lang` (a LANGID: English or a default).
fn language_ok(lang: DWORD) -> bool {
    let primary = lang & 0x3FF;
    lang == 0 || primary == 0 || primary == 0x09
}

/// Formats `msg`: escapes, inserts (`args`: None means insert values are not available),
/// line breaks and the width rule.
fn format(
    msg: &str,
    flags: DWORD,
    args: Option<*const usize>,
    wide: bool,
) -> Result<String, DWORD> {
    let ignore = flags & FORMAT_MESSAGE_IGNORE_INSERTS != 0;
    let width = flags & FORMAT_MESSAGE_MAX_WIDTH_MASK;
    let mut out = String::new();
    let chars: Vec<char> = msg.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            if width != 0 && (c == '\r' || c == '\n') {
                // A regular line break: a space instead (once for CR LF).
                if !(c == '\n' && i > 0 && chars[i - 1] == '\r') {
                    out.push(' ');
                }
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let Some(&n) = chars.get(i + 1) else {
            out.push('%');
            break;
        };
        match n {
            '0' => return Ok(out),
            '1'..='9' => {
                let start = i;
                i += 1;
                let mut num = 0usize;
                let mut digits = 0;
                while digits < 2 && i < chars.len() && chars[i].is_ascii_digit() {
                    num = num * 10 + chars[i].to_digit(10).unwrap_or(0) as usize;
                    i += 1;
                    digits += 1;
                }
                let mut spec = String::new();
                if i < chars.len() && chars[i] == '!' {
                    if let Some(end) = chars[i + 1..].iter().position(|&c| c == '!') {
                        spec = chars[i + 1..i + 1 + end].iter().collect();
                        i += end + 2;
                    }
                }
                if ignore {
                    out.extend(&chars[start..i]);
                    continue;
                }
                let Some(a) = args else {
                    return Err(ERROR_INVALID_PARAMETER);
                };
                // SAFETY: with FORMAT_MESSAGE_ARGUMENT_ARRAY the caller passes at least as many
                // DWORD_PTR values as the message has inserts.
                let v = unsafe { *a.add(num - 1) };
                insert(&mut out, v, &spec, wide)?;
                continue;
            }
            'n' => out.push_str("\r\n"),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            other => out.push(other),
        }
        i += 2;
    }
    Ok(out)
}

/// One insert: a string pointer (`s` or no format: a string of the function's own width, `S`
/// the other width) or a number.
fn insert(out: &mut String, v: usize, spec: &str, wide: bool) -> Result<(), DWORD> {
    let conv = spec.trim_start_matches(['-', '+', '#', ' ', '0']);
    let conv = conv.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let conv = conv.trim_start_matches(['l', 'h', 'I']);
    match conv {
        "" | "s" | "S" => {
            if v == 0 {
                out.push_str("(null)");
            } else {
                let wide_arg = wide != (conv == "S");
                // SAFETY: the argument for a string insert is a NUL-terminated string of that
                // width (the caller's contract).
                let s = unsafe {
                    if wide_arg {
                        name_w(v as *const u16)
                    } else {
                        name_a(v as *const c_char)
                    }
                }
                .unwrap_or_default();
                out.push_str(&s);
            }
        }
        "d" | "i" => out.push_str(&(v as i32).to_string()),
        "u" => out.push_str(&(v as u32).to_string()),
        "x" => out.push_str(&format!("{:x}", v as u32)),
        "X" => out.push_str(&format!("{:X}", v as u32)),
        "c" => out.push(char::from(v as u8)),
        _ => return Err(ERROR_INVALID_PARAMETER),
    }
    Ok(())
}

/// The formatted text FormatMessage produces, or its error.
///
/// # Safety
/// `source` is null or (with FROM_STRING) a NUL-terminated string of `wide` units; `args` as
/// FormatMessage's Arguments.
unsafe fn produce(
    flags: DWORD,
    source: *const c_void,
    id: DWORD,
    lang: DWORD,
    args: *const c_void,
    wide: bool,
) -> Result<String, DWORD> {
    let template: String = if flags & FORMAT_MESSAGE_FROM_STRING != 0 {
        // SAFETY: a NUL-terminated string (caller).
        let s = unsafe {
            if wide {
                name_w(source.cast())
            } else {
                name_a(source.cast())
            }
        };
        s.ok_or(ERROR_INVALID_PARAMETER)?
    } else if flags & FORMAT_MESSAGE_FROM_SYSTEM != 0 {
        if !language_ok(lang) {
            return Err(ERROR_RESOURCE_LANG_NOT_FOUND);
        }
        let code = if id & 0xFFFF_0000 == 0x8007_0000 {
            id & 0xFFFF
        } else {
            id
        };
        let t = text(code).ok_or(ERROR_MR_MID_NOT_FOUND)?;
        format!("{t}\r\n")
    } else if flags & FORMAT_MESSAGE_FROM_HMODULE != 0 {
        // npipe departs: there are no message-table resources in Linux modules.
        return Err(ERROR_MR_MID_NOT_FOUND);
    } else {
        return Err(ERROR_INVALID_PARAMETER);
    };
    let args = (flags & FORMAT_MESSAGE_ARGUMENT_ARRAY != 0 && !args.is_null())
        .then_some(args.cast::<usize>());
    format(&template, flags, args, wide)
}

/// Copies `units` (with a NUL) to the caller: into `buffer` of `size` units, or a malloc'd
/// block (LocalFree frees it) stored through `buffer` with FORMAT_MESSAGE_ALLOCATE_BUFFER.
///
/// # Safety
/// `buffer` as FormatMessage's lpBuffer for units of `T`.
unsafe fn deliver<T: Copy + Default>(
    units: &[T],
    flags: DWORD,
    buffer: *mut c_void,
    size: DWORD,
) -> DWORD {
    if buffer.is_null() {
        set_error(ERROR_INVALID_PARAMETER);
        return 0;
    }
    let need = units.len() + 1;
    let dst: *mut T = if flags & FORMAT_MESSAGE_ALLOCATE_BUFFER != 0 {
        let n = need.max(size as usize);
        // SAFETY: malloc of a non-zero size; LocalFree (free) releases it.
        let p = unsafe { libc::calloc(n, std::mem::size_of::<T>()) }.cast::<T>();
        if p.is_null() {
            set_error(ERROR_NOT_ENOUGH_MEMORY);
            return 0;
        }
        // SAFETY: lpBuffer points to a pointer-sized slot with ALLOCATE_BUFFER (caller).
        unsafe { buffer.cast::<*mut T>().write_unaligned(p) };
        p
    } else {
        if (size as usize) < need {
            set_error(ERROR_INSUFFICIENT_BUFFER);
            return 0;
        }
        buffer.cast::<T>()
    };
    // SAFETY: `dst` has room for `need` units (allocated, or checked against nSize).
    unsafe {
        std::ptr::copy_nonoverlapping(units.as_ptr(), dst, units.len());
        dst.add(units.len()).write(T::default());
    }
    units.len() as DWORD
}

/// `FormatMessageA` (see the module comment). Returns the length without the NUL, or 0 with
/// ERROR_MR_MID_NOT_FOUND (no text for the code), ERROR_INSUFFICIENT_BUFFER (nSize too
/// small), ERROR_INVALID_PARAMETER.
///
/// # Safety
/// As the Win32 function: `buffer` holds `size` chars, or is where the allocated pointer goes;
/// `args` is null or an array of DWORD_PTR with FORMAT_MESSAGE_ARGUMENT_ARRAY.
#[export_name = "npipe_FormatMessageA"]
pub unsafe extern "C" fn FormatMessageA(
    flags: DWORD,
    source: *const c_void,
    id: DWORD,
    lang: DWORD,
    buffer: *mut c_char,
    size: DWORD,
    args: *const c_void,
) -> DWORD {
    // SAFETY: forwarded contract.
    match unsafe { produce(flags, source, id, lang, args, false) } {
        // SAFETY: forwarded contract.
        Ok(s) => unsafe { deliver(s.as_bytes(), flags, buffer.cast(), size) },
        Err(code) => {
            set_error(code);
            0
        }
    }
}

/// `FormatMessageW`: as [`FormatMessageA`], in UTF-16 units.
///
/// # Safety
/// As [`FormatMessageA`], with `size` in WCHARs.
#[export_name = "npipe_FormatMessageW"]
pub unsafe extern "C" fn FormatMessageW(
    flags: DWORD,
    source: *const c_void,
    id: DWORD,
    lang: DWORD,
    buffer: *mut u16,
    size: DWORD,
    args: *const c_void,
) -> DWORD {
    // SAFETY: forwarded contract.
    match unsafe { produce(flags, source, id, lang, args, true) } {
        Ok(s) => {
            let units: Vec<u16> = s.encode_utf16().collect();
            // SAFETY: forwarded contract.
            unsafe { deliver(&units, flags, buffer.cast(), size) }
        }
        Err(code) => {
            set_error(code);
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ERROR_* code the C header defines (every code npipe sets is there) has Windows'
    /// text, so FormatMessage never fails for an error npipe reported.
    #[test]
    fn every_header_error_code_has_a_text() {
        let header = include_str!("../include/npipe/win32.h");
        let mut missing = Vec::new();
        let mut seen = 0;
        for line in header.lines() {
            let mut parts = line.split_whitespace();
            let (Some("#define"), Some(name), Some(value)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !name.starts_with("ERROR_") {
                continue;
            }
            let Ok(code) = value.trim_end_matches('L').parse::<u32>() else {
                continue;
            };
            seen += 1;
            if text(code).is_none() {
                missing.push(format!("{name} {code}"));
            }
        }
        assert!(seen > 40, "found only {seen} codes in the header");
        assert!(missing.is_empty(), "no text for {missing:?}");
    }

    #[test]
    fn inserts_escapes_and_width() {
        let args: [usize; 2] = [c"pipe".as_ptr() as usize, 7];
        let out = format("%1 has %2!d! parts%n", 0, Some(args.as_ptr()), false).expect("format");
        assert_eq!(out, "pipe has 7 parts\r\n");
        let w: Vec<u16> = "wide\0".encode_utf16().collect();
        let wargs: [usize; 1] = [w.as_ptr() as usize];
        assert_eq!(
            format("[%1]", 0, Some(wargs.as_ptr()), true).as_deref(),
            Ok("[wide]")
        );
        assert_eq!(
            format("[%1!S!]", 0, Some(wargs.as_ptr()), false).as_deref(),
            Ok("[wide]")
        );
        assert_eq!(
            format("a %1 b", FORMAT_MESSAGE_IGNORE_INSERTS, None, false).as_deref(),
            Ok("a %1 b")
        );
        assert_eq!(
            format("a %1 b", 0, None, false),
            Err(ERROR_INVALID_PARAMETER)
        );
        assert_eq!(format("x%0y", 0, None, false).as_deref(), Ok("x"));
        assert_eq!(format("50%% %t.", 0, None, false).as_deref(), Ok("50% \t."));
        assert_eq!(
            format("one\r\ntwo\r\n", 0xFF, None, false).as_deref(),
            Ok("one two ")
        );
    }
}
