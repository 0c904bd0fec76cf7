//! Samba's named-pipe proxy protocol ("NPA"), as smbd speaks it on a Unix stream socket in its
//! `np/` directory when an SMB client opens `\\HOST\IPC$\NAME`. Pure code, no I/O: the request
//! decoder, the 36-byte reply and the LE16 message frames. Every decoder checks every length,
//! offset and count, because a bug in the peer must never make us read out of bounds or panic.
//!
//! ```text
//! request : BE32 L (0 < L <= 0xFFFFFF) | "NPAM" | LE32 level | NDR named_pipe_auth_req_info<level>
//!   level 7 (Samba 4.17): LE32 switch | u8 transport + pad | ptr client_name | ptr client_addr |
//!     u16 client_port + pad | ptr server_name | ptr server_addr | u16 server_port + pad |
//!     ptr session_info | the pointed-to strings (u32 max, u32 offset, u32 count, bytes, pad 4) |
//!     auth_session_info_transport (security_token, security_unix_token, auth_user_info, ...)
//! reply   : BE32(32) | "NPAM" | LE32 level | LE32 level | LE16 file_type (2 message, 1 byte) |
//!           LE16 device_state 0x05FF | u32 0 | LE64 allocation_size 4096 | LE32 status 0
//! frames  : LE16 len (1..=65535) | payload; one frame is one Windows message (message mode only)
//! ```
//!
//! The session information also carries the SMB session key: it is skipped over, never kept,
//! and no error message quotes any byte of a request.

/// The request magic, at bytes 4..8.
pub(crate) const MAGIC: &[u8; 4] = b"NPAM";
/// The largest request length smbd may announce (and that smbd accepts for a reply).
pub(crate) const MAX_LEN: usize = 0x00FF_FFFF;
/// The levels we answer.
pub(crate) const LEVELS: std::ops::RangeInclusive<u32> = 4..=8;
/// The length of the reply.
pub(crate) const REPLY_LEN: usize = 36;
/// The largest message one frame carries.
pub(crate) const MAX_FRAME: usize = 0xFFFF;
/// The NPA flag (in the flags SID) of a connection that only probes whether the pipe exists.
pub(crate) const FLAG_PROBE_ONLY: u32 = 4;

/// The relative id of the NPA flags SID `S-1-22-2041152804-<flags>`.
const NPA_FLAGS_RID: u32 = 2041152804;
/// The first sub-authority of the SMB3 encryption SID `S-1-22-1397571891-<dialect>-2-<cipher>`.
const SMB3_RID: u32 = 1_397_571_891;
/// Counts above this are refused (Samba itself allows far fewer SIDs and groups).
const MAX_COUNT: usize = 65536;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadNpa(pub &'static str);

/// What an SMB3 client's encryption SID says about its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Encryption {
    /// The SMB dialect (0x300, 0x302, 0x311).
    pub dialect: u32,
    /// The cipher (1 AES-128-CCM, 2 AES-128-GCM, ...).
    pub cipher: u32,
}

/// Who the SMB client is, from the request's `auth_session_info_transport`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub account: String,
    pub domain: String,
    pub authenticated: bool,
    /// Present when the SMB CREATE was encrypted.
    pub encryption: Option<Encryption>,
    /// The NPA flags SID's value, when the token has one.
    pub npa_flags: Option<u32>,
}

/// A decoded request. Everything but `level` is best-effort: `None` when absent or when that
/// part could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub level: u32,
    /// The SMB client's IP address (smbd's `remote_client_addr`).
    pub client_addr: Option<String>,
    /// The SMB client's TCP source port.
    pub client_port: Option<u16>,
    pub session: Option<Session>,
}

impl Request {
    /// Whether smbd only probes for the pipe's existence (the PROBE_ONLY flag).
    pub(crate) fn probe_only(&self) -> bool {
        self.session
            .as_ref()
            .and_then(|s| s.npa_flags)
            .is_some_and(|f| f & FLAG_PROBE_ONLY != 0)
    }
}

/// The length announced by a request's first four bytes (big-endian), checked.
pub(crate) fn request_len(head: [u8; 4]) -> Result<usize, BadNpa> {
    let l = u32::from_be_bytes(head) as usize;
    if l == 0 {
        return Err(BadNpa("empty request"));
    }
    if l > MAX_LEN {
        return Err(BadNpa("request longer than 0xFFFFFF bytes"));
    }
    Ok(l)
}

/// Decodes a whole request (the four length bytes included).
pub(crate) fn decode_request(b: &[u8]) -> Result<Request, BadNpa> {
    let head: [u8; 4] = b
        .get(..4)
        .and_then(|h| h.try_into().ok())
        .ok_or(BadNpa("request shorter than its length field"))?;
    let l = request_len(head)?;
    if b.len() - 4 != l {
        return Err(BadNpa("request length does not match its length field"));
    }
    if b.get(4..8) != Some(MAGIC.as_slice()) {
        return Err(BadNpa("bad magic"));
    }
    let mut c = Cursor { b, pos: 8 };
    let level = c.u32()?;
    if !LEVELS.contains(&level) {
        return Err(BadNpa("unsupported level"));
    }
    let mut req = Request {
        level,
        client_addr: None,
        client_port: None,
        session: None,
    };
    // Only level 7 (Samba 4.17's layout) is decoded: level 8 adds claims to the token, and
    // reading it with level 7's layout would take other counts for the uid. Other levels are
    // answered but carry no identity. A failure past the level leaves the rest unknown, never
    // the request refused; an identity counts only when the whole request decoded to its last
    // byte, as smbd's always does.
    if level == 7 && (decode_info7(&mut c, &mut req).is_err() || c.pos != b.len()) {
        req.session = None;
    }
    Ok(req)
}

/// The fields of `named_pipe_auth_req_info7` (and the leading ones of info8).
fn decode_info7(c: &mut Cursor<'_>, req: &mut Request) -> Result<(), BadNpa> {
    if c.u32()? != req.level {
        return Err(BadNpa("union switch differs from the level"));
    }
    let _transport = c.u32()?;
    let client_name = c.u32()?;
    let client_addr = c.u32()?;
    let client_port = c.u32()? as u16;
    let server_name = c.u32()?;
    let server_addr = c.u32()?;
    let _server_port = c.u32()?;
    let session = c.u32()?;
    // Deferred strings, in field order. The client name is smbd's own host name: skipped.
    if client_name != 0 {
        c.string()?;
    }
    if client_addr != 0 {
        req.client_addr = Some(c.string()?);
    }
    req.client_port = Some(client_port);
    if server_name != 0 {
        c.string()?;
    }
    if server_addr != 0 {
        c.string()?;
    }
    if session != 0 {
        req.session = Some(decode_session(c)?);
    }
    Ok(())
}

/// `auth_session_info_transport` and what it points to.
fn decode_session(c: &mut Cursor<'_>) -> Result<Session, BadNpa> {
    let info = c.u32()?;
    c.blob()?; // exported_gssapi_credentials
    if info == 0 {
        return Err(BadNpa("no session information"));
    }
    // auth_session_info: security_token, unix_token, info, unix_info, torture pointers, the
    // session key (skipped, never kept), credentials pointer, unique_session_token (a GUID).
    let token = c.u32()?;
    let unix_token = c.u32()?;
    let user_info = c.u32()?;
    let unix_info = c.u32()?;
    let _torture = c.u32()?;
    c.blob()?;
    let _credentials = c.u32()?;
    c.take(16)?;
    c.align(8)?;
    let mut s = Session {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        account: String::new(),
        domain: String::new(),
        authenticated: false,
        encryption: None,
        npa_flags: None,
    };
    let mut token_uid = None;
    if token != 0 {
        token_uid = decode_token(c, &mut s)?;
    }
    if unix_token == 0 {
        // Without a Unix identity there is nobody to be.
        return Err(BadNpa("no Unix token"));
    }
    let conf = c.count()?;
    c.align(8)?;
    s.uid = c.id()?;
    s.gid = c.id()?;
    // The Unix token must name the user the SIDs name (Samba puts `S-1-22-1-<uid>` in every
    // token): a layout this decoder misreads never yields an identity.
    if token_uid != Some(s.uid) {
        return Err(BadNpa("the Unix uid is not the token's S-1-22-1 user"));
    }
    let ngroups = c.count()?;
    if ngroups != conf {
        return Err(BadNpa("group count differs from its array size"));
    }
    c.align(8)?;
    for _ in 0..ngroups {
        s.groups.push(c.id()?);
    }
    if user_info != 0 {
        decode_user_info(c, &mut s)?;
    }
    if unix_info != 0 {
        c.align(4)?;
        let a = c.u32()?;
        let b = c.u32()?;
        for p in [a, b] {
            if p != 0 {
                c.string()?;
            }
        }
    }
    Ok(s)
}

/// `security_token`: the SIDs (only the NPA flags and SMB3 encryption SIDs are kept). Returns
/// the uid of the token's Unix-user SID (`S-1-22-1-<uid>`), when it has exactly one.
fn decode_token(c: &mut Cursor<'_>, s: &mut Session) -> Result<Option<u32>, BadNpa> {
    let mut unix_user = None;
    let mut unix_users = 0;
    let conf = c.count()?;
    let n = c.count()?;
    if n != conf {
        return Err(BadNpa("SID count differs from its array size"));
    }
    for _ in 0..n {
        let head = c.take(8)?;
        let subs = head[1] as usize;
        if subs > 15 {
            return Err(BadNpa("SID with more than 15 sub-authorities"));
        }
        let auth = u64::from_be_bytes([0, 0, head[2], head[3], head[4], head[5], head[6], head[7]]);
        let mut sub = [0u32; 15];
        for x in sub.iter_mut().take(subs) {
            *x = c.u32()?;
        }
        if head[0] != 1 || auth != 22 {
            continue;
        }
        match &sub[..subs] {
            [1, uid] => {
                unix_user = Some(*uid);
                unix_users += 1;
            }
            [NPA_FLAGS_RID, flags] => s.npa_flags = Some(*flags),
            [SMB3_RID, dialect, _, cipher] => {
                s.encryption = Some(Encryption {
                    dialect: *dialect,
                    cipher: *cipher,
                })
            }
            _ => {}
        }
    }
    c.align(8)?;
    c.take(8)?; // privilege_mask
    c.u32()?; // rights_mask
    Ok(if unix_users == 1 { unix_user } else { None })
}

/// `auth_user_info`: account and domain names and the authenticated flag.
fn decode_user_info(c: &mut Cursor<'_>, s: &mut Session) -> Result<(), BadNpa> {
    c.align(4)?;
    let account = c.u32()?;
    let upn = c.u32()?;
    let _upn_constructed = c.u32()?;
    let mut ptrs = [account, upn, 0, 0, 0, 0, 0, 0, 0, 0];
    for p in ptrs.iter_mut().skip(2) {
        *p = c.u32()?;
    }
    c.take(6 * 8)?; // logon, logoff, expiry and password times
    c.take(2 + 2 + 4)?; // logon count, bad password count, account flags
    s.authenticated = c.u32()? & 0xFF != 0;
    // Deferred strings, in field order: account, upn, domain, dns domain, full name, logon
    // script, profile path, home directory, home drive, logon server.
    for (i, p) in ptrs.iter().enumerate() {
        if *p == 0 {
            continue;
        }
        let v = c.string()?;
        match i {
            0 => s.account = v,
            2 => s.domain = v,
            _ => {}
        }
    }
    Ok(())
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadNpa> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(BadNpa("request truncated"))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, BadNpa> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, BadNpa> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    /// A Unix id (NDR hyper), which must fit 32 bits.
    fn id(&mut self) -> Result<u32, BadNpa> {
        u32::try_from(self.u64()?).map_err(|_| BadNpa("Unix id wider than 32 bits"))
    }
    fn count(&mut self) -> Result<usize, BadNpa> {
        let n = self.u32()? as usize;
        if n > MAX_COUNT {
            return Err(BadNpa("array count too large"));
        }
        Ok(n)
    }
    /// Skips padding to a multiple of `to` from the start of the request (whose NDR structure
    /// begins with the length field).
    fn align(&mut self, to: usize) -> Result<(), BadNpa> {
        let pad = (to - self.pos % to) % to;
        self.take(pad).map(|_| ())
    }
    /// A DATA_BLOB: LE32 length and the bytes, padded to 4; the bytes are not looked at.
    fn blob(&mut self) -> Result<(), BadNpa> {
        let n = self.u32()? as usize;
        self.take(n)?;
        self.align(4)
    }
    /// A conformant varying string: max, offset, count (terminating NUL included), bytes.
    fn string(&mut self) -> Result<String, BadNpa> {
        self.align(4)?;
        let max = self.u32()? as usize;
        let off = self.u32()?;
        let n = self.u32()? as usize;
        if off != 0 || n > max {
            return Err(BadNpa("bad string header"));
        }
        // The padding after it belongs to whatever follows (the last string has none).
        let bytes = self.take(n)?;
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The 36-byte reply for `level`, for a message-mode (`message == true`) or byte-mode pipe.
pub(crate) fn encode_reply(level: u32, message: bool) -> [u8; REPLY_LEN] {
    let mut r = [0u8; REPLY_LEN];
    r[0..4].copy_from_slice(&32u32.to_be_bytes());
    r[4..8].copy_from_slice(MAGIC);
    r[8..12].copy_from_slice(&level.to_le_bytes());
    r[12..16].copy_from_slice(&level.to_le_bytes());
    r[16..18].copy_from_slice(&(if message { 2u16 } else { 1u16 }).to_le_bytes());
    r[18..20].copy_from_slice(&0x05FFu16.to_le_bytes());
    // 20..24: padding before the 8-byte allocation size.
    r[24..32].copy_from_slice(&4096u64.to_le_bytes());
    // 32..36: status 0.
    r
}

/// The frame header for a message of `len` bytes; `None` when no frame can carry it (0 or
/// more than 65535 bytes).
pub(crate) fn frame_header(len: usize) -> Option<[u8; 2]> {
    if len == 0 || len > MAX_FRAME {
        return None;
    }
    Some((len as u16).to_le_bytes())
}

/// The payload length a frame header announces; a zero length is refused (smbd never sends
/// one).
pub(crate) fn frame_len(head: [u8; 2]) -> Result<usize, BadNpa> {
    match u16::from_le_bytes(head) {
        0 => Err(BadNpa("empty frame")),
        n => Ok(n as usize),
    }
}

#[cfg(test)]
#[path = "npa_tests.rs"]
mod tests;
