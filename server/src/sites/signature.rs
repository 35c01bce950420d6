//! Image signatures: a detached file beside the manifest that signs the
//! image id (the manifest's BLAKE3, so the whole manifest and through it
//! every chunk) with a server's ed25519 key. A site checks it against the
//! keys it was given for an upstream, and publishes nothing unsigned or
//! signed by another key.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use image_format::ImageId;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What is signed: a domain tag, so a signature over an image id can never
/// be mistaken for one over anything else, then the id's 32 bytes.
pub fn message(id: &ImageId) -> Vec<u8> {
    let mut m = b"marrow image v1\0".to_vec();
    m.extend_from_slice(&id.0);
    m
}

/// A public key as users copy it: `ed25519:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub VerifyingKey);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ed25519:{}", hex::encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<PublicKey> {
        let bad = |why: &str| Error::Usage(format!("key {s:?}: {why}"));
        let hex_part = s.trim().strip_prefix("ed25519:").ok_or_else(|| {
            bad("give it as ed25519:<64 hex digits>, as `marrow key show` prints it")
        })?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad("not 64 hex digits"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad("not an ed25519 public key"))
    }
}

/// The signature file, as stored beside the manifest and sent to sites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// The signer's public key.
    pub key: String,
    /// 64 bytes, hex.
    pub signature: String,
}

impl SignatureFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = serde_json::to_vec(self).expect("plain strings serialise");
        b.push(b'\n');
        b
    }

    pub fn parse(bytes: &[u8]) -> Result<SignatureFile> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Usage(format!("not a signature file: {e}")))
    }

    /// The key that signed `id`, when the signature checks against the
    /// key it names (whether that key is trusted is the caller's to say).
    pub fn signer(&self, id: &ImageId) -> std::result::Result<PublicKey, String> {
        let key: PublicKey = self.key.parse().map_err(|e: Error| e.to_string())?;
        self.verify(id, &[key])
    }

    /// The key that signed `id`, when it is one of `trusted` and the
    /// signature checks; else why not.
    pub fn verify(
        &self,
        id: &ImageId,
        trusted: &[PublicKey],
    ) -> std::result::Result<PublicKey, String> {
        let key: PublicKey = self.key.parse().map_err(|e: Error| e.to_string())?;
        if !trusted.contains(&key) {
            return Err(format!("signed by {key}, which this site does not trust"));
        }
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&self.signature, &mut sig)
            .map_err(|_| "the signature is not 128 hex digits".to_string())?;
        key.0
            .verify(&message(id), &Signature::from_bytes(&sig))
            .map_err(|_| format!("the signature by {key} does not match image {id}"))?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::DataDir;
    use crate::sites::identity::Identity;

    fn identity() -> (tempfile::TempDir, Identity) {
        let dir = tempfile::tempdir().unwrap();
        let id = Identity::load_or_create(&DataDir::new(dir.path())).unwrap();
        (dir, id)
    }

    #[test]
    fn a_signature_checks_only_for_its_image_and_a_trusted_key() {
        let (_a, hq) = identity();
        let (_b, other) = identity();
        let image = ImageId::of(b"manifest");
        let sig = SignatureFile::parse(&hq.sign(&image).to_bytes()).unwrap();
        assert_eq!(sig.verify(&image, &[hq.public()]), Ok(hq.public()));
        let e = sig.verify(&image, &[other.public()]).unwrap_err();
        assert!(e.contains("does not trust"), "{e}");
        let e = sig
            .verify(&ImageId::of(b"other"), &[hq.public()])
            .unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        // Re-signed by another key, then claimed to be hq's: refused.
        let mut forged = other.sign(&image);
        forged.key = hq.public().to_string();
        assert!(forged.verify(&image, &[hq.public()]).is_err());
    }

    #[test]
    fn keys_parse_as_printed_and_bad_ones_are_named() {
        let (_a, hq) = identity();
        let text = hq.public().to_string();
        assert_eq!(text.parse::<PublicKey>().unwrap(), hq.public());
        for bad in ["", "ed25519:", "rsa:00", "ed25519:zz"] {
            let e = bad.parse::<PublicKey>().unwrap_err().to_string();
            assert!(e.contains("key"), "{bad}: {e}");
        }
    }
}
