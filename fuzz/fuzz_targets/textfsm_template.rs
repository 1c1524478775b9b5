//! Any text as a TextFSM template: parsing it never panics, and a template that parses
//! runs on a small sample of device output without panicking either.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SAMPLE: &str = "Interface              IP-Address      OK? Method Status                Protocol\n\
Ethernet0/0            10.0.0.1        YES NVRAM  up                    up\n\
Vlan1                  unassigned      YES unset  administratively down down\n\
Cisco IOS Software, Version 15.2(4)M7, RELEASE SOFTWARE (fc2)\n\
uptime is 1 week, 2 days\n\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(template) = sotp_textfsm::Template::parse(text) {
        let _ = template.parse_text(SAMPLE);
    }
});
