//! `marrow key show`: this server's identity key, which a site gives to
//! `marrow site add --key`, and its TLS certificate's fingerprint, which
//! a site pins with `--fingerprint`. Both are made at first use.

use super::Global;
use crate::error::Result;
use crate::serve::config::Config;
use crate::sites::identity::Identity;
use crate::sites::tls::ServerCert;

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Print the identity key and the TLS certificate's fingerprint.
    Show {
        #[arg(long)]
        json: bool,
    },
}

#[derive(serde::Serialize)]
struct KeyView {
    key: String,
    fingerprint: String,
    certificate: String,
}

pub fn run(global: &Global, cmd: KeyCommand) -> Result<()> {
    let KeyCommand::Show { json } = cmd;
    let dirs = global.dirs();
    let identity = Identity::load_or_create(&dirs)?;
    let config = Config::load(
        &global.data_dir,
        global.config.as_deref(),
        Default::default(),
    )?;
    let cert = ServerCert::load(
        &dirs,
        config
            .tls_pair
            .as_ref()
            .map(|(c, k)| (c.as_path(), k.as_path())),
    )?;
    let view = KeyView {
        key: identity.public().to_string(),
        fingerprint: cert.fingerprint(),
        certificate: cert.source.display().to_string(),
    };
    if json {
        return super::print_json(&view);
    }
    println!("key          {}", view.key);
    println!("fingerprint  {}", view.fingerprint);
    println!("certificate  {}", view.certificate);
    Ok(())
}
