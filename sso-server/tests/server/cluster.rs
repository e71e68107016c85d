//! Issue 18: two real server processes on one PostgreSQL behind HAProxy (round robin, no sticky
//! sessions), as deployed. Through the balancer: a whole OIDC sign-in approved on the phone, with
//! its requests served by both instances; failed sign-ins counted across both; a signing key
//! rotated through one published by both; and a rolling restart of both instances (SIGTERM,
//! drain, start again) under a load of sign-ins with no failed request.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mobile_core::protocol::{ChallengePurpose, Decision};
use serde_json::{json, Value};

use crate::process::{cmd, free_port, run, start_on, terminate, Running};
use crate::support::{backends, fresh_postgres_db, Db, Registering};

const REDIRECT: &str = "http://localhost:9/callback";

struct Cluster {
    dir: tempfile::TempDir,
    ports: [u16; 2],
    servers: [Option<Running>; 2],
    haproxy: Child,
    base: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.haproxy.kill();
        for s in self.servers.iter_mut().flatten() {
            let _ = s.child.kill();
        }
    }
}

fn haproxy_available() -> bool {
    let found = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    crate::support::require("haproxy (Debian package haproxy)", found.then_some(())).is_some()
}

impl Cluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let front = free_port();
        let ports = [free_port(), free_port()];
        let base = format!("http://localhost:{front}");
        // One configuration for both: the database, the balancer's URL as the public URL (the
        // OIDC issuer), the balancer as a trusted proxy, a short drain.
        std::fs::write(
            dir.path().join("sso-server.toml"),
            format!(
                "public_url = \"{base}\"\ntrusted_proxies = [\"127.0.0.1\"]\n\
                 [database]\nurl = \"{}\"\n[log]\nlevel = \"warn\"\n\
                 [directory]\nschedule_enabled = false\n[oidc]\nsign_in_lockout_after = 3\n\
                 [instance]\ndrain_seconds = 1\n\
                 dead_after_seconds = 6\n",
                fresh_postgres_db().await
            ),
        )
        .expect("config");
        std::fs::write(
            dir.path().join("haproxy.cfg"),
            format!(
                "global\n    maxconn 1024\n\
                 defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    \
                 timeout server 60s\n    retries 3\n    option redispatch 1\n\
                 frontend sso\n    bind 127.0.0.1:{front}\n    option forwardfor\n    \
                 default_backend instances\n\
                 backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n    \
                 http-check expect status 200\n    http-response set-header X-Served-By %s\n    \
                 server a 127.0.0.1:{} check inter 200ms fall 1 rise 2\n    \
                 server b 127.0.0.1:{} check inter 200ms fall 1 rise 2\n",
                ports[0], ports[1]
            ),
        )
        .expect("haproxy config");
        let a = start_on(dir.path(), ports[0], &[]).await;
        let b = start_on(dir.path(), ports[1], &[]).await;
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log");
        let haproxy = Command::new("haproxy")
            .args(["-f", "haproxy.cfg"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("haproxy");
        let mut c = Self {
            dir,
            ports,
            servers: [Some(a), Some(b)],
            haproxy,
            base,
        };
        c.until_both_serve().await;
        c
    }

    /// Waits until the balancer sends requests to both instances.
    async fn until_both_serve(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = std::collections::BTreeSet::new();
        let log = |dir: &tempfile::TempDir| {
            std::fs::read_to_string(dir.path().join("haproxy.log")).unwrap_or_default()
        };
        while seen.len() < 2 {
            if let Ok(Some(status)) = self.haproxy.try_wait() {
                panic!("haproxy stopped ({status}): {}", log(&self.dir));
            }
            assert!(
                Instant::now() < deadline,
                "the balancer does not use both: {seen:?}; haproxy says: {}",
                log(&self.dir)
            );
            if let Ok(r) = reqwest::get(format!("{}/healthz", self.base)).await {
                if let Some(s) = r.headers().get("x-served-by") {
                    seen.insert(s.to_str().unwrap_or_default().to_owned());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to instance `i` (it drains and exits 0), then a new process on its port.
    async fn restart(&mut self, i: usize) {
        let old = self.servers[i].take().expect("running");
        assert!(terminate(old).success(), "a graceful stop exits 0");
        self.servers[i] = Some(start_on(self.dir.path(), self.ports[i], &[]).await);
        self.until_both_serve().await;
    }
}

/// A cookie-keeping client that follows no redirects and records which instance answered.
struct Browser {
    http: reqwest::Client,
    served: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: crate::support::client(),
            served: Default::default(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let resp = req.send().await.expect("request through the balancer");
        if let Some(s) = resp.headers().get("x-served-by") {
            if let Ok(mut set) = self.served.lock() {
                set.insert(s.to_str().unwrap_or_default().to_owned());
            }
        }
        resp
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = self.send(req).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

fn pkce() -> (String, String) {
    use base64::Engine as _;
    use sha2::Digest as _;
    let verifier = format!("v{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Two instances behind HAProxy on one PostgreSQL database, and what every scenario needs, all
/// made through the balancer: a signed-in admin, a confidential client, an employee with a
/// registered phone. None when PostgreSQL or HAProxy is missing (which fails in strict mode).
struct Ha {
    cluster: Cluster,
    admin: Browser,
    csrf: String,
    client_id: String,
    secret: String,
    email: String,
    employee: String,
    phone: crate::support::Phone,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Ha {
    async fn start() -> Option<Self> {
        if !backends().contains(&Db::Postgres) || !haproxy_available() {
            return None;
        }
        let cluster = Cluster::start().await;
        let base = cluster.base.clone();
        let url = |p: &str| format!("{base}{p}");
        // The admin, the web app, the employee and the phone, all through the balancer.
        let out = run(cmd(cluster.dir.path()).args(["admin", "create", "--username", "root"]));
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
        let admin = Browser::new();
        let (status, login) = admin
            .json(
                admin
                    .http
                    .post(url("/api/v1/session"))
                    .json(&json!({"username": "root", "password": password})),
            )
            .await;
        assert_eq!(status, 200, "{login}");
        let csrf = login["csrf_token"].as_str().expect("csrf").to_owned();
        let api = |method: reqwest::Method, path: &str, body: Option<Value>| {
            let mut r = admin
                .http
                .request(method, url(path))
                .header("x-csrf-token", &csrf);
            if let Some(b) = body {
                r = r.json(&b);
            }
            admin.json(r)
        };
        let (status, client) = api(
            reqwest::Method::POST,
            "/api/v1/oidc/clients",
            Some(
                json!({"name": "Wiki", "kind": "confidential", "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "client_credentials"]}),
            ),
        )
        .await;
        assert_eq!(status, 201, "{client}");
        let (client_id, secret) = (
            client["client_id"].as_str().expect("id").to_owned(),
            client["client_secret"].as_str().expect("secret").to_owned(),
        );
        let email = format!("ha.{}@example.test", uuid::Uuid::new_v4().simple());
        let (status, e) = api(
            reqwest::Method::POST,
            "/api/v1/employees",
            Some(json!({"display_name": "Hal Proxy", "email": email})),
        )
        .await;
        assert_eq!(status, 201, "{e}");
        let employee = e["id"].as_str().expect("id").to_owned();
        let (status, enrol) = api(
            reqwest::Method::POST,
            &format!("/api/v1/employees/{employee}/enrolments"),
            None,
        )
        .await;
        assert_eq!(status, 201, "{enrol}");
        // The shared phone, its registration sent through the balancer.
        let reg = Registering::start(
            enrol["link"].as_str().expect("link"),
            "HA phone",
            None,
            now(),
        )
        .await;
        let resp = admin
            .send(
                admin
                    .http
                    .post(&reg.request.url)
                    .header("content-type", "application/json")
                    .body(reg.request.body.clone()),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let registered = reg.complete(resp.text().await.expect("body")).await;

        Some(Ha {
            cluster,
            admin,
            csrf,
            client_id,
            secret,
            email,
            employee,
            phone: registered,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cluster.base)
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .admin
            .http
            .request(method, self.url(path))
            .header("x-csrf-token", &self.csrf);
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.admin.json(r).await
    }
}

#[tokio::test]
async fn two_instances_share_a_phone_sign_in() {
    let Some(ha) = Ha::start().await else {
        return;
    };
    let base = ha.cluster.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let client_id = &ha.client_id;
    let secret = &ha.secret;
    let email = &ha.email;
    let employee = &ha.employee;
    let phone = &ha.phone.auth;
    let account = &ha.phone;

    // An OIDC sign-in approved on the phone, request by request through the balancer.
    let browser = Browser::new();
    let (verifier, challenge) = pkce();
    let resp = browser
        .send(browser.http.get(url("/oauth2/authorize")).query(&[
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid email"),
            ("state", "st"),
            ("nonce", "no"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]))
        .await;
    let login_page = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let request = url::Url::parse(&url(&login_page))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.to_string())
        .expect("request");
    assert_eq!(
        browser
            .send(browser.http.get(url(&login_page)))
            .await
            .status(),
        200
    );
    let (status, started) = browser
        .json(
            browser
                .http
                .post(url("/login/push"))
                .json(&json!({"request": request, "username": email})),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let poll = phone
        .poll_request(account.id.clone(), now())
        .await
        .expect("poll");
    let mut r = browser.http.get(format!("{}?wait=10", poll.url));
    for h in &poll.headers {
        r = r.header(&h.name, &h.value);
    }
    let body = browser.send(r).await.text().await.expect("poll body");
    let [c] = <[_; 1]>::try_from(
        phone
            .verify_poll_response(account.id.clone(), body, now())
            .expect("the phone verifies"),
    )
    .expect("one challenge");
    assert_eq!(c.purpose, ChallengePurpose::SignIn);
    assert_eq!(c.client_name, "Wiki");
    let answer = phone
        .answer_challenge(
            account.id.clone(),
            c,
            Decision::Approve,
            Some(started["number"].as_u64().expect("n") as u32),
            now(),
        )
        .await
        .expect("answer");
    let (status, result) = browser
        .json(
            browser
                .http
                .post(&answer.url)
                .header("content-type", "application/json")
                .body(answer.body),
        )
        .await;
    assert_eq!((status, result["result"].as_str()), (200, Some("approved")));
    let (_, st) = browser
        .json(
            browser
                .http
                .post(url("/login/push/status"))
                .json(&json!({"challenge": started["challenge"], "request": request, "wait": 10})),
        )
        .await;
    assert_eq!(st["state"], "approved", "{st}");
    let mut next = st["redirect"].as_str().expect("redirect").to_owned();
    while !next.starts_with(REDIRECT) {
        let resp = browser.send(browser.http.get(url(&next))).await;
        assert!(resp.status().is_redirection(), "{next}: {}", resp.status());
        next = resp.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
    }
    let code = url::Url::parse(&next)
        .expect("callback")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("code");
    let (status, tokens) = browser
        .json(
            browser
                .http
                .post(url("/oauth2/token"))
                .basic_auth(client_id, Some(secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier.as_str()),
                ]),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (status, me) = browser
        .json(
            browser
                .http
                .get(url("/oauth2/userinfo"))
                .bearer_auth(tokens["access_token"].as_str().expect("at")),
        )
        .await;
    assert_eq!((status, me["sub"].as_str()), (200, Some(employee.as_str())));
    let served = browser.served.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        served.len(),
        2,
        "the flow's requests went to both instances: {served:?}"
    );
}

#[tokio::test]
async fn failed_sign_ins_lock_on_both_instances() {
    let Some(ha) = Ha::start().await else {
        return;
    };
    let base = ha.cluster.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let email = &ha.email;
    let phone = &ha.phone.auth;
    let account = &ha.phone;

    // Failed sign-ins are counted across both (the lock after 3 here): once locked, the
    // right code is refused by whichever instance checks it.
    let code_now = phone
        .offline_code(account.id.clone(), now())
        .await
        .expect("code")
        .code;
    let wrong = format!(
        "{:06}",
        (code_now.parse::<u32>().expect("digits") + 500_000) % 1_000_000
    );
    let attempt = |value: String| {
        let b = Browser::new();
        let email = email.clone();
        let login = url("/login");
        let post = url("/login/code");
        async move {
            let page = b.send(b.http.get(login)).await.text().await.expect("page");
            let csrf = crate::support::form_field(&page, "csrf_token");
            let resp = b
                .send(b.http.post(post).form(&[
                    ("csrf_token", csrf.as_str()),
                    ("request", ""),
                    ("username", email.as_str()),
                    ("code", value.as_str()),
                ]))
                .await;
            let by = resp
                .headers()
                .get("x-served-by")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (resp.status().as_u16(), by)
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt(wrong.clone()).await.0, 401);
    }
    let mut refused_by = std::collections::BTreeSet::new();
    for i in 0..8 {
        if refused_by.len() == 2 {
            break;
        }
        if i % 2 == 1 {
            // Shift the round robin so the checking request lands on the other instance.
            let _ = reqwest::get(url("/healthz")).await;
        }
        let (status, by) = attempt(code_now.clone()).await;
        assert_eq!(status, 401, "locked, on {by} too");
        refused_by.insert(by);
    }
    assert_eq!(refused_by.len(), 2, "{refused_by:?}");
}

#[tokio::test]
async fn a_rotated_key_is_published_by_both_instances() {
    let Some(ha) = Ha::start().await else {
        return;
    };
    let base = ha.cluster.base.clone();
    let url = |p: &str| format!("{base}{p}");

    // A key rotated through the balancer is published by both.
    let (status, rotated) = ha
        .api(
            reqwest::Method::POST,
            "/api/v1/oidc/keys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let kid = rotated["kid"].as_str().expect("kid").to_owned();
    // The other instance learns of it in the background (as push.rs's two-instance test
    // shows): wait by a deadline until each instance has served it.
    let jwks = Browser::new();
    let published_by = std::cell::RefCell::new(std::collections::BTreeSet::new());
    crate::support::eventually(
        Duration::from_secs(5),
        "both instances to publish the rotated key",
        || {
            let (jwks, published_by, kid) = (&jwks, &published_by, &kid);
            async move {
                let resp = jwks.send(jwks.http.get(url("/oauth2/jwks"))).await;
                let by = resp
                    .headers()
                    .get("x-served-by")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if resp.text().await.expect("jwks").contains(kid.as_str()) {
                    published_by.borrow_mut().insert(by);
                }
                (published_by.borrow().len() == 2).then_some(())
            }
        },
    )
    .await;
    assert_eq!(jwks.served.lock().map(|s| s.len()).unwrap_or(0), 2);
}

#[tokio::test]
async fn a_killed_instances_sync_is_taken_over() {
    let Some(mut ha) = Ha::start().await else {
        return;
    };
    let base = ha.cluster.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let admin = &ha.admin;
    let csrf = &ha.csrf;

    // A sync started through the balancer: both instances show its live progress; the
    // instance running it is killed (SIGKILL); once its heartbeat is stale the other takes the
    // domain, and the dead run says interrupted. The "DC" accepts and never answers.
    let hole_port = crate::support::silent_dc().await;
    let (status, domain) = ha
        .api(
            reqwest::Method::POST,
            "/api/v1/directory/domains",
            Some(crate::support::hanging_domain(hole_port)),
        )
        .await;
    assert_eq!(status, 201, "{domain}");
    let start = || {
        let r = admin
            .http
            .post(url("/api/v1/directory/sync"))
            .header("x-csrf-token", csrf.as_str())
            .json(&json!({"domain": "hang"}));
        async move {
            let resp = r.send().await.expect("sync");
            let by = resp
                .headers()
                .get("x-served-by")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let status = resp.status().as_u16();
            (
                status,
                by,
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, runner, started) = start().await;
    assert_eq!(status, 202, "{started}");
    let run_id = started["runs"][0]["run_id"]
        .as_str()
        .expect("run")
        .to_owned();
    let reader = Browser::new();
    let mut seen_on = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen_on.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "progress not shown by both: {seen_on:?}"
        );
        let resp = reader
            .send(
                admin
                    .http
                    .get(url(&format!("/api/v1/directory/runs/{run_id}")))
                    .header("x-csrf-token", csrf.as_str()),
            )
            .await;
        let by = resp
            .headers()
            .get("x-served-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let run: Value = resp.json().await.expect("run");
        if run["progress"]["phase"] == "connecting" {
            seen_on.insert(by);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = if runner == "a" { 0 } else { 1 };
    let mut dead = ha.cluster.servers[killed].take().expect("running");
    dead.child.kill().expect("SIGKILL");
    dead.child.wait().expect("reaped");
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(30);
    let retaken = loop {
        let (status, _, body) = start().await;
        if status == 202 {
            break body;
        }
        assert_eq!(status, 409, "{body}");
        assert!(Instant::now() < deadline, "the domain was never freed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "domain retaken {:?} after the instance running its sync was killed",
        killed_at.elapsed()
    );
    assert!(retaken["runs"][0]["run_id"].is_string());
    let (_, old) = ha
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/directory/runs/{run_id}"),
            None,
        )
        .await;
    assert_eq!(old["state"], "failed", "{old}");
    assert!(old["message"]
        .as_str()
        .unwrap_or("")
        .contains("interrupted"));
    ha.cluster.servers[killed] =
        Some(start_on(ha.cluster.dir.path(), ha.cluster.ports[killed], &[]).await);
    ha.cluster.until_both_serve().await;
}

#[tokio::test]
async fn a_rolling_restart_fails_no_request() {
    let Some(mut ha) = Ha::start().await else {
        return;
    };
    let base = ha.cluster.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let admin = &ha.admin;
    let client_id = &ha.client_id;
    let secret = &ha.secret;

    // A rolling restart under load: client sign-ins (client credentials) and admin reads keep
    // going through the balancer; not one fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for worker in 0..3 {
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        let (token_url, client_id, secret) =
            (url("/oauth2/token"), client_id.clone(), secret.clone());
        let list_url = url("/api/v1/employees");
        let http = admin.http.clone();
        load.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Acquire) {
                let ok = if worker == 0 {
                    http.get(&list_url)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                } else {
                    http.post(&token_url)
                        .basic_auth(&client_id, Some(&secret))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200)
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    errors.push(worker);
                }
            }
            errors
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    ha.cluster.restart(0).await;
    ha.cluster.restart(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Release);
    for l in load {
        l.await.expect("load task");
    }
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("rolling restart: {done} requests served, {failed} failed");
    assert!(done > 50, "{done}");
    assert_eq!(failed, 0, "no request failed during the rolling restart");
}
