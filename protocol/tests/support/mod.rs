//! What the DHCP and TFTP test binaries share: fixture paths, the seeded
//! generator of the mutation tests, and the check of named malformed
//! fixtures.

use std::fmt::Display;
use std::path::{Path, PathBuf};

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

pub use marrow_test_support::xorshift;

/// A malformed fixture's name and the check its refusal must pass.
pub type Expectation<E> = (&'static str, fn(&E) -> bool);

/// Every file in `testdata/<dir>` is named in `expected`, and `parse`
/// refuses each for the expected reason. `parse` gives the parsed value's
/// `Debug` form, to show what should have been refused.
pub fn assert_malformed_refused<E: Display>(
    dir: &str,
    expected: &[Expectation<E>],
    parse: impl Fn(&[u8]) -> Result<String, E>,
) {
    let dir = testdata(dir);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut named: Vec<String> = expected.iter().map(|(n, _)| n.to_string()).collect();
    named.sort();
    assert_eq!(files, named, "every malformed file has an expected reason");
    for (name, check) in expected {
        let bytes = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
        match parse(&bytes) {
            Ok(p) => panic!("{name} parsed: {p}"),
            Err(e) => assert!(check(&e), "{name}: unexpected reason {e}"),
        }
    }
}
