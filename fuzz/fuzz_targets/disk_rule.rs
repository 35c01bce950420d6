//! Fuzzes `--disk` rule parsing and the disk choice: neither may panic, and
//! a chosen disk must be one of those offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::disk_rule::{choose, DiskFacts, DiskRule};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(rule) = DiskRule::parse(&text) else {
        return;
    };
    let disks: Vec<DiskFacts> = data
        .chunks(4)
        .take(8)
        .enumerate()
        .map(|(i, c)| DiskFacts {
            name: format!("vd{}", (b'a' + i as u8) as char),
            size_bytes: u64::from(c[0]) << 30,
            serial: (c.len() > 1).then(|| format!("S{}", c[1])),
            wwn: None,
            usb: c.len() > 2 && c[2] & 1 == 1,
            removable: c.len() > 2 && c[2] & 2 == 2,
            boot_medium: c.len() > 3 && c[3] & 1 == 1,
        })
        .collect();
    if let Ok(d) = choose(&rule, &disks) {
        assert!(disks.iter().any(|x| x == d));
    }
    let _ = rule.to_string();
});
