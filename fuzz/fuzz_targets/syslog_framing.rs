//! Any byte stream, cut at a fuzzer-chosen point, through the RFC 6587 frame decoder:
//! no panic, and no frame longer than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotp_syslog::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(first % 64) + 1;
    let cut = rest.len() / 2;
    let mut d = FrameDecoder::new(max);
    let mut frames = Vec::new();
    for part in [&rest[..cut], &rest[cut..]] {
        d.extend(part);
        while let Some(f) = d.next_frame() {
            frames.push(f);
        }
    }
    frames.extend(d.finish());
    for f in frames {
        assert!(f.bytes.len() <= max);
    }
});
