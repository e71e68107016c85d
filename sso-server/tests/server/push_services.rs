//! APNs and FCM senders against a local HTTP server that checks the requests the way Apple's
//! and Google's documentation describe them (the real services cannot be reached from here):
//! APNs provider JWT (ES256, kid, iss) and headers; FCM's OAuth JWT-bearer exchange (RS256) and
//! the HTTP v1 message. The phone (the real mobile-core) verifies the pushed challenge and
//! approves. With the push service down, the poll still gets the challenge through.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine as _;
use mobile_core::protocol::{Decision, Platform};
use reqwest::Method;
use ring::signature::{self, KeyPair as _};
use serde_json::{json, Value};
use sso_server::clock::Clock as _;

use crate::support::{call, client, eventually, Db, Phone, Registering, TestServer};

#[derive(Default)]
struct Seen {
    apns: Vec<(String, HeaderMap, Value)>,
    fcm: Vec<Value>,
    oauth: usize,
}

#[derive(Clone)]
struct Mock {
    seen: Arc<Mutex<Seen>>,
    apns_public: Vec<u8>,
    rsa_n: Vec<u8>,
    rsa_e: Vec<u8>,
    token_uri: String,
}

fn b64url(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("b64url")
}

/// Splits and checks a compact JWS; returns its claims.
fn jwt_claims(token: &str, verify: impl Fn(&[u8], &[u8]) -> bool) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(
        verify(signed.as_bytes(), &b64url(parts[2])),
        "the JWT signature verifies"
    );
    serde_json::from_slice(&b64url(parts[1])).expect("claims")
}

async fn apns(
    State(m): State<Mock>,
    Path(token): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let auth = headers["authorization"].to_str().expect("auth").to_owned();
    let jwt = auth
        .strip_prefix("bearer ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .expect("bearer provider token");
    let header: Value =
        serde_json::from_slice(&b64url(jwt.split('.').next().expect("h"))).expect("header");
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("ES256"), Some("KEY123ABCD"))
    );
    let claims = jwt_claims(jwt, |msg, sig| {
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &m.apns_public)
            .verify(msg, sig)
            .is_ok()
    });
    assert_eq!(claims["iss"], "TEAM123456");
    assert!(claims["iat"].as_i64().is_some());
    assert_eq!(headers["apns-topic"], "com.example.authenticator");
    assert_eq!(headers["apns-push-type"], "alert");
    assert_eq!(headers["apns-priority"], "10");
    assert!(
        headers["apns-expiration"]
            .to_str()
            .expect("exp")
            .parse::<i64>()
            .expect("number")
            > 0
    );
    assert!(body["aps"]["alert"]["title"].is_string());
    m.seen
        .lock()
        .expect("lock")
        .apns
        .push((token.clone(), headers, body));
    if token == "gone-token" {
        return (
            StatusCode::GONE,
            Json(json!({"reason": "Unregistered", "timestamp": 0})),
        )
            .into_response();
    }
    (StatusCode::OK, "").into_response()
}

async fn oauth(
    State(m): State<Mock>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let claims = jwt_claims(&form["assertion"], |msg, sig| {
        signature::RsaPublicKeyComponents {
            n: &m.rsa_n,
            e: &m.rsa_e,
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
        .is_ok()
    });
    assert_eq!(claims["iss"], "sso@proj.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], json!(m.token_uri));
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    m.seen.lock().expect("lock").oauth += 1;
    Json(json!({"access_token": "ya29.test-token", "expires_in": 3599, "token_type": "Bearer"}))
}

async fn fcm(
    State(m): State<Mock>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    assert_eq!(project, "proj");
    assert_eq!(headers["authorization"], "Bearer ya29.test-token");
    assert_eq!(body["message"]["android"]["priority"], "HIGH");
    assert!(
        body["message"]["data"]["challenge"].is_string(),
        "data values are strings"
    );
    m.seen.lock().expect("lock").fcm.push(body);
    Json(json!({"name": "projects/proj/messages/0:1"}))
}

/// How long a background delivery may take.
const WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Deliveries happen in the background: wait until the mock has seen what is expected.
async fn until(seen: &Arc<Mutex<Seen>>, done: impl Fn(&Seen) -> bool) {
    eventually(WAIT, "the push service to be called", || async {
        done(&seen.lock().expect("lock")).then_some(())
    })
    .await;
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

async fn phone_for(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    platform: Platform,
    token: &str,
) -> (Phone, String) {
    let email = format!("p.{}@example.test", uuid::Uuid::new_v4().simple());
    let (_, e) = call(
        admin,
        Method::POST,
        server.url("/api/v1/employees"),
        csrf,
        Some(json!({"display_name": "Push Person", "email": email})),
    )
    .await;
    let id = e["id"].as_str().expect("id").to_owned();
    let (_, enr) = call(
        admin,
        Method::POST,
        server.url(&format!("/api/v1/employees/{id}/enrolments")),
        csrf,
        None,
    )
    .await;
    let link = enr["link"].as_str().expect("link");
    let (status, body, phone) = Registering::start(
        link,
        "Phone",
        Some((token, platform)),
        server.clock.now_ms() / 1000,
    )
    .await
    .send(&client())
    .await;
    assert_eq!(status, 200, "{body}");
    (phone.expect("registered"), email)
}

async fn sign_in_started(server: &TestServer, email: &str) -> (reqwest::Client, Value) {
    let browser = client();
    let started: Value = browser
        .post(server.url("/login/push"))
        .json(&json!({"request": "", "username": email}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    (browser, started)
}

async fn approve_from_push(server: &TestServer, phone: &Phone, challenge: &Value, number: u32) {
    let now = server.clock.now_ms() / 1000;
    let c = phone
        .auth
        .verify_challenge(phone.id.clone(), challenge.to_string(), now)
        .expect("the phone verifies the pushed challenge");
    // The push says what is asked but not the number: only the sign-in page shows it.
    let members: Vec<&str> = challenge
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert!(members.iter().all(|m| !m.contains("number")), "{members:?}");
    let (status, body, _) = phone.answer(&c, Decision::Approve, Some(number), now).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn apns_and_fcm_deliver_challenges_the_phone_accepts() {
    // Apple's .p8 key (P-256, PKCS#8) and a Google service account (RSA, PKCS#8).
    let rng = ring::rand::SystemRandom::new();
    let p8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("p8");
    let apns_public = signature::EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        p8.as_ref(),
        &rng,
    )
    .expect("pair")
    .public_key()
    .as_ref()
    .to_vec();
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa");
    let rsa_der = rsa_key.to_pkcs8_der().expect("der");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let mock_base = format!("http://{}", listener.local_addr().expect("addr"));
    let mock = Mock {
        seen: Arc::default(),
        apns_public,
        rsa_n: rsa_key.n().to_bytes_be(),
        rsa_e: rsa_key.e().to_bytes_be(),
        token_uri: format!("{mock_base}/token"),
    };
    let app = Router::new()
        .route("/3/device/{token}", post(apns))
        .route("/token", post(oauth))
        .route("/v1/projects/{project}/messages:send", post(fcm))
        .with_state(mock.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("dir");
    let p8_file = dir.path().join("AuthKey.p8");
    std::fs::write(&p8_file, pem("PRIVATE KEY", p8.as_ref())).expect("write p8");
    let sa_file = dir.path().join("service-account.json");
    std::fs::write(
        &sa_file,
        json!({
            "type": "service_account", "project_id": "proj", "private_key_id": "k1",
            "private_key": pem("PRIVATE KEY", rsa_der.as_bytes()),
            "client_email": "sso@proj.iam.gserviceaccount.com",
            "token_uri": mock.token_uri,
        })
        .to_string(),
    )
    .expect("write sa");
    let server = TestServer::start_with(Db::Sqlite, |c| {
        c.push.apns = Some(
            serde_json::from_value(json!({
                "key_file": p8_file, "key_id": "KEY123ABCD", "team_id": "TEAM123456",
                "topic": "com.example.authenticator", "endpoint": mock_base,
            }))
            .expect("apns config"),
        );
        c.push.fcm = Some(
            serde_json::from_value(json!({
                "service_account_file": sa_file, "project_id": "proj", "endpoint": mock_base,
            }))
            .expect("fcm config"),
        );
    })
    .await;
    let (admin, csrf) = server.admin_client().await;

    // iPhone through APNs.
    let (iphone, ios_mail) = phone_for(&server, &admin, &csrf, Platform::Ios, "ios-token-1").await;
    let (browser, started) = sign_in_started(&server, &ios_mail).await;
    until(&mock.seen, |s| !s.apns.is_empty()).await;
    let pushed = {
        let seen = mock.seen.lock().expect("lock");
        assert_eq!(seen.apns.len(), 1, "one APNs request");
        assert_eq!(seen.apns[0].0, "ios-token-1");
        assert_eq!(
            seen.apns[0].1["apns-collapse-id"].to_str().expect("id"),
            started["challenge"].as_str().expect("id")
        );
        seen.apns[0].2["challenge"].clone()
    };
    approve_from_push(
        &server,
        &iphone,
        &pushed,
        started["number"].as_u64().expect("n") as u32,
    )
    .await;
    let st: Value = browser
        .post(server.url("/login/push/status"))
        .json(&json!({"challenge": started["challenge"], "request": ""}))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(st["state"], "approved");

    // Android through FCM (OAuth token fetched once, then reused).
    let (android, and_mail) =
        phone_for(&server, &admin, &csrf, Platform::Android, "fcm-token-1").await;
    for round in 0..2 {
        let (_, started) = sign_in_started(&server, &and_mail).await;
        until(&mock.seen, |s| s.fcm.len() > round).await;
        let pushed = {
            let seen = mock.seen.lock().expect("lock");
            assert_eq!(seen.fcm.len(), round + 1);
            assert_eq!(seen.oauth, 1, "the access token is cached");
            let m = &seen.fcm[round]["message"];
            assert_eq!(m["token"], "fcm-token-1");
            serde_json::from_str::<Value>(m["data"]["challenge"].as_str().expect("string"))
                .expect("challenge json")
        };
        approve_from_push(
            &server,
            &android,
            &pushed,
            started["number"].as_u64().expect("n") as u32,
        )
        .await;
    }

    // A token Apple says is gone is dropped; the phone still gets challenges by polling.
    let (gone, gone_mail) = phone_for(&server, &admin, &csrf, Platform::Ios, "gone-token").await;
    sign_in_started(&server, &gone_mail).await;
    until(&mock.seen, |s| s.apns.iter().any(|a| a.0 == "gone-token")).await;
    // The token is dropped right after the 410 answer (in the background): wait for it by a
    // deadline instead of a fixed sleep.
    let employee = {
        let mut conn = server.state.store.conn().await.expect("conn");
        sso_server::employees::store::find_by_email(&mut conn, &gone_mail)
            .await
            .expect("find")
            .expect("employee")
            .id
    };
    let devices = server.url(&format!("/api/v1/employees/{employee}/devices"));
    eventually(WAIT, "the gone APNs token to be dropped", || async {
        let (_, phones) = call(&admin, Method::GET, devices.clone(), &csrf, None).await;
        (phones["devices"][0]["push_token_registered"] == false).then_some(())
    })
    .await;
    let pending = gone.poll(None, server.clock.now_ms() / 1000).await;
    assert_eq!(pending.len(), 1);
}

#[tokio::test]
async fn with_the_push_service_down_the_poll_still_works() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("dir");
    let rng = ring::rand::SystemRandom::new();
    let p8 =
        signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("p8");
    let p8_file = dir.path().join("AuthKey.p8");
    std::fs::write(&p8_file, pem("PRIVATE KEY", p8.as_ref())).expect("write");
    let server = TestServer::start_with(Db::Sqlite, |c| {
        c.push.apns = Some(
            serde_json::from_value(json!({
                "key_file": p8_file, "key_id": "K", "team_id": "T", "topic": "t",
                "endpoint": format!("http://127.0.0.1:{closed}"),
            }))
            .expect("config"),
        );
    })
    .await;
    let (admin, csrf) = server.admin_client().await;
    let (phone, mail) = phone_for(&server, &admin, &csrf, Platform::Ios, "ios-token").await;
    let (browser, started) = sign_in_started(&server, &mail).await;
    assert!(
        started["challenge"].is_string(),
        "the sign-in starts although APNs is down"
    );
    // The employee opens the app: it polls, verifies and approves.
    let n = started["number"].as_u64().expect("n") as u32;
    phone.approve(n, server.clock.now_ms() / 1000).await;
    let st: Value = browser
        .post(server.url("/login/push/status"))
        .json(&json!({"challenge": started["challenge"], "request": ""}))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(st["state"], "approved");
}
