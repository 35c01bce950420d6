//! `marrow serve` exports an image version over NBD when an admin asks:
//! the URL reads as the captured disk (qemu-img compare), its secret name
//! is not listed to anyone (nbd-client -l), a viewer may not ask, and the
//! audit log records who asked.

use marrow_tests::disks::sh;
use marrow_tests::lab::Lab;
use marrow_tests::missing_root;

#[test]
fn an_admin_exports_an_image_version_over_nbd_and_a_viewer_may_not() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.98.0");
    // A small disk, captured at the server's shell into its store.
    let disk = lab.dir.path().join("disk.img");
    let tree = lab.dir.path().join("tree");
    sh(&format!(
        "mkdir -p {t}; echo 'hello nbd' > {t}/hello.txt; truncate -s 32M {d}; mkfs.ext4 -q -d {t} {d}",
        t = tree.display(),
        d = disk.display()
    ));
    lab.marrow_cli(&["image", "capture", disk.to_str().unwrap(), "--name", "lab"]);
    lab.start_marrow_plain(&["--dhcp", "off"]);
    let token = |role: &str| {
        let out = lab.marrow_cli(&["token", "create", "--role", role, "--name", role, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["token"].as_str().unwrap().to_string()
    };
    let (admin, viewer) = (token("admin"), token("viewer"));
    let url = format!(
        "http://{}:8080/api/v1/admin/images/lab/export",
        lab.server_ip
    );
    let post = |t: &str| {
        let out = lab.ns.output(
            "curl",
            &[
                "-sS",
                "-X",
                "POST",
                "-H",
                &format!("Authorization: Bearer {t}"),
                "-w",
                "\n%{http_code}",
                &url,
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.trim().to_string(), body.to_string())
    };
    let (code, body) = post(&viewer);
    assert_eq!(code, "403", "{body}");
    let (code, body) = post(&admin);
    assert_eq!(code, "200", "{body}");
    let export: serde_json::Value = serde_json::from_str(&body).unwrap();
    let nbd = export["url"].as_str().unwrap();
    assert!(
        nbd.starts_with(&format!("nbd://{}:10809/", lab.server_ip)),
        "{export}"
    );
    assert!(
        export["image"].as_str().unwrap().starts_with("lab@"),
        "{export}"
    );
    assert_eq!(export["size"], 32 << 20);
    let same = lab.ns.output(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "raw",
            disk.to_str().unwrap(),
            nbd,
        ],
    );
    assert!(
        same.status.success() && String::from_utf8_lossy(&same.stdout).contains("identical"),
        "{same:?}"
    );
    // The export's name is its credential: nobody is told it.
    let secret = nbd.rsplit('/').next().unwrap();
    let listed = lab
        .ns
        .output("nbd-client", &["-l", &lab.server_ip, "10809"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&listed.stdout),
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(!said.contains(secret), "{said}");
    let audit = lab.marrow_cli(&["audit", "--json"]);
    assert!(
        audit.contains("image.export") && audit.contains("\"lab\""),
        "{audit}"
    );
}
