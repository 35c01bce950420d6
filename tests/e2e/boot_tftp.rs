//! `marrow serve`'s TFTP against real clients (curl, tftp-hpa, busybox
//! tftp): byte-exact transfers with and without blksize, and every
//! traversal spelling refused with a TFTP error.

use std::path::Path;

use marrow_tests::lab::Lab;
use marrow_tests::{have, missing_root};

/// Deterministic content that is not compressible or periodic at any
/// block size, so a reordered or dropped block cannot go unnoticed.
fn payload(len: usize) -> Vec<u8> {
    marrow_test_support::noise(0x1234_5678_9abc_def0, len)
}

fn lab_with_files() -> (Lab, Vec<u8>) {
    let mut lab = Lab::new("10.80.0");
    let root = lab.data_dir.join("tftp");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    // 3 MB: with 512-byte blocks that is 6144 blocks, well past nothing
    // special; block rollover is covered by the unit tests.
    let data = payload(3 * 1024 * 1024 + 123);
    std::fs::write(root.join("payload.bin"), &data).unwrap();
    std::fs::write(root.join("sub/nested.txt"), b"nested\n").unwrap();
    std::fs::write(lab.dir.path().join("secret"), b"outside the root\n").unwrap();
    std::os::unix::fs::symlink(lab.dir.path().join("secret"), root.join("escape")).unwrap();
    lab.start_marrow(&["--dhcp", "off"]);
    (lab, data)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn tftp_clients_get_byte_exact_files_and_every_traversal_is_refused() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    for tool in ["curl", "tftp", "busybox"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed (scripts/install-deps installs it)");
            return;
        }
    }
    let (lab, data) = lab_with_files();
    let ip = lab.server_ip.clone();
    let out = |name: &str| lab.dir.path().join(name);

    // curl: lockstep at the RFC 1350 512 bytes, then blksize 1468.
    let o = out("curl-512");
    let r = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-o",
            o.to_str().unwrap(),
            &format!("tftp://{ip}/payload.bin"),
        ],
    );
    assert!(
        r.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(read(&o) == data, "curl 512-byte transfer differs");
    let o = out("curl-1468");
    let r = lab.ns.output(
        "curl",
        &[
            "-sS",
            "--tftp-blksize",
            "1468",
            "-o",
            o.to_str().unwrap(),
            &format!("tftp://{ip}/payload.bin"),
        ],
    );
    assert!(
        r.status.success(),
        "curl blksize: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(read(&o) == data, "curl blksize 1468 transfer differs");

    // tftp-hpa (no options at all: plain RFC 1350), binary mode.
    let o = out("hpa");
    let r = lab.ns.output(
        "tftp",
        &[
            "-m",
            "binary",
            &ip,
            "-c",
            "get",
            "payload.bin",
            o.to_str().unwrap(),
        ],
    );
    assert!(
        read(&o) == data,
        "tftp-hpa transfer differs: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    // A leading '/' names the root, as GRUB's prefix `(tftp,SERVER)/grub`
    // asks.
    let o = out("hpa-rooted");
    let r = lab.ns.output(
        "tftp",
        &[
            "-m",
            "binary",
            &ip,
            "-c",
            "get",
            "/payload.bin",
            o.to_str().unwrap(),
        ],
    );
    assert!(
        read(&o) == data,
        "tftp-hpa of /payload.bin differs: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let o = out("hpa-nested");
    lab.ns.output(
        "tftp",
        &[
            "-m",
            "binary",
            &ip,
            "-c",
            "get",
            "sub/nested.txt",
            o.to_str().unwrap(),
        ],
    );
    assert_eq!(read(&o), b"nested\n");

    // busybox tftp: blksize 1468 and tsize, like the PXE ROMs.
    let o = out("busybox");
    let r = lab.ns.output(
        "busybox",
        &[
            "tftp",
            "-g",
            "-b",
            "1468",
            "-r",
            "payload.bin",
            "-l",
            o.to_str().unwrap(),
            &ip,
        ],
    );
    assert!(
        read(&o) == data,
        "busybox tftp transfer differs: {}",
        String::from_utf8_lossy(&r.stderr)
    );

    // Eight clients at once, mixed block sizes: all byte-exact.
    let children: Vec<_> = (0..8)
        .map(|i| {
            let o = out(&format!("parallel-{i}"));
            let blksize = if i % 2 == 0 { "512" } else { "1468" };
            let mut c = lab.ns.command("curl");
            c.args([
                "-sS",
                "--tftp-blksize",
                blksize,
                "-o",
                o.to_str().unwrap(),
                &format!("tftp://{ip}/payload.bin"),
            ]);
            (o, c.spawn().expect("spawn curl"))
        })
        .collect();
    for (o, mut child) in children {
        assert!(
            child.wait().unwrap().success(),
            "parallel curl for {}",
            o.display()
        );
        assert!(
            read(&o) == data,
            "parallel transfer {} differs",
            o.display()
        );
    }

    // Traversal: each is refused with a TFTP error and nothing outside the
    // root is sent.
    let attempts = [
        "../secret",
        "sub/../../secret",
        "/../secret",
        "..\\secret",
        "escape",
        "sub/..//../secret",
    ];
    for (i, name) in attempts.iter().enumerate() {
        let o = out(&format!("hpa-refused-{i}"));
        let _ = std::fs::remove_file(&o);
        let r = lab.ns.output(
            "tftp",
            &["-m", "binary", &ip, "-c", "get", name, o.to_str().unwrap()],
        );
        let said =
            String::from_utf8_lossy(&r.stdout).into_owned() + &String::from_utf8_lossy(&r.stderr);
        assert!(
            said.contains("Error code 2") || said.contains("Access violation"),
            "{name:?} was not refused: {said}"
        );
        assert!(
            !read(&o).starts_with(b"outside"),
            "{name:?} leaked the file outside the root"
        );
        let o = out(&format!("curl-refused-{i}"));
        let url = format!("tftp://{ip}/{}", name.replace('\\', "%5C"));
        let r = lab.ns.output(
            "curl",
            &["-sS", "--path-as-is", "-o", o.to_str().unwrap(), &url],
        );
        assert!(!r.status.success(), "curl {url} succeeded");
        assert!(
            !read(&o).starts_with(b"outside"),
            "curl {url} leaked the file outside the root"
        );
    }
    let missing = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            &format!("tftp://{ip}/no-such-file"),
        ],
    );
    assert!(!missing.status.success());

    let metrics = lab.http_get(8080, "/metrics");
    assert!(
        metrics.contains("marrow_tftp_refused_total{reason=\"outside_root\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("marrow_tftp_refused_total{reason=\"path\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("marrow_tftp_refused_total{reason=\"not_found\"} 1"),
        "{metrics}"
    );
}
