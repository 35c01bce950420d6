//! One-time task tokens. A token is 32 random bytes in hex; only its
//! BLAKE3 hash is stored, so a leaked database grants nothing.

use std::path::Path;

use crate::error::{Error, Result};

/// Where tokens get their randomness: the kernel's in service, a seeded
/// sequence in tests.
pub trait Rng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()>;
}

/// `/dev/urandom`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        use std::io::Read;
        let path = Path::new("/dev/urandom");
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(buf))
            .map_err(Error::io(path))
    }
}

/// A fresh token: 32 random bytes, in hex.
pub fn new_token(rng: &mut dyn Rng) -> Result<String> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The BLAKE3 hash (hex) under which a task's token is stored.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

#[cfg(test)]
pub(crate) mod testing {
    /// Counts up from a seed: distinct, repeatable tokens.
    pub struct SeqRng(pub u8);

    impl super::Rng for SeqRng {
        fn fill(&mut self, buf: &mut [u8]) -> crate::error::Result<()> {
            self.0 = self.0.wrapping_add(1);
            buf.fill(self.0);
            Ok(())
        }
    }
}
