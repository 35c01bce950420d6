//! `marrow serve`'s HTTP side with curl: the boot script per MAC, Range
//! requests on the boot files, confinement, `/healthz` and `/metrics`.

use marrow_tests::lab::Lab;
use marrow_tests::missing_root;

fn curl(lab: &Lab, args: &[&str]) -> (String, Vec<u8>) {
    let out = lab.ns.output(
        "curl",
        &[&["-sS", "-w", "%{http_code}", "-o", "-"][..], args].concat(),
    );
    let body = out.stdout;
    let split = body.len().saturating_sub(3);
    (
        String::from_utf8_lossy(&body[split..]).into_owned(),
        body[..split].to_vec(),
    )
}

#[test]
fn http_serves_scripts_ranges_and_refuses_paths_outside_its_roots() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.86.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let initrd: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(boot.join("initrd.img"), &initrd).unwrap();
    std::fs::write(lab.dir.path().join("secret"), b"outside\n").unwrap();
    // No --interface: the namespace's only interface besides lo is used.
    lab.start_marrow_plain(&["--dhcp", "off"]);
    assert!(
        lab.marrow_log().contains("serving on br0 10.86.0.1"),
        "{}",
        lab.marrow_log()
    );
    let base = format!("http://{}:8080", lab.server_ip);

    let (code, body) = curl(&lab, &[&format!("{base}/healthz")]);
    assert_eq!((code.as_str(), body.as_slice()), ("200", &b"ok\n"[..]));

    let (code, body) = curl(&lab, &[&format!("{base}/boot.ipxe?mac=52-54-00-86-00-01")]);
    let script = String::from_utf8_lossy(&body);
    assert_eq!(code, "200");
    assert!(
        script.starts_with("#!ipxe\n") && script.contains("sanboot --no-describe --drive 0x80"),
        "{script}"
    );
    let (code, _) = curl(&lab, &[&format!("{base}/boot.ipxe?mac=not-a-mac")]);
    assert_eq!(code, "400");
    // Hosts come from DHCP and admins: naming a MAC over HTTP registers
    // nothing (a flood of made-up MACs would grow the table for good).
    let hosts = lab.marrow_cli(&["host", "list", "--json"]);
    assert_eq!(hosts.trim(), "[]", "{hosts}");

    let (code, body) = curl(&lab, &[&format!("{base}/boot/initrd.img")]);
    assert_eq!(code, "200");
    assert!(body == initrd);
    let (code, body) = curl(
        &lab,
        &["-r", "1000-1999", &format!("{base}/boot/initrd.img")],
    );
    assert_eq!(code, "206");
    assert!(body == initrd[1000..2000]);
    let (code, body) = curl(&lab, &["-r", "99000-", &format!("{base}/boot/initrd.img")]);
    assert_eq!(code, "206");
    assert!(body == initrd[99000..]);
    let (code, _) = curl(&lab, &["-r", "200000-", &format!("{base}/boot/initrd.img")]);
    assert_eq!(code, "416");

    for path in [
        "/boot/../../secret",
        "/boot/..%2F..%2Fsecret",
        "/tftp/../secret",
        "/tftp/%2Fetc%2Fpasswd",
    ] {
        let (code, body) = curl(&lab, &["--path-as-is", &format!("{base}{path}")]);
        assert!(code == "403" || code == "404", "{path}: {code}");
        assert!(
            !body.starts_with(b"outside") && !body.starts_with(b"root:"),
            "{path} leaked a file"
        );
    }
    let (code, body) = curl(&lab, &[&format!("{base}/tftp/undionly.kpxe")]);
    assert_eq!(code, "200");
    assert!(body == std::fs::read("/usr/lib/ipxe/undionly.kpxe").unwrap());

    let (_, metrics) = curl(&lab, &[&format!("{base}/metrics")]);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("marrow_http_boots_total 1\n"), "{metrics}");
}
