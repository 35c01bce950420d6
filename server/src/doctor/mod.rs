//! `marrow doctor`: checks the set-up and says what to fix, one line per
//! finding. Each check gathers facts and judges them with a pure function,
//! so the judgements are tested without the machine.

mod boot_files;
mod clock;
mod dhcp_probe;
mod ports;
mod proc_net;
mod state;

use serde::Serialize;

use crate::paths::DataDir;
use crate::serve::config::{Config, DhcpMode};
use crate::serve::net::{self, Interface};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something is worth knowing or changing.
    Warn,
    /// Marrow cannot work this way: `marrow doctor` exits non-zero.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What was checked: `interfaces`, `port 67/udp`, `dhcp`, `boot files`,
    /// `kernel`, `store`, `database`, `clock`.
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it, for a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// `ok   check: detail`, with `-> fix` for the others.
    pub fn line(&self) -> String {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        match &self.fix {
            Some(fix) => format!("{tag} {}: {} -> {fix}", self.check, self.detail),
            None => format!("{tag} {}: {}", self.check, self.detail),
        }
    }
}

/// What to check beyond the configuration.
pub struct Options {
    /// How long to listen for other DHCP servers' offers; 0 skips the probe.
    pub probe_secs: f64,
}

/// Runs every check against `config` (already loaded; a configuration that
/// did not load is reported by the caller).
pub fn run(config: &Config, opts: &Options) -> Vec<Finding> {
    let dirs = DataDir::new(&config.data_dir);
    let mut out = Vec::new();
    let interfaces = match net::ipv4_interfaces()
        .and_then(|all| net::choose(&config.interfaces, &all))
    {
        Ok(list) => {
            out.push(Finding::ok("interfaces", describe(&list)));
            list
        }
        Err(e) => {
            out.push(Finding::fail(
                "interfaces",
                e.to_string(),
                "name the imaging network's interface with --interface (or `interfaces` in the configuration)",
            ));
            Vec::new()
        }
    };
    out.extend(ports::check(config));
    if config.dhcp_mode != DhcpMode::Off && opts.probe_secs > 0.0 {
        for iface in &interfaces {
            out.push(dhcp_probe::check(iface, config.dhcp_mode, opts.probe_secs));
        }
    }
    out.extend(boot_files::check(config, &dirs));
    out.extend(state::check(config, &dirs));
    out.push(clock::check());
    out
}

fn describe(list: &[Interface]) -> String {
    list.iter()
        .map(|i| format!("{} {}/{}", i.name, i.ip, i.prefix_len))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_status_and_the_fix() {
        assert_eq!(
            Finding::ok("clock", "synchronized").line(),
            "ok   clock: synchronized"
        );
        assert_eq!(
            Finding::fail("kernel", "missing", "run marrow initramfs build").line(),
            "FAIL kernel: missing -> run marrow initramfs build"
        );
        let json = serde_json::to_value(Finding::warn("dhcp", "x", "y")).unwrap();
        assert_eq!(json["status"], "warn");
        assert_eq!(json["fix"], "y");
        assert!(serde_json::to_value(Finding::ok("a", "b"))
            .unwrap()
            .get("fix")
            .is_none());
    }
}
