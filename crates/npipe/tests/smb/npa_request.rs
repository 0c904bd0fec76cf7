//! A request as smbd sends it on the SMB exposure's socket, for tests that play smbd
//! (`tests/smb_serve.rs`, and the CLI's tests through `#[path]`).

/// A level-7 request in smbd 4.17's layout (as `transport/npa.rs` documents it) for uid/gid
/// 1001, account "user", from 192.0.2.7:40000, with the NPA flags SID carrying `flags`.
pub fn npa_request(flags: u32) -> Vec<u8> {
    fn u32s(v: &mut Vec<u8>, xs: &[u32]) {
        for x in xs {
            v.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn align(v: &mut Vec<u8>, to: usize) {
        while !v.len().is_multiple_of(to) {
            v.push(0);
        }
    }
    fn string(v: &mut Vec<u8>, s: &str) {
        align(v, 4);
        let n = s.len() as u32 + 1;
        u32s(v, &[n, 0, n]);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
    }
    let mut v = vec![0u8; 4];
    v.extend_from_slice(b"NPAM");
    u32s(&mut v, &[7, 7, 1, 0, 0x20004, 40000, 0, 0, 445, 0x20008]);
    string(&mut v, "192.0.2.7");
    align(&mut v, 4);
    u32s(&mut v, &[0x2000c, 0, 0x20010, 0x20014, 0x20018, 0, 0, 16]);
    v.extend_from_slice(&[0xAA; 16]);
    u32s(&mut v, &[0]);
    v.extend_from_slice(&[0x11; 16]);
    align(&mut v, 8);
    u32s(&mut v, &[2, 2]);
    v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
    u32s(&mut v, &[1, 1001]); // S-1-22-1-1001, the Unix user
    v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
    u32s(&mut v, &[2041152804, flags]);
    align(&mut v, 8);
    v.extend_from_slice(&[0; 12]);
    u32s(&mut v, &[1]);
    align(&mut v, 8);
    for id in [1001u64, 1001, 1, 1001] {
        v.extend_from_slice(&id.to_le_bytes());
    }
    u32s(&mut v, &[0x2001c, 0, 0, 0x20020, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&[0; 56]);
    u32s(&mut v, &[1]);
    string(&mut v, "user");
    string(&mut v, "DOMAIN");
    let l = (v.len() - 4) as u32;
    v[..4].copy_from_slice(&l.to_be_bytes());
    v
}
