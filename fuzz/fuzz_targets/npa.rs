//! Samba's named-pipe proxy requests (the SMB exposure's handshake) from a hostile peer:
//! `npipe::fuzz::npa`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| npipe::fuzz::npa(data));
