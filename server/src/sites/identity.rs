//! The server's identity: an ed25519 key made at first start and kept in
//! the data directory (mode 0600). It signs every image this server
//! captures or imports; sites that were given its public key trust those
//! images and no others.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use super::signature::{PublicKey, SignatureFile};
use crate::error::{Error, Result};
use crate::paths::DataDir;
use image_format::ImageId;

pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// The data directory's key, made (32 random bytes, hex, 0600) if
    /// there is none yet.
    pub fn load_or_create(dirs: &DataDir) -> Result<Identity> {
        let path = dirs.identity_key();
        match std::fs::read_to_string(&path) {
            Ok(text) => Identity::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Identity::create(&path),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    /// The key, when one was made; `None` before the first start.
    pub fn load(dirs: &DataDir) -> Result<Option<Identity>> {
        let path = dirs.identity_key();
        match std::fs::read_to_string(&path) {
            Ok(text) => Identity::parse(&path, &text).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    fn parse(path: &Path, text: &str) -> Result<Identity> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| Error::Site {
            site: "this server".into(),
            detail: format!(
                "{}: not an identity key (64 hex digits); restore it from a backup",
                path.display()
            ),
        })?;
        Ok(Identity {
            key: SigningKey::from_bytes(&seed),
        })
    }

    fn create(path: &Path) -> Result<Identity> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| Error::Site {
            site: "this server".into(),
            detail: format!("no randomness for an identity key: {e}"),
        })?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        // create_new: two first starts at once keep one key, not two.
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut f = match made {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
                return Identity::parse(path, &text);
            }
            Err(e) => return Err(Error::io(path)(e)),
        };
        f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(Error::io(path))?;
        tracing::info!("made this server's identity key in {}", path.display());
        Ok(Identity {
            key: SigningKey::from_bytes(&seed),
        })
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.verifying())
    }

    fn verifying(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// A detached signature of an image id.
    pub fn sign(&self, id: &ImageId) -> SignatureFile {
        let sig = self.key.sign(&super::signature::message(id));
        SignatureFile {
            key: self.public().to_string(),
            signature: hex::encode(sig.to_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = DataDir::new(dir.path());
        assert!(Identity::load(&dirs).unwrap().is_none());
        let a = Identity::load_or_create(&dirs).unwrap();
        let b = Identity::load_or_create(&dirs).unwrap();
        assert_eq!(a.public(), b.public());
        let mode = std::fs::metadata(dirs.identity_key())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dirs.identity_key(), "not a key").unwrap();
        let e = Identity::load_or_create(&dirs).err().unwrap().to_string();
        assert!(e.contains("identity.key"), "{e}");
    }
}
