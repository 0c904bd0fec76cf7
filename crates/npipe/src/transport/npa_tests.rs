//! Unit tests of the NPA codec: the captured requests of `../shared/smb/samples` (ground truth,
//! read when present), replies for every level, and hostile input.

use super::*;
use std::path::PathBuf;

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/smb/samples")
}

/// A captured request, or `None` (with the reason printed) when the samples are absent.
fn sample(name: &str) -> Option<Vec<u8>> {
    let p = samples_dir().join(name);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping: sample {} not readable: {e}", p.display());
            None
        }
    }
}

/// A synthetic level-7 request with the same shape as smbd's (used when samples are absent too).
fn synthetic(level: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&level.to_le_bytes());
    v.extend_from_slice(&level.to_le_bytes());
    v.extend_from_slice(&1u32.to_le_bytes()); // transport
    v.extend_from_slice(&0u32.to_le_bytes()); // client name: none
    v.extend_from_slice(&0x20004u32.to_le_bytes()); // client addr
    v.extend_from_slice(&4242u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&445u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes()); // no session
    let s = b"10.1.2.3\0";
    for x in [s.len() as u32, 0, s.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(s);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    let mut r = (v.len() as u32).to_be_bytes().to_vec();
    r.extend_from_slice(&v);
    r
}

#[test]
fn smbclient_user_sample() {
    let Some(b) = sample("npa_req_l7_smbclient_npuser.bin") else {
        return;
    };
    let r = decode_request(&b).unwrap();
    assert_eq!(r.level, 7);
    assert_eq!(r.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.client_port, Some(34070));
    let s = r.session.clone().unwrap();
    assert_eq!(
        (s.uid, s.gid, s.groups.as_slice()),
        (1001, 1001, &[1001][..])
    );
    assert_eq!(
        (s.account.as_str(), s.domain.as_str()),
        ("npuser", "NPTEST")
    );
    assert!(s.authenticated);
    assert_eq!(s.encryption, None);
    assert_eq!(s.npa_flags, Some(0));
    assert!(!r.probe_only());
}

#[test]
fn impacket_encrypted_sample() {
    let Some(b) = sample("npa_req_l7_impacket_smb3enc_npuser.bin") else {
        return;
    };
    let r = decode_request(&b).unwrap();
    let s = r.session.unwrap();
    assert_eq!((s.uid, s.gid), (1001, 1001));
    assert_eq!(s.account, "npuser");
    assert!(s.authenticated);
    assert_eq!(
        s.encryption,
        Some(Encryption {
            dialect: 0x300,
            cipher: 1
        })
    );
    assert_eq!(s.npa_flags, Some(0));
}

#[test]
fn impacket_anonymous_sample() {
    let Some(b) = sample("npa_req_l7_impacket_anonymous.bin") else {
        return;
    };
    let r = decode_request(&b).unwrap();
    let s = r.session.unwrap();
    assert_eq!(
        (s.uid, s.gid, s.groups.as_slice()),
        (65534, 65534, &[65534][..])
    );
    assert_eq!(
        (s.account.as_str(), s.domain.as_str()),
        ("ANONYMOUS LOGON", "NT AUTHORITY")
    );
    assert!(!s.authenticated);
    assert_eq!(s.encryption, None);
}

/// The decoder walks the whole NDR of each sample: it ends exactly at the last byte, which is
/// what shows its alignment rules right.
#[test]
fn samples_decode_to_the_last_byte() {
    for name in [
        "npa_req_l7_smbclient_npuser.bin",
        "npa_req_l7_impacket_smb3enc_npuser.bin",
        "npa_req_l7_impacket_anonymous.bin",
    ] {
        let Some(b) = sample(name) else { return };
        let mut c = Cursor { b: &b, pos: 8 };
        let level = c.u32().unwrap();
        let mut req = Request {
            level,
            client_addr: None,
            client_port: None,
            session: None,
        };
        decode_info7(&mut c, &mut req).unwrap();
        assert_eq!(c.pos, b.len(), "{name}");
    }
}

#[test]
fn probe_only_flag() {
    let Some(mut b) = sample("npa_req_l7_smbclient_npuser.bin") else {
        return;
    };
    // The flags SID is S-1-22-2041152804-<flags>: set PROBE_ONLY in its last sub-authority.
    let rid = NPA_FLAGS_RID.to_le_bytes();
    let at = b.windows(4).position(|w| w == rid).unwrap() + 4;
    b[at] = FLAG_PROBE_ONLY as u8;
    let r = decode_request(&b).unwrap();
    assert_eq!(r.session.unwrap().npa_flags, Some(FLAG_PROBE_ONLY));
    let r = decode_request(&b).unwrap();
    assert!(r.probe_only());
}

#[test]
fn synthetic_request_without_session() {
    let r = decode_request(&synthetic(7)).unwrap();
    assert_eq!(r.client_addr.as_deref(), Some("10.1.2.3"));
    assert_eq!(r.client_port, Some(4242));
    assert_eq!(r.session, None);
    assert!(!r.probe_only());
}

#[test]
fn replies_for_each_level() {
    for level in [4u32, 5, 7, 8] {
        let r = encode_reply(level, true);
        let mut want = vec![0, 0, 0, 32];
        want.extend_from_slice(b"NPAM");
        want.extend_from_slice(&level.to_le_bytes());
        want.extend_from_slice(&level.to_le_bytes());
        want.extend_from_slice(&[2, 0, 0xFF, 0x05, 0, 0, 0, 0]);
        want.extend_from_slice(&4096u64.to_le_bytes());
        want.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(r.as_slice(), want.as_slice(), "level {level}");
        // Levels 4 to 8 are accepted in requests too.
        let mut req = synthetic(level);
        if level < 7 {
            req.truncate(12);
            req[..4].copy_from_slice(&8u32.to_be_bytes());
        }
        assert_eq!(decode_request(&req).unwrap().level, level);
    }
    assert_eq!(&encode_reply(7, false)[16..18], &[1, 0]);
}

#[test]
fn bad_magic_level_and_lengths() {
    let good = synthetic(7);
    let mut b = good.clone();
    b[4] = b'X';
    assert_eq!(decode_request(&b), Err(BadNpa("bad magic")));
    for level in [0u32, 3, 9, u32::MAX] {
        let mut b = good.clone();
        b[8..12].copy_from_slice(&level.to_le_bytes());
        assert_eq!(decode_request(&b), Err(BadNpa("unsupported level")));
    }
    assert_eq!(request_len([0, 0, 0, 0]), Err(BadNpa("empty request")));
    assert_eq!(request_len([0, 0xFF, 0xFF, 0xFF]), Ok(0xFF_FFFF));
    assert!(request_len([1, 0, 0, 0]).is_err());
    assert!(request_len([0xFF; 4]).is_err());
    let mut b = good.clone();
    b[..4].copy_from_slice(&0u32.to_be_bytes());
    assert!(decode_request(&b).is_err());
    let mut b = good.clone();
    b.push(0);
    assert!(decode_request(&b).is_err());
}

/// Every prefix of every request is refused or decoded, never a panic; a prefix past the
/// level is still answered (its identity is simply unknown).
#[test]
fn truncated_at_every_offset() {
    let mut inputs = vec![synthetic(7)];
    for name in [
        "npa_req_l7_smbclient_npuser.bin",
        "npa_req_l7_impacket_smb3enc_npuser.bin",
        "npa_req_l7_impacket_anonymous.bin",
    ] {
        inputs.extend(sample(name));
    }
    for b in inputs {
        for cut in 0..b.len() {
            // As sent: the length field disagrees with what is there.
            assert!(decode_request(&b[..cut]).is_err());
            if cut < 12 {
                continue;
            }
            // With a length field that matches the cut.
            let mut t = b[..cut].to_vec();
            t[..4].copy_from_slice(&((cut - 4) as u32).to_be_bytes());
            let r = decode_request(&t).unwrap();
            assert_eq!(r.level, 7);
            if r.session.is_some() {
                // Only a cut in the trailing Unix names can leave the identity decodable.
                assert!(cut > b.len() - 40, "cut {cut}");
            }
        }
    }
}

/// A deterministic pseudo-random walk over random and mutated requests: none panics.
#[test]
fn random_and_mutated_requests_never_panic() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut bases = vec![synthetic(7), synthetic(8)];
    for name in [
        "npa_req_l7_smbclient_npuser.bin",
        "npa_req_l7_impacket_anonymous.bin",
    ] {
        bases.extend(sample(name));
    }
    for i in 0..20_000 {
        let mut b = if i % 4 == 0 {
            let n = (next() % 300) as usize;
            let mut v: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            if v.len() >= 12 {
                v[..4].copy_from_slice(&((n - 4) as u32).to_be_bytes());
                v[4..8].copy_from_slice(MAGIC);
                v[8..12].copy_from_slice(&7u32.to_le_bytes());
            }
            v
        } else {
            bases[(next() as usize) % bases.len()].clone()
        };
        for _ in 0..(next() % 8) {
            if b.len() > 12 {
                let at = 12 + (next() as usize) % (b.len() - 12);
                b[at] = next() as u8;
            }
        }
        let _ = decode_request(&b);
    }
}

#[test]
fn frames() {
    assert_eq!(frame_header(0), None);
    assert_eq!(frame_header(1), Some([1, 0]));
    assert_eq!(frame_header(65535), Some([0xFF, 0xFF]));
    assert_eq!(frame_header(65536), None);
    assert_eq!(frame_len([0, 0]), Err(BadNpa("empty frame")));
    assert_eq!(frame_len([5, 0]), Ok(5));
    assert_eq!(frame_len([0xFF, 0xFF]), Ok(65535));
}

/// A well-formed level-7 request with a session (the fuzz seed), as bytes.
fn with_session() -> Vec<u8> {
    crate::fuzz::npa_seeds()
        .into_iter()
        .find_map(|(_, b)| decode_request(&b).ok()?.session.is_some().then_some(b))
        .expect("a seed with a session")
}

/// An identity comes only from a request that decodes to its last byte, whose Unix uid is the
/// token's `S-1-22-1` user, at level 7: anything else (a layout this decoder misreads, such as
/// level 8's claims) gives no identity rather than a wrong one (uid 0).
#[test]
fn identity_only_from_a_request_read_exactly() {
    let good = with_session();
    assert_eq!(decode_request(&good).unwrap().session.unwrap().uid, 1001);

    // One byte more than smbd sends.
    let mut long = good.clone();
    long.push(0);
    let l = (long.len() - 4) as u32;
    long[..4].copy_from_slice(&l.to_be_bytes());
    assert_eq!(decode_request(&long).unwrap().session, None);

    // The token names another Unix user than the Unix token.
    let sid = [1u8, 2, 0, 0, 0, 0, 0, 22, 1, 0, 0, 0];
    let at = good
        .windows(sid.len())
        .position(|w| w == sid)
        .expect("the S-1-22-1 SID")
        + sid.len();
    let mut other = good.clone();
    other[at..at + 4].copy_from_slice(&1002u32.to_le_bytes());
    assert_eq!(decode_request(&other).unwrap().session, None);

    // Level 8 (claims in the token): answered, no identity.
    let mut l8 = good.clone();
    l8[8..12].copy_from_slice(&8u32.to_le_bytes());
    l8[12..16].copy_from_slice(&8u32.to_le_bytes());
    let r = decode_request(&l8).unwrap();
    assert_eq!((r.level, r.session), (8, None));
}
