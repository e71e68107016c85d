//! Hardware keys against the real server, the real key-bridge agent (with the emulated key) and
//! the real Samba AD DC: inventory and lifecycle, activation codes, and key-first password
//! rotation with a failure injected at each step. The invariant checked throughout: the password
//! AD accepts is one the key holds.

use std::sync::Arc;
use std::time::Duration;

use key_bridge::{Agent, AgentConfig, AgentError, EmulatedKey, EmulatedKeyConfig, KeyDevice};
use key_protocol::Scope;
use reqwest::Method;
use serde_json::{json, Value};
use sso_server::clock::Clock as _;

use crate::ad::{Corner, Dc, NewUser, USER_PASSWORD};
use crate::support::{attestation_for, backends, call, eventually, inventory_line, Db, TestServer};

pub(crate) const WAIT: Duration = Duration::from_secs(2);

/// The PIN every test key is set up with (a key is activated with its PIN verified).
pub(crate) const PIN: &str = "2468";

pub(crate) fn key() -> EmulatedKey {
    let mut key = EmulatedKey::in_memory(EmulatedKeyConfig {
        serial: Some(format!(
            "EMU-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )),
        ..EmulatedKeyConfig::default()
    })
    .expect("emulated key");
    key.provision(&crate::support::vendor().ca, "Hideez Key 4")
        .expect("provision");
    key.set_pin(PIN).expect("PIN");
    key
}

pub(crate) async fn api(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (s, v) = call(admin, method, server.url(path), csrf, body).await;
    (s.as_u16(), v)
}

/// A workstation created by the admin and enrolled by the real agent, which signs with the
/// test server's clock.
pub(crate) async fn agent(server: &TestServer, admin: &reqwest::Client, csrf: &str) -> Agent {
    let (status, c) = api(
        server,
        admin,
        csrf,
        Method::POST,
        "/api/v1/workstations",
        Some(json!({"name": format!("PC-{}", &uuid::Uuid::new_v4().simple().to_string()[..4])})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let mut agent = Agent::new(AgentConfig {
        server: server.base.clone(),
        ca_pem: None,
        workstation: None,
        clock: server_clock(server),
    })
    .expect("agent");
    agent
        .enrol(c["enrolment_token"].as_str().expect("token"))
        .await
        .expect("enrol");
    agent
}

/// The agent's clock: the test server's (which tests move forward), in Unix seconds.
pub(crate) fn server_clock(server: &TestServer) -> key_bridge::Clock {
    let clock = server.clock.clone();
    Arc::new(move || u64::try_from(clock.now_ms() / 1000).unwrap_or(0))
}

/// Imports the key as its vendor's inventory names it: serial, model and factory certificate.
pub(crate) async fn import_one(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    device: &mut dyn KeyDevice,
) -> String {
    let serial = &device.serial();
    let attestation = key_protocol::b64(&device.attestation_certificate().expect("certificate"));
    let (status, r) = api(
        server,
        admin,
        csrf,
        Method::POST,
        "/api/v1/keys",
        Some(json!({"keys": [{"serial": serial, "model": "Hideez Key 4", "attestation": attestation}]})),
    )
    .await;
    assert_eq!((status, r["added"].as_u64()), (201, Some(1)), "{r}");
    let (_, list) = api(server, admin, csrf, Method::GET, "/api/v1/keys", None).await;
    list.as_array()
        .expect("keys")
        .iter()
        .find(|k| k["serial"] == json!(serial))
        .and_then(|k| k["id"].as_str())
        .expect("imported key")
        .to_owned()
}

/// A new emulated key, imported, assigned to `employee` and activated through `agent` (with its
/// PIN); returns the key and its id.
pub(crate) async fn activated_key(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    agent: &Agent,
    employee: &str,
) -> (EmulatedKey, String) {
    let mut device = key();
    let key_id = import_one(server, admin, csrf, &mut device).await;
    let code = assign(server, admin, csrf, &key_id, employee).await;
    agent
        .activate(&mut device, &code, PIN)
        .await
        .expect("activate");
    (device, key_id)
}

/// Assigns the key to the employee; returns the activation code the admin was shown.
pub(crate) async fn assign(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    key_id: &str,
    employee: &str,
) -> String {
    let (status, a) = api(
        server,
        admin,
        csrf,
        Method::POST,
        &format!("/api/v1/keys/{key_id}/assign"),
        Some(json!({"employee_id": employee})),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    a["activation_code"].as_str().expect("code").to_owned()
}

/// A new key, imported and assigned to a new manual employee: the key, its id and the
/// activation code the admin was shown.
pub(crate) async fn reserved_key(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
) -> (EmulatedKey, String, String) {
    let mut device = key();
    let key_id = import_one(server, admin, csrf, &mut device).await;
    let employee = manual_employee(server, admin, csrf).await;
    let code = assign(server, admin, csrf, &key_id, &employee).await;
    (device, key_id, code)
}

pub(crate) async fn manual_employee(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
) -> String {
    let email = format!("k.{}@example.test", uuid::Uuid::new_v4().simple());
    let (status, e) = api(
        server,
        admin,
        csrf,
        Method::POST,
        "/api/v1/employees",
        Some(json!({"display_name": "Kim Key", "email": email})),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    e["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn key_state(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    id: &str,
) -> String {
    let (_, k) = api(
        server,
        admin,
        csrf,
        Method::GET,
        &format!("/api/v1/keys/{id}"),
        None,
    )
    .await;
    k["state"].as_str().unwrap_or_default().to_owned()
}

/// Inventory, CSV import, the state machine's 409s, activation codes (shown once, wrong ones lock
/// the key), and a locked key wiped back to ready by the agent.
#[tokio::test]
async fn inventory_activation_and_lifecycle() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let (admin, csrf) = server.admin_client().await;
        let agent = agent(&server, &admin, &csrf).await;
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];

        // CSV with a header, a model column and a bad line reported by number.
        let csv = format!(
            "serial,model,attestation\n{}\nCSV-{tag}-2,,{}\nbad serial!\nCSV-{tag}-3,Hideez Key 4\n",
            inventory_line(&format!("CSV-{tag}-1"), "Hideez Key 4"),
            attestation_for(&format!("CSV-{tag}-2")),
        );
        let resp = admin
            .post(server.url("/api/v1/keys/import"))
            .header("x-csrf-token", &csrf)
            .header("content-type", "text/csv")
            .body(csv.clone())
            .send()
            .await
            .expect("import");
        assert_eq!(resp.status(), 201);
        let r: Value = resp.json().await.expect("json");
        assert_eq!(
            (r["added"].as_u64(), r["skipped"].as_u64()),
            (Some(2), Some(0)),
            "{r}"
        );
        assert_eq!(r["errors"][0]["line"], json!(4), "{r}");
        // A line without the factory certificate is named, not imported.
        assert_eq!(r["errors"][1]["line"], json!(5), "{r}");
        assert!(
            r["errors"][1]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("attestation:")),
            "{r}"
        );
        let again: Value = admin
            .post(server.url("/api/v1/keys/import"))
            .header("x-csrf-token", &csrf)
            .body(csv)
            .send()
            .await
            .expect("import")
            .json()
            .await
            .expect("json");
        assert_eq!(
            (again["added"].as_u64(), again["skipped"].as_u64()),
            (Some(0), Some(2))
        );
        let (status, e) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            "/api/v1/keys",
            Some(json!({"keys": [{"serial": "", "attestation": attestation_for("X")}]})),
        )
        .await;
        assert_eq!(
            (status, e["field"].as_str()),
            (400, Some("keys[0].serial")),
            "{e}"
        );
        let (_, ready) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            "/api/v1/keys?state=ready",
            None,
        )
        .await;
        assert!(ready.as_array().expect("list").len() >= 2);
        let (status, e) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            "/api/v1/keys?state=lost",
            None,
        )
        .await;
        assert_eq!((status, e["field"].as_str()), (400, Some("state")));

        // Invalid transitions say the state and the action.
        let mut device = key();
        let key_id = import_one(&server, &admin, &csrf, &mut device).await;
        let (status, e) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/actions"),
            Some(json!({"action": "suspend"})),
        )
        .await;
        assert_eq!(status, 409);
        assert_eq!(e["message"], "cannot suspend a key that is ready");

        // Assign: the code is shown once, never again.
        let employee = manual_employee(&server, &admin, &csrf).await;
        let (status, a) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/assign"),
            Some(json!({"employee_id": employee})),
        )
        .await;
        assert_eq!(status, 200, "{a}");
        let code = a["activation_code"].as_str().expect("code").to_owned();
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        let (_, k) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            &format!("/api/v1/keys/{key_id}"),
            None,
        )
        .await;
        assert_eq!(k["state"], "reserved");
        assert!(
            !k.to_string().contains(&code),
            "the code is not shown again"
        );
        let (status, _) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/assign"),
            Some(json!({"employee_id": employee})),
        )
        .await;
        assert_eq!(status, 409, "a reserved key cannot be assigned again");

        // Five wrong codes lock the key; the right one then no longer works.
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        for left in (0..5).rev() {
            match agent.activate(&mut device, &wrong, PIN).await {
                Err(AgentError::Refused { attempts_left, .. }) => {
                    assert_eq!(attempts_left, Some(left))
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "locked");
        assert!(matches!(
            agent.activate(&mut device, &code, PIN).await,
            Err(AgentError::Refused { status: 409, .. })
        ));
        assert!(
            !device.status().expect("status").linked,
            "the device is linked only after the server agrees"
        );

        // A locked key never activated: it has no identity (so no agent can fetch anything for
        // it) and nothing of ours on it, so the wipe returns it to stock at once.
        assert!(matches!(
            agent.run_once(&mut device, WAIT).await,
            Err(AgentError::Refused { status: 401, .. })
        ));
        let (status, _) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/actions"),
            Some(json!({"action": "wipe"})),
        )
        .await;
        assert_eq!(status, 200);
        let (_, k) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            &format!("/api/v1/keys/{key_id}"),
            None,
        )
        .await;
        assert_eq!(
            (k["state"].as_str(), k["employee_id"].as_str()),
            (Some("ready"), None),
            "{k}"
        );

        // Assigned again, activated with the new code, suspended (no tasks), withdrawn.
        let (_, a) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/assign"),
            Some(json!({"employee_id": employee})),
        )
        .await;
        agent
            .activate(
                &mut device,
                a["activation_code"].as_str().expect("code"),
                PIN,
            )
            .await
            .expect("activated");
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "active");
        assert!(device.status().expect("status").linked);
        let (_, k) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            &format!("/api/v1/keys/{key_id}"),
            None,
        )
        .await;
        assert_eq!(
            k["workstation_id"].as_str(),
            agent.workstation().map(|w| w.id.as_str()),
            "the key's page names the workstation that serves it: {k}"
        );
        for (action, state) in [
            ("suspend", "suspended"),
            ("resume", "active"),
            ("withdraw", "deactivated"),
        ] {
            let (status, k) = api(
                &server,
                &admin,
                &csrf,
                Method::POST,
                &format!("/api/v1/keys/{key_id}/actions"),
                Some(json!({"action": action, "reason": "test"})),
            )
            .await;
            assert_eq!((status, k["state"].as_str()), (200, Some(state)), "{k}");
        }
        // The withdrawn key is wiped through the agent: the confirmation is signed before the
        // wipe (a wiped key has a new identity), and the key returns to stock.
        let identity = device.public_key().expect("identity");
        let (status, _) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            &format!("/api/v1/keys/{key_id}/actions"),
            Some(json!({"action": "wipe"})),
        )
        .await;
        assert_eq!(status, 200);
        let round = agent.run_once(&mut device, WAIT).await.expect("round");
        assert_eq!(
            (round.key_state.as_str(), round.applied),
            ("deactivated", 1)
        );
        assert_ne!(device.public_key().expect("identity"), identity);
        assert!(!device.status().expect("status").linked);
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "ready");
    }
}

/// A test's AD user in the sync and rotation groups, imported, with an active key.
pub(crate) struct Rotating {
    pub(crate) server: TestServer,
    pub(crate) admin: reqwest::Client,
    pub(crate) csrf: String,
    pub(crate) corner: Corner,
    pub(crate) agent: Agent,
    pub(crate) device: EmulatedKey,
    pub(crate) key_id: String,
    pub(crate) employee: String,
    pub(crate) dn: String,
    pub(crate) domain_name: String,
    pub(crate) domain_id: String,
    pub(crate) netbios: String,
}

async fn sync_now(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    domain: &str,
    force: bool,
) {
    let (status, r) = api(
        server,
        admin,
        csrf,
        Method::POST,
        "/api/v1/directory/sync",
        Some(json!({"domain": domain, "mode": "full", "force": force})),
    )
    .await;
    assert_eq!(status, 202, "{r}");
    let run = r["runs"][0]["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("run id in {r}"))
        .to_owned();
    let path = format!("/api/v1/directory/runs/{run}");
    eventually(Duration::from_secs(10), "the sync to finish", || async {
        let (_, v) = api(server, admin, csrf, Method::GET, &path, None).await;
        match v["state"].as_str() {
            Some("succeeded") => Some(()),
            Some("running") | Some("queued") | None => None,
            Some(other) => panic!("sync {other}: {v}"),
        }
    })
    .await;
}

/// A user of the corner in its sync group and in a new rotation group.
pub(crate) struct RotationMember {
    pub(crate) rotation_group: String,
    pub(crate) sam: String,
    pub(crate) dn: String,
}

/// Adds a user (`prefix` + the corner's tag, given name `given`, an e-mail) to the corner's sync
/// group and to a new rotation group.
pub(crate) async fn rotation_member(
    corner: &mut Corner,
    prefix: &str,
    given: &str,
) -> RotationMember {
    let rotation_group = corner.add_group("Rotate").await;
    let sam = format!("{prefix}{}", &corner.tag[..8]);
    let mail = format!("{sam}@corp.example.test");
    let dn = corner
        .add_user(&NewUser {
            sam: &sam,
            given: Some(given),
            sn: Some(&format!("Key{}", &corner.tag[..4])),
            mail: Some(&mail),
            ..NewUser::default()
        })
        .await;
    let group = corner.group.clone();
    corner.add_member(&group, &dn).await;
    corner.add_member(&rotation_group, &dn).await;
    RotationMember {
        rotation_group,
        sam,
        dn,
    }
}

pub(crate) async fn rotating(db: Db) -> Option<Rotating> {
    rotating_with(db, |_| {}).await
}

/// [`rotating`] on a server with an adjusted configuration.
pub(crate) async fn rotating_with(
    db: Db,
    adjust: impl FnOnce(&mut sso_server::config::Config),
) -> Option<Rotating> {
    let dc = Dc::corp()?;
    let server = TestServer::start_with(db, adjust).await;
    let (admin, csrf) = server.admin_client().await;
    let mut corner = Corner::new(&dc).await;
    let m = rotation_member(&mut corner, "k", "Kim").await;
    let (rotation_group, sam, dn) = (m.rotation_group, m.sam, m.dn);
    let domain_name = format!("corp-{}", corner.tag);
    let mut body = corner.domain_json(&domain_name);
    body["rotation_group"] = json!(rotation_group);
    let (status, d) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        "/api/v1/directory/domains",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{d}");
    let domain_id = d["id"].as_str().expect("id").to_owned();
    sync_now(&server, &admin, &csrf, &domain_name, false).await;
    let (_, list) = api(
        &server,
        &admin,
        &csrf,
        Method::GET,
        &format!("/api/v1/employees?q={sam}"),
        None,
    )
    .await;
    let employee = list["items"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|e| e["id"].as_str())
        .unwrap_or_else(|| panic!("imported employee in {list}"))
        .to_owned();
    let agent = agent(&server, &admin, &csrf).await;
    let (device, key_id) = activated_key(&server, &admin, &csrf, &agent, &employee).await;
    let netbios = dc.netbios.to_uppercase();
    Some(Rotating {
        server,
        admin,
        csrf,
        corner,
        agent,
        device,
        key_id,
        employee,
        dn,
        domain_name,
        domain_id,
        netbios,
    })
}

impl Rotating {
    /// A new admin session (after the test clock jumped past the old one's lifetime).
    pub(crate) async fn relogin(&mut self) {
        self.admin = crate::support::client();
        self.csrf = self
            .server
            .api_login(
                &self.admin,
                crate::support::ADMIN,
                crate::support::ADMIN_PASSWORD,
            )
            .await;
    }

    pub(crate) async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        api(&self.server, &self.admin, &self.csrf, method, path, body).await
    }

    /// The latest rotation of the employee's account (waits for the account to appear).
    pub(crate) async fn rotation(&self) -> Value {
        let path = format!("/api/v1/employees/{}/domain-accounts", self.employee);
        eventually(
            Duration::from_secs(5),
            &format!("a rotation for {}", self.employee),
            || async {
                let (_, a) = self.api(Method::GET, &path, None).await;
                a[0].get("rotation").filter(|r| !r.is_null()).cloned()
            },
        )
        .await
    }

    pub(crate) async fn wait_state(&self, want: &str) -> Value {
        eventually(
            WAIT * 5,
            &format!("the rotation to reach {want}"),
            || async {
                let r = self.rotation().await;
                (r["state"] == json!(want)).then_some(r)
            },
        )
        .await
    }

    pub(crate) fn held(&mut self, name: &str) -> Option<String> {
        self.device
            .read_credential(name)
            .ok()
            .map(|c| c.password.clone())
    }

    /// The passwords on the key for the domain: current and pending.
    pub(crate) fn key_passwords(&mut self) -> Vec<String> {
        let n = self.netbios.clone();
        [self.held(&n), self.held(&format!("{n}+next"))]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The invariant: AD accepts one of the passwords the key holds.
    pub(crate) async fn key_can_sign_in(&mut self) -> bool {
        let dc = self.corner.dc.clone();
        for p in self.key_passwords() {
            if dc.binds(&self.dn, &p).await {
                return true;
            }
        }
        false
    }

    pub(crate) async fn round(&mut self) -> key_bridge::Round {
        self.agent
            .run_once(&mut self.device, WAIT)
            .await
            .expect("agent round")
    }

    pub(crate) async fn rotate(&self, body: Value) -> (u16, Value) {
        // Each rotation at its own time, so "the latest" is well defined.
        self.server.clock.advance(Duration::from_secs(1));
        self.api(
            Method::POST,
            &format!("/api/v1/employees/{}/password-rotations", self.employee),
            Some(body),
        )
        .await
    }
}

/// First activation rotates at once; after it the new password binds, the old one does not, and
/// the key holds the new one as its only credential for the domain.
#[tokio::test]
async fn activation_rotates_the_password_key_first() {
    for db in backends() {
        let Some(mut f) = rotating(db).await else {
            return;
        };
        let dc = f.corner.dc.clone();
        assert!(dc.binds(&f.dn, USER_PASSWORD).await);
        let identities = format!("/api/v1/employees/{}/identities", f.employee);
        let (_, before) = f.api(Method::GET, &identities, None).await;
        let r = f.wait_state("awaiting_key").await;
        assert_eq!(r["reason"], "activation");
        // Until the key confirms, AD keeps the old password.
        assert!(
            dc.binds(&f.dn, USER_PASSWORD).await,
            "AD is untouched before the key confirms"
        );
        let round = f.round().await;
        assert_eq!(round.applied, 1);
        f.wait_state("committing").await;
        // Now AD has the new one, which the key holds as pending.
        assert!(
            !dc.binds(&f.dn, USER_PASSWORD).await,
            "the old password stops working"
        );
        assert!(f.key_can_sign_in().await);
        f.round().await;
        let r = f.wait_state("done").await;
        assert!(r["error"].is_null(), "{r}");
        let n = f.netbios.clone();
        let new = f.held(&n).expect("the key holds the new password");
        assert!(f.held(&format!("{n}+next")).is_none());
        assert!(dc.binds(&f.dn, &new).await);
        assert_eq!(new.len(), 20);
        let login = f
            .device
            .read_credential(&n)
            .expect("credential")
            .login
            .clone();
        assert!(
            login.ends_with(&format!("\\k{}", &f.corner.tag[..8])),
            "{login}"
        );
        // The API never shows the password, and the audit has no trace of it.
        let (_, accounts) = f
            .api(
                Method::GET,
                &format!("/api/v1/employees/{}/domain-accounts", f.employee),
                None,
            )
            .await;
        assert_eq!(accounts[0]["password_version"], json!(1));
        assert!(!accounts.to_string().contains(&new));
        // The directory account shows the new password's date at once, not after a sync.
        let (_, after) = f.api(Method::GET, &identities, None).await;
        assert!(!after[0]["password_last_set"].is_null(), "{after}");
        assert_ne!(
            after[0]["password_last_set"], before[0]["password_last_set"],
            "{before} {after}"
        );
        let (_, audit) = f.api(Method::GET, "/api/v1/audit?per_page=200", None).await;
        assert!(!audit.to_string().contains(&new));

        // Due again only when older than the maximum age (28 days; Samba's maxPwdAge is 42).
        let (_, scan) = f
            .api(Method::POST, "/api/v1/keys/rotation-scan", None)
            .await;
        assert_eq!(
            (scan["accounts"].as_u64(), scan["started"].as_u64()),
            (Some(1), Some(0)),
            "{scan}"
        );
        // A domain without its rotation group keeps no password on a key: not an error.
        let other = format!("norot-{}", f.corner.tag);
        let mut body = f.corner.domain_json(&other);
        body["rotation_group"] = json!("No Such Rotation Group");
        let (status, d) = f
            .api(Method::POST, "/api/v1/directory/domains", Some(body))
            .await;
        assert_eq!(status, 201, "{d}");
        let (_, scan) = f
            .api(Method::POST, "/api/v1/keys/rotation-scan", None)
            .await;
        assert_eq!(scan["errors"], json!([]), "{scan}");
        assert_eq!(
            scan["without_rotation_group"],
            json!([format!(
                "{other}: no rotation group \"No Such Rotation Group\""
            )]),
            "{scan}"
        );
        f.server.clock.advance(Duration::from_secs(27 * 86_400));
        f.relogin().await;
        let (_, scan) = f
            .api(Method::POST, "/api/v1/keys/rotation-scan", None)
            .await;
        assert_eq!(scan["started"].as_u64(), Some(0), "{scan}");
        f.server.clock.advance(Duration::from_secs(2 * 86_400));
        f.relogin().await;
        let (_, scan) = f
            .api(Method::POST, "/api/v1/keys/rotation-scan", None)
            .await;
        assert_eq!(scan["started"].as_u64(), Some(1), "{scan}");
        let r = f.wait_state("awaiting_key").await;
        assert_eq!(r["reason"], "scheduled");
    }
}

/// Failure at each step: the key offline (AD untouched), AD refusing by policy (the key discards
/// the new password), AD unreachable and the server restarting (the new instance finishes the
/// rotation). After every step the key can still sign in.
#[tokio::test]
async fn failures_at_each_step_never_lock_the_employee_out() {
    let Some(mut f) = rotating(Db::Sqlite).await else {
        return;
    };
    let dc = f.corner.dc.clone();
    // Finish the activation rotation first.
    f.wait_state("awaiting_key").await;
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let n = f.netbios.clone();
    let first = f.held(&n).expect("password");

    // 1. The key is offline: the task waits, AD keeps the key's password.
    let (status, r) = f.rotate(json!({})).await;
    assert_eq!(status, 202, "{r}");
    f.device.set_offline(true);
    let round = f.round().await;
    assert!(round.key_unreachable);
    assert_eq!(f.rotation().await["state"], "awaiting_key");
    f.device.set_offline(false);
    assert!(dc.binds(&f.dn, &first).await && f.key_can_sign_in().await);
    // A second rotation cannot start while this one is open.
    let (status, e) = f.rotate(json!({})).await;
    assert_eq!(status, 409, "{e}");
    f.round().await;
    f.wait_state("committing").await;
    assert!(f.key_can_sign_in().await);
    f.round().await;
    f.wait_state("done").await;
    let second = f.held(&n).expect("password");
    assert_ne!(first, second);
    assert!(dc.binds(&f.dn, &second).await && !dc.binds(&f.dn, &first).await);

    // 2. AD refuses the new password by its policy: a fine-grained password policy that wants
    // 30 characters applies to this user only (generated passwords have 20).
    let pso = format!("pso-{}", f.corner.tag);
    let sam = format!("k{}", &f.corner.tag[..8]);
    dc.samba_tool(&[
        "domain",
        "passwordsettings",
        "pso",
        "create",
        &pso,
        "1",
        "--min-pwd-length=30",
    ]);
    dc.samba_tool(&["domain", "passwordsettings", "pso", "apply", &pso, &sam]);
    let (status, r) = f.rotate(json!({})).await;
    assert_eq!(status, 202, "{r}");
    f.round().await;
    let r = f.wait_state("failed").await;
    dc.samba_tool(&["domain", "passwordsettings", "pso", "delete", &pso]);
    assert!(
        r["error"].as_str().unwrap_or_default().contains("refused"),
        "{r}"
    );
    // The key is told to discard the pending password and keeps the current one.
    let round = f.round().await;
    assert_eq!(round.applied, 1, "the discard task");
    assert!(f.held(&format!("{n}+next")).is_none());
    assert_eq!(f.held(&n).as_deref(), Some(second.as_str()));
    assert!(dc.binds(&f.dn, &second).await);

    // 3. AD unreachable when the key confirms, then the server restarts: the rotation waits in
    // the database and the next instance completes it.
    let (status, d) = f
        .api(
            Method::PUT,
            &format!("/api/v1/directory/domains/{}", f.domain_id),
            Some({
                let mut b = f.corner.domain_json(&f.domain_name);
                b["urls"] = json!(["ldaps://127.0.0.1:1"]);
                b["timeout_seconds"] = json!(2);
                b
            }),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    let (status, _) = f.rotate(json!({})).await;
    assert_eq!(status, 202);
    f.round().await;
    let r = f.wait_state("setting_directory").await;
    assert!(
        r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("will retry"),
        "{r}"
    );
    assert!(
        dc.binds(&f.dn, &second).await,
        "AD still has the key's current password"
    );
    assert!(f.key_can_sign_in().await);
    let (status, _) = f
        .api(
            Method::PUT,
            &format!("/api/v1/directory/domains/{}", f.domain_id),
            Some(f.corner.domain_json(&f.domain_name)),
        )
        .await;
    assert_eq!(status, 200);
    // The process stops here; a new one on the same database picks the rotation up.
    f.server = f.server.restart().await;
    f.admin = crate::support::client();
    f.csrf = f
        .server
        .api_login(
            &f.admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    f.agent = agent(&f.server, &f.admin, &f.csrf).await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let third = f.held(&n).expect("password");
    assert!(dc.binds(&f.dn, &third).await && !dc.binds(&f.dn, &second).await);
}

/// Concurrent rotations of one employee do not interleave; the employee's own change on the key
/// only leaves AD alone; a withdrawn key gets no more tasks (its pending work is cancelled and
/// AD keeps the key's password); removing the employee from the sync group deactivates the key
/// and queues a wipe, which returns it to stock.
#[tokio::test]
async fn concurrency_withdrawal_and_leaving_the_company() {
    for db in backends() {
        let Some(mut f) = rotating(db).await else {
            return;
        };
        let dc = f.corner.dc.clone();
        f.wait_state("awaiting_key").await;
        f.round().await;
        f.wait_state("committing").await;
        f.round().await;
        f.wait_state("done").await;
        let n = f.netbios.clone();
        let current = f.held(&n).expect("password");

        // Two admins press "generate now" at once: one rotation.
        f.server.clock.advance(Duration::from_secs(1));
        let path = format!("/api/v1/employees/{}/password-rotations", f.employee);
        let (a, b) = tokio::join!(
            api(
                &f.server,
                &f.admin,
                &f.csrf,
                Method::POST,
                &path,
                Some(json!({}))
            ),
            api(
                &f.server,
                &f.admin,
                &f.csrf,
                Method::POST,
                &path,
                Some(json!({}))
            ),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [202, 409], "{a:?} {b:?}");
        let (_, pending) = f
            .api(Method::GET, &format!("/api/v1/keys/{}", f.key_id), None)
            .await;
        assert_eq!(pending["state"], "active");

        // Withdrawn while the new password waits for the key: the task is cancelled, the
        // rotation fails, the agent gets nothing, AD keeps the current password.
        let (status, k) = f
            .api(
                Method::POST,
                &format!("/api/v1/keys/{}/actions", f.key_id),
                Some(json!({"action": "withdraw", "reason": "left the project"})),
            )
            .await;
        assert_eq!(
            (status, k["state"].as_str()),
            (200, Some("deactivated")),
            "{k}"
        );
        let r = f.wait_state("failed").await;
        assert!(
            r["error"]
                .as_str()
                .unwrap_or_default()
                .contains("withdrawn"),
            "{r}"
        );
        let round = f.round().await;
        assert_eq!(
            (round.key_state.as_str(), round.applied, round.failed),
            ("deactivated", 0, 0)
        );
        assert!(f.held(&format!("{n}+next")).is_none());
        assert!(dc.binds(&f.dn, &current).await);
        let (status, _) = f.api(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(status, 409, "no rotation without an active key");

        // Wiped and assigned again, then activated: a new rotation (first activation).
        f.api(
            Method::POST,
            &format!("/api/v1/keys/{}/actions", f.key_id),
            Some(json!({"action": "wipe"})),
        )
        .await;
        let round = f.round().await;
        assert_eq!(round.applied, 1);
        assert!(!f.device.status().expect("status").linked);
        let (_, a) = f
            .api(
                Method::POST,
                &format!("/api/v1/keys/{}/assign", f.key_id),
                Some(json!({"employee_id": f.employee})),
            )
            .await;
        f.server.clock.advance(Duration::from_secs(1));
        // A wiped key has no PIN: the employee sets one before activating it again.
        f.device.set_pin(PIN).expect("PIN");
        f.agent
            .activate(
                &mut f.device,
                a["activation_code"].as_str().expect("code"),
                PIN,
            )
            .await
            .expect("activate");
        f.wait_state("awaiting_key").await;
        f.round().await;
        f.wait_state("committing").await;
        f.round().await;
        f.wait_state("done").await;
        let current = f.held(&n).expect("password");
        assert!(dc.binds(&f.dn, &current).await);

        // The employee's own change, on the key only (they changed it in AD themselves).
        let own = format!("Own-Choice-{}-42", &f.corner.tag[..6]);
        f.server.clock.advance(Duration::from_secs(1));
        f.agent
            .change_password(&mut f.device, PIN, Scope::KeyOnly, Some(&own), None)
            .await
            .expect("change");
        f.round().await;
        f.wait_state("done").await;
        assert_eq!(f.held(&n).as_deref(), Some(own.as_str()));
        assert!(
            dc.binds(&f.dn, &current).await,
            "AD unchanged by a key-only change"
        );
        // A key-only change needs the password.
        assert!(matches!(
            f.agent
                .change_password(&mut f.device, PIN, Scope::KeyOnly, None, None)
                .await,
            Err(AgentError::Refused { status: 400, .. })
        ));

        // The employee leaves the sync group: the key is deactivated and wiped.
        let group = f.corner.group.clone();
        f.corner
            .ldap
            .modify(
                &group,
                vec![ldap3::Mod::Delete(
                    "member",
                    std::collections::HashSet::from([f.dn.as_str()]),
                )],
            )
            .await
            .expect("modify")
            .success()
            .expect("remove member");
        // Its only member leaves: more than the removal guard allows, so the admin forces it.
        sync_now(&f.server, &f.admin, &f.csrf, &f.domain_name, true).await;
        let (_, k) = f
            .api(Method::GET, &format!("/api/v1/keys/{}", f.key_id), None)
            .await;
        assert_eq!(k["state"], "deactivated", "{k}");
        let round = f.round().await;
        assert_eq!(
            (round.key_state.as_str(), round.applied),
            ("deactivated", 1)
        );
        assert!(!f.device.status().expect("status").linked, "wiped");
        let (_, k) = f
            .api(Method::GET, &format!("/api/v1/keys/{}", f.key_id), None)
            .await;
        assert_eq!(
            (k["state"].as_str(), k["employee_id"].as_str()),
            (Some("ready"), None),
            "{k}"
        );
    }
}

/// A key imported before keys carried a factory certificate (an earlier release) cannot
/// activate (403 `not_genuine`, nothing counted); importing the vendor's line for it again
/// records its factory identity (reported as `certified`), and then it activates.
#[tokio::test]
async fn a_key_imported_before_attestation_is_certified_by_a_reimport() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let (admin, csrf) = server.admin_client().await;
        let agent = agent(&server, &admin, &csrf).await;
        let mut device = key();
        let serial = device.serial();
        // As the earlier release stored it: a serial and a model, no factory identity.
        {
            let mut conn = server.state.store.conn().await.expect("conn");
            sqlx::query(
                "INSERT INTO hardware_key (id, serial, model, state, created_at, updated_at) \
                 VALUES ($1, $2, 'Hideez Key 4', 'ready', 0, 0)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&serial)
            .execute(&mut *conn)
            .await
            .expect("old row");
        }
        let (_, list) = api(&server, &admin, &csrf, Method::GET, "/api/v1/keys", None).await;
        let key_id = list[0]["id"].as_str().expect("id").to_owned();
        let employee = manual_employee(&server, &admin, &csrf).await;
        let code = assign(&server, &admin, &csrf, &key_id, &employee).await;
        match agent.activate(&mut device, &code, PIN).await {
            Err(AgentError::Refused {
                status: 403,
                code: c,
                ..
            }) => assert_eq!(c, "not_genuine"),
            other => panic!("an uncertified key activated: {other:?}"),
        }
        let attestation = key_protocol::b64(&device.attestation_certificate().expect("cert"));
        let (status, r) = api(
            &server,
            &admin,
            &csrf,
            Method::POST,
            "/api/v1/keys",
            Some(json!({"keys": [{"serial": serial, "attestation": attestation}]})),
        )
        .await;
        assert_eq!(status, 201, "{r}");
        assert_eq!(
            (
                r["added"].as_u64(),
                r["skipped"].as_u64(),
                r["certified"].as_u64()
            ),
            (Some(0), Some(1), Some(1)),
            "{r}"
        );
        agent
            .activate(&mut device, &code, PIN)
            .await
            .expect("the certified key activates");
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "active");
    }
}

/// "Or e-mailed": the activation code goes to the employee's address (a real SMTP server), not
/// into the admin's answer, and it activates the key.
#[tokio::test]
async fn the_activation_code_can_be_emailed() {
    let Some(smtp) = test_support::mail::Smtp::required() else {
        return;
    };
    let server = TestServer::start_with(Db::Sqlite, |c| {
        c.mail.smtp_host = Some(smtp.host.clone());
        c.mail.smtp_port = smtp.port;
        c.mail.tls = sso_server::config::MailTls::None;
    })
    .await;
    let (admin, csrf) = server.admin_client().await;
    let agent = agent(&server, &admin, &csrf).await;
    let email = format!("k.{}@example.test", uuid::Uuid::new_v4().simple());
    let (_, e) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        "/api/v1/employees",
        Some(json!({"display_name": "Kim Mail", "email": email})),
    )
    .await;
    let employee = e["id"].as_str().expect("id").to_owned();
    let mut device = key();
    let key_id = import_one(&server, &admin, &csrf, &mut device).await;
    let (status, a) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        &format!("/api/v1/keys/{key_id}/assign"),
        Some(json!({"employee_id": employee, "email": true})),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert!(a.get("activation_code").is_none(), "{a}");
    assert_eq!(a["emailed_to"], json!(email));
    let mail = smtp.wait_for(&email, &device.serial()).await;
    // The first 6-digit number after the words, in the text part (headers hold other numbers).
    let code = mail
        .find("activation code:")
        .and_then(|at| {
            mail[at..]
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(str::to_owned)
        })
        .expect("the activation code arrived by e-mail");
    agent
        .activate(&mut device, &code, PIN)
        .await
        .expect("activated with the mailed code");
    // Without an address (or without SMTP) the request names the field.
    let (_, e) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        "/api/v1/employees",
        Some(json!({"display_name": "No Mail"})),
    )
    .await;
    let mut other = key();
    let other_id = import_one(&server, &admin, &csrf, &mut other).await;
    let (status, err) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        &format!("/api/v1/keys/{other_id}/assign"),
        Some(json!({"employee_id": e["id"], "email": true})),
    )
    .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("email")),
        "{err}"
    );
}

/// The console's employee page: the account kept on the key with its password version and latest
/// rotation (never the password); "Set this password" refuses a weak one next to the field and
/// then stores a good one key-first; "Rotate now" starts a generated one.
#[tokio::test]
async fn the_console_shows_and_starts_rotations() {
    let Some(mut f) = rotating(Db::Sqlite).await else {
        return;
    };
    let dc = f.corner.dc.clone();
    f.wait_state("awaiting_key").await;
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let n = f.netbios.clone();
    let first = f.held(&n).expect("password");
    let page_url = f.server.url(&format!("/admin/employees/{}", f.employee));
    let page = f
        .admin
        .get(&page_url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains(&f.domain_name), "{page}");
    assert!(
        page.contains(r#"<td data-label="Password version">1</td>"#),
        "{page}"
    );
    assert!(page.contains(r#"<span class="state state-done">done</span>"#));
    assert!(page.contains(&f.key_id), "the employee's key");
    assert!(!page.contains(&first), "never the password");

    let (admin, csrf) = (f.admin.clone(), f.csrf.clone());
    let rotate_url = f.server.url(&format!(
        "/admin/employees/{}/password-rotations",
        f.employee
    ));
    let post = |fields: Vec<(&'static str, String)>| {
        let mut fields = fields;
        fields.push(("csrf_token", csrf.clone()));
        admin.post(&rotate_url).form(&fields).send()
    };
    let r = post(vec![
        ("mode", "set".into()),
        ("password", "weak-password".into()),
    ])
    .await
    .expect("post");
    assert_eq!(r.status(), 400);
    let html = r.text().await.expect("text");
    assert!(
        html.contains(r#"<p class="field-error" id="f-password-error">"#),
        "{html}"
    );
    assert!(
        !html.contains("weak-password"),
        "a password is never echoed"
    );

    f.server.clock.advance(Duration::from_secs(1));
    let chosen = "Chosen-Passw0rd-9x";
    let r = post(vec![("mode", "set".into()), ("password", chosen.into())])
        .await
        .expect("post");
    assert_eq!(r.status(), 303);
    let page = f
        .admin
        .get(&page_url)
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains("Password rotation started for 1 account"),
        "{page}"
    );
    assert!(!page.contains(chosen));
    f.wait_state("awaiting_key").await;
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    assert_eq!(f.held(&n).as_deref(), Some(chosen), "the key holds it");
    assert!(dc.binds(&f.dn, chosen).await, "and AD has it");

    f.server.clock.advance(Duration::from_secs(1));
    let r = post(vec![("mode", "generate".into())]).await.expect("post");
    assert_eq!(r.status(), 303);
    let r = f.wait_state("awaiting_key").await;
    assert_eq!(r["reason"], "admin");
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let generated = f.held(&n).expect("password");
    assert_ne!(generated, chosen);
    assert!(f.key_can_sign_in().await);
}
