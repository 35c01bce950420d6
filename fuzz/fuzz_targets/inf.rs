//! Fuzzes INF decoding, parsing, models selection and source-file listing:
//! none may panic, whatever the bytes.
#![no_main]

use driver_store::{Arch, Inf, TargetOs};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(inf) = Inf::parse("fuzz.inf", data) else {
        return;
    };
    let _ = inf.all_models();
    for target in ["win11-x64", "win10-x86", "win11-arm64"] {
        let target: TargetOs = target.parse().unwrap();
        if let Ok((models, _)) = inf.models_for(&target) {
            for m in models {
                let _ = inf.feature_score(&m.install_section, &target);
            }
        }
    }
    let _ = inf.source_files(Arch::Amd64);
});
