//! Every HTTP route of Marrow, defined once. The server mounts these
//! patterns as they are (axum's `{name}` and `{*rest}` captures); the
//! client, the DHCP policy and the iPXE renderer fill them in with
//! [`path`], so no two copies can drift apart.

/// The iPXE script; the query carries `?mac=` (iPXE's `${mac:hexhyp}`).
pub const BOOT_SCRIPT: &str = "/boot.ipxe";
/// `{name}`: `vmlinuz` or `initrd.img` from the data directory's `boot/`.
pub const BOOT_FILE: &str = "/boot/{name}";
/// `{*path}`: a file of the TFTP root, for UEFI HTTP boot clients.
pub const TFTP_FILE: &str = "/tftp/{*path}";
pub const HEALTHZ: &str = "/healthz";
pub const METRICS: &str = "/metrics";

/// Where every client API route lives.
pub const PREFIX: &str = "/api/v1";

pub const CLAIM: &str = "/api/v1/task/claim";
pub const INVENTORY: &str = "/api/v1/task/inventory";
pub const PROGRESS: &str = "/api/v1/task/progress";
pub const REPORT: &str = "/api/v1/task/report";
pub const DRIVERS: &str = "/api/v1/task/drivers";
/// `{package}`: a package id of the plan; `{*path}`: a file path in it.
pub const DRIVER_FILE: &str = "/api/v1/task/drivers/{package}/{*path}";
/// A session task's multicast session: join it, then report to it.
pub const SESSION_JOIN: &str = "/api/v1/task/session/join";
pub const SESSION_REPORT: &str = "/api/v1/task/session/report";
/// `{name}`: the task's image name.
pub const CHUNKS_HAS: &str = "/api/v1/images/{name}/chunks/has";
/// `{name}`: the task's image name; `{id}`: a chunk id.
pub const CHUNK: &str = "/api/v1/images/{name}/chunks/{id}";
/// `{name}`: the task's image name.
pub const MANIFEST: &str = "/api/v1/images/{name}/manifest";

/// Site sync (an upstream's side; a token with the `sync` scope): the
/// images and their signed versions.
pub const SYNC_IMAGES: &str = "/api/v1/sync/images";
/// `{id}`: a manifest id.
pub const SYNC_MANIFEST: &str = "/api/v1/sync/manifests/{id}";
/// A batch of chunks, by id (`sync::BatchRequest`).
pub const SYNC_CHUNKS: &str = "/api/v1/sync/chunks";

/// Every route of the client API, for checks over all of them.
pub const API: &[&str] = &[
    CLAIM,
    INVENTORY,
    PROGRESS,
    REPORT,
    DRIVERS,
    DRIVER_FILE,
    SESSION_JOIN,
    SESSION_REPORT,
    CHUNKS_HAS,
    CHUNK,
    MANIFEST,
];

/// `route` with its captures replaced by `values`, in order. A capture
/// with no value left stays as written, which no server route matches.
///
/// Image names, chunk ids and package ids are URL-safe by construction
/// (`[A-Za-z0-9._-]`, hex), and a driver file path keeps its `/`s, so the
/// values go in as they are.
pub fn path(route: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(route.len() + 64);
    let mut values = values.iter();
    let mut rest = route;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        match values.next() {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[open..=open + close]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The number of captures in `route`.
pub fn captures(route: &str) -> usize {
    route.matches('{').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_each_capture_in_order() {
        assert_eq!(
            path(CHUNK, &["win11", "ab12"]),
            "/api/v1/images/win11/chunks/ab12"
        );
        assert_eq!(
            path(DRIVER_FILE, &["00ff", "x64/netkvm.inf"]),
            "/api/v1/task/drivers/00ff/x64/netkvm.inf"
        );
        assert_eq!(path(CLAIM, &[]), CLAIM);
        assert_eq!(path(BOOT_FILE, &["vmlinuz"]), "/boot/vmlinuz");
    }

    #[test]
    fn every_route_is_under_the_prefix_and_its_captures_are_closed() {
        for route in API {
            assert!(route.starts_with(PREFIX), "{route}");
            assert_eq!(route.matches('{').count(), route.matches('}').count());
            let filled = path(route, &vec!["x"; captures(route)]);
            assert!(!filled.contains('{'), "{route} -> {filled}");
        }
    }
}
