//! Fuzzes `modules.alias` parsing and glob matching: neither may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the modalias to look up; the rest is the table.
    let (probe, table) = text.split_once('\n').unwrap_or(("", &text));
    if let Ok(table) = marrow_kmod::AliasTable::parse(table) {
        let _ = table.matching_modules(probe);
    }
});
