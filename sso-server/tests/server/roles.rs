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
