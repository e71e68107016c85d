//! Push round trip on loopback: the sign-in page asks for a push (challenge created) → the phone
//! core, long-polling, receives it and verifies the server's signature → it approves with the
//! number → the sign-in page's status check completes the sign-in. Median and p99 over
//! sequential round trips. `cargo bench -p sso-server --bench push_roundtrip` (release).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mobile_core::authenticator::Authenticator;
use mobile_core::keystore::SoftwareKeyStore;
use mobile_core::protocol::{Decision, Platform};
use serde_json::{json, Value};
use sso_server::audit::Actor;
use sso_server::clock::{Clock as _, SystemClock};
use sso_server::config::Config;
use sso_server::employees::{EmployeeFields, Employees};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.public_url = base.parse().unwrap();
    config.directory.schedule_enabled = false;
    config.log.level = "warn".into();
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let email = "bench.push@example.test".to_owned();
    let fields: EmployeeFields =
        serde_json::from_value(json!({"display_name": "Bench Push", "email": email})).unwrap();
    let employee = Employees {
        store: &state.store,
    }
    .create_manual(
        &Actor::cli(),
        SystemClock.now_ms(),
        fields.validate().unwrap(),
    )
    .await
    .unwrap();
    let enrolment = sso_server::push::enrol::create(
        &state.phones(),
        &Actor::cli(),
        &employee.id.to_string(),
        None,
    )
    .await
    .unwrap();
    let serving = state.clone();
    tokio::spawn(async move {
        sso_server::server::serve(serving, listener, std::future::pending())
            .await
            .unwrap();
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let now = || SystemClock.now_ms() / 1000;
    let phone_dir = tempfile::tempdir().unwrap();
    let phone = Authenticator::new(
        Arc::new(SoftwareKeyStore::new()),
        phone_dir.path().join("a.json").display().to_string(),
        true,
    )
    .unwrap();
    let info = phone
        .parse_registration(enrolment.link.clone(), now())
        .unwrap();
    let req = phone
        .build_registration_request(info.clone(), "Bench".into(), None, Platform::Other)
        .await
        .unwrap();
    let resp = http
        .post(&req.url)
        .header("content-type", "application/json")
        .body(req.body)
        .send()
        .await
        .unwrap();
    let account = phone
        .complete_registration(info, resp.text().await.unwrap())
        .await
        .unwrap();

    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        // The phone is waiting in its long poll before the sign-in starts.
        let (p, id, h) = (phone.clone(), account.id.clone(), http.clone());
        let poller = tokio::spawn(async move {
            let poll = p
                .poll_request(id.clone(), SystemClock.now_ms() / 1000)
                .await
                .unwrap();
            let mut r = h.get(format!("{}?wait=10", poll.url));
            for x in &poll.headers {
                r = r.header(&x.name, &x.value);
            }
            let body = r.send().await.unwrap().text().await.unwrap();
            p.verify_poll_response(id, body, SystemClock.now_ms() / 1000)
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        let started: Value = http
            .post(format!("{base}/login/push"))
            .json(&json!({"request": "", "username": email}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let number = started["number"].as_u64().unwrap() as u32;
        let mut got = poller.await.unwrap();
        let c = got.remove(0);
        let answer = phone
            .answer_challenge(
                account.id.clone(),
                c,
                Decision::Approve,
                Some(number),
                now(),
            )
            .await
            .unwrap();
        let r = http
            .post(&answer.url)
            .header("content-type", "application/json")
            .body(answer.body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let st: Value = http
            .post(format!("{base}/login/push/status"))
            .json(&json!({"challenge": started["challenge"], "request": ""}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(st["state"], "approved");
        times.push(t0.elapsed());
        // Stay under the push-bombing guard (5 prompts per 10 minutes) by clearing old rows.
        let mut conn = state.store.conn().await.unwrap();
        sqlx::query("DELETE FROM push_challenge")
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "push round trip over {rounds} sign-ins (SQLite, loopback): median {:.1} ms, p99 {:.1} ms, min {:.1} ms",
        ms(times[times.len() / 2]),
        ms(times[(times.len() * 99 / 100).min(times.len() - 1)]),
        ms(times[0])
    );
}
