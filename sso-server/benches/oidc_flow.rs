//! OIDC speed: the whole flow for a signed-in employee (authorize with the session cookie → code
//! → token with an RS256 ID token → userinfo) in flows per second with p50/p99 at concurrency 16;
//! the authorization endpoint and the token endpoint alone; and the raw RS256 signing rate of the
//! key (the floor). SQLite by default, PostgreSQL with BENCH_DATABASE_URL.
//!
//! `cargo bench -p sso-server --bench oidc_flow` (release). The load comes from the same process
//! over loopback HTTP, so client and server share the machine's two cores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;
use sso_server::audit::Actor;
use sso_server::clock::{Clock as _, SystemClock};
use sso_server::config::Config;
use sso_server::employees::{EmployeeFields, Employees};
use sso_server::oidc::clients::{ClientInput, ClientKind, Clients};
use sso_server::oidc::jws::Alg;
use tokio::net::TcpListener;

const CONCURRENCY: usize = 16;

/// HAProxy, stopped when the benchmark ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn secs() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
}

struct Ctx {
    base: String,
    cookie: String,
    client_id: String,
    secret: String,
    http: reqwest::Client,
}

const REDIRECT: &str = "http://localhost:9/cb";
const VERIFIER: &str = "bench-verifier-0123456789-0123456789-0123456789";

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

async fn authorize(c: &Ctx, challenge: &str) -> String {
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20email%20profile&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
        c.base,
        c.client_id,
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    let resp = c
        .http
        .get(url)
        .header("cookie", &c.cookie)
        .send()
        .await
        .unwrap();
    let loc = resp
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let u = url::Url::parse(&loc).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string()
}

async fn token(c: &Ctx, code: &str) -> String {
    let resp = c
        .http
        .post(format!("{}/oauth2/token", c.base))
        .basic_auth(&c.client_id, Some(&c.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["id_token"].is_string());
    v["access_token"].as_str().unwrap().to_owned()
}

async fn userinfo(c: &Ctx, at: &str) {
    let resp = c
        .http
        .get(format!("{}/oauth2/userinfo", c.base))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Runs `op` from CONCURRENCY tasks for the duration; returns (ops/s, p50, p99).
async fn load<F, Fut>(duration: Duration, op: F) -> (f64, Duration, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = ()> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..CONCURRENCY {
        let op = op.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                op(w * 1_000_000 + i).await;
                lat.push(t.elapsed());
                i += 1;
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://localhost:{port}");
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.public_url = base.parse().unwrap();
    config.directory.schedule_enabled = false;
    config.log.level = "warn".into();
    if let Ok(pg) = std::env::var("BENCH_DATABASE_URL") {
        // A database of its own, so runs never meet each other's rows.
        use sqlx::Connection as _;
        let name = format!("sso_bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&pg).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&pg).unwrap();
        url.set_path(&name);
        config.database.url = Some(url.to_string());
    }
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let now = SystemClock.now_ms();
    let fields: EmployeeFields = serde_json::from_value(serde_json::json!({
        "display_name": "Bench Employee", "given_name": "Bench", "family_name": "Employee",
        "email": format!("bench{now}@example.test"),
    }))
    .unwrap();
    let employee = Employees {
        store: &state.store,
    }
    .create_manual(&Actor::cli(), now, fields.validate().unwrap())
    .await
    .unwrap();
    let created = Clients {
        store: &state.store,
    }
    .create(
        &Actor::cli(),
        now,
        &ClientInput {
            name: "bench".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            allowed_scopes: None,
            grant_types: None,
            id_token_signed_response_alg: None,
            pkce_required: None,
            resource_server: None,
        },
    )
    .await
    .unwrap();
    let (cookie, _) = sso_server::login::session::start(&state, &employee.id.to_string(), &["pwd"])
        .await
        .unwrap();
    let ring = state.keys.ring(&state.key_ctx()).await.unwrap();
    let backend = state.store.backend().name();
    let serving = state.clone();
    let instance_config = (*state.config).clone();
    tokio::spawn(async move {
        sso_server::server::serve(serving, listener, std::future::pending())
            .await
            .unwrap();
    });
    // BENCH_HAPROXY=1 or 2: the load goes through HAProxy to one instance, or to two instances
    // on the same PostgreSQL (round robin). On two cores this shows the cost of the extra hop
    // and of the shared state, not a speed-up: the instances share the cores with the load.
    let behind = std::env::var("BENCH_HAPROXY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let mut _haproxy = None;
    let base = match behind {
        None => base,
        Some(n) => {
            let mut ports = vec![port];
            for _ in 1..n {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                ports.push(l.local_addr().unwrap().port());
                let other = sso_server::app::init(instance_config.clone(), Arc::new(SystemClock))
                    .await
                    .unwrap();
                tokio::spawn(async move {
                    sso_server::server::serve(other, l, std::future::pending())
                        .await
                        .unwrap();
                });
            }
            let front = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let servers: String = ports
                .iter()
                .enumerate()
                .map(|(i, p)| format!("    server s{i} 127.0.0.1:{p} check inter 500ms\n"))
                .collect();
            let cfg = dir.path().join("haproxy.cfg");
            std::fs::write(
                &cfg,
                format!(
                    "global\n    maxconn 4096\ndefaults\n    mode http\n    timeout connect 2s\n    \
                     timeout client 60s\n    timeout server 60s\n    option http-keep-alive\n\
                     frontend sso\n    bind 127.0.0.1:{front}\n    default_backend instances\n\
                     backend instances\n    balance roundrobin\n    option httpchk GET /readyz\n{servers}"
                ),
            )
            .unwrap();
            _haproxy = Some(KillOnDrop(
                std::process::Command::new("haproxy")
                    .arg("-f")
                    .arg(&cfg)
                    .spawn()
                    .expect("haproxy (apt-get install haproxy)"),
            ));
            let front = format!("http://localhost:{front}");
            for _ in 0..100 {
                if reqwest::get(format!("{front}/readyz"))
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Let the health checks see every instance up.
            tokio::time::sleep(Duration::from_millis(1200)).await;
            println!("through HAProxy (round robin) to {n} instance(s) on the same database");
            front
        }
    };
    let ctx = Arc::new(Ctx {
        base,
        cookie: format!("{}={}", cookie.name(), cookie.value()),
        client_id: created.client.client_id.clone(),
        secret: created.client_secret.clone().unwrap(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()
            .unwrap(),
    });
    let ch = Arc::new(challenge());

    // Floor: raw RS256 signing of an ID-token-sized payload, one core, then two threads.
    let claims = serde_json::json!({"iss": "http://localhost:8080", "sub": employee.id, "aud": ctx.client_id,
        "exp": 2_000_000_000u64, "iat": 1_700_000_000u64, "auth_time": 1_700_000_000u64, "nonce": "n",
        "email": "bench@example.test", "name": "Bench Employee", "at_hash": "77QmUPtjPfzWtF2AnpK9RQ"});
    let signer = ring.signer(Alg::RS256).unwrap();
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < Duration::from_secs(2) {
        signer.sign("JWT", &claims).unwrap();
        n += 1;
    }
    let one_core = n as f64 / t.elapsed().as_secs_f64();
    let ring2 = ring.clone();
    let claims2 = claims.clone();
    let two = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let (r, c) = (&ring2, &claims2);
                s.spawn(move || {
                    let t = Instant::now();
                    let mut n = 0u64;
                    while t.elapsed() < Duration::from_secs(2) {
                        r.signer(Alg::RS256).unwrap().sign("JWT", c).unwrap();
                        n += 1;
                    }
                    n as f64 / t.elapsed().as_secs_f64()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<f64>()
    });
    println!(
        "backend: {backend}; concurrency {CONCURRENCY}; {} s per phase",
        secs().as_secs()
    );
    println!("floor: RS256 signing {one_core:.0}/s on one core, {two:.0}/s on two threads");

    // Warm-up.
    let c = ctx.clone();
    let chw = ch.clone();
    load(Duration::from_secs(1), move |_| {
        let (c, ch) = (c.clone(), chw.clone());
        async move {
            let code = authorize(&c, &ch).await;
            let at = token(&c, &code).await;
            userinfo(&c, &at).await;
        }
    })
    .await;

    let c = ctx.clone();
    let chf = ch.clone();
    let (rate, p50, p99) = load(secs(), move |_| {
        let (c, ch) = (c.clone(), chf.clone());
        async move {
            let code = authorize(&c, &ch).await;
            let at = token(&c, &code).await;
            userinfo(&c, &at).await;
        }
    })
    .await;
    println!("whole flow (authorize → token with RS256 ID token → userinfo): {rate:.0} flows/s, p50 {}, p99 {}", ms(p50), ms(p99));

    // The authorization endpoint alone, keeping its codes for the token endpoint alone.
    let codes = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, k, cha) = (ctx.clone(), codes.clone(), ch.clone());
    let (rate, p50, p99) = load(secs() / 2, move |_| {
        let (c, k, ch) = (c.clone(), k.clone(), cha.clone());
        async move {
            let code = authorize(&c, &ch).await;
            k.lock().unwrap().push(code);
        }
    })
    .await;
    println!(
        "authorize alone: {rate:.0}/s, p50 {}, p99 {}",
        ms(p50),
        ms(p99)
    );
    let total = codes.lock().unwrap().len();
    let (c, k) = (ctx.clone(), codes.clone());
    let t = Instant::now();
    let (rate, p50, p99) = load(secs(), move |_| {
        let (c, k) = (c.clone(), k.clone());
        async move {
            let code = k.lock().unwrap().pop();
            if let Some(code) = code {
                token(&c, &code).await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    })
    .await;
    let used = total - codes.lock().unwrap().len();
    let _ = t;
    println!(
        "token endpoint alone (code exchange, RS256 ID token): {:.0}/s over {used} codes (load rate {rate:.0}/s incl. idle waits), p50 {}, p99 {}",
        used as f64 / secs().as_secs_f64(),
        ms(p50),
        ms(p99)
    );
}
