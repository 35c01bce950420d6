//! The admin API with curl: the first admin's setup link, every route
//! against every role (from the OpenAPI document itself), CSRF on cookie
//! sessions, login throttling, the audit log, and task tokens kept apart
//! from admin tokens.

use std::collections::BTreeMap;
use std::time::Duration;

use marrow_tests::lab::Lab;
use marrow_tests::missing_root;

/// `curl` in the lab: status, response headers, body. An event stream
/// does not end by itself: five seconds of it is what is kept. An event stream
/// does not end by itself: five seconds of it is what is kept.
fn curl(lab: &Lab, args: &[&str]) -> (u16, String, String) {
    let out = lab.ns.output(
        "curl",
        &[
            &[
                "-sS",
                "--max-time",
                "5",
                "-D",
                "/dev/stderr",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
            ][..],
            args,
        ]
        .concat(),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    let code = code
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {args:?}: {text}"));
    (
        code,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        body.to_string(),
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The role a route needs, by method and path; `None`: open to anyone.
fn need(method: &str, path: &str) -> Option<&'static str> {
    let p = path.trim_start_matches("/api/v1/admin");
    Some(match (method, p) {
        ("POST", "/login" | "/setup") => return None,
        ("GET", "/audit" | "/users" | "/tokens" | "/scripts/{name}") => "admin",
        ("GET", _) => "viewer",
        ("POST", "/logout") => "viewer",
        ("POST", "/tasks" | "/tasks/{id}/cancel" | "/hosts/wake" | "/sites/{name}/pull") => {
            "operator"
        }
        (
            "POST",
            "/sessions"
            | "/sessions/{id}/members"
            | "/sessions/{id}/start"
            | "/sessions/{id}/cancel",
        ) => "operator",
        ("POST", "/schedules" | "/schedules/{name}/pause" | "/schedules/{name}/resume") => {
            "operator"
        }
        ("DELETE", "/schedules/{name}") => "operator",
        ("POST", "/drivers/match") => "viewer",
        (
            "POST",
            "/hosts"
            | "/users"
            | "/tokens"
            | "/users/{name}/reset"
            | "/scripts"
            | "/drivers"
            | "/images/{image}/export",
        ) => "admin",
        (
            "DELETE",
            "/images/{image}" | "/users/{name}" | "/tokens/{id}" | "/scripts/{name}"
            | "/drivers/{package}",
        ) => "admin",
        _ => panic!("{method} {path} is in the OpenAPI document but not in this test's table"),
    })
}

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "operator" => 2,
        "admin" => 3,
        other => panic!("role {other}"),
    }
}

fn start(lab: &mut Lab) -> String {
    lab.start_marrow_plain(&["--dhcp", "off"]);
    let g = lab.marrow.as_mut().unwrap();
    let log = g.wait_for_log("Make the first admin", Duration::from_secs(20));
    let link = log
        .lines()
        .find_map(|l| l.split_once("Make the first admin").map(|(_, r)| r))
        .and_then(|r| r.split_whitespace().last())
        .expect("setup link")
        .to_string();
    assert!(
        log.contains("no users yet"),
        "the log says a setup link was printed: {log}"
    );
    link
}

#[test]
fn admin_api_roles_csrf_throttling_and_audit() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.87.0");
    let link = start(&mut lab);
    let base = format!("http://{}:8080", lab.server_ip);
    assert!(link.starts_with(&format!("{base}/setup?token=")), "{link}");
    let token = link.rsplit_once("token=").unwrap().1.to_string();

    // The link's page is a form; the first admin names themself.
    let (code, _, page) = curl(&lab, &[&link]);
    assert_eq!(code, 200);
    assert!(
        page.contains("name=\"name\"") && page.contains("type=\"password\""),
        "{page}"
    );
    let setup = |body: &str| {
        curl(
            &lab,
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                body,
                &format!("{base}/api/v1/admin/setup"),
            ],
        )
    };
    let (code, _, body) = setup(&format!(
        r#"{{"token":"{token}","name":"alice","password":"short"}}"#
    ));
    assert_eq!(code, 400, "{body}");
    let (code, _, body) = setup(&format!(
        r#"{{"token":"{token}","name":"alice","password":"alice-long-password"}}"#
    ));
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["role"], "admin");
    let (code, _, _) = setup(&format!(
        r#"{{"token":"{token}","name":"mallory","password":"mallory-password"}}"#
    ));
    assert_eq!(code, 401, "a setup link works once");

    // One token per role, made at the server's shell.
    let mut tokens = BTreeMap::new();
    for role in ["viewer", "operator", "admin"] {
        let out = lab.marrow_cli(&["token", "create", "--role", role, "--name", role, "--json"]);
        tokens.insert(role, json(&out)["token"].as_str().unwrap().to_string());
    }
    let listed = lab.marrow_cli(&["token", "list", "--json"]);
    assert!(
        !listed.contains(&tokens["admin"]),
        "only hashes are stored: {listed}"
    );

    // Every route of the OpenAPI document, against every role.
    let (code, _, doc) = curl(&lab, &[&format!("{base}/api/v1/openapi.json")]);
    assert_eq!(code, 200);
    let doc = json(&doc);
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let url = format!(
                "{base}{}",
                path.replace("{id}", "999")
                    .replace("{name}", "nobody")
                    .replace("{image}", "nothing")
                    .replace("{package}", "nothing")
            );
            let call = |auth: Option<&str>| {
                let header = auth.map(|t| format!("Authorization: Bearer {t}"));
                let mut args = vec![
                    "-X",
                    method.as_str(),
                    "-H",
                    "Content-Type: application/json",
                ];
                if method != "GET" && method != "DELETE" {
                    args.extend(["-d", "{}"]);
                }
                if let Some(h) = &header {
                    args.extend(["-H", h.as_str()]);
                }
                args.push(&url);
                curl(&lab, &args)
            };
            let Some(need) = need(&method, path) else {
                let (code, _, _) = call(None);
                assert!(code != 404 && code != 405, "{method} {path}: {code}");
                continue;
            };
            let (code, _, body) = call(None);
            assert_eq!(code, 401, "{method} {path} without credentials: {body}");
            assert!(json(&body)["error"].is_string(), "{body}");
            let (code, _, _) = call(Some("mrw_0000"));
            assert_eq!(code, 401, "{method} {path} with a made-up token");
            for (role, t) in &tokens {
                let (code, _, body) = call(Some(t));
                if rank(role) >= rank(need) {
                    // Allowed: the handler ran (a 404 from it names what
                    // is missing; the router's own 404 is empty).
                    let routed = !(code == 404 && body.is_empty()) && code != 405;
                    assert!(
                        routed && code != 401 && code != 403,
                        "{method} {path} as {role}: {code} {body}"
                    );
                } else {
                    assert_eq!(code, 403, "{method} {path} as {role}: {body}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} routes checked");

    // A browser session: HttpOnly, SameSite=Strict, and CSRF on writes.
    let jar = lab.dir.path().join("cookies");
    let jar = jar.to_str().unwrap();
    let login = |name: &str, password: &str| {
        curl(
            &lab,
            &[
                "-c",
                jar,
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "-d",
                &format!(r#"{{"name":"{name}","password":"{password}"}}"#),
                &format!("{base}/api/v1/admin/login"),
            ],
        )
    };
    let (code, headers, body) = login("alice", "alice-long-password");
    assert_eq!(code, 200, "{body}");
    let cookie = headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let csrf = json(&body)["csrf"].as_str().unwrap().to_string();
    let hosts = format!("{base}/api/v1/admin/hosts");
    let (code, _, body) = curl(
        &lab,
        &[
            "-b",
            jar,
            "-X",
            "POST",
            "-d",
            "mac=52:54:00:87:00:01&name=lab-01",
            &hosts,
        ],
    );
    assert_eq!(code, 403, "a form post without the CSRF token: {body}");
    let (code, _, _) = curl(
        &lab,
        &[
            "-b",
            jar,
            "-X",
            "POST",
            "-H",
            "X-CSRF-Token: wrong",
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            &hosts,
        ],
    );
    assert_eq!(code, 403, "a wrong CSRF token");
    let (code, _, body) = curl(
        &lab,
        &[
            "-b",
            jar,
            "-X",
            "POST",
            "-d",
            &format!("mac=52:54:00:87:00:01&name=lab-01&csrf={csrf}"),
            &hosts,
        ],
    );
    assert_eq!(
        code, 400,
        "the form's token passes CSRF (the route takes JSON): {body}"
    );
    let (code, _, body) = curl(
        &lab,
        &[
            "-b",
            jar,
            "-X",
            "POST",
            "-H",
            &format!("X-CSRF-Token: {csrf}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"mac":"52:54:00:87:00:01","name":"lab-01","group":"room-b"}"#,
            &hosts,
        ],
    );
    assert_eq!(code, 201, "{body}");
    let (code, _, body) = curl(&lab, &["-b", jar, &hosts]);
    assert_eq!(code, 200, "reads need no CSRF token");
    assert_eq!(json(&body)["items"][0]["name"], "lab-01");

    // Throttling: five failures are free, then a wait that grows.
    for i in 0..5 {
        let (code, _, _) = login("alice", "wrong-password");
        assert_eq!(code, 401, "failure {i}");
    }
    let (code, headers, body) = login("alice", "alice-long-password");
    assert_eq!(code, 429, "even the right password waits: {body}");
    assert!(
        headers.to_ascii_lowercase().contains("retry-after:"),
        "{headers}"
    );

    // Task tokens and admin tokens do not cross.
    let task = json(&lab.marrow_cli(&[
        "task",
        "capture",
        "--host",
        "lab-01",
        "--image",
        "golden",
        "--show-token",
        "--json",
    ]));
    let task_token = task["token"].as_str().unwrap();
    let (code, _, _) = curl(
        &lab,
        &["-H", &format!("Authorization: Bearer {task_token}"), &hosts],
    );
    assert_eq!(code, 401, "a task token on the admin API");
    let (code, _, _) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {}", tokens["admin"]),
            "-H",
            "Content-Type: application/json",
            "-d",
            "{}",
            &format!("{base}/api/v1/task/claim"),
        ],
    );
    assert_eq!(code, 401, "an admin token on the client API");

    // The audit log has the API's and the CLI's actions, and the refusals.
    let audit = json(&lab.marrow_cli(&["audit", "--json"]));
    let rows = audit.as_array().unwrap();
    let has = |actor: &str, action: &str, outcome: &str| {
        rows.iter().any(|r| {
            r["actor"].as_str().unwrap().starts_with(actor)
                && r["action"] == action
                && r["outcome"].as_str().unwrap().starts_with(outcome)
        })
    };
    assert!(
        has("user alice", "user.setup-first-admin", "ok"),
        "{audit:#}"
    );
    assert!(has("local", "token.create", "ok"));
    assert!(has("local", "task.capture", "ok"));
    assert!(has("user alice", "host.add", "ok"));
    assert!(has("anonymous", "login", "failed"));
    assert!(has("anonymous", "login", "refused: throttled"));
    assert!(has("anonymous", "GET /api/v1/admin/hosts", "refused: 401"));
    assert!(has(
        "token viewer",
        "POST /api/v1/admin/hosts",
        "refused: 403"
    ));
    assert!(has(
        "user alice",
        "POST /api/v1/admin/hosts",
        "refused: 403"
    ));
    let api_row = rows.iter().find(|r| r["action"] == "host.add").unwrap();
    assert_eq!(api_row["address"], lab.server_ip.as_str(), "{api_row}");
    let alice = lab.marrow_cli(&["audit", "--user", "alice"]);
    assert!(
        alice.contains("host.add") && !alice.contains("token.create"),
        "{alice}"
    );
}

#[test]
fn drivers_and_scripts_through_the_api() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.89.0");
    lab.start_marrow_plain(&["--dhcp", "off"]);
    let base = format!("http://{}:8080/api/v1/admin", lab.server_ip);
    let token = |role: &str| {
        json(&lab.marrow_cli(&["token", "create", "--role", role, "--json"]))["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (admin, viewer) = (token("admin"), token("viewer"));
    let auth = |t: &str| format!("Authorization: Bearer {t}");

    // Groups are the rooms hosts are put in.
    lab.marrow_cli(&[
        "host",
        "add",
        "52:54:00:89:00:02",
        "--name",
        "b2",
        "--group",
        "Room-B",
    ]);
    lab.marrow_cli(&[
        "host",
        "add",
        "52:54:00:89:00:01",
        "--name",
        "b1",
        "--group",
        "room-b",
    ]);
    lab.marrow_cli(&["host", "add", "52:54:00:89:00:03", "--name", "loose"]);
    let (code, _, body) = curl(&lab, &["-H", &auth(&viewer), &format!("{base}/groups")]);
    assert_eq!(code, 200, "{body}");
    let groups = json(&body);
    assert_eq!(groups["total"], 1, "{body}");
    let members: Vec<&str> = groups["items"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(members, ["b1", "b2"], "{body}");

    // A ZIP of a real driver package, uploaded as the body.
    let packages = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driver-store/tests/data/packages/netkvm-amd64");
    let zip = lab.dir.path().join("netkvm.zip");
    let out = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg(&packages)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upload = format!("@{}", zip.display());
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &auth(&admin),
            "-H",
            "Content-Type: application/zip",
            "--data-binary",
            &upload,
            &format!("{base}/drivers?os=win11-x64&name=netkvm.zip"),
        ],
    );
    assert_eq!(code, 201, "{body}");
    let imported = json(&body);
    assert_eq!(imported[0]["package"]["name"], "netkvm-amd64", "{body}");
    assert_eq!(imported[0]["newly_stored"], true);
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &auth(&admin),
            "--data-binary",
            &upload,
            &format!("{base}/drivers"),
        ],
    );
    assert_eq!(code, 400, "an upload names its Windows: {body}");
    assert!(
        json(&body)["error"].as_str().unwrap().contains("os="),
        "{body}"
    );
    // The CLI at the server's shell sees what the API stored.
    let listed = lab.marrow_cli(&["drivers", "list"]);
    assert!(listed.contains("netkvm-amd64"), "{listed}");
    let (code, _, body) = curl(&lab, &["-H", &auth(&viewer), &format!("{base}/drivers")]);
    assert_eq!(code, 200);
    assert_eq!(json(&body)["total"], 1, "{body}");
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &auth(&viewer),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"os":"win11-x64","pci":["1af4:1000:1af4:0001"]}"#,
            &format!("{base}/drivers/match"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    let m = json(&body);
    assert_eq!(m[0]["candidates"][0]["name"], "netkvm-amd64", "{body}");
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "DELETE",
            "-H",
            &auth(&viewer),
            &format!("{base}/drivers/netkvm-amd64"),
        ],
    );
    assert_eq!(code, 403, "{body}");
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "DELETE",
            "-H",
            &auth(&admin),
            &format!("{base}/drivers/netkvm-amd64"),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert!(lab
        .marrow_cli(&["drivers", "list"])
        .contains("no driver packages"));

    // Scripts: admins store and read them; viewers list them.
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &auth(&admin),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"name":"fixup","body":"echo hi\n"}"#,
            &format!("{base}/scripts"),
        ],
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(json(&body)["bytes"], 8);
    let (code, _, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &auth(&admin),
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"name":"fixup","body":"echo again\n"}"#,
            &format!("{base}/scripts"),
        ],
    );
    assert_eq!(code, 409, "{body}");
    let (code, _, body) = curl(&lab, &["-H", &auth(&viewer), &format!("{base}/scripts")]);
    assert_eq!(code, 200);
    assert_eq!(json(&body)["items"][0]["name"], "fixup", "{body}");
    let (code, _, _) = curl(
        &lab,
        &["-H", &auth(&viewer), &format!("{base}/scripts/fixup")],
    );
    assert_eq!(code, 403);
    let (code, _, body) = curl(
        &lab,
        &["-H", &auth(&admin), &format!("{base}/scripts/fixup")],
    );
    assert_eq!(code, 200);
    assert_eq!(json(&body)["body"], "echo hi\n");
    assert_eq!(lab.marrow_cli(&["script", "show", "fixup"]), "echo hi\n");
    let (code, _, _) = curl(
        &lab,
        &[
            "-X",
            "DELETE",
            "-H",
            &auth(&admin),
            &format!("{base}/scripts/fixup"),
        ],
    );
    assert_eq!(code, 204);
    assert!(lab.marrow_cli(&["script", "list"]).contains("no scripts"));

    let audit = lab.marrow_cli(&["audit"]);
    for action in [
        "drivers.add",
        "drivers.remove",
        "script.add",
        "script.remove",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}
