//! Administrators' roles (issue 26), walked over the whole REST API (every path and method the
//! OpenAPI description lists) and the console's pages and forms, with an owner, a helpdesk admin
//! and an auditor. The expectations are written here, independently of the server's table:
//! an auditor changes nothing; a helpdesk admin never reaches domains and sync, OIDC clients and
//! signing keys; an owner is never refused for its role.

use reqwest::Method;
use serde_json::{json, Value};
use sso_server::admin::roles::Role;
use sso_server::audit::Actor;
use sso_server::clock::Clock as _;

use crate::support::{client, Db, TestServer, ADMIN, ADMIN_PASSWORD};

const REFUSAL: &str = "role may not do this";

/// What the test expects of `role` on `method path` (not the server's own table).
fn expected(role: Role, method: &Method, path: &str) -> bool {
    let reads = *method == Method::GET;
    let owners_area = [
        "/api/v1/directory",
        "/api/v1/oidc",
        "/api/v1/keys/rotation-scan",
    ]
    .iter()
    .chain(["/admin/domains", "/admin/sync", "/admin/clients"].iter())
    .any(|p| path.starts_with(p));
    match role {
        Role::Owner => true,
        Role::Auditor => reads,
        Role::Helpdesk => !owners_area,
    }
}

async fn signed_in(srv: &TestServer, name: &str, password: &str) -> (reqwest::Client, String) {
    let c = client();
    let login: Value = c
        .post(srv.url("/api/v1/session"))
        .json(&json!({"username": name, "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let csrf = login["csrf_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{name} signs in: {login}"))
        .to_owned();
    (c, csrf)
}

#[tokio::test]
async fn every_admin_route_refuses_the_roles_it_is_not_for() {
    let srv = TestServer::start(Db::Sqlite).await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    for (name, role) in [("helen", Role::Helpdesk), ("audrey", Role::Auditor)] {
        sso_server::admin::accounts::create_admin_with_role(
            &srv.state.store,
            srv.clock.now_ms(),
            &Actor::cli(),
            name,
            ADMIN_PASSWORD,
            role,
        )
        .await
        .expect("admin");
    }
    let mut sessions = Vec::new();
    for (name, role) in [
        (ADMIN, Role::Owner),
        ("helen", Role::Helpdesk),
        ("audrey", Role::Auditor),
    ] {
        sessions.push((role, signed_in(&srv, name, ADMIN_PASSWORD).await));
    }
    // Every API route, as the OpenAPI description lists them.
    let doc: Value = client()
        .get(srv.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut routes = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("ops").keys() {
            let filled: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::new_v4().to_string()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            routes.push((
                method.to_uppercase().parse::<Method>().expect("method"),
                filled,
            ));
        }
    }
    // The console's pages and forms.
    for page in [
        "/admin",
        "/admin/employees",
        "/admin/employees/new",
        "/admin/keys",
        "/admin/keys/import",
        "/admin/domains",
        "/admin/domains/new",
        "/admin/sync",
        "/admin/clients",
        "/admin/clients/new",
        "/admin/audit",
    ] {
        routes.push((Method::GET, page.to_owned()));
    }
    for form in [
        "/admin/employees/new",
        "/admin/keys/import",
        "/admin/domains/new",
        "/admin/clients/new",
        "/admin/sync",
    ] {
        routes.push((Method::POST, form.to_owned()));
    }
    assert!(routes.len() > 50, "{} routes", routes.len());
    let mut checked = 0;
    // The auditor and the helpdesk first: the owner's calls may change things (harmlessly).
    for (role, (c, csrf)) in sessions.iter().rev() {
        for (method, path) in &routes {
            if path == "/api/v1/session" {
                continue;
            }
            let mut req = c
                .request(method.clone(), srv.url(path))
                .header("x-csrf-token", csrf.as_str());
            if *method != Method::GET && path.starts_with("/api/") {
                req = req.json(&json!({}));
            } else if *method == Method::POST {
                req = req.form(&[("csrf_token", csrf.as_str())]);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            let refused = status == 403 && body.contains(REFUSAL);
            let want = expected(*role, method, path);
            assert_eq!(
                !refused,
                want,
                "{role:?} {method} {path}: {status} {}",
                body.chars().take(200).collect::<String>()
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked}");
    // The navigation shows each role exactly the sections it may open.
    for (role, (c, _)) in &sessions {
        let page = c
            .get(srv.url("/admin"))
            .send()
            .await
            .expect("dashboard")
            .text()
            .await
            .expect("text");
        let nav = page
            .split("<nav aria-label=\"Console\">")
            .nth(1)
            .and_then(|s| s.split("</nav>").next())
            .expect("the console's navigation");
        let shown: Vec<&str> = nav
            .split("href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        for section in [
            "/admin",
            "/admin/employees",
            "/admin/sync",
            "/admin/keys",
            "/admin/domains",
            "/admin/clients",
            "/admin/audit",
        ] {
            assert_eq!(
                shown.contains(&section),
                expected(*role, &Method::GET, section),
                "{role:?}: {section} shown as it may be opened ({shown:?})"
            );
        }
        assert!(shown.len() <= 7, "{shown:?}");
    }
    // Every role still signs itself out.
    for (_, (c, csrf)) in &sessions {
        let resp = c
            .delete(srv.url("/api/v1/session"))
            .header("x-csrf-token", csrf.as_str())
            .send()
            .await
            .expect("logout");
        assert_eq!(resp.status().as_u16(), 204);
    }
}

/// The command line lists, disables, re-enables, resets and re-roles administrators; a
/// disabled one cannot sign in and loses its sessions; the last owner cannot be disabled.
#[tokio::test]
async fn the_command_line_manages_administrators() {
    use crate::process::{cmd, run};
    let dir = tempfile::tempdir().expect("dir");
    let out = run(cmd(dir.path()).args(["admin", "create", "--username", "olga"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(cmd(dir.path()).args([
        "admin",
        "create",
        "--username",
        "hank",
        "--role",
        "helpdesk",
    ]));
    assert!(out.status.success());
    let hank_password = printed_password(&out);
    let list =
        String::from_utf8_lossy(&run(cmd(dir.path()).args(["admin", "list"])).stdout).into_owned();
    assert!(list.contains("hank\thelpdesk\tenabled"), "{list}");
    assert!(list.contains("olga\towner\tenabled"), "{list}");
    let out = run(cmd(dir.path()).args(["admin", "disable", "olga"]));
    assert!(!out.status.success(), "the last owner cannot be disabled");
    assert!(String::from_utf8_lossy(&out.stderr).contains("last enabled owner"));
    let out = run(cmd(dir.path()).args(["admin", "set-role", "hank", "auditor"]));
    assert!(out.status.success());
    let out = run(cmd(dir.path()).args(["admin", "disable", "hank"]));
    assert!(out.status.success());
    let list =
        String::from_utf8_lossy(&run(cmd(dir.path()).args(["admin", "list"])).stdout).into_owned();
    assert!(list.contains("hank\tauditor\tdisabled"), "{list}");
    // Disabled: the right password is refused; enabled again: it signs in.
    let srv = crate::process::start_on(dir.path(), crate::process::free_port(), &[]).await;
    assert_eq!(hank_signs_in(&srv.base, &hank_password).await, 401);
    drop(srv);
    let out = run(cmd(dir.path()).args(["admin", "enable", "hank"]));
    assert!(out.status.success());
    let out = run(cmd(dir.path()).args(["admin", "reset", "hank"]));
    assert!(out.status.success());
    let new_password = printed_password(&out);
    let srv = crate::process::start_on(dir.path(), crate::process::free_port(), &[]).await;
    assert_eq!(
        hank_signs_in(&srv.base, &hank_password).await,
        401,
        "the old password is gone"
    );
    assert_eq!(hank_signs_in(&srv.base, &new_password).await, 200);
    // A passkey registered through the API; the command line lists it and removes it (a lost key).
    let (c, csrf) = {
        let c = client();
        let login: Value = c
            .post(format!("{}/api/v1/session", srv.base))
            .json(&json!({"username": "hank", "password": new_password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        (c, login["csrf_token"].as_str().expect("csrf").to_owned())
    };
    let start: Value = c
        .post(format!("{}/api/v1/session/passkeys/options", srv.base))
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await
        .expect("options")
        .json()
        .await
        .expect("json");
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let credential = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true)
        // The server's public URL (the binary's default): the origin WebAuthn checks.
        .do_registration(
            url::Url::parse("http://localhost:8080").expect("origin"),
            crate::oidc::soft_creation_options(start["options"].clone()),
        )
        .expect("register");
    let added = c
        .post(format!("{}/api/v1/session/passkeys", srv.base))
        .header("x-csrf-token", &csrf)
        .json(&json!({"ceremony": start["ceremony"], "credential": credential, "name": "Yubi"}))
        .send()
        .await
        .expect("add");
    assert_eq!(added.status().as_u16(), 201);
    drop(srv);
    let out = run(cmd(dir.path()).args(["admin", "passkeys", "hank"]));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.contains("\tYubi\t"), "{listed}");
    let id = listed
        .lines()
        .nth(1)
        .and_then(|l| l.split('\t').next())
        .expect("id")
        .to_owned();
    let out = run(cmd(dir.path()).args(["admin", "remove-passkey", "hank", &id]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(cmd(dir.path()).args(["admin", "passkeys", "hank"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Yubi"));
}

/// The password a command printed ("password: …").
fn printed_password(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("password: ").map(str::to_owned))
        .expect("a printed password")
}

/// The helpdesk admin `hank` signs in at the server `base`: the status.
async fn hank_signs_in(base: &str, password: &str) -> u16 {
    client()
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"username": "hank", "password": password}))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

/// Administrators sign in with passkeys (issue 26), several each. With `admin.require_passkey` a
/// password alone opens a session that can only register a passkey (everything else 403); the
/// passkey then signs in with the admin's full access, and a ceremony works once.
#[tokio::test]
async fn administrators_sign_in_with_passkeys_and_can_be_required_to() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let srv = TestServer::start_with(Db::Sqlite, |c| c.admin.require_passkey = true).await;
    let admin = sso_server::admin::accounts::create_admin(
        &srv.state.store,
        srv.clock.now_ms(),
        &Actor::cli(),
        ADMIN,
        ADMIN_PASSWORD,
    )
    .await
    .expect("admin");
    let (c, csrf) = signed_in(&srv, ADMIN, ADMIN_PASSWORD).await;
    let call =
        |client: &reqwest::Client, method: Method, path: &str, body: Option<Value>, csrf: &str| {
            let mut req = client
                .request(method, srv.url(path))
                .header("x-csrf-token", csrf);
            if let Some(b) = body {
                req = req.json(&b);
            }
            async move {
                let resp = req.send().await.expect("request");
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
    let (status, e) = call(&c, Method::GET, "/api/v1/employees", None, &csrf).await;
    assert_eq!(status, 403, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("passkey is required"),
        "{e}"
    );
    let origin = url::Url::parse(&srv.base).expect("origin");
    // Registers a passkey through `client`'s session; the authenticator and its credential id.
    let register = |client: reqwest::Client, csrf: String, name: &'static str| {
        let (origin, call) = (origin.clone(), &call);
        async move {
            let (status, start) = call(
                &client,
                Method::POST,
                "/api/v1/session/passkeys/options",
                Some(json!({})),
                &csrf,
            )
            .await;
            assert_eq!(status, 200, "{start}");
            let mut authenticator = SoftPasskey::new(true);
            let credential = authenticator
                .do_registration(
                    origin,
                    crate::oidc::soft_creation_options(start["options"].clone()),
                )
                .expect("register");
            let cred_id = credential.raw_id.to_vec();
            let (status, added) = call(
                &client,
                Method::POST,
                "/api/v1/session/passkeys",
                Some(
                    json!({"ceremony": start["ceremony"], "credential": credential, "name": name}),
                ),
                &csrf,
            )
            .await;
            assert_eq!(status, 201, "{added}");
            (authenticator, cred_id)
        }
    };
    // A passkey sign-in started in a fresh browser: the browser, the ceremony and the options
    // for the authenticator (allowing `cred_id`).
    let passkey_sign_in = |cred_id: &[u8]| {
        use base64::Engine as _;
        let browser = client();
        let allow = json!([{"type": "public-key", "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cred_id)}]);
        let (origin, call, admin_id) = (origin.clone(), &call, admin.id.clone());
        let started = async move {
            let (_, start) = call(
                &browser,
                Method::POST,
                "/api/v1/session/passkey/options",
                Some(json!({})),
                "",
            )
            .await;
            (browser, start, allow, origin, admin_id)
        };
        async move {
            let (browser, start, allow, origin, admin_id) = started.await;
            let mut options = start["options"].clone();
            options["publicKey"]["allowCredentials"] = allow;
            let options: webauthn_rs::prelude::RequestChallengeResponse =
                serde_json::from_value(options).expect("options");
            (browser, start, options, origin, admin_id)
        }
    };
    // The first passkey, from the confined password session (the way in).
    let (mut first, first_id) = register(c.clone(), csrf.clone(), "Laptop key").await;
    let (browser, start, options, origin2, admin_id) = passkey_sign_in(&first_id).await;
    let mut assertion = first.do_authentication(origin2, options).expect("assert");
    assertion.response.user_handle = Some(
        uuid::Uuid::parse_str(&admin_id)
            .expect("uuid")
            .as_bytes()
            .to_vec(),
    );
    let (status, session) = call(
        &browser,
        Method::POST,
        "/api/v1/session/passkey",
        Some(json!({"ceremony": start["ceremony"], "credential": assertion})),
        "",
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let csrf2 = session["csrf_token"].as_str().expect("csrf").to_owned();
    let (status, _) = call(&browser, Method::GET, "/api/v1/employees", None, &csrf2).await;
    assert_eq!(status, 200, "a passkey session has the admin's access");
    // The same ceremony and assertion again: refused.
    let (status, _) = call(
        &client(),
        Method::POST,
        "/api/v1/session/passkey",
        Some(json!({"ceremony": start["ceremony"], "credential": assertion})),
        "",
    )
    .await;
    assert_eq!(status, 401);
    // A second passkey, from the passkey session.
    register(browser.clone(), csrf2.clone(), "Spare key").await;
    let (_, list) = call(
        &browser,
        Method::GET,
        "/api/v1/session/passkeys",
        None,
        &csrf2,
    )
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    // A phished password cannot add a passkey to an administrator who has one.
    let (attacker, attacker_csrf) = signed_in(&srv, ADMIN, ADMIN_PASSWORD).await;
    let (status, e) = call(
        &attacker,
        Method::POST,
        "/api/v1/session/passkeys/options",
        Some(json!({})),
        &attacker_csrf,
    )
    .await;
    assert_eq!(status, 403, "{e}");
}
