//! A template and a command output (the input split at its first NUL byte): running
//! any template that parses on any text never panics. Seeded with real ntc-templates
//! templates beside real outputs of the command they parse (scripts/fuzz.sh).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else {
        return;
    };
    let (Ok(template), Ok(text)) = (
        std::str::from_utf8(&data[..split]),
        std::str::from_utf8(&data[split + 1..]),
    ) else {
        return;
    };
    if let Ok(template) = sotp_textfsm::Template::parse(template) {
        let _ = template.parse_text(text);
    }
});
