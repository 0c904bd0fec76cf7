//! The inputs fuzzing starts from: honest traffic of each kind and a few hostile writes, for
//! each entry point.

use super::script::*;
use super::*;

/// Scripts to start fuzzing from: honest traffic of each kind, and a few hostile writes. Each is
/// `(name, script bytes)`.
pub fn queue_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let msg = Config {
        caps: [queue::MIN_RING; 2],
        wins: [queue::MIN_RING; 2],
        message_type: true,
    };
    let byte = Config {
        message_type: false,
        ..msg
    };
    let w = |side, len| Op::Write {
        side,
        len: Size(len),
        nonblocking: false,
        wait_quota: false,
        quota: 0,
        long: false,
    };
    let rd = |side, buf, message_mode| Op::Read {
        side,
        buf: Size(buf),
        message_mode,
        nonblocking: true,
        long: false,
    };
    let sz = |n: u16| 0x4000 | n;
    // 16 KiB rings with 4 KiB record windows: small records skip to the next lap.
    let windows = Config {
        caps: [4 * queue::MIN_RING; 2],
        wins: [queue::MIN_RING; 2],
        message_type: true,
    };
    vec![
        (
            "windows",
            encode(
                windows,
                &[
                    w(0, 0x8000 | 5000),
                    rd(1, 0x8000 | 6000, true),
                    w(0, 0x8000 | 100),
                    w(0, 0x8000 | 3000),
                    rd(1, 0x8000 | 6000, true),
                    rd(1, 0x8000 | 6000, true),
                    w(1, 0x8000 | 9000),
                    rd(0, 0x8000 | 100, true),
                    rd(0, 0x8000 | 9000, true),
                ],
            ),
        ),
        (
            "messages",
            encode(
                msg,
                &[
                    w(0, 5),
                    w(0, 0),
                    w(0, 40),
                    rd(1, 3, true),
                    rd(1, 3, true),
                    rd(1, 0, true),
                    rd(1, 40, true),
                    Op::Peek {
                        side: 1,
                        buf: Some(Size(8)),
                    },
                    Op::NextMessage { side: 1 },
                ],
            ),
        ),
        (
            "bytes-both-ways",
            encode(
                byte,
                &[
                    w(0, 10),
                    w(1, 20),
                    w(0, 7),
                    rd(1, 16, false),
                    rd(0, 64, false),
                    rd(1, 16, false),
                    Op::Flush {
                        side: 0,
                        long: false,
                    },
                ],
            ),
        ),
        (
            "wrap",
            encode(
                msg,
                &[
                    w(0, sz(3000)),
                    rd(1, sz(3000), true),
                    w(0, sz(3000)),
                    rd(1, sz(1000), true),
                    rd(1, sz(2048), true),
                    Op::ReadWhole {
                        side: 1,
                        buf: Size(sz(100)),
                        long: false,
                    },
                ],
            ),
        ),
        (
            "mailslot",
            encode(
                msg,
                &[
                    Op::TryWrite {
                        side: 1,
                        len: Size(30),
                    },
                    Op::TryWrite {
                        side: 1,
                        len: Size(0),
                    },
                    Op::NextMessage { side: 0 },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(10),
                        long: false,
                    },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(30),
                        long: false,
                    },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(0),
                        long: false,
                    },
                ],
            ),
        ),
        (
            "zero-copy",
            encode(
                msg,
                &[
                    Op::Reserve {
                        side: 0,
                        len: Size(sz(2000)),
                        commit: true,
                        long: false,
                    },
                    Op::ReadInPlace {
                        side: 1,
                        long: false,
                    },
                    Op::Reserve {
                        side: 0,
                        len: Size(sz(3000)),
                        commit: true,
                        long: false,
                    },
                    Op::ReadInPlace {
                        side: 1,
                        long: false,
                    },
                ],
            ),
        ),
        (
            "states",
            encode(
                msg,
                &[
                    w(1, 4),
                    Op::SetState { side: 1, state: 2 },
                    rd(0, 8, true),
                    rd(0, 8, true),
                    Op::Query { side: 0 },
                    Op::SetState { side: 0, state: 3 },
                    Op::Query { side: 1 },
                ],
            ),
        ),
        (
            "hostile-record",
            encode(
                msg,
                &[
                    w(0, 16),
                    Op::PokeRecord {
                        ring: 0,
                        slot: 0,
                        len: 4000,
                        flags: 0,
                    },
                    rd(1, sz(4095), true),
                    Op::Peek {
                        side: 1,
                        buf: Some(Size(sz(4095))),
                    },
                ],
            ),
        ),
        (
            "hostile-positions",
            encode(
                byte,
                &[
                    w(0, 16),
                    Op::Poke {
                        field: field_index("r0.tail"),
                        val: Val::Rel(8),
                    },
                    Op::Poke {
                        field: field_index("r0.msg_left"),
                        val: Val::Small(3),
                    },
                    rd(1, 64, false),
                    Op::Shift {
                        ring: 0,
                        base: Val::Caps(3, 0),
                    },
                    rd(1, 64, false),
                ],
            ),
        ),
    ]
}

/// smbd requests to start fuzzing from: a level-7 request with a client address, a session
/// with a token of two SIDs (the NPA flags SID among them), a Unix token and user names, in the
/// layout smbd 4.17 sends (the captured samples stay outside the repository); and the same
/// request at level 8 and without its session.
pub fn npa_seeds() -> Vec<(&'static str, Vec<u8>)> {
    fn u32s(v: &mut Vec<u8>, xs: &[u32]) {
        for x in xs {
            v.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn string(v: &mut Vec<u8>, s: &str) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        let n = s.len() as u32 + 1;
        u32s(v, &[n, 0, n]);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
    }
    fn align(v: &mut Vec<u8>, to: usize) {
        while !v.len().is_multiple_of(to) {
            v.push(0);
        }
    }
    let build = |level: u32, session: bool| {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(b"NPAM");
        u32s(&mut v, &[level, level, 1, 0, 0x20004, 40000, 0, 0, 445]);
        u32s(&mut v, &[if session { 0x20008 } else { 0 }]);
        string(&mut v, "192.0.2.7");
        if session {
            align(&mut v, 4);
            u32s(&mut v, &[0x2000c, 0]); // session_info, no gssapi credentials
            u32s(&mut v, &[0x20010, 0x20014, 0x20018, 0, 0, 16]);
            v.extend_from_slice(&[0xAA; 16]); // a session key
            u32s(&mut v, &[0]);
            v.extend_from_slice(&[0x11; 16]); // GUID
            align(&mut v, 8);
            u32s(&mut v, &[3, 3]);
            v.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 1]);
            u32s(&mut v, &[0]); // S-1-1-0
            v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
            u32s(&mut v, &[1, 1001]); // S-1-22-1-1001, the Unix user
            v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
            u32s(&mut v, &[2041152804, 0]); // NPA flags
            align(&mut v, 8);
            v.extend_from_slice(&[0; 12]); // privilege and rights masks
            u32s(&mut v, &[1]);
            align(&mut v, 8);
            for id in [1001u64, 1001, 1] {
                v.extend_from_slice(&id.to_le_bytes());
            }
            align(&mut v, 8);
            v.extend_from_slice(&1001u64.to_le_bytes());
            u32s(&mut v, &[0x2001c, 0, 0, 0x20020, 0, 0, 0, 0, 0, 0, 0]);
            v.extend_from_slice(&[0; 56]); // times, counts, flags
            u32s(&mut v, &[1]); // authenticated
            string(&mut v, "user");
            string(&mut v, "DOMAIN");
        }
        let l = (v.len() - 4) as u32;
        v[..4].copy_from_slice(&l.to_be_bytes());
        v
    };
    vec![
        ("level7", build(7, true)),
        ("level8", build(8, true)),
        ("no-session", build(7, false)),
    ]
}

/// Handshake frames to start fuzzing from: one valid frame of each kind.
pub fn handshake_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::transport::control::{Area, PipeInfo, ReqKind};
    let info = PipeInfo {
        message_type: true,
        direction: 3,
        max_instances: 4,
        out_quota: 1024,
        in_quota: 4096,
        default_timeout: 50,
        cur_instances: 1,
        server_pid: 1234,
        caps: [65536, 65536],
    };
    let req = |kind| Request {
        kind,
        access: 0xC000_0000,
        timeout_ms: 50,
        sqos: 0,
        name: r"\\.\pipe\seed".into(),
        token: 0,
        claims: None,
    };
    vec![
        ("open", req(ReqKind::Open).encode()),
        ("wait", req(ReqKind::Wait).encode()),
        ("query", req(ReqKind::Query).encode()),
        (
            "describe",
            Request {
                kind: ReqKind::Describe,
                access: 0,
                timeout_ms: 0,
                sqos: 0,
                name: String::new(),
                token: 0,
                claims: None,
            }
            .encode(),
        ),
        (
            "described",
            Reply::Described(crate::transport::control::Described {
                object: crate::transport::control::Object::Pipe,
                listening: 1,
                info,
                name: r"\\.\pipe\seed".into(),
            })
            .encode(),
        ),
        ("connected-v1", Reply::Connected(info, None).encode()),
        (
            "connected",
            Reply::Connected(
                info,
                Some(Area {
                    key: 7,
                    reused: false,
                }),
            )
            .encode(),
        ),
        (
            "reused",
            Reply::Connected(
                info,
                Some(Area {
                    key: 7,
                    reused: true,
                }),
            )
            .encode(),
        ),
        (
            "open-claims",
            Request {
                claims: Some(vec![7, 8]),
                ..req(ReqKind::Open)
            }
            .encode(),
        ),
        ("info", Reply::Info(info).encode()),
        ("error", Reply::Error(231).encode()),
        ("ready", Reply::Ready.encode()),
        (
            "parked",
            Reply::Parked {
                default_timeout: 50,
            }
            .encode(),
        ),
    ]
}
