//! Any bytes through every syslog dialect parser: no panic, ever.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap();
    let _ = sotp_syslog::parse(data, now);
});
