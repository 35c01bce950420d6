//! TLS between sites (rustls). A server serves HTTPS on a port of its own
//! with a certificate the admin configures or, by default, one it makes
//! itself at first start. A site that pulls from it pins that
//! certificate's SHA-256 fingerprint (`site add --fingerprint`), which
//! `marrow key show` prints at the upstream; without a pin the upstream's
//! certificate must chain to a public CA. The imaging LAN keeps plain
//! HTTP: iPXE and the client do not need TLS to trust what they fetch,
//! since every chunk is verified against its name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::paths::DataDir;

/// The certificate and key a server serves its TLS port with.
pub struct ServerCert {
    pub cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    /// Where it was read from, for messages.
    pub source: PathBuf,
}

fn tls_error(what: impl std::fmt::Display) -> Error {
    Error::Site {
        site: "this server's TLS".into(),
        detail: what.to_string(),
    }
}

impl ServerCert {
    /// The configured pair, or the data directory's own (made on first
    /// use: a self-signed certificate, its key 0600).
    pub fn load(dirs: &DataDir, configured: Option<(&Path, &Path)>) -> Result<ServerCert> {
        let (cert, key) = match configured {
            Some((c, k)) => (c.to_path_buf(), k.to_path_buf()),
            None => {
                let (c, k) = (dirs.tls_cert(), dirs.tls_key());
                if !c.exists() {
                    make_self_signed(&c, &k)?;
                }
                (c, k)
            }
        };
        let certificate = CertificateDer::from_pem_file(&cert)
            .map_err(|e| tls_error(format!("{}: not a PEM certificate: {e}", cert.display())))?;
        let private = PrivateKeyDer::from_pem_file(&key)
            .map_err(|e| tls_error(format!("{}: not a PEM private key: {e}", key.display())))?;
        Ok(ServerCert {
            cert: certificate,
            key: private,
            source: cert,
        })
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert)
    }

    /// The acceptor of the TLS port.
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            .map_err(|e| tls_error(format!("{}: {e}", self.source.display())))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

fn make_self_signed(cert: &Path, key: &Path) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "marrow".into());
    let made = rcgen::generate_simple_self_signed(vec![host, "marrow".into()])
        .map_err(|e| tls_error(format!("making a certificate: {e}")))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(key)
        .map_err(Error::io(key))?;
    f.write_all(made.key_pair.serialize_pem().as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(Error::io(key))?;
    // The certificate last: its presence says the pair is whole.
    std::fs::write(cert, made.cert.pem()).map_err(Error::io(cert))?;
    tracing::info!("made this server's TLS certificate in {}", cert.display());
    Ok(())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// `sha256:<hex>` of a certificate's DER bytes.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert.as_ref())))
}

/// A pin as the user gives it: `sha256:<64 hex>` (colons allowed, as
/// `openssl x509 -fingerprint` prints them).
pub fn parse_pin(text: &str) -> Result<[u8; 32]> {
    let digits: String = text
        .trim()
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    let mut pin = [0u8; 32];
    hex::decode_to_slice(&digits, &mut pin).map_err(|_| {
        Error::Usage(format!(
            "--fingerprint {text:?}: give sha256:<64 hex digits>, as `marrow key show` prints it"
        ))
    })?;
    Ok(pin)
}

/// The TLS settings a puller uses for an upstream: the pinned certificate
/// only, or (no pin) the public CAs.
pub fn client_config(pin: Option<[u8; 32]>) -> Result<Arc<rustls::ClientConfig>> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let config = match pin {
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin,
                provider: provider(),
            }))
            .with_no_client_auth(),
        None => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Trusts exactly one certificate, by its fingerprint; the handshake's
/// signatures are still checked against it, so only the holder of its key
/// passes.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the certificate's fingerprint is {}, not the pinned sha256:{}",
                fingerprint(end_entity),
                hex::encode(self.pin)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_made_once_and_its_pin_parses() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = DataDir::new(dir.path());
        let a = ServerCert::load(&dirs, None).unwrap();
        let b = ServerCert::load(&dirs, None).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let pin = parse_pin(&a.fingerprint()).unwrap();
        assert_eq!(format!("sha256:{}", hex::encode(pin)), a.fingerprint());
        assert!(parse_pin("sha256:12").is_err());
        a.acceptor().unwrap();
        client_config(Some(pin)).unwrap();
        client_config(None).unwrap();
    }
}
