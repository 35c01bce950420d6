//! Password hashing: argon2id with the crate's defaults (RFC 9106's
//! second recommended option: 19 MiB, 2 passes), stored as a PHC string
//! that carries its own salt and parameters.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{Error, Result};
use crate::tasks::Rng;

/// The shortest password accepted.
pub const MIN_LEN: usize = 10;

pub fn hash(password: &str, rng: &mut dyn Rng) -> Result<String> {
    if password.chars().count() < MIN_LEN {
        return Err(Error::Usage(format!(
            "password: at least {MIN_LEN} characters"
        )));
    }
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Usage(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Usage(format!("password hash: {e}")))
}

/// Whether `password` matches `phc`; a malformed stored hash matches
/// nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::SeqRng;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let phc = hash("correct horse battery", &mut SeqRng(1)).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery", &phc));
        assert!(!verify("correct horse batterz", &phc));
        assert!(!verify("correct horse battery", "not a phc string"));
        assert!(hash("short", &mut SeqRng(1)).is_err());
    }
}
