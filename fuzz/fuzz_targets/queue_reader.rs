//! A shared-memory connection whose peer writes hostile values between honest operations:
//! `npipe::fuzz::queue_reader` (its docs describe the script format).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| npipe::fuzz::queue_reader(data));
