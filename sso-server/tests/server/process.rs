//! The real binary: restart persistence, graceful shutdown on SIGTERM, configuration and database
//! errors with the right exit status and message.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::client;

const BIN: &str = env!("CARGO_BIN_EXE_sso-server");

/// A command in `dir` with no inherited `SSO_*` or `DATABASE_URL` (the test's own environment must
/// not leak into the server's configuration).
pub(crate) fn cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars() {
        if k.starts_with("SSO_") {
            c.env_remove(k);
        }
    }
    c
}

pub(crate) fn run(c: &mut Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run sso-server")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

pub(crate) struct Running {
    pub(crate) child: std::process::Child,
    pub(crate) base: String,
}

/// A test that fails part-way leaves no server behind (it would hold the test's output open).
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(dir: &Path) -> Running {
    start_on(dir, free_port(), &[]).await
}

/// Starts `serve` on `port` with extra `SSO_*` settings (a restart on the same port is the same
/// instance).
pub(crate) async fn start_on(dir: &Path, port: u16, env: &[(&str, &str)]) -> Running {
    let child = cmd(dir)
        .env("SSO_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client().get(format!("{base}/healthz")).send().await {
            if r.status() == StatusCode::OK {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { child, base }
}

pub(crate) fn terminate(mut r: Running) -> std::process::ExitStatus {
    let pid = r.child.id().to_string();
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = r.child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = r.child.kill();
            panic!("server did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn data_survives_a_restart_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(cmd(dir.path()).args(["admin", "create", "--username", "root"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password printed")
        .to_owned();
    assert!(password.len() >= 20);
    let key_before = std::fs::read(dir.path().join("data/master.key")).expect("key file");

    let srv = start(dir.path()).await;
    let c = client();
    let login: Value = c
        .post(format!("{}/api/v1/session", srv.base))
        .json(&json!({"username": "root", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let csrf = login["csrf_token"].as_str().expect("csrf").to_owned();
    let created: Value = c
        .post(format!("{}/api/v1/employees", srv.base))
        .header("x-csrf-token", &csrf)
        .json(&json!({"given_name": "Grace", "family_name": "Hopper", "email": "grace@navy.test"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_owned();
    let status = terminate(srv);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let srv = start(dir.path()).await;
    // The same session cookie still works: sessions, employees and the key all persisted.
    let r = c
        .get(format!("{}/api/v1/employees/{id}", srv.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.expect("json");
    assert_eq!(again, created);
    assert_eq!(
        std::fs::read(dir.path().join("data/master.key")).expect("key"),
        key_before
    );
    assert!(terminate(srv).success());
}

#[test]
fn invalid_configuration_exits_2_naming_file_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("sso-server.toml"), "listen = 5\n").expect("write");
    let out = run(cmd(dir.path()).args(["config", "check"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sso-server.toml") && err.contains("`listen`"),
        "{err}"
    );

    std::fs::write(
        dir.path().join("sso-server.toml"),
        "[admin]\nlockout_minutse = 3\n",
    )
    .expect("write");
    let out = run(cmd(dir.path()).args(["config", "check"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lockout_minutse"), "{err}");

    std::fs::remove_file(dir.path().join("sso-server.toml")).expect("rm");
    let out = run(cmd(dir.path())
        .args(["config", "check"])
        .env("SSO_DATABASE__MAX_CONNECTIONS", "lots"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("database.max_connections") && err.contains("SSO_"),
        "{err}"
    );

    let out = run(cmd(dir.path()).args(["--config", "missing.toml", "config", "check"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("missing.toml"), "{err}");

    let out = run(cmd(dir.path())
        .args(["config", "check"])
        .env("SSO_PUBLIC_URL", "ftp://x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("public_url"));

    let out = run(cmd(dir.path()).args(["config", "check"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unreachable_database_names_the_url_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let out = run(cmd(dir.path()).arg("migrate").env(
        "DATABASE_URL",
        format!("postgres://sso:hunter2-secret@127.0.0.1:{port}/sso"),
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hunter2-secret"), "password leaked: {err}");
    assert!(err.to_lowercase().contains("connect"), "{err}");
}

#[test]
fn a_different_key_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(cmd(dir.path()).arg("migrate"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = run(cmd(dir.path())
        .arg("migrate")
        .env("SSO_MASTER_KEY", other_key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("does not match"), "{err}");
    assert!(!err.contains(other_key));
}

/// Issue 18: SIGKILL in the middle of a sync (the "DC" accepts the connection and never
/// answers, so the run is surely in flight). Restarted on the same port (the same instance), the
/// server marks the run interrupted at once and accepts a new sync of the domain; before, the run
/// said `running` and every sync was refused with 409 until its five-minute lease ran out.
#[tokio::test]
async fn a_sync_killed_with_its_server_is_interrupted_and_the_restart_recovers_at_once() {
    for db in crate::support::backends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match db {
            crate::support::Db::Postgres => crate::support::fresh_postgres_db().await,
            crate::support::Db::Sqlite => String::new(),
        };
        let env: Vec<(&str, &str)> = if url.is_empty() {
            vec![]
        } else {
            vec![("SSO_DATABASE__URL", url.as_str())]
        };
        let out = run(cmd(dir.path()).envs(env.iter().copied()).args([
            "admin",
            "create",
            "--username",
            "root",
        ]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let password = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("password: "))
            .expect("password")
            .to_owned();
        let hole_port = crate::support::silent_dc().await;

        let port = free_port();
        let mut srv = start_on(dir.path(), port, &env).await;
        let c = client();
        let login: Value = c
            .post(format!("{}/api/v1/session", srv.base))
            .json(&json!({"username": "root", "password": password}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let csrf = login["csrf_token"].as_str().expect("csrf").to_owned();
        let api = |method: reqwest::Method, path: &str, body: Option<Value>| {
            let mut r = c
                .request(method, format!("http://127.0.0.1:{port}{path}"))
                .header("x-csrf-token", &csrf);
            if let Some(b) = body {
                r = r.json(&b);
            }
            async move {
                let resp = r.send().await.expect("request");
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        let (status, domain) = api(
            reqwest::Method::POST,
            "/api/v1/directory/domains",
            Some(crate::support::hanging_domain(hole_port)),
        )
        .await;
        assert_eq!(status, 201, "{db:?} {domain}");
        let start_sync = || {
            api(
                reqwest::Method::POST,
                "/api/v1/directory/sync",
                Some(json!({"domain": "hang"})),
            )
        };
        let (status, started) = start_sync().await;
        assert_eq!(status, 202, "{started}");
        let run = started["runs"][0]["run_id"]
            .as_str()
            .expect("run")
            .to_owned();
        let run_path = format!("/api/v1/directory/runs/{run}");
        assert_eq!(
            api(reqwest::Method::GET, &run_path, None).await.1["state"],
            "running"
        );
        assert_eq!(start_sync().await.0, 409, "one run per domain");

        srv.child.kill().expect("SIGKILL");
        srv.child.wait().expect("reaped");
        let srv = start_on(dir.path(), port, &env).await;
        let (_, row) = api(reqwest::Method::GET, &run_path, None).await;
        assert_eq!(row["state"], "failed", "{db:?} {row}");
        assert!(
            row["message"]
                .as_str()
                .unwrap_or("")
                .contains("interrupted"),
            "{row}"
        );
        let (status, again) = start_sync().await;
        assert_eq!(status, 202, "{db:?}: a new sync starts at once: {again}");
        assert!(terminate(srv).success());
    }
}

/// Issue 27: run from a folder without the server's data, a command that works on that data
/// refuses to make a new, empty database and names the path it would have used; `admin create`
/// in a fresh folder makes one, and says so.
#[test]
fn commands_outside_the_data_folder_say_where_they_looked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expected = dir.path().join("data").join("sso.db");
    let out = run(cmd(dir.path()).args(["client", "list"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no database at") && err.contains(&expected.display().to_string()),
        "{err}"
    );
    assert!(!expected.exists(), "nothing was created");
    let out = run(cmd(dir.path()).args(["admin", "create", "--username", "first"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("note: there was no database at"), "{err}");
    let out = run(cmd(dir.path()).args(["client", "list"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(cmd(dir.path()).args(["admin", "create", "--username", "second"]));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("note:"));
}
