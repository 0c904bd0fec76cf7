//! Handshake frames from a hostile peer: `npipe::fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| npipe::fuzz::handshake(data));
