//! Control-socket handshake frames. Safe code only; every decoder checks lengths and values
//! because the bytes come from another process.
//!
//! One request packet from the client, then one or two reply packets from the server:
//! ```text
//! request : magic "NPH1" u32 | version u16 | kind u16 | access u32 |
//!           timeout_ms u32 (OPEN, OPEN_REMOTE: sqos u32, the client's security quality of
//!           service flags, within SECURITY_VALID_SQOS_FLAGS; 0 from an earlier build) |
//!           name_len u16 | name (UTF-8, the name as the client spelled it)
//!           [| token u64, OPEN_REMOTE only: a process-local remote identity, see
//!            `semantics::remote`]
//!           [| claims u8 | key u64 * claims, OPEN only, optional: the areas this client
//!            parked for the server's process, see `transport::queue::recycle`]
//! reply   : magic "NPR1" u32 | version u16 | kind u16 | error u32 | body (by kind)
//!   Connected body: pipe_type u8 | direction u8 | pad u16 | max_instances u32 |
//!                   out_quota u32 | in_quota u32 | default_timeout u32 | cur_instances u32 |
//!                   server_pid u32 | cap0 u64 | cap1 u64
//!                   [| area_key u64 | reused u8 | pad u8 * 3: only when the OPEN had its
//!                    claims field]      (+ the memfd as SCM_RIGHTS, unless `reused`)
//!   Parked body:    default_timeout u32   (a READY packet follows when an instance listens)
//!   Info body:      same fields as Connected, without a memfd (for QUERY)
//!   Described body: object u8 (1 pipe, 2 mailslot) | pad u8 | pad u16 | listening u32 |
//!                   the Info fields | name_len u16 | name (UTF-8, as created)  (for DESCRIBE)
//! ```
//!
//! A DESCRIBE request (for listings) names nothing: its access, timeout and name are all
//! empty, because the client only knows the address it connected to (which may be a hash).

/// Request magic "NPH1".
pub(crate) const REQ_MAGIC: u32 = u32::from_le_bytes(*b"NPH1");
/// Reply magic "NPR1".
pub(crate) const REP_MAGIC: u32 = u32::from_le_bytes(*b"NPR1");
/// Protocol version.
pub(crate) const PROTO_VERSION: u16 = 1;
/// `SECURITY_VALID_SQOS_FLAGS`: the only bits an OPEN's `sqos` word may have.
pub(crate) const VALID_SQOS: u32 = 0x001F_0000;
/// `SECURITY_SQOS_PRESENT`.
const SQOS_PRESENT: u32 = 0x0010_0000;
/// `SECURITY_CONTEXT_TRACKING`.
const SQOS_CONTEXT_TRACKING: u32 = 0x0004_0000;

/// Whether an open with these quality of service flags hands the server the client's security
/// context at the open (static tracking: `SECURITY_SQOS_PRESENT` without
/// `SECURITY_CONTEXT_TRACKING`), rather than with the data it writes.
pub(crate) fn context_at_open(sqos: u32) -> bool {
    sqos & SQOS_PRESENT != 0 && sqos & SQOS_CONTEXT_TRACKING == 0
}
/// Most area keys an OPEN names.
pub(crate) const MAX_CLAIMS: usize = 8;
/// Largest request packet.
pub(crate) const MAX_REQ: usize = 20 + 4 * 1024;
/// Largest reply packet, except [`Reply::Described`].
pub(crate) const MAX_REP: usize = 128;
/// Longest name a frame carries, in bytes (a name of 259 characters of 4 bytes fits).
pub(crate) const MAX_NAME_BYTES: usize = 4 * 1024;
/// Largest [`Reply::Described`] packet.
pub(crate) const MAX_DESCRIBED_REP: usize = MAX_REP + MAX_NAME_BYTES;

/// What a client asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReqKind {
    /// Open a client end (CreateFile).
    Open = 1,
    /// Wait until an instance listens (WaitNamedPipe).
    Wait = 2,
    /// Report the pipe's parameters (a second process creating an instance).
    Query = 3,
    /// Report what is served here, name included (a listing, which knows only the address).
    Describe = 4,
    /// Open a client end on behalf of a remote (SMB) client whose identity this process
    /// registered under `token`; accepted only from the serving process itself.
    OpenRemote = 5,
}

/// A decoded client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub kind: ReqKind,
    pub access: u32,
    pub timeout_ms: u32,
    /// The client's security quality of service flags (CreateFile's `SECURITY_SQOS_PRESENT`
    /// and the level and tracking bits that come with it; Open and OpenRemote only, in the
    /// word other kinds use for `timeout_ms`, which an open leaves 0).
    pub sqos: u32,
    pub name: String,
    /// The remote identity's token (OpenRemote; 0 for every other kind).
    pub token: u64,
    /// Keys of areas the client parked for the server's process (Open only, at most
    /// [`MAX_CLAIMS`], none 0); `None` from a client that does not know areas (the field is
    /// optional, so an earlier build's frames stay valid), which gets no area in the reply. An
    /// earlier build's server refuses the field (ERROR_INVALID_DATA): the client then asks
    /// again without it.
    pub claims: Option<Vec<u64>>,
}

/// Reply kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RepKind {
    /// The client end is connected; a memfd comes with the packet.
    Connected = 1,
    /// Refused with a Win32 error code.
    Error = 2,
    /// An instance is listening (answer to Wait).
    Ready = 3,
    /// No instance listens yet; wait for Ready.
    Parked = 4,
    /// Pipe parameters (answer to Query).
    Info = 5,
    /// What is served, with its name (answer to Describe).
    Described = 6,
}

/// What kind of object a [`Described`] reply describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    /// A named pipe.
    Pipe = 1,
    /// A mailslot.
    Mailslot = 2,
}

/// The answer to a Describe request: what a listing shows about one served name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Described {
    pub object: Object,
    /// Instances listening for a client now (never more than `info.cur_instances`).
    pub listening: u32,
    pub info: PipeInfo,
    /// The name as its first instance was created (at most [`MAX_NAME_BYTES`]).
    pub name: String,
}

/// Pipe parameters the server tells its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PipeInfo {
    pub message_type: bool,
    pub direction: u8,
    pub max_instances: u32,
    pub out_quota: u32,
    pub in_quota: u32,
    pub default_timeout: u32,
    pub cur_instances: u32,
    pub server_pid: u32,
    pub caps: [u64; 2],
}

/// The area a connection lives in (see `transport::queue::recycle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Area {
    /// Its key, for a later reuse between the same two processes; 0: it is not to be parked.
    pub key: u64,
    /// The client's own parked area `key` is reused: no memfd comes with the reply.
    pub reused: bool,
}

/// A decoded server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `None`: no area field (the client's OPEN had no claims field).
    Connected(PipeInfo, Option<Area>),
    Error(u32),
    Ready,
    Parked {
        default_timeout: u32,
    },
    Info(PipeInfo),
    Described(Described),
}

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadFrame(pub &'static str);

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadFrame> {
        if self.b.len() < n {
            return Err(BadFrame("frame too short"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, BadFrame> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, BadFrame> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, BadFrame> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, BadFrame> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

impl Request {
    /// Encodes the request.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let name = self.name.as_bytes();
        let mut v = Vec::with_capacity(18 + name.len());
        v.extend_from_slice(&REQ_MAGIC.to_le_bytes());
        v.extend_from_slice(&PROTO_VERSION.to_le_bytes());
        v.extend_from_slice(&(self.kind as u16).to_le_bytes());
        v.extend_from_slice(&self.access.to_le_bytes());
        let word = match self.kind {
            ReqKind::Open | ReqKind::OpenRemote => self.sqos,
            _ => self.timeout_ms,
        };
        v.extend_from_slice(&word.to_le_bytes());
        v.extend_from_slice(&(name.len() as u16).to_le_bytes());
        v.extend_from_slice(name);
        if self.kind == ReqKind::OpenRemote {
            v.extend_from_slice(&self.token.to_le_bytes());
        }
        if let (ReqKind::Open, Some(claims)) = (self.kind, &self.claims) {
            let claims = &claims[..claims.len().min(MAX_CLAIMS)];
            v.push(claims.len() as u8);
            for k in claims {
                v.extend_from_slice(&k.to_le_bytes());
            }
        }
        v
    }

    /// Decodes and checks a request.
    pub(crate) fn decode(b: &[u8]) -> Result<Request, BadFrame> {
        let mut c = Cursor { b };
        if c.u32()? != REQ_MAGIC {
            return Err(BadFrame("bad request magic"));
        }
        if c.u16()? != PROTO_VERSION {
            return Err(BadFrame("unsupported protocol version"));
        }
        let kind = match c.u16()? {
            1 => ReqKind::Open,
            2 => ReqKind::Wait,
            3 => ReqKind::Query,
            4 => ReqKind::Describe,
            5 => ReqKind::OpenRemote,
            _ => return Err(BadFrame("unknown request kind")),
        };
        let access = c.u32()?;
        let (timeout_ms, sqos) = match (kind, c.u32()?) {
            (ReqKind::Open | ReqKind::OpenRemote, w) if w & !VALID_SQOS != 0 => {
                return Err(BadFrame("unknown security quality of service flags"))
            }
            (ReqKind::Open | ReqKind::OpenRemote, w) => (0, w),
            (_, w) => (w, 0),
        };
        let name = get_name(&mut c)?;
        let token = if kind == ReqKind::OpenRemote {
            match c.u64()? {
                0 => return Err(BadFrame("a remote open carries no token")),
                t => t,
            }
        } else {
            0
        };
        let mut claims = None;
        if kind == ReqKind::Open && !c.b.is_empty() {
            let keys = claims.insert(Vec::new());
            let n = c.u8()? as usize;
            if n > MAX_CLAIMS {
                return Err(BadFrame("too many area claims"));
            }
            for _ in 0..n {
                match c.u64()? {
                    0 => return Err(BadFrame("an area claim without a key")),
                    k => keys.push(k),
                }
            }
        }
        if !c.b.is_empty() {
            return Err(BadFrame("trailing bytes in request"));
        }
        if kind == ReqKind::Describe && (access != 0 || timeout_ms != 0 || !name.is_empty()) {
            return Err(BadFrame(
                "a describe request carries no access, timeout or name",
            ));
        }
        Ok(Request {
            kind,
            access,
            timeout_ms,
            sqos,
            name,
            token,
            claims,
        })
    }
}

/// A length-prefixed UTF-8 name of at most [`MAX_NAME_BYTES`].
fn get_name(c: &mut Cursor<'_>) -> Result<String, BadFrame> {
    let n = c.u16()? as usize;
    if n > MAX_NAME_BYTES {
        return Err(BadFrame("name too long"));
    }
    Ok(std::str::from_utf8(c.take(n)?)
        .map_err(|_| BadFrame("name is not UTF-8"))?
        .to_owned())
}

fn put_info(v: &mut Vec<u8>, i: &PipeInfo) {
    v.push(i.message_type as u8);
    v.push(i.direction);
    v.extend_from_slice(&0u16.to_le_bytes());
    for x in [
        i.max_instances,
        i.out_quota,
        i.in_quota,
        i.default_timeout,
        i.cur_instances,
        i.server_pid,
    ] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&i.caps[0].to_le_bytes());
    v.extend_from_slice(&i.caps[1].to_le_bytes());
}

fn get_info(c: &mut Cursor<'_>) -> Result<PipeInfo, BadFrame> {
    let message_type = match c.u8()? {
        0 => false,
        1 => true,
        _ => return Err(BadFrame("bad pipe type")),
    };
    let direction = c.u8()?;
    if !(1..=3).contains(&direction) {
        return Err(BadFrame("bad pipe direction"));
    }
    if c.u16()? != 0 {
        return Err(BadFrame("non-zero padding"));
    }
    Ok(PipeInfo {
        message_type,
        direction,
        max_instances: c.u32()?,
        out_quota: c.u32()?,
        in_quota: c.u32()?,
        default_timeout: c.u32()?,
        cur_instances: c.u32()?,
        server_pid: c.u32()?,
        caps: [c.u64()?, c.u64()?],
    })
}

fn get_area(c: &mut Cursor<'_>) -> Result<Area, BadFrame> {
    let key = c.u64()?;
    let reused = match c.u8()? {
        0 => false,
        1 if key != 0 => true,
        _ => return Err(BadFrame("bad area reuse flag")),
    };
    if c.take(3)? != [0, 0, 0] {
        return Err(BadFrame("non-zero padding"));
    }
    Ok(Area { key, reused })
}

fn get_described(c: &mut Cursor<'_>) -> Result<Described, BadFrame> {
    let object = match c.u8()? {
        1 => Object::Pipe,
        2 => Object::Mailslot,
        _ => return Err(BadFrame("unknown object kind")),
    };
    if c.u8()? != 0 || c.u16()? != 0 {
        return Err(BadFrame("non-zero padding"));
    }
    let listening = c.u32()?;
    let info = get_info(c)?;
    if listening > info.cur_instances || info.cur_instances > info.max_instances {
        return Err(BadFrame(
            "more instances listening or in use than there are",
        ));
    }
    let name = get_name(c)?;
    Ok(Described {
        object,
        listening,
        info,
        name,
    })
}

impl Reply {
    /// Encodes the reply.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(MAX_REP);
        v.extend_from_slice(&REP_MAGIC.to_le_bytes());
        v.extend_from_slice(&PROTO_VERSION.to_le_bytes());
        let (kind, err) = match self {
            Reply::Connected(..) => (RepKind::Connected, 0),
            Reply::Error(e) => (RepKind::Error, *e),
            Reply::Ready => (RepKind::Ready, 0),
            Reply::Parked { .. } => (RepKind::Parked, 0),
            Reply::Info(_) => (RepKind::Info, 0),
            Reply::Described(_) => (RepKind::Described, 0),
        };
        v.extend_from_slice(&(kind as u16).to_le_bytes());
        v.extend_from_slice(&err.to_le_bytes());
        match self {
            Reply::Connected(i, a) => {
                put_info(&mut v, i);
                if let Some(a) = a {
                    v.extend_from_slice(&a.key.to_le_bytes());
                    v.extend_from_slice(&[a.reused as u8, 0, 0, 0]);
                }
            }
            Reply::Info(i) => put_info(&mut v, i),
            Reply::Parked { default_timeout } => {
                v.extend_from_slice(&default_timeout.to_le_bytes())
            }
            Reply::Described(d) => {
                v.push(d.object as u8);
                v.push(0);
                v.extend_from_slice(&0u16.to_le_bytes());
                v.extend_from_slice(&d.listening.to_le_bytes());
                put_info(&mut v, &d.info);
                // Names are checked (at most 259 characters) before anything is served, so
                // the length fits; a longer one would be cut to a frame the decoder refuses.
                let name = &d.name.as_bytes()[..d.name.len().min(MAX_NAME_BYTES + 1)];
                v.extend_from_slice(&(name.len() as u16).to_le_bytes());
                v.extend_from_slice(name);
            }
            Reply::Error(_) | Reply::Ready => {}
        }
        v
    }

    /// Decodes and checks a reply.
    pub(crate) fn decode(b: &[u8]) -> Result<Reply, BadFrame> {
        let mut c = Cursor { b };
        if c.u32()? != REP_MAGIC {
            return Err(BadFrame("bad reply magic"));
        }
        if c.u16()? != PROTO_VERSION {
            return Err(BadFrame("unsupported protocol version"));
        }
        let kind = c.u16()?;
        let err = c.u32()?;
        if kind != RepKind::Error as u16 && err != 0 {
            return Err(BadFrame("an error code in a reply that is not an error"));
        }
        let r = match kind {
            1 => {
                let info = get_info(&mut c)?;
                let area = if c.b.is_empty() {
                    None
                } else {
                    Some(get_area(&mut c)?)
                };
                Reply::Connected(info, area)
            }
            2 => {
                if err == 0 {
                    return Err(BadFrame("error reply without a code"));
                }
                Reply::Error(err)
            }
            3 => Reply::Ready,
            4 => Reply::Parked {
                default_timeout: c.u32()?,
            },
            5 => Reply::Info(get_info(&mut c)?),
            6 => Reply::Described(get_described(&mut c)?),
            _ => return Err(BadFrame("unknown reply kind")),
        };
        if !c.b.is_empty() {
            return Err(BadFrame("trailing bytes in reply"));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = Request {
            kind: ReqKind::Open,
            access: 0xC000_0000,
            timeout_ms: 0,
            sqos: 0x0012_0000,
            name: r"\\.\pipe\a<>*?|/b".into(),
            token: 0,
            claims: None,
        };
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
        let w = Request {
            kind: ReqKind::Wait,
            timeout_ms: 5,
            sqos: 0,
            ..r
        };
        assert_eq!(Request::decode(&w.encode()).unwrap(), w);
    }

    #[test]
    fn an_open_carries_only_quality_of_service_bits() {
        // The word a wait's timeout takes is an open's SQOS flags: other bits are refused,
        // and an earlier build's 0 means none (the context comes with the first read).
        let mut r = Request {
            kind: ReqKind::Open,
            access: 0,
            timeout_ms: 0,
            sqos: 0x0010_0000,
            name: "x".into(),
            token: 0,
            claims: None,
        };
        assert!(context_at_open(Request::decode(&r.encode()).unwrap().sqos));
        r.sqos = 0x0014_0000;
        assert!(
            !context_at_open(Request::decode(&r.encode()).unwrap().sqos),
            "dynamic"
        );
        r.sqos = 0;
        assert!(!context_at_open(Request::decode(&r.encode()).unwrap().sqos));
        r.sqos = 0x0010_0001;
        assert!(Request::decode(&r.encode()).is_err());
        r.sqos = 0x0020_0000;
        assert!(Request::decode(&r.encode()).is_err());
    }

    #[test]
    fn area_claims_round_trip_and_are_checked() {
        let r = Request {
            kind: ReqKind::Open,
            access: 0,
            timeout_ms: 0,
            sqos: 0,
            name: "x".into(),
            token: 0,
            claims: Some((1..=MAX_CLAIMS as u64).collect()),
        };
        let enc = r.encode();
        assert_eq!(Request::decode(&enc).unwrap(), r);
        // The count byte comes after the name: too many claims, or a key of 0, are refused.
        let count_at = enc.len() - 1 - 8 * MAX_CLAIMS;
        let mut more = enc.clone();
        more[count_at] = MAX_CLAIMS as u8 + 1;
        more.extend_from_slice(&9u64.to_le_bytes());
        assert!(Request::decode(&more).is_err());
        let mut zero = enc.clone();
        zero[count_at + 1..count_at + 9].copy_from_slice(&0u64.to_le_bytes());
        assert!(Request::decode(&zero).is_err());
        // Only an open carries claims: a wait's are not encoded.
        let w = Request {
            kind: ReqKind::Wait,
            ..r.clone()
        };
        assert_eq!(Request::decode(&w.encode()).unwrap().claims, None);
        // An encoder asked for more sends the first MAX_CLAIMS.
        let many = Request {
            claims: Some((1..=20).collect()),
            ..r.clone()
        };
        assert_eq!(Request::decode(&many.encode()).unwrap(), r);
        // Without the field (an earlier client), and with an empty one.
        for claims in [None, Some(Vec::new())] {
            let o = Request {
                claims,
                ..r.clone()
            };
            assert_eq!(Request::decode(&o.encode()).unwrap(), o);
        }

        let info = PipeInfo {
            direction: 3,
            ..PipeInfo::default()
        };
        let good = Reply::Connected(
            info,
            Some(Area {
                key: 5,
                reused: true,
            }),
        )
        .encode();
        // Without the area field, as to an earlier client.
        let old = Reply::Connected(info, None);
        assert_eq!(Reply::decode(&old.encode()).unwrap(), old);
        let flag_at = good.len() - 4;
        let bad = |at: usize, val: u8| {
            let mut b = good.clone();
            b[at] = val;
            Reply::decode(&b)
        };
        assert!(bad(flag_at, 2).is_err(), "a flag other than 0 or 1");
        assert!(bad(flag_at + 1, 1).is_err(), "padding");
        // A reuse without a key names nothing.
        let mut keyless = good.clone();
        keyless[flag_at - 8..flag_at].copy_from_slice(&0u64.to_le_bytes());
        assert!(Reply::decode(&keyless).is_err());
        // Cut anywhere but where the optional field starts.
        for n in (0..good.len()).filter(|&n| n != flag_at - 8) {
            assert!(Reply::decode(&good[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn reply_round_trip() {
        let info = PipeInfo {
            message_type: true,
            direction: 3,
            max_instances: 4,
            out_quota: 1024,
            in_quota: 6000,
            default_timeout: 50,
            cur_instances: 2,
            server_pid: 77,
            caps: [65536, 65536],
        };
        for r in [
            Reply::Connected(info, None),
            Reply::Connected(info, Some(Area::default())),
            Reply::Connected(
                info,
                Some(Area {
                    key: u64::MAX,
                    reused: true,
                }),
            ),
            Reply::Info(info),
            Reply::Error(231),
            Reply::Ready,
            Reply::Parked {
                default_timeout: 50,
            },
        ] {
            assert_eq!(Reply::decode(&r.encode()).unwrap(), r);
        }
    }

    fn described() -> Described {
        Described {
            object: Object::Pipe,
            listening: 1,
            info: PipeInfo {
                message_type: false,
                direction: 3,
                max_instances: 255,
                cur_instances: 2,
                server_pid: 9,
                ..PipeInfo::default()
            },
            name: r"\\.\pipe\Ünï cödé".into(),
        }
    }

    #[test]
    fn describe_round_trip() {
        let req = Request {
            kind: ReqKind::Describe,
            access: 0,
            timeout_ms: 0,
            sqos: 0,
            name: String::new(),
            token: 0,
            claims: None,
        };
        assert_eq!(Request::decode(&req.encode()).unwrap(), req);
        let r = Reply::Described(described());
        let enc = r.encode();
        assert!(enc.len() <= MAX_DESCRIBED_REP);
        assert_eq!(Reply::decode(&enc).unwrap(), r);
        let long = Reply::Described(Described {
            name: "\u{10FFFF}".repeat(MAX_NAME_BYTES / 4),
            ..described()
        });
        let enc = long.encode();
        assert!(enc.len() <= MAX_DESCRIBED_REP);
        assert_eq!(Reply::decode(&enc).unwrap(), long);
    }

    #[test]
    fn describe_frames_are_checked() {
        // A describe request that names something, asks for access or waits is refused.
        for (access, timeout_ms, name) in [(1, 0, ""), (0, 1, ""), (0, 0, "x")] {
            let r = Request {
                kind: ReqKind::Describe,
                access,
                timeout_ms,
                sqos: 0,
                name: name.into(),
                token: 0,
                claims: None,
            };
            assert!(Request::decode(&r.encode()).is_err(), "{r:?}");
        }
        let good = Reply::Described(described()).encode();
        for n in 0..good.len() {
            assert!(Reply::decode(&good[..n]).is_err(), "cut at {n}");
        }
        // Object kind, padding, listening > in use, in use > max, a name that is not UTF-8
        // or longer than the limit.
        let bad = |at: usize, val: &[u8]| {
            let mut b = good.clone();
            b[at..at + val.len()].copy_from_slice(val);
            Reply::decode(&b)
        };
        assert!(bad(12, &[3]).is_err());
        assert!(bad(13, &[1]).is_err());
        assert!(bad(14, &[1]).is_err());
        assert!(bad(16, &3u32.to_le_bytes()).is_err());
        assert!(bad(40, &256u32.to_le_bytes()).is_err());
        let name_at = good.len() - described().name.len();
        assert!(bad(name_at, &[0xff]).is_err());
        let mut huge = good[..name_at - 2].to_vec();
        huge.extend_from_slice(&((MAX_NAME_BYTES + 1) as u16).to_le_bytes());
        huge.extend(std::iter::repeat_n(b'a', MAX_NAME_BYTES + 1));
        assert!(Reply::decode(&huge).is_err());
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        let good = Request {
            kind: ReqKind::Wait,
            access: 0,
            timeout_ms: 0,
            sqos: 0,
            name: "x".into(),
            token: 0,
            claims: None,
        }
        .encode();
        for n in 0..good.len() {
            assert!(Request::decode(&good[..n]).is_err());
        }
        let mut bad = good.clone();
        bad[6] = 9;
        assert!(Request::decode(&bad).is_err());
        let mut long = good.clone();
        long.push(0);
        assert!(Request::decode(&long).is_err());
        // Pseudo-random bytes never panic.
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let v: Vec<u8> = (0..(x % 40))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = Request::decode(&v);
            let _ = Reply::decode(&v);
        }
    }

    #[test]
    fn remote_open_carries_its_token() {
        let r = Request {
            kind: ReqKind::OpenRemote,
            access: 0xC000_0000,
            timeout_ms: 0,
            sqos: 0,
            name: r"\\.\pipe\x".into(),
            token: 0x0102_0304_0506_0708,
            claims: None,
        };
        let b = r.encode();
        assert_eq!(Request::decode(&b), Ok(r.clone()));
        for cut in 0..b.len() {
            assert!(Request::decode(&b[..cut]).is_err());
        }
        let mut zero = r.clone();
        zero.token = 0;
        assert!(Request::decode(&zero.encode()).is_err());
        // Any other kind with a token's bytes after the name has trailing bytes.
        let mut open = b.clone();
        open[6] = ReqKind::Open as u8;
        assert!(Request::decode(&open).is_err());
    }
}
