//! The data directory's layout, in one place (`--data-dir`, default
//! `/var/lib/marrow`):
//!
//! ```text
//! marrow.db        hosts, leases, tasks (SQLite)
//! store/           the chunk store (docs/image-format.md)
//! boot/            vmlinuz and initrd.img for the Marrow client
//! drivers/         the driver store
//! tftp/            the TFTP root, with the iPXE binaries
//! cache/kernel/    downloaded kernel packages for initramfs builds
//! served-url       the HTTP base `marrow serve` last served on
//! served-interface the interface it sends Wake-on-LAN on
//! identity.key     this server's ed25519 key, which signs its images
//! tls/             the certificate and key of the TLS port between sites
//! sync/<site>.lock held while a pull from that site runs
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir(root.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    pub fn db(&self) -> PathBuf {
        self.0.join("marrow.db")
    }

    /// The chunk store used when a command is not given `--store`.
    pub fn store(&self) -> PathBuf {
        self.0.join("store")
    }

    /// Where `marrow initramfs build` puts the kernel and initramfs.
    pub fn boot(&self) -> PathBuf {
        self.0.join("boot")
    }

    pub fn initrd(&self) -> PathBuf {
        self.boot().join("initrd.img")
    }

    pub fn drivers(&self) -> PathBuf {
        self.0.join("drivers")
    }

    /// The TFTP root when the configuration names none.
    pub fn tftp(&self) -> PathBuf {
        self.0.join("tftp")
    }

    /// The HTTP base URL `marrow serve` last served on, for the links the
    /// CLI prints.
    pub fn served_url(&self) -> PathBuf {
        self.0.join("served-url")
    }

    /// The interface `marrow serve` last woke hosts on, for `host wake` at
    /// the server's shell.
    pub fn served_interface(&self) -> PathBuf {
        self.0.join("served-interface")
    }

    pub fn kernel_cache(&self) -> PathBuf {
        self.0.join("cache/kernel")
    }

    /// The server's ed25519 identity key (0600), which signs its images.
    pub fn identity_key(&self) -> PathBuf {
        self.0.join("identity.key")
    }

    /// The self-made TLS certificate of the port between sites.
    pub fn tls_cert(&self) -> PathBuf {
        self.0.join("tls/cert.pem")
    }

    /// Its private key (0600).
    pub fn tls_key(&self) -> PathBuf {
        self.0.join("tls/key.pem")
    }

    /// Held while a pull from `site` runs (site names are checked:
    /// letters, digits, `.`, `_`, `-`; folded to lower case, as the
    /// database compares them).
    pub fn sync_lock(&self, site: &str) -> PathBuf {
        self.0
            .join("sync")
            .join(format!("{}.lock", site.to_ascii_lowercase()))
    }
}
