//! `marrow doctor`: one line per finding, or `--json`; exits non-zero when
//! something is broken.

use super::Global;
use crate::doctor::{self, Finding, Options, Status};
use crate::error::{Error, Result};
use crate::serve::config::{Config, Flags};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The interface to check (repeatable), as for `marrow serve`.
    #[arg(long = "interface", value_name = "IF")]
    pub interfaces: Vec<String>,
    /// The DHCP role to check for: off, proxy or full (default: the
    /// configuration's).
    #[arg(long, value_name = "off|proxy|full")]
    pub dhcp: Option<String>,
    /// The full-mode range, as for `marrow serve`.
    #[arg(long, value_name = "FIRST-LAST")]
    pub dhcp_range: Option<String>,
    /// The HTTP port to check (default: the configuration's, else 8080).
    #[arg(long, value_name = "N")]
    pub http_port: Option<u16>,
    /// How long to listen for other DHCP servers' offers; 0 skips sending
    /// the DISCOVER.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub probe_secs: f64,
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &Global, args: DoctorArgs) -> Result<()> {
    let flags = Flags {
        interfaces: args.interfaces,
        dhcp: args.dhcp,
        dhcp_range: args.dhcp_range,
        http_port: args.http_port,
        ..Flags::default()
    };
    let mut findings = Vec::new();
    // A configuration that does not load is the first thing to fix; the
    // rest is checked against the defaults meanwhile.
    let config = match Config::load(&global.data_dir, global.config.as_deref(), flags.clone()) {
        Ok(c) => {
            findings.push(Finding::ok(
                "config",
                match &global.config {
                    Some(p) => format!("{} loads", p.display()),
                    None => "defaults (no --config)".into(),
                },
            ));
            c
        }
        Err(e) => {
            findings.push(Finding::fail("config", e.to_string(), "fix the named key"));
            let interfaces = Flags {
                interfaces: flags.interfaces,
                ..Flags::default()
            };
            Config::load(&global.data_dir, None, interfaces)?
        }
    };
    findings.extend(doctor::run(
        &config,
        &Options {
            probe_secs: args.probe_secs.max(0.0),
        },
    ));
    if args.json {
        super::print_json(&findings)?;
    } else {
        for f in &findings {
            println!("{}", f.line());
        }
    }
    let broken: Vec<&str> = findings
        .iter()
        .filter(|f| f.status == Status::Fail)
        .map(|f| f.check.as_str())
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "doctor: broken: {}",
            broken.join(", ")
        )))
    }
}
