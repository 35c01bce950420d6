//! Site sync (docs/sync.md): this server's identity key and the signatures
//! it puts on its images, the TLS port between sites, the upstreams a site
//! pulls from, and the pull itself.
//!
//! - [`identity`]: the ed25519 key in the data directory.
//! - [`signature`]: detached signatures over image ids, and their check.
//! - [`tls`]: the certificate a server serves, and a puller's pin.
//! - [`upstream`]: the HTTPS client of an upstream's sync API.
//! - [`pull`]: what a site lacks, fetched, verified and published whole;
//!   [`run`]: one pull as the shell, the scheduler and the UI start it,
//!   noted in the database; [`run_lock`]: one pull per site at a time;
//!   [`read_through`]: restores that fetch what the site lacks on demand.
//! - [`glob`]: `--images` patterns; [`limit`]: `--bandwidth`;
//!   [`window`]: `--window`.

pub mod glob;
pub mod identity;
pub mod limit;
pub mod pull;
pub mod read_through;
pub mod run;
pub mod run_lock;
pub mod signature;
pub mod tls;
pub mod upstream;
pub mod window;

use crate::error::Result;
use crate::paths::DataDir;
use identity::Identity;

/// The key that signs what this data directory's server captures or
/// imports: made on first use. `None` when the data directory does not
/// exist (a capture into a bare `--store`), whose images no site will take.
pub fn signer(dirs: &DataDir) -> Result<Option<Identity>> {
    if !dirs.root().is_dir() {
        return Ok(None);
    }
    Identity::load_or_create(dirs).map(Some)
}

/// The signature maker `catalog::commit_signed` takes.
pub fn signing(
    identity: Option<&Identity>,
) -> impl Fn(&image_format::ImageId) -> Option<Vec<u8>> + '_ {
    move |id| identity.map(|i| i.sign(id).to_bytes())
}
