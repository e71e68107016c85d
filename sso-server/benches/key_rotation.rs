//! Password rotations per second against a real Samba AD DC, with the key-bridge agent (emulated
//! keys) confirming each step: N users (default 1,000) in a rotation group, each with an active
//! key; one forced rotation of all of them; agents on 16 workstations apply the tasks. Prints
//! the rate, the latency of a rotation and the share of it spent in AD (the `unicodePwd` reset,
//! from the server's own histogram).
//!
//! Run with `BENCH=key_rotation scripts/bench.sh`. Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use key_bridge::{Agent, AgentConfig, EmulatedKey, EmulatedKeyConfig, KeyDevice};
use serde_json::{json, Value};
use sso_server::clock::SystemClock;
use sso_server::config::Config;

fn unicode_pwd(p: &str) -> Vec<u8> {
    format!("\"{p}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

async fn call(
    http: &reqwest::Client,
    base: &str,
    csrf: &str,
    m: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut r = http
        .request(m, format!("{base}{path}"))
        .header("x-csrf-token", csrf);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::main]
async fn main() {
    let n = common::users(1_000);
    let dc = common::Dc::from_env();
    let (url, admin, password, ca_pem) = (
        dc.url.clone(),
        dc.admin.clone(),
        dc.password.clone(),
        dc.ca_pem.clone(),
    );
    let mut ldap = dc.connect().await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let t = Instant::now();
    let user_tag = tag.clone();
    // Enabled users with a password: only active employees have keys to rotate.
    let (ou, group, _) = common::ou_group_and_users(
        &mut ldap,
        &dc,
        &format!("rot{tag}"),
        &format!("Bench Rotate {tag}"),
        &format!("benchrot{tag}"),
        n,
        move |i| {
            let tag = &user_tag;
            (
                format!("Rot User {i}"),
                vec![
                    common::user_class(),
                    common::attr("sAMAccountName", format!("r{i}{tag}")),
                    common::attr("mail", format!("rot.user{i}.{tag}@corp.example.test")),
                    common::attr("unicodePwd", unicode_pwd("Bench-Passw0rd!x")),
                    common::attr("userAccountControl", "512"),
                ],
            )
        },
    )
    .await;
    println!("created {n} AD users in {:.1} s", t.elapsed().as_secs_f64());

    // The server, on SQLite (or BENCH_DATABASE_URL), listening on a free port.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.directory.schedule_enabled = false;
    config.keys.scan_interval_minutes = 0;
    config.database.url = std::env::var("BENCH_DATABASE_URL").ok();
    // The keys' vendor: the server trusts its CA; each key below is provisioned by it.
    let vendor = key_bridge::VendorCa::generate("Bench Key Vendor").unwrap();
    let vendor_file = dir.path().join("vendor-ca.pem");
    std::fs::write(&vendor_file, vendor.cert_pem()).unwrap();
    config.keys.vendor_ca_file = Some(vendor_file);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    config.public_url = base.parse().unwrap();
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let serving = state.clone();
    tokio::spawn(async move {
        sso_server::server::serve(serving, listener, std::future::pending())
            .await
            .unwrap()
    });
    sso_server::admin::accounts::create_admin(
        &state.store,
        state.clock.now_ms(),
        &sso_server::audit::Actor::cli(),
        "bench",
        "bench password 123",
    )
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let s = call(
        &http,
        &base,
        "",
        reqwest::Method::POST,
        "/api/v1/session",
        Some(json!({"username": "bench", "password": "bench password 123"})),
    )
    .await;
    let csrf = s["csrf_token"].as_str().unwrap().to_owned();
    let d = call(&http, &base, &csrf, reqwest::Method::POST, "/api/v1/directory/domains", Some(json!({
        "name": format!("rot{tag}"), "urls": [url], "ca_pem": ca_pem, "bind_dn": admin, "bind_password": password,
        "base_dn": ou, "netbios_name": "CORP", "sync_group": group, "rotation_group": group, "max_removal_percent": 50,
    }))).await;
    let t = Instant::now();
    let r = call(
        &http,
        &base,
        &csrf,
        reqwest::Method::POST,
        "/api/v1/directory/sync",
        Some(json!({"domain": d["name"], "mode": "full"})),
    )
    .await;
    let run = r["runs"][0]["run_id"].as_str().unwrap().to_owned();
    loop {
        let v = call(
            &http,
            &base,
            &csrf,
            reqwest::Method::GET,
            &format!("/api/v1/directory/runs/{run}"),
            None,
        )
        .await;
        if v["state"] != "running" && v["state"] != "queued" {
            assert_eq!(v["state"], "succeeded", "{v}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("synced in {:.1} s", t.elapsed().as_secs_f64());

    // Keys: imported, assigned, activated (activation rotates once; that round is not timed).
    // One enrolled workstation serves every key (16 lanes of its agent below).
    let c = call(
        &http,
        &base,
        &csrf,
        reqwest::Method::POST,
        "/api/v1/workstations",
        Some(json!({"name": "bench workstation"})),
    )
    .await;
    let mut agent = Agent::new(AgentConfig {
        server: base.clone(),
        ca_pem: None,
        workstation: None,
        clock: key_bridge::system_clock(),
    })
    .unwrap();
    agent
        .enrol(c["enrolment_token"].as_str().unwrap())
        .await
        .unwrap();
    let agent = Arc::new(agent);
    let mut devices: Vec<EmulatedKey> = (0..n)
        .map(|i| {
            let mut key = EmulatedKey::in_memory(EmulatedKeyConfig {
                serial: Some(format!("ROT-{tag}-{i}")),
                ..EmulatedKeyConfig::default()
            })
            .unwrap();
            key.provision(&vendor, "Bench Key").unwrap();
            key.set_pin("2468").unwrap();
            key
        })
        .collect();
    let keys: Vec<Value> = devices
        .iter_mut()
        .map(|d| {
            let attestation = key_protocol::b64(&d.attestation_certificate().unwrap());
            json!({"serial": d.serial(), "attestation": attestation})
        })
        .collect();
    call(
        &http,
        &base,
        &csrf,
        reqwest::Method::POST,
        "/api/v1/keys",
        Some(json!({"keys": keys})),
    )
    .await;
    let inventory = call(
        &http,
        &base,
        &csrf,
        reqwest::Method::GET,
        "/api/v1/keys?state=ready",
        None,
    )
    .await;
    let mut page = 1;
    let mut employees = Vec::new();
    loop {
        let p = call(
            &http,
            &base,
            &csrf,
            reqwest::Method::GET,
            &format!("/api/v1/employees?q=rot.user&per_page=200&page={page}"),
            None,
        )
        .await;
        let items = p["items"].as_array().unwrap().clone();
        if items.is_empty() {
            break;
        }
        employees.extend(items.into_iter().filter(|e| {
            e["email"]
                .as_str()
                .unwrap_or("")
                .ends_with(&format!("{tag}@corp.example.test"))
        }));
        page += 1;
    }
    assert_eq!(employees.len(), n, "imported employees");
    let t = Instant::now();
    for (i, dev) in devices.iter_mut().enumerate() {
        let key_id = inventory
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["serial"] == json!(dev.serial()))
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let a = call(
            &http,
            &base,
            &csrf,
            reqwest::Method::POST,
            &format!("/api/v1/keys/{key_id}/assign"),
            Some(json!({"employee_id": employees[i]["id"]})),
        )
        .await;
        agent
            .activate(dev, a["activation_code"].as_str().unwrap(), "2468")
            .await
            .unwrap();
    }
    println!(
        "assigned and activated {n} keys in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // 16 workstations apply tasks until no rotation is open on the server.
    async fn open_rotations(state: &sso_server::app::AppState) -> i64 {
        let mut conn = state.store.conn().await.unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM password_rotation WHERE state IN ('awaiting_key', 'setting_directory', 'committing')",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        n
    }
    async fn drain(
        state: &sso_server::app::AppState,
        agent: Arc<Agent>,
        devices: Vec<EmulatedKey>,
    ) -> Vec<EmulatedKey> {
        const WORKSTATIONS: usize = 16;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut lanes: Vec<Vec<EmulatedKey>> = (0..WORKSTATIONS).map(|_| Vec::new()).collect();
        for (i, d) in devices.into_iter().enumerate() {
            lanes[i % WORKSTATIONS].push(d);
        }
        let mut set = tokio::task::JoinSet::new();
        for mut lane in lanes {
            let (agent, stop) = (agent.clone(), stop.clone());
            set.spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut applied = 0;
                    for d in lane.iter_mut() {
                        applied += agent.run_once(d, Duration::ZERO).await.unwrap().applied;
                    }
                    if applied == 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                lane
            });
        }
        while open_rotations(state).await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut out = Vec::new();
        while let Some(l) = set.join_next().await {
            out.extend(l.unwrap());
        }
        out
    }
    // The activations' own rotations (each activation starts one in the background), not timed;
    // a catch-up scan starts any that did not (an activation's scan may have failed).
    // Activation scans queue (a few at a time); give them until every account has a rotation.
    let waited = Instant::now();
    loop {
        let mut conn = state.store.conn().await.unwrap();
        let (started,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM password_rotation")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if started as usize >= n || waited.elapsed() > Duration::from_secs(180) {
            println!(
                "activation rotations started: {started} in {:.1} s",
                waited.elapsed().as_secs_f64()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let catchup = sso_server::keys::rotation::scan(&state.hardware_keys(), None, "catch-up", true)
        .await
        .unwrap();
    println!(
        "activation rotations: catch-up started {} more ({:?})",
        catchup.started, catchup.errors
    );
    let t = Instant::now();
    let devices = drain(&state, agent.clone(), devices).await;
    println!(
        "activation round drained in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let before = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    let ad_sum0 = metric(&before, "sso_password_directory_seconds_sum");

    // The timed round: one forced rotation of every account.
    let t = Instant::now();
    let report = sso_server::keys::rotation::scan(&state.hardware_keys(), None, "bench", true)
        .await
        .unwrap();
    assert_eq!(report.started as usize, n, "{:?}", report.errors);
    let queued = t.elapsed();
    let _ = drain(&state, agent.clone(), devices).await;
    let wall = t.elapsed();
    let after = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    let ad = metric(&after, "sso_password_directory_seconds_sum") - ad_sum0;
    let mut conn = state.store.conn().await.unwrap();
    let done: Vec<(i64, i64)> = sqlx::query_as("SELECT created_at, updated_at FROM password_rotation WHERE reason = 'bench' AND state = 'done'")
        .fetch_all(&mut *conn).await.unwrap();
    assert_eq!(done.len(), n, "all rotations done");
    let mut lat: Vec<i64> = done.iter().map(|(c, u)| u - c).collect();
    lat.sort();
    let total_lat: i64 = lat.iter().sum();
    println!("machine: {} cores; {n} rotations (key-first: write, AD reset, promote) with 16 workstations", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    println!(
        "  queued in {:.2} s; all done in {:.2} s: {:.1} rotations/s",
        queued.as_secs_f64(),
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64()
    );
    println!(
        "  rotation latency median {} ms, p99 {} ms",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    // All rotations are queued at once, so a rotation's latency is mostly waiting its turn; the
    // useful share is how much of the wall time AD calls were in flight, and how many at once.
    println!(
        "  AD (connect, bind, unicodePwd reset): {:.1} s of calls in total, {:.0} ms each on average; \
         {:.1} calls in flight on average over the {:.1} s ({:.0}% of the 16 workstations' time)",
        ad,
        ad * 1000.0 / n as f64,
        ad / wall.as_secs_f64(),
        wall.as_secs_f64(),
        100.0 * ad / (16.0 * wall.as_secs_f64()),
    );
    let _ = total_lat;
}
