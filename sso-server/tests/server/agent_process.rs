//! The hardware path as it ships: the real `sso-server` and `key-bridge` binaries as processes,
//! against the real Samba AD DC, on SQLite and PostgreSQL. The agent is fed the way a person
//! feeds it: secrets (enrolment token, activation code, PIN, a new password) as lines of its
//! standard input, never arguments or variables; its files are the ones it writes itself.
//!
//! One employee's whole life with a key: the workstation enrols, the vendor's key is provisioned
//! and imported, assigned and activated; `key-bridge run` (PIN given once) applies the first
//! rotation, a scheduled one, the admin's "generate", the employee's own changes (key and AD,
//! key only); then the employee leaves and the key is wiped back to `ready`. After each
//! rotation the key's password binds to AD and the previous one does not.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use key_bridge::{EmulatedKey, KeyDevice as _};
use reqwest::Method;
use serde_json::{json, Value};

use crate::ad::{unicode_pwd, Corner, Dc, USER_PASSWORD};
use crate::keys::{rotation_member, RotationMember};
use crate::process::{cmd, free_port, start_on, terminate, Running};
use crate::support::{backends, client, eventually, fresh_postgres_db, Db};

const PIN: &str = "81726354";
const WAIT: Duration = Duration::from_secs(30);

/// The `key-bridge` binary beside this test's `sso-server` (built by `cargo test --workspace`;
/// built here when only this package's tests run).
pub(crate) fn key_bridge_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_sso-server")).with_file_name("key-bridge");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "key-bridge", "--bin", "key-bridge"])
            .status()
            .expect("cargo build");
        assert!(ok.success(), "building key-bridge failed");
    }
    bin
}

/// Runs `command` with `lines` on its standard input (one secret per line, as a person types
/// them at the prompts); returns its output.
pub(crate) fn feed(command: &mut Command, lines: &[&str]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for l in lines {
            writeln!(stdin, "{l}").expect("write");
        }
    }
    child.wait_with_output().expect("wait")
}

pub(crate) fn succeeded(what: &str, out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The server, its admin session, the DC corner with the employee, and the agent's folder.
struct Shipped {
    dir: tempfile::TempDir,
    db: Db,
    db_url: Option<String>,
    port: u16,
    server: Option<Running>,
    base: String,
    admin: reqwest::Client,
    csrf: String,
    dc: Dc,
    corner: Corner,
    dn: String,
    employee: String,
    domain_name: String,
    serial: String,
}

impl Shipped {
    fn server_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "SSO_KEYS__VENDOR_CA_FILE".to_owned(),
                self.dir.path().join("vendor-ca.pem").display().to_string(),
            ),
            // The test syncs when it means to (a sync would refresh pwdLastSet).
            ("SSO_DIRECTORY__SCHEDULE_ENABLED".into(), "false".into()),
            ("SSO_KEYS__RETRY_INTERVAL_SECONDS".into(), "1".into()),
        ];
        if let Some(url) = &self.db_url {
            env.push(("DATABASE_URL".into(), url.clone()));
        }
        env
    }

    async fn start_server(&mut self) {
        let env = self.server_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.server = Some(start_on(self.dir.path(), self.port, &env).await);
    }

    fn stop_server(&mut self) {
        let server = self.server.take().expect("running");
        assert!(terminate(server).success(), "the server stops on SIGTERM");
    }

    /// `key-bridge` in the agent's folder, configured as the README says (variables for the
    /// settings, none for secrets).
    fn bridge(&self) -> Command {
        let mut c = Command::new(key_bridge_bin());
        c.current_dir(self.dir.path())
            .env("KEY_BRIDGE_SERVER", &self.base)
            .env("KEY_BRIDGE_WORKSTATION_FILE", "ws.bin")
            .env("KEY_BRIDGE_KEY_FILE", "key.bin")
            .env("KEY_BRIDGE_STORAGE_KEY_FILE", "storage.key")
            .env("KEY_BRIDGE_KEY_SERIAL", &self.serial);
        c
    }

    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .admin
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The employee's account as the admin API shows it.
    async fn account(&self) -> Value {
        let (_, a) = self
            .api(
                Method::GET,
                &format!("/api/v1/employees/{}/domain-accounts", self.employee),
                None,
            )
            .await;
        a[0].clone()
    }

    /// Waits for a rotation other than `previous` to be done (`expected`: its reason).
    async fn rotation_done(&self, previous: &Value, reason: &str) -> Value {
        eventually(WAIT, &format!("a {reason} rotation to be done"), || async {
            let r = self.account().await["rotation"].clone();
            if r["id"] == *previous || r.is_null() {
                return None;
            }
            assert_ne!(r["state"], "failed", "{r}");
            (r["state"] == "done").then_some(r)
        })
        .await
    }

    /// The password the key holds for the domain: the key file opened as the agent leaves it,
    /// unlocked with the PIN (nothing is written).
    fn held(&self) -> String {
        let storage = key_bridge::secrets::storage_key(&self.dir.path().join("storage.key"))
            .expect("storage key");
        let mut key = EmulatedKey::open(&self.dir.path().join("key.bin"), &storage).expect("key");
        key.verify_pin(PIN).expect("PIN");
        key.read_credential(&self.dc.netbios.to_uppercase())
            .expect("the domain's credential")
            .password
            .clone()
    }

    /// After a rotation: the key's password binds, `old` does not; returns the new one.
    async fn key_password_binds_and(&self, old: &str) -> String {
        let new = self.held();
        assert_ne!(new, old, "the password changed");
        assert!(
            self.dc.binds(&self.dn, &new).await,
            "AD takes the key's password"
        );
        assert!(
            !self.dc.binds(&self.dn, old).await,
            "AD refuses the old one"
        );
        new
    }

    /// Ages the account's password by 30 days in the database (the server is stopped): what the
    /// calendar does between two scheduled scans.
    async fn age_the_password(&self) {
        let month_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_millis() as i64
            - 30 * 86_400_000;
        let statements = [
            "UPDATE domain_account SET last_rotated_at = $1 WHERE employee_id = $2",
            "UPDATE directory_identity SET pwd_last_set = NULL WHERE employee_id = $2 AND $1 = $1",
        ];
        use sqlx::Connection as _;
        sqlx::any::install_default_drivers();
        let url = match self.db {
            Db::Sqlite => format!("sqlite://{}", self.dir.path().join("data/sso.db").display()),
            Db::Postgres => self.db_url.clone().expect("url"),
        };
        let mut c = sqlx::AnyConnection::connect(&url).await.expect("database");
        for s in statements {
            sqlx::query(s)
                .bind(month_ago)
                .bind(&self.employee)
                .execute(&mut c)
                .await
                .expect("age");
        }
    }
}

/// The server started from its binary with an admin, the vendor CA it trusts, and an employee
/// imported from Samba in a rotation group. `None` without a DC (skipped outside the test
/// command).
async fn shipped(db: Db) -> Option<Shipped> {
    shipped_with(db, true).await
}

/// [`shipped`], with the vendor CA made here (`vendor`) or left to the test.
async fn shipped_with(db: Db, vendor: bool) -> Option<Shipped> {
    let dc = Dc::corp()?;
    let dir = tempfile::tempdir().expect("dir");
    let db_url = match db {
        Db::Sqlite => None,
        Db::Postgres => Some(fresh_postgres_db().await),
    };
    // The vendor's CA (what a real vendor keeps; the server trusts its certificate).
    if vendor {
        let out = feed(
            Command::new(key_bridge_bin())
                .current_dir(dir.path())
                .args([
                    "vendor-ca",
                    "--cert",
                    "vendor-ca.pem",
                    "--key",
                    "vendor-ca.key",
                ]),
            &[],
        );
        succeeded("key-bridge vendor-ca", &out);
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut corner = Corner::new(&dc).await;
    let RotationMember {
        rotation_group,
        sam,
        dn,
    } = rotation_member(&mut corner, "p", "Pat").await;
    let mut s = Shipped {
        serial: format!("EMU-{}", corner.tag.to_uppercase()),
        dir,
        db,
        db_url,
        port,
        server: None,
        base,
        admin: client(),
        csrf: String::new(),
        dc: dc.clone(),
        corner,
        dn,
        employee: String::new(),
        domain_name: String::new(),
    };
    // The first administrator, from the command line, password on standard input.
    let mut admin = cmd(s.dir.path());
    for (k, v) in s.server_env() {
        admin.env(k, v);
    }
    let out = feed(
        admin.args(["admin", "create", "--username", "admin", "--password-stdin"]),
        &["Pr0cess-Admin-Passw0rd"],
    );
    succeeded("sso-server admin create", &out);
    s.start_server().await;
    let login: Value = s
        .admin
        .post(format!("{}/api/v1/session", s.base))
        .json(&json!({"username": "admin", "password": "Pr0cess-Admin-Passw0rd"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    s.csrf = login["csrf_token"].as_str().expect("csrf").to_owned();

    s.domain_name = format!("corp-{}", s.corner.tag);
    let mut body = s.corner.domain_json(&s.domain_name);
    body["rotation_group"] = json!(rotation_group);
    let (status, d) = s
        .api(Method::POST, "/api/v1/directory/domains", Some(body))
        .await;
    assert_eq!(status, 201, "{d}");
    s.sync(false).await;
    let (_, list) = s
        .api(Method::GET, &format!("/api/v1/employees?q={sam}"), None)
        .await;
    s.employee = list["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("imported employee in {list}"))
        .to_owned();
    Some(s)
}

impl Shipped {
    async fn sync(&self, force: bool) {
        let (status, r) = self
            .api(
                Method::POST,
                "/api/v1/directory/sync",
                Some(json!({"domain": self.domain_name, "mode": "full", "force": force})),
            )
            .await;
        assert_eq!(status, 202, "{r}");
        let path = format!(
            "/api/v1/directory/runs/{}",
            r["runs"][0]["run_id"].as_str().expect("run id")
        );
        eventually(WAIT, "the sync to finish", || async {
            let (_, v) = self.api(Method::GET, &path, None).await;
            match v["state"].as_str() {
                Some("succeeded") => Some(()),
                Some("running") | Some("queued") | None => None,
                Some(other) => panic!("sync {other}: {v}"),
            }
        })
        .await;
    }

    /// The vendor's inventory `csv` (one key) imported, the key assigned to the employee: its
    /// id and the activation code.
    async fn import_and_assign(&self, csv: &str) -> (String, String) {
        let r: Value = self
            .admin
            .post(format!("{}/api/v1/keys/import", self.base))
            .header("x-csrf-token", &self.csrf)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("import")
            .json()
            .await
            .expect("json");
        assert_eq!(r["added"], 1, "{r}");
        let (_, keys) = self.api(Method::GET, "/api/v1/keys", None).await;
        let key_id = keys[0]["id"].as_str().expect("key").to_owned();
        let (status, a) = self
            .api(
                Method::POST,
                &format!("/api/v1/keys/{key_id}/assign"),
                Some(json!({"employee_id": self.employee})),
            )
            .await;
        assert_eq!(status, 200, "{a}");
        (
            key_id,
            a["activation_code"].as_str().expect("code").to_owned(),
        )
    }

    /// The run process: PIN on its standard input once; its output in `run.log`.
    fn start_agent(&self) -> Child {
        let log = std::fs::File::create(self.dir.path().join("run.log")).expect("log");
        let mut child = self
            .bridge()
            .arg("run")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("key-bridge run");
        writeln!(child.stdin.take().expect("stdin"), "{PIN}").expect("PIN");
        child
    }
}

#[tokio::test]
async fn the_shipped_agent_keeps_the_domain_password_on_the_key() {
    for db in backends() {
        let Some(mut s) = shipped(db).await else {
            return;
        };
        // The admin creates the workstation; the agent enrols with its one-time token.
        let (status, ws) = s
            .api(
                Method::POST,
                "/api/v1/workstations",
                Some(json!({"name": format!("PC-{}", &s.corner.tag[..4])})),
            )
            .await;
        assert_eq!(status, 201, "{ws}");
        let token = ws["enrolment_token"].as_str().expect("token");
        let out = feed(s.bridge().arg("enrol"), &[token]);
        assert!(succeeded("enrol", &out).contains("enrolled"));

        // The factory provisions the key; the vendor's inventory line is imported.
        let out = feed(
            s.bridge().args([
                "provision",
                "--vendor-cert",
                "vendor-ca.pem",
                "--vendor-key",
                "vendor-ca.key",
                "--model",
                "Hideez Key 4",
            ]),
            &[],
        );
        let line = succeeded("provision", &out).trim().to_owned();
        assert!(
            line.starts_with(&format!("{},Hideez Key 4,", s.serial)),
            "{line}"
        );
        let out = feed(s.bridge().arg("set-pin"), &[PIN]);
        succeeded("set-pin", &out);

        // Imported and assigned, then activated at the workstation: the code, then the PIN.
        let (key_id, code) = s
            .import_and_assign(&format!("serial,model,attestation\n{line}\n"))
            .await;
        let out = feed(s.bridge().arg("activate"), &[&code, PIN]);
        assert!(succeeded("activate", &out).contains("activated"));

        // The agent runs (PIN once) and applies the first rotation.
        let mut agent = s.start_agent();
        let first = s.rotation_done(&Value::Null, "activation").await;
        assert_eq!(first["reason"], "activation");
        let mut current = s.key_password_binds_and(USER_PASSWORD).await;

        // A scheduled rotation: a month later, the server's scan at start finds it due.
        s.stop_server();
        s.age_the_password().await;
        s.start_server().await;
        let scheduled = s.rotation_done(&first["id"], "scheduled").await;
        assert_eq!(scheduled["reason"], "scheduled");
        current = s.key_password_binds_and(&current).await;

        // The admin's "generate now".
        let (status, r) = s
            .api(
                Method::POST,
                &format!("/api/v1/employees/{}/password-rotations", s.employee),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 202, "{r}");
        let admin = s.rotation_done(&scheduled["id"], "admin").await;
        assert_eq!(admin["reason"], "admin");
        current = s.key_password_binds_and(&current).await;

        // The employee's own change, on the key and in AD: the PIN at the prompt.
        let out = feed(s.bridge().arg("change-password"), &[PIN]);
        assert!(succeeded("change-password", &out).contains("queued"));
        let own = s.rotation_done(&admin["id"], "employee").await;
        assert_eq!(own["scope"], "key_and_directory");
        current = s.key_password_binds_and(&current).await;

        // The employee changed it in AD themselves; the key is told (PIN, then the password).
        let typed = format!("Chosen-By-Hand-{}-7q", &s.corner.tag[..6]);
        let mut ldap = s.dc.connect().await;
        ldap.modify(
            &s.dn,
            vec![ldap3::Mod::Replace(
                b"unicodePwd".to_vec(),
                std::collections::HashSet::from([unicode_pwd(&typed)]),
            )],
        )
        .await
        .expect("modify")
        .success()
        .expect("set the password in AD");
        let out = feed(
            s.bridge().args(["change-password", "--key-only"]),
            &[PIN, &typed],
        );
        succeeded("change-password --key-only", &out);
        let key_only = s.rotation_done(&own["id"], "employee").await;
        assert_eq!(key_only["scope"], "key_only");
        assert_eq!(s.key_password_binds_and(&current).await, typed);

        // The employee leaves the sync group: the key is deactivated, wiped, ready again.
        let group = s.corner.group.clone();
        let dn = s.dn.clone();
        s.corner.remove_member(&group, &dn).await;
        s.sync(true).await;
        eventually(WAIT, "the key to be wiped and ready", || async {
            let (_, k) = s
                .api(Method::GET, &format!("/api/v1/keys/{key_id}"), None)
                .await;
            (k["state"] == "ready").then_some(())
        })
        .await;
        let _ = agent.kill();
        let _ = agent.wait();
        let out = feed(s.bridge().arg("status"), &[]);
        let status = succeeded("status", &out);
        assert!(status.contains("linked false"), "{status}");
        assert!(status.contains("provisioned true"), "{status}");
        let log = std::fs::read_to_string(s.dir.path().join("run.log")).unwrap_or_default();
        assert!(log.contains("unlocked"), "{log}");
        s.stop_server();
    }
}

/// The fenced `sh` block after `<!-- readme-test: NAME -->` in the README, as written there.
fn readme_block(name: &str) -> String {
    let readme = include_str!("../../../README.md");
    let marker = format!("<!-- readme-test: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"))..];
    let body = &after[after.find("```sh\n").expect("a sh block") + 6..];
    body[..body.find("```").expect("the block's end")].to_owned()
}

/// `bash -e` running README blocks in the agent's folder, with `key-bridge` on the PATH and
/// the server's URL set as the README says; its own process group, so the test can stop it and
/// what it started.
fn readme_shell(s: &Shipped, blocks: &[&str]) -> Command {
    use std::os::unix::process::CommandExt as _;
    let script: String = blocks.iter().map(|b| readme_block(b)).collect();
    let bin_dir = key_bridge_bin().parent().expect("dir").to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.current_dir(s.dir.path())
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        .env("KEY_BRIDGE_SERVER", &s.base)
        .process_group(0);
    for var in [
        "KEY_BRIDGE_WORKSTATION_FILE",
        "KEY_BRIDGE_KEY_FILE",
        "KEY_BRIDGE_STORAGE_KEY_FILE",
        "KEY_BRIDGE_KEY_SERIAL",
        "KEY_BRIDGE_CA_FILE",
    ] {
        c.env_remove(var);
    }
    c
}

/// The README's agent section, command by command as written, fed at its prompts: the
/// emulated key's vendor and provisioning, then enrol, activate and run; the first rotation puts
/// a password on the key that AD takes. The README cannot drift from what ships.
#[tokio::test]
async fn the_readme_agent_recipe_runs_verbatim() {
    let Some(mut s) = shipped_with(Db::Sqlite, false).await else {
        return;
    };
    let out = feed(
        &mut readme_shell(&s, &["agent-settings", "emulated-key"]),
        &[PIN],
    );
    succeeded("the README's emulated key", &out);
    let inventory = std::fs::read_to_string(s.dir.path().join("inventory.csv")).expect("csv");
    let (_, code) = s.import_and_assign(&inventory).await;
    let (_, keys) = s.api(Method::GET, "/api/v1/keys", None).await;
    assert_eq!(keys[0]["serial"], "EMU-0001", "{keys}");
    let (_, ws) = s
        .api(
            Method::POST,
            "/api/v1/workstations",
            Some(json!({"name": "PC-0413"})),
        )
        .await;
    let token = ws["enrolment_token"].as_str().expect("token").to_owned();

    let log = std::fs::File::create(s.dir.path().join("readme.log")).expect("log");
    let mut shell = readme_shell(&s, &["agent-settings", "agent"])
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("bash");
    {
        let mut stdin = shell.stdin.take().expect("stdin");
        for line in [token.as_str(), code.as_str(), PIN, PIN] {
            writeln!(stdin, "{line}").expect("write");
        }
    }
    let first = s.rotation_done(&Value::Null, "activation").await;
    assert_eq!(first["reason"], "activation");
    s.serial = "EMU-0001".into();
    s.key_password_binds_and(USER_PASSWORD).await;
    let pgid = shell.id().to_string();
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pgid}")])
        .status();
    let _ = shell.wait();
    let log = std::fs::read_to_string(s.dir.path().join("readme.log")).unwrap_or_default();
    assert!(
        log.contains("enrolled") && log.contains("activated"),
        "{log}"
    );
    s.stop_server();
}
