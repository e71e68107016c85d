//! The phone authenticator against the real server, with the real phone core (`mobile-core`,
//! software key store) as the phone: enrolment by QR link, registration, sign-in challenges
//! fetched by the poll, number matching, denial, fraud, expiry, replay.

use std::time::Duration;

use mobile_core::protocol::{Challenge, ChallengePurpose, Decision};
use reqwest::Method;
use serde_json::{json, Value};
use sso_server::clock::Clock as _;

use crate::support::{
    backends, call, client, eventually, form_field, registration_link, Db, Phone, Registering,
    TestServer,
};

const REDIRECT: &str = "http://localhost:9/callback";
/// The PKCE verifier of every sign-in these tests start (clients require PKCE, RFC 9700).
const VERIFIER: &str = "push-tests-pkce-verifier-0123456789abcdefghijklmnop";

fn pkce_challenge() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
}

fn now_unix(server: &TestServer) -> i64 {
    server.clock.now_ms() / 1000
}

struct Setup {
    server: TestServer,
    admin: reqwest::Client,
    csrf: String,
    employee_id: String,
    email: String,
    client_id: String,
    secret: String,
}

async fn setup(db: Db) -> Setup {
    setup_with(db, |_| {}).await
}

async fn setup_with(db: Db, adjust: impl FnOnce(&mut sso_server::config::Config)) -> Setup {
    let server = TestServer::start_with(db, adjust).await;
    let (admin, csrf) = server.admin_client().await;
    let email = format!("pia.{}@example.test", uuid::Uuid::new_v4().simple());
    let (status, e) = call(
        &admin,
        Method::POST,
        server.url("/api/v1/employees"),
        &csrf,
        Some(json!({"display_name": "Pia Phone", "email": email})),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    let (status, c) = call(
        &admin,
        Method::POST,
        server.url("/api/v1/oidc/clients"),
        &csrf,
        Some(json!({"name": "Payroll", "kind": "confidential", "redirect_uris": [REDIRECT]})),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    Setup {
        employee_id: e["id"].as_str().expect("id").to_owned(),
        email,
        client_id: c["client_id"].as_str().expect("id").to_owned(),
        secret: c["client_secret"].as_str().expect("secret").to_owned(),
        server,
        admin,
        csrf,
    }
}

async fn enrolment_link(s: &Setup) -> String {
    let (status, body) = call(
        &s.admin,
        Method::POST,
        s.server
            .url(&format!("/api/v1/employees/{}/enrolments", s.employee_id)),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["qr_svg"].as_str().unwrap_or("").starts_with("<?xml")
            || body["qr_svg"].as_str().unwrap_or("").contains("<svg")
    );
    body["link"].as_str().expect("link").to_owned()
}

async fn register(s: &Setup, link: &str) -> (reqwest::StatusCode, Value, Option<Phone>) {
    let (status, body, phone) = Registering::start(link, "Test phone", None, now_unix(&s.server))
        .await
        .send(&client())
        .await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        phone,
    )
}

async fn poll(s: &Setup, phone: &Phone) -> Vec<Challenge> {
    phone.poll(None, now_unix(&s.server)).await
}

async fn answer(
    s: &Setup,
    phone: &Phone,
    c: &Challenge,
    d: Decision,
    number: Option<u32>,
) -> (reqwest::StatusCode, Value, String) {
    let (status, body, sent) = phone.answer(c, d, number, now_unix(&s.server)).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        sent,
    )
}

async fn post_answer(url: &str, body: &str) -> (reqwest::StatusCode, Value) {
    let resp = client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("answer");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A browser starting a sign-in for the client: returns it and the pending request id.
async fn start_sign_in(s: &Setup) -> (reqwest::Client, String) {
    let browser = client();
    let mut u = url::Url::parse(&s.server.url("/oauth2/authorize")).expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &s.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid email")
        .append_pair("state", "s1")
        .append_pair("nonce", "n1")
        .append_pair("code_challenge", &pkce_challenge())
        .append_pair("code_challenge_method", "S256");
    let resp = browser.get(u.as_str()).send().await.expect("authorize");
    let loc = resp.headers()["location"].to_str().expect("loc").to_owned();
    let request = url::Url::parse(&s.server.url(&loc))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.to_string())
        .expect("request");
    (browser, request)
}

async fn push_start(s: &Setup, browser: &reqwest::Client, request: &str, username: &str) -> Value {
    push_start_via(s, browser, request, username, None).await
}

/// Starts a push sign-in, optionally as a reverse proxy would forward it.
async fn push_start_via(
    s: &Setup,
    browser: &reqwest::Client,
    request: &str,
    username: &str,
    forwarded_for: Option<&str>,
) -> Value {
    let mut req = browser
        .post(s.server.url("/login/push"))
        .json(&json!({"request": request, "username": username}));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    let resp = req.send().await.expect("push start");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

async fn push_status(
    s: &Setup,
    browser: &reqwest::Client,
    challenge: &str,
    request: &str,
) -> Value {
    browser
        .post(s.server.url("/login/push/status"))
        .json(&json!({"challenge": challenge, "request": request}))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json")
}

/// The whole path: QR enrolment, registration, a sign-in approved on the phone with the number
/// the page shows, and the relying party gets an ID token saying how.
#[tokio::test]
async fn approve_on_the_phone_signs_in() {
    for db in backends() {
        let s = setup(db).await;
        let link = enrolment_link(&s).await;
        let (status, reg, phone) = register(&s, &link).await;
        assert_eq!(status, 200, "{reg}");
        let phone = phone.expect("registered");
        assert_eq!(reg["account_name"], json!(s.email));
        // The enrolment is single use.
        let (status, _, _) = register(&s, &link).await;
        assert_eq!(status, 403);

        let (browser, request) = start_sign_in(&s).await;
        // No trusted proxies configured: a client's own X-Forwarded-For is ignored.
        let started = push_start_via(&s, &browser, &request, &s.email, Some("203.0.113.9")).await;
        let shown = started["number"].as_u64().expect("number") as u32;
        let challenges = poll(&s, &phone).await;
        assert_eq!(challenges.len(), 1);
        let c = &challenges[0];
        assert_eq!(c.client_name, "Payroll");
        assert_eq!(c.employee, "Pia Phone");
        assert_eq!(
            (c.ip.as_str(), c.place.as_str()),
            ("127.0.0.1", "this computer")
        );
        assert_eq!(c.purpose, ChallengePurpose::SignIn);
        assert_eq!(
            push_status(
                &s,
                &browser,
                started["challenge"].as_str().expect("id"),
                &request
            )
            .await["state"],
            "pending"
        );

        let (status, body, sent) = answer(&s, &phone, c, Decision::Approve, Some(shown)).await;
        assert_eq!(
            (status.as_u16(), body["result"].as_str()),
            (200, Some("approved")),
            "{body}"
        );
        // A re-send of the same answer is a no-op; a forged second answer is refused.
        let (status, body) = post_answer(&s.server.url("/api/authenticator/answer"), &sent).await;
        assert_eq!(
            (status.as_u16(), body["result"].as_str()),
            (200, Some("already recorded"))
        );
        let mut forged: Value = serde_json::from_str(&sent).expect("json");
        forged["decision"] = json!("deny");
        let (status, _) = post_answer(
            &s.server.url("/api/authenticator/answer"),
            &forged.to_string(),
        )
        .await;
        assert_eq!(status, 403, "the signature covers the decision");

        let st = push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request,
        )
        .await;
        assert_eq!(st["state"], "approved", "{st}");
        // The approval turns into one session only.
        let again = push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request,
        )
        .await;
        assert_eq!(again["state"], "expired");
        let claims =
            resume_and_redeem(&s, &browser, st["redirect"].as_str().expect("redirect")).await;
        assert_eq!(claims["amr"], json!(["pop", "user"]));
        assert_eq!(claims["sub"], json!(s.employee_id));
    }
}

/// A GeoIP database in MaxMind's format, written with `mmdb-writer` in the GeoIP2 City layout
/// (typed as MaxMind types it: `geoname_id` is a uint32).
fn geoip_database(dir: &std::path::Path) -> std::path::PathBuf {
    use std::collections::BTreeMap;
    #[derive(serde::Serialize)]
    struct Place {
        geoname_id: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        iso_code: Option<&'static str>,
        names: BTreeMap<&'static str, &'static str>,
    }
    #[derive(serde::Serialize)]
    struct CityRecord {
        #[serde(skip_serializing_if = "Option::is_none")]
        city: Option<Place>,
        country: Place,
    }
    let mut w = mmdb_writer::Writer::new("GeoIP2-City");
    let berlin = CityRecord {
        city: Some(Place {
            geoname_id: 2950159,
            iso_code: None,
            names: BTreeMap::from([("en", "Berlin"), ("de", "Berlin")]),
        }),
        country: Place {
            geoname_id: 2921044,
            iso_code: Some("DE"),
            names: BTreeMap::from([("en", "Germany"), ("de", "Deutschland")]),
        },
    };
    w.insert(
        "203.0.113.0/24".parse::<ipnet::IpNet>().expect("net"),
        &berlin,
    )
    .expect("insert");
    let only_country = CityRecord {
        city: None,
        country: Place {
            geoname_id: 3017382,
            iso_code: Some("FR"),
            names: BTreeMap::from([("en", "France")]),
        },
    };
    w.insert(
        "198.51.100.0/24".parse::<ipnet::IpNet>().expect("net"),
        &only_country,
    )
    .expect("insert");
    let path = dir.join("city.mmdb");
    std::fs::write(&path, w.to_bytes().expect("mmdb")).expect("write");
    path
}

/// Behind a trusted reverse proxy the phone shows where the sign-in comes from: the client is
/// the right-most untrusted address of X-Forwarded-For, placed with the GeoIP database.
#[tokio::test]
async fn the_phone_shows_where_a_sign_in_comes_from() {
    let dir = tempfile::tempdir().expect("tmp");
    let geoip = geoip_database(dir.path());
    for db in backends() {
        let path = geoip.clone();
        let s = setup_with(db, move |c| {
            c.push.geoip_database = Some(path);
            c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("net")];
        })
        .await;
        let link = enrolment_link(&s).await;
        let (_, reg, phone) = register(&s, &link).await;
        let phone = phone.unwrap_or_else(|| panic!("registered: {reg}"));
        for (forwarded, ip, place) in [
            // The left part is what the client claimed: never believed past an untrusted hop.
            ("192.0.2.1, 203.0.113.9", "203.0.113.9", "Berlin, Germany"),
            ("198.51.100.20, 127.0.0.5", "198.51.100.20", "France"),
            ("10.1.2.3", "10.1.2.3", "company network"),
            ("192.0.2.44", "192.0.2.44", "internet"),
        ] {
            let (browser, request) = start_sign_in(&s).await;
            push_start_via(&s, &browser, &request, &s.email, Some(forwarded)).await;
            let challenges = poll(&s, &phone).await;
            let c = challenges.last().expect("a challenge");
            assert_eq!(
                (c.ip.as_str(), c.place.as_str()),
                (ip, place),
                "{forwarded}"
            );
            answer(&s, &phone, c, Decision::Deny, None).await;
            // Denials block push sign-in after three; lift it for the next round.
            let _ = call(
                &s.admin,
                Method::DELETE,
                s.server
                    .url(&format!("/api/v1/employees/{}/push-block", s.employee_id)),
                &s.csrf,
                None,
            )
            .await;
        }
    }
}

/// Follows the sign-in's redirect back into the authorization request, redeems the code as the
/// relying party and returns the ID token's claims.
async fn resume_and_redeem(s: &Setup, browser: &reqwest::Client, resume: &str) -> Value {
    let resp = browser
        .get(s.server.url(resume))
        .send()
        .await
        .expect("resume");
    let back = url::Url::parse(resp.headers()["location"].to_str().expect("loc")).expect("url");
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.to_string())
        .expect("authorization code");
    let tokens: Value = client()
        .post(s.server.url("/oauth2/token"))
        .basic_auth(&s.client_id, Some(&s.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let payload = tokens["id_token"]
        .as_str()
        .expect("id token")
        .split('.')
        .nth(1)
        .expect("payload")
        .to_owned();
    use base64::Engine as _;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json")
}

/// Posts the offline-code form of the sign-in page; returns the status, the `Location` (if a
/// redirect) and the page.
async fn code_sign_in(
    s: &Setup,
    browser: &reqwest::Client,
    request: &str,
    username: &str,
    code: &str,
) -> (u16, Option<String>, String) {
    let page = browser
        .get(s.server.url(&format!("/login?request={request}")))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("name=\"method\" value=\"code\""),
        "the page offers offline codes"
    );
    // The page's one form, with the code's button.
    let resp = browser
        .post(s.server.url("/login"))
        .form(&[
            ("csrf_token", form_field(&page, "csrf_token").as_str()),
            ("request", request),
            ("username", username),
            ("code", code),
            ("method", "code"),
        ])
        .send()
        .await
        .expect("code sign-in");
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, location, resp.text().await.unwrap_or_default())
}

/// Offline codes: the registration answer carries the secret once; a code the phone core makes
/// signs the employee in (ID token `amr` = `otp`); the same code again, a wrong code, an old
/// code, an unknown name and a revoked phone are all refused with one message.
#[tokio::test]
async fn offline_code_signs_in_once() {
    for db in backends() {
        let s = setup(db).await;
        let link = enrolment_link(&s).await;
        let (status, reg, phone) = register(&s, &link).await;
        assert_eq!(status, 200, "{reg}");
        assert_eq!(
            (
                reg["totp"]["algorithm"].as_str(),
                reg["totp"]["digits"].as_u64()
            ),
            (Some("SHA256"), Some(6))
        );
        let phone = phone.expect("registered");
        let code_at = |t: i64| {
            let auth = phone.auth.clone();
            let id = phone.id.clone();
            async move { auth.offline_code(id, t).await.expect("offline code").code }
        };
        let now = now_unix(&s.server);
        let code = code_at(now).await;
        const REFUSED: &str = "Wrong account or code";

        let (browser, request) = start_sign_in(&s).await;
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().expect("digits") + 1) % 1_000_000
        );
        let (status, _, page) = code_sign_in(&s, &browser, &request, &s.email, &wrong).await;
        assert_eq!(status, 401);
        assert!(page.contains(REFUSED), "{page}");
        let (status, _, page) =
            code_sign_in(&s, &browser, &request, "nobody@example.test", &code).await;
        assert_eq!(status, 401);
        assert!(page.contains(REFUSED), "unknown names answer alike");

        let (status, location, page) = code_sign_in(&s, &browser, &request, &s.email, &code).await;
        assert_eq!(status, 303, "{page}");
        let claims = resume_and_redeem(&s, &browser, &location.expect("redirect")).await;
        assert_eq!(claims["amr"], json!(["otp"]));
        assert_eq!(claims["sub"], json!(s.employee_id));

        // The same code again (another browser): refused, it works once.
        let (browser, request) = start_sign_in(&s).await;
        let (status, _, _) = code_sign_in(&s, &browser, &request, &s.email, &code).await;
        assert_eq!(status, 401, "a code works once");
        // Two minutes later: the old code is refused, the new one works.
        s.server.clock.advance(Duration::from_secs(120));
        let later = now_unix(&s.server);
        let (status, _, _) = code_sign_in(
            &s,
            &browser,
            &request,
            &s.email,
            &code_at(later - 120).await,
        )
        .await;
        assert_eq!(status, 401, "an old code is refused");
        let (browser, request) = start_sign_in(&s).await;
        let (status, _, page) =
            code_sign_in(&s, &browser, &request, &s.email, &code_at(later).await).await;
        assert_eq!(status, 303, "{page}");

        // A revoked phone's codes stop working.
        let (status, body) = call(
            &s.admin,
            Method::DELETE,
            s.server.url(&format!(
                "/api/v1/employees/{}/devices/{}",
                s.employee_id, phone.id
            )),
            &s.csrf,
            None,
        )
        .await;
        assert!(status.is_success(), "revoke: {status} {body}");
        s.server.clock.advance(Duration::from_secs(60));
        let (browser, request) = start_sign_in(&s).await;
        let (status, _, _) = code_sign_in(
            &s,
            &browser,
            &request,
            &s.email,
            &code_at(now_unix(&s.server)).await,
        )
        .await;
        assert_eq!(status, 401, "a revoked phone's codes are refused");
    }
}

/// A replaced phone: after signing in by approving on the old phone, the employee registers a
/// new one from the account page; the old one is revoked. A session from an offline code alone
/// may not register a phone.
/// Step-up by confirming on the phone (issue 17, purpose `enrol`): a session from an offline
/// code may not add a passkey; an approval of an `enrol` challenge with the typed number makes
/// it strong. A wrong number leaves it weak, the approval is not a sign-in for anyone else, and
/// it works once, for the session that asked.
#[tokio::test]
async fn a_weak_session_steps_up_by_confirming_on_the_phone() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");
    let (browser, request) = start_sign_in(&s).await;
    let code = phone
        .auth
        .offline_code(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("code")
        .code;
    let (status, _, _) = code_sign_in(&s, &browser, &request, &s.email, &code).await;
    assert_eq!(status, 303);
    let page = browser
        .get(s.server.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Confirm on my phone"), "{page}");
    let csrf = page
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf")
        .to_owned();
    let api = |path: &str, body: Value, token: &str| {
        let req = browser
            .post(s.server.url(path))
            .header("x-csrf-token", token)
            .json(&body);
        async move {
            let resp = req.send().await.expect("post");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        api("/account/passkeys/options", json!({}), &csrf).await.0,
        403
    );
    assert_eq!(api("/account/confirm", json!({}), "forged").await.0, 403);
    // Nor may it remove the phone (a phished password must not take it away).
    let device = page
        .split("action=\"/account/phones/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("the phone's remove form")
        .to_owned();
    let remove_phone = |token: String| {
        let (b, url) = (
            browser.clone(),
            s.server.url(&format!("/account/phones/{device}/remove")),
        );
        async move {
            b.post(url)
                .form(&[("csrf_token", token)])
                .send()
                .await
                .expect("remove")
                .status()
                .as_u16()
        }
    };
    assert_eq!(remove_phone("forged".into()).await, 403);
    assert_eq!(remove_phone(csrf.clone()).await, 403, "needs the step-up");
    assert_eq!(poll_status(&s, &phone).await, 200, "still registered");

    // A wrong number: denied, still weak.
    let (status, started) = api("/account/confirm", json!({}), &csrf).await;
    assert_eq!(status, 200, "{started}");
    let shown = started["number"].as_u64().expect("n") as u32;
    let c = poll(&s, &phone).await.remove(0);
    assert_eq!(
        (c.purpose, c.client_name.as_str()),
        (ChallengePurpose::Enrol, "SSO")
    );
    let wrong = 10 + (shown - 10 + 1) % 90;
    answer(&s, &phone, &c, Decision::Approve, Some(wrong)).await;
    let status_of = |challenge: Value| {
        api(
            "/account/confirm/status",
            json!({ "challenge": challenge }),
            &csrf,
        )
    };
    assert_eq!(
        status_of(started["challenge"].clone()).await.1["state"],
        "denied"
    );
    assert_eq!(
        api("/account/passkeys/options", json!({}), &csrf).await.0,
        403
    );

    // The right number, while someone else's sign-in prompt is open too (racing the step-up
    // with a prompt of their own): the step-up cannot be approved until the employee denies it.
    let (_, started) = api("/account/confirm", json!({}), &csrf).await;
    let (intruder, intruder_request) = start_sign_in(&s).await;
    let theirs = push_start(&s, &intruder, &intruder_request, &s.email).await;
    let open = poll(&s, &phone).await;
    assert_eq!(open.len(), 2);
    let step_up = open
        .iter()
        .find(|c| c.purpose == ChallengePurpose::Enrol)
        .expect("the step-up")
        .clone();
    let refused = phone
        .auth
        .answer_challenge(
            phone.id.clone(),
            step_up,
            Decision::Approve,
            Some(started["number"].as_u64().expect("n") as u32),
            now_unix(&s.server),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(mobile_core::AuthError::AnotherPromptOpen { .. })
        ),
        "{refused:?}"
    );
    let other = open
        .iter()
        .find(|c| Some(c.challenge_id.as_str()) == theirs["challenge"].as_str())
        .expect("the intruder's prompt")
        .clone();
    answer(&s, &phone, &other, Decision::Deny, None).await;
    let c = poll(&s, &phone).await.remove(0);
    assert_eq!(c.purpose, ChallengePurpose::Enrol);
    let (_, body, _) = answer(
        &s,
        &phone,
        &c,
        Decision::Approve,
        Some(started["number"].as_u64().expect("n") as u32),
    )
    .await;
    assert_eq!(body["result"], "approved");
    // Redeemed as a sign-in on the sign-in page: nothing (another purpose), no session.
    let (stranger, request) = start_sign_in(&s).await;
    let id = started["challenge"].as_str().expect("id");
    assert_eq!(
        push_status(&s, &stranger, id, &request).await["state"],
        "expired"
    );
    assert!(!stranger
        .get(s.server.url("/account"))
        .send()
        .await
        .expect("account")
        .status()
        .is_success());
    // This session: approved once, then strong enough to add a passkey.
    assert_eq!(
        status_of(started["challenge"].clone()).await.1["state"],
        "approved"
    );
    assert_eq!(
        status_of(started["challenge"].clone()).await.1["state"],
        "expired"
    );
    let (status, body) = api("/account/passkeys/options", json!({}), &csrf).await;
    assert_eq!(status, 200, "{body}");
    let page = browser
        .get(s.server.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("Confirm on my phone"));
    // Strong now: the phone can be removed, and then it is gone.
    assert_eq!(remove_phone(csrf.clone()).await, 303);
    assert_eq!(poll_status(&s, &phone).await, 403);
    assert!(!page_after(&browser, &s).await.contains("/account/phones/"));
}

async fn page_after(browser: &reqwest::Client, s: &Setup) -> String {
    browser
        .get(s.server.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html")
}

#[tokio::test]
async fn the_employee_replaces_their_phone() {
    for db in backends() {
        let s = setup(db).await;
        let link = enrolment_link(&s).await;
        let (_, reg, old) = register(&s, &link).await;
        let old = old.unwrap_or_else(|| panic!("registered: {reg}"));

        // Signed in with an offline code only: refused.
        let (browser, request) = start_sign_in(&s).await;
        let code = old
            .auth
            .offline_code(old.id.clone(), now_unix(&s.server))
            .await
            .expect("code")
            .code;
        let (status, _, _) = code_sign_in(&s, &browser, &request, &s.email, &code).await;
        assert_eq!(status, 303);
        let (status, page) = replace_phone(&s, &browser).await;
        assert_eq!(status, 403, "{page}");
        assert!(page.contains("Sign in another way first"), "{page}");

        // Signed in by approving on the old phone: allowed.
        let (browser, request) = start_sign_in(&s).await;
        let started = push_start(&s, &browser, &request, &s.email).await;
        let shown = started["number"].as_u64().expect("number") as u32;
        let c = poll(&s, &old).await.pop().expect("challenge");
        answer(&s, &old, &c, Decision::Approve, Some(shown)).await;
        let st = push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request,
        )
        .await;
        assert_eq!(st["state"], "approved", "{st}");
        let (status, page) = replace_phone(&s, &browser).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Your current phone stops working"), "{page}");
        let (status, reg, new) = register(&s, &registration_link(&page)).await;
        assert_eq!(status, 200, "{reg}");
        let new = new.expect("new phone");
        assert_eq!(reg["account_name"], json!(s.email));

        let (_, devices) = call(
            &s.admin,
            Method::GET,
            s.server
                .url(&format!("/api/v1/employees/{}/devices", s.employee_id)),
            &s.csrf,
            None,
        )
        .await;
        let state_of = |id: &str| {
            devices["devices"]
                .as_array()
                .expect("devices")
                .iter()
                .find(|d| d["id"] == json!(id))
                .map(|d| d["state"].clone())
        };
        assert_eq!(state_of(&old.id), Some(json!("revoked")), "{devices}");
        assert_eq!(state_of(&new.id), Some(json!("active")), "{devices}");
    }
}

/// Posts "Register a phone" on the account page; returns the status and the page.
async fn replace_phone(s: &Setup, browser: &reqwest::Client) -> (u16, String) {
    let account = browser
        .get(s.server.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    assert!(account.contains("action=\"/account/phone\""), "{account}");
    let resp = browser
        .post(s.server.url("/account/phone"))
        .form(&[("csrf_token", form_field(&account, "csrf_token"))])
        .send()
        .await
        .expect("register phone");
    (
        resp.status().as_u16(),
        resp.text().await.unwrap_or_default(),
    )
}

/// Wrong number, denial, expiry, fraud (which blocks push sign-in until an admin lifts it), and
/// names that cannot get a push answering like the rest.
#[tokio::test]
async fn denials_expiry_fraud_and_decoys() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");

    // A wrong number is a denial.
    let (browser, request) = start_sign_in(&s).await;
    let started = push_start(&s, &browser, &request, &s.email).await;
    let shown = started["number"].as_u64().expect("n") as u32;
    let c = poll(&s, &phone).await.remove(0);
    // Typed off by one: a blind approval with a guess.
    let wrong = 10 + (shown - 10 + 1) % 90;
    let (status, body, _) = answer(&s, &phone, &c, Decision::Approve, Some(wrong)).await;
    assert_eq!(
        (status.as_u16(), body["result"].as_str()),
        (200, Some("denied"))
    );
    assert_eq!(
        push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request
        )
        .await["state"],
        "denied"
    );

    // Expired: the server's clock moves past the 60 s.
    let started = push_start(&s, &browser, &request, &s.email).await;
    let c = poll(&s, &phone).await.remove(0);
    let signed = phone
        .auth
        .answer_challenge(
            phone.id.clone(),
            c.clone(),
            Decision::Approve,
            Some(started["number"].as_u64().expect("n") as u32),
            now_unix(&s.server),
        )
        .await
        .expect("signed");
    s.server.clock.advance(Duration::from_secs(61));
    let (status, body) = post_answer(&signed.url, &signed.body).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["message"].as_str().unwrap_or("").contains("expired"));
    assert_eq!(
        push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request
        )
        .await["state"],
        "expired"
    );

    // Unknown names get the same kind of answer, and nothing reaches any phone.
    let decoy = push_start(&s, &browser, &request, "nobody@example.test").await;
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| {
                let mut k: Vec<_> = o.keys().cloned().collect();
                k.sort();
                k
            })
            .unwrap_or_default()
    };
    assert_eq!(keys(&decoy), keys(&started));
    assert!(poll(&s, &phone).await.is_empty());
    assert_eq!(
        push_status(
            &s,
            &browser,
            decoy["challenge"].as_str().expect("id"),
            &request
        )
        .await["state"],
        "pending"
    );

    // Fraud: blocked; the next prompt never reaches the phone; the admin lifts the block.
    let started = push_start(&s, &browser, &request, &s.email).await;
    let c = poll(&s, &phone).await.remove(0);
    let (status, body, _) = answer(&s, &phone, &c, Decision::ReportFraud, None).await;
    assert_eq!(
        (status.as_u16(), body["result"].as_str()),
        (200, Some("fraud"))
    );
    assert_eq!(
        push_status(
            &s,
            &browser,
            started["challenge"].as_str().expect("id"),
            &request
        )
        .await["state"],
        "denied"
    );
    push_start(&s, &browser, &request, &s.email).await;
    assert!(poll(&s, &phone).await.is_empty(), "blocked: no prompt");
    let (status, phones) = call(
        &s.admin,
        Method::GET,
        s.server
            .url(&format!("/api/v1/employees/{}/devices", s.employee_id)),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(phones["push_blocked"], true);
    let (status, _) = call(
        &s.admin,
        Method::DELETE,
        s.server
            .url(&format!("/api/v1/employees/{}/push-block", s.employee_id)),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(status, 204);
    push_start(&s, &browser, &request, &s.email).await;
    assert_eq!(poll(&s, &phone).await.len(), 1, "unblocked");
}

/// Registration refuses an expired code and a key proof that does not verify; the poll refuses a
/// replayed nonce; a new phone replaces the old one.
#[tokio::test]
async fn registration_and_poll_are_guarded() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    // A key proof made for another enrolment id.
    let req = Registering::start(&link, "Phone", None, now_unix(&s.server))
        .await
        .request;
    let mut body: Value = serde_json::from_str(&req.body).expect("json");
    body["id"] = json!(uuid::Uuid::new_v4().to_string());
    let resp = client()
        .post(&req.url)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.expect("json");
    assert_eq!(err["field"], "key_proof");

    let first = register(&s, &link).await.2.expect("registered");
    // Poll replay.
    let req = first
        .auth
        .poll_request(first.id.clone(), now_unix(&s.server))
        .await
        .expect("poll");
    for expected in [200, 403] {
        let mut r = client().get(&req.url);
        for h in &req.headers {
            r = r.header(&h.name, &h.value);
        }
        assert_eq!(r.send().await.expect("poll").status().as_u16(), expected);
    }
    // A second phone replaces the first.
    let link2 = enrolment_link(&s).await;
    let second = register(&s, &link2).await.2.expect("registered");
    let req = first
        .auth
        .poll_request(first.id.clone(), now_unix(&s.server))
        .await
        .expect("poll");
    let mut r = client().get(&req.url);
    for h in &req.headers {
        r = r.header(&h.name, &h.value);
    }
    assert_eq!(
        r.send().await.expect("poll").status(),
        403,
        "the old phone is revoked"
    );
    assert!(poll(&s, &second).await.is_empty());
    // An expired code.
    let link3 = enrolment_link(&s).await;
    s.server.clock.advance(Duration::from_secs(11 * 60));
    // The phone would refuse it by its own clock too; send it as if its clock were behind.
    let (status, _, phone) =
        Registering::start(&link3, "Phone", None, now_unix(&s.server) - 11 * 60)
            .await
            .send(&client())
            .await;
    assert_eq!(status, 403);
    assert!(phone.is_none());
}

/// An enrolled workstation of `s`'s server named `name`, as the key-bridge agent enrols it.
async fn enrolled_workstation(s: &Setup, name: &str) -> key_bridge::Agent {
    let (status, c) = call(
        &s.admin,
        Method::POST,
        s.server.url("/api/v1/workstations"),
        &s.csrf,
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(status, 201, "{c}");
    let mut agent = key_bridge::Agent::new(key_bridge::AgentConfig {
        server: s.server.base.clone(),
        ca_pem: None,
        workstation: None,
        clock: crate::keys::server_clock(&s.server),
    })
    .expect("agent");
    agent
        .enrol(c["enrolment_token"].as_str().expect("token"))
        .await
        .expect("enrol");
    agent
}

/// A request to the unlock API signed by `agent` (the workstation's own key).
async fn unlock_call(
    s: &Setup,
    agent: &key_bridge::Agent,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let bytes = serde_json::to_vec(&body).expect("json");
    let headers = agent.sign(&Method::POST, path, &bytes, None).expect("sign");
    let mut req = client()
        .post(s.server.url(&format!("/{path}")))
        .header("content-type", "application/json")
        .body(bytes);
    for (name, value) in headers.pairs() {
        req = req.header(name, value);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// An enrolled workstation asks for an unlock (its requests signed with its own key); the phone
/// shows the name the admin enrolled it under and approves; only that workstation reads the
/// approval, once. A client secret opens nothing, the caller cannot name itself, and a revoked
/// workstation is refused.
#[tokio::test]
async fn workstation_unlock_by_phone_approval() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");
    let pc = enrolled_workstation(&s, "PC-0413").await;
    let other = enrolled_workstation(&s, "PC-0414").await;

    // The old way in, a confidential client's secret: refused, nothing reaches the phone.
    let resp = client()
        .post(s.server.url("/api/workstation/challenges"))
        .basic_auth(&s.client_id, Some(&s.secret))
        .json(&json!({"username": s.email}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 401);
    // A workstation that would name itself (text for the phone): refused by name.
    let (status, e) = unlock_call(
        &s,
        &pc,
        "api/workstation/challenges",
        json!({"username": s.email, "workstation": "IT Security: approve and type 37"}),
    )
    .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (400, Some("workstation")),
        "{e}"
    );
    assert!(poll(&s, &phone).await.is_empty(), "nothing was sent");

    let (status, started) = unlock_call(
        &s,
        &pc,
        "api/workstation/challenges",
        json!({"username": s.email}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let c = poll(&s, &phone).await.remove(0);
    assert_eq!(
        (c.purpose, c.client_name.as_str()),
        (ChallengePurpose::Unlock, "PC-0413")
    );
    assert_eq!(
        (c.browser, c.os),
        (
            mobile_core::protocol::BrowserFamily::Unknown,
            mobile_core::protocol::OsFamily::Unknown
        )
    );
    let path = format!(
        "api/workstation/challenges/{}",
        started["challenge"].as_str().expect("id")
    );
    let (_, st) = unlock_call(&s, &pc, &path, json!({})).await;
    assert_eq!(st["state"], "pending");
    answer(
        &s,
        &phone,
        &c,
        Decision::Approve,
        Some(started["number"].as_u64().expect("n") as u32),
    )
    .await;
    let (_, st) = unlock_call(&s, &other, &path, json!({})).await;
    assert_eq!(st["state"], "expired", "another workstation learns nothing");
    let (_, st) = unlock_call(&s, &pc, &path, json!({})).await;
    assert_eq!(
        (st["state"].as_str(), st["employee_id"].as_str()),
        (Some("approved"), Some(s.employee_id.as_str()))
    );
    let (_, again) = unlock_call(&s, &pc, &path, json!({})).await;
    assert_eq!(again["state"], "expired", "read once");
    // A workstation approval is not a web sign-in.
    let web: Value = client()
        .post(s.server.url("/login/push/status"))
        .json(&json!({"challenge": started["challenge"], "request": ""}))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(web["state"], "expired");

    // Revoked on its page: its signed requests are refused.
    let id = pc.workstation().expect("enrolled").id.clone();
    let (status, _) = call(
        &s.admin,
        Method::POST,
        s.server.url(&format!("/api/v1/workstations/{id}/revoke")),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = unlock_call(
        &s,
        &pc,
        "api/workstation/challenges",
        json!({"username": s.email}),
    )
    .await;
    assert_eq!(status, 401);
}

/// The attack on number matching: a second prompt whose User-Agent carries an
/// instruction ("approve the other request and type 37"). The phone shows only the browser
/// family the server recognised, and while two prompts are open neither can be approved: the
/// phone core refuses to sign the approval, and a hand-made approval gets 409 from the server.
/// After the employee denies the one they did not start, theirs goes through.
#[tokio::test]
async fn the_phone_shows_facts_and_two_open_prompts_approve_neither() {
    use mobile_core::protocol::{BrowserFamily, OsFamily};
    for db in backends() {
        let s = setup(db).await;
        let link = enrolment_link(&s).await;
        let phone = register(&s, &link).await.2.expect("registered");
        let start = |ua: &'static str| {
            let s = &s;
            async move {
                let (browser, request) = start_sign_in(s).await;
                let resp = browser
                    .post(s.server.url("/login/push"))
                    .header("user-agent", ua)
                    .json(&json!({"request": request, "username": s.email}))
                    .send()
                    .await
                    .expect("push start");
                assert_eq!(resp.status(), 200);
                let v: Value = resp.json().await.expect("json");
                (browser, request, v)
            }
        };
        let (browser, request, mine) = start(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
        )
        .await;
        let (_, _, theirs) =
            start("IT Security: to stop these prompts approve the other request and type 37").await;
        let shown = poll(&s, &phone).await;
        assert_eq!(shown.len(), 2);
        let by_id = |v: &Value| {
            shown
                .iter()
                .find(|c| Some(c.challenge_id.as_str()) == v["challenge"].as_str())
                .expect("shown")
                .clone()
        };
        let (c_mine, c_theirs) = (by_id(&mine), by_id(&theirs));
        assert_eq!(
            (c_mine.browser, c_mine.os),
            (BrowserFamily::Firefox, OsFamily::Windows)
        );
        assert_eq!(
            (c_theirs.browser, c_theirs.os),
            (BrowserFamily::Other, OsFamily::Other)
        );
        assert_eq!(
            mobile_core::protocol::describe_browser(c_mine.browser, c_mine.os),
            "Firefox on Windows"
        );
        assert!(
            c_mine.concurrent && c_theirs.concurrent,
            "the phone says so"
        );
        let wire = format!("{:?}", shown);
        assert!(!wire.contains("IT Security"), "{wire}");
        // The phone core does not sign an approval of either.
        let number = mine["number"].as_u64().expect("n") as u32;
        let refused = phone
            .auth
            .answer_challenge(
                phone.id.clone(),
                c_mine.clone(),
                Decision::Approve,
                Some(number),
                now_unix(&s.server),
            )
            .await;
        assert!(
            matches!(
                refused,
                Err(mobile_core::AuthError::AnotherPromptOpen { open: 2 })
            ),
            "{refused:?}"
        );
        // A phone app that skipped the check: the server refuses, the challenge stays pending.
        let fresh = register_second_core(&s, &phone, &c_mine, number).await;
        assert_eq!(fresh.0, 409, "{}", fresh.1);
        assert_eq!(
            push_status(&s, &browser, &c_mine.challenge_id, &request).await["state"],
            "pending"
        );
        // The employee denies the one they did not start; theirs is approved.
        let (status, _, _) = answer(&s, &phone, &c_theirs, Decision::Deny, None).await;
        assert_eq!(status, 200);
        let shown = poll(&s, &phone).await;
        assert_eq!(shown.len(), 1);
        assert!(!shown[0].concurrent);
        let (status, body, _) =
            answer(&s, &phone, &shown[0], Decision::Approve, Some(number)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            push_status(&s, &browser, &c_mine.challenge_id, &request).await["state"],
            "approved"
        );
    }
}

/// An approval signed with the phone's own device key but without the phone core's check (what
/// a modified app could send): the server's status and body.
async fn register_second_core(
    s: &Setup,
    phone: &crate::support::Phone,
    c: &Challenge,
    number: u32,
) -> (u16, Value) {
    // A second phone core with the same key and a copy of the accounts: it knows of no other
    // prompt (and its record of what it answered is its own).
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("accounts.json");
    std::fs::copy(phone.accounts_path(), &copy).expect("copy");
    let blind =
        mobile_core::Authenticator::new(phone.key_store(), copy.display().to_string(), true)
            .expect("core");
    let signed = blind
        .answer_challenge(
            phone.id.clone(),
            c.clone(),
            Decision::Approve,
            Some(number),
            now_unix(&s.server),
        )
        .await
        .expect("signed");
    let (status, body) = post_answer(&signed.url, &signed.body).await;
    (status.as_u16(), body)
}

/// A spray of offline codes across 100 accounts from 100 addresses (issue 26): each account and
/// each address stays far below its own limit, but the deployment's daily budget of failed codes
/// (5 for 100 phones) stops it: after the budget, offline codes pause for everyone, so even a
/// right code is refused with the pause message, and the admins are told once.
#[tokio::test]
async fn a_spray_of_offline_codes_is_stopped_by_the_daily_budget() {
    let s = std::sync::Arc::new(
        setup_with(Db::Sqlite, |c| {
            c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        })
        .await,
    );
    let mut people = Vec::new();
    for i in 0..100 {
        let email = format!("spray{i}.{}@example.test", uuid::Uuid::new_v4().simple());
        let (status, e) = call(
            &s.admin,
            Method::POST,
            s.server.url("/api/v1/employees"),
            &s.csrf,
            Some(json!({"display_name": format!("Sprayed {i}"), "email": email})),
        )
        .await;
        assert_eq!(status, 201, "{e}");
        let (status, link) = call(
            &s.admin,
            Method::POST,
            s.server.url(&format!(
                "/api/v1/employees/{}/enrolments",
                e["id"].as_str().expect("id")
            )),
            &s.csrf,
            None,
        )
        .await;
        assert_eq!(status, 201, "{link}");
        let phone = crate::support::Phone::register(
            link["link"].as_str().expect("link"),
            "Phone",
            now_unix(&s.server),
        )
        .await;
        people.push((email, phone));
    }
    let wrong_code = |right: &str| {
        format!(
            "{:06}",
            (right.parse::<u32>().expect("digits") + 500_000) % 1_000_000
        )
    };
    let mut spray = tokio::task::JoinSet::new();
    for (i, (email, phone)) in people.iter().enumerate() {
        let right = phone
            .auth
            .offline_code(phone.id.clone(), now_unix(&s.server))
            .await
            .expect("code")
            .code;
        let (s, email, code) = (s.clone(), email.clone(), wrong_code(&right));
        spray.spawn(async move {
            let browser = client();
            let page = browser
                .get(s.server.url("/login"))
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html");
            let resp = browser
                .post(s.server.url("/login"))
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .form(&[
                    ("csrf_token", form_field(&page, "csrf_token").as_str()),
                    ("request", ""),
                    ("username", email.as_str()),
                    ("code", code.as_str()),
                    ("method", "code"),
                ])
                .send()
                .await
                .expect("guess");
            resp.status().as_u16()
        });
    }
    while let Some(status) = spray.join_next().await {
        assert_eq!(status.expect("task"), 401);
    }
    // Evaluated: the budget, no more; the rest were refused unchecked.
    let (_, failed) = call(
        &s.admin,
        Method::GET,
        s.server
            .url("/api/v1/audit?action=employee.sign_in_failed&per_page=200"),
        &s.csrf,
        None,
    )
    .await;
    let reasons: Vec<String> = failed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["detail"]["reason"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        reasons.iter().filter(|r| *r == "wrong_code").count(),
        5,
        "{reasons:?}"
    );
    assert_eq!(
        reasons
            .iter()
            .filter(|r| *r == "offline_codes_paused")
            .count(),
        95
    );
    let (_, paused) = call(
        &s.admin,
        Method::GET,
        s.server.url("/api/v1/audit?action=offline_codes.paused"),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(
        paused["items"].as_array().map(Vec::len),
        Some(1),
        "{paused}"
    );
    // Paused for everyone: the owner's right code, from an address that never failed.
    let (email, phone) = &people[0];
    let right = phone
        .auth
        .offline_code(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("code")
        .code;
    let (status, _, page) = code_sign_in(&s, &client(), "", email, &right).await;
    assert_eq!(status, 401);
    assert!(page.contains("paused for today"), "{page}");
}

/// The phone changes its push token, signed with the device key; replays and forgeries are
/// refused; `null` clears it.
#[tokio::test]
async fn the_phone_updates_its_push_token() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");
    let devices = |s: &Setup| {
        let url = s
            .server
            .url(&format!("/api/v1/employees/{}/devices", s.employee_id));
        let (admin, csrf) = (s.admin.clone(), s.csrf.clone());
        async move { call(&admin, Method::GET, url, &csrf, None).await.1 }
    };
    assert_eq!(
        devices(&s).await["devices"][0]["push_token_registered"],
        false
    );
    let req = phone
        .auth
        .push_token_request(
            phone.id.clone(),
            Some("apns-token-123".into()),
            now_unix(&s.server),
        )
        .await
        .expect("signed");
    let send = |body: String| {
        let url = req.url.clone();
        async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    assert_eq!(send(req.body.clone()).await, 200);
    assert_eq!(
        devices(&s).await["devices"][0]["push_token_registered"],
        true
    );
    assert_eq!(send(req.body.clone()).await, 403, "a replay is refused");
    let mut forged: Value = serde_json::from_str(&req.body).expect("json");
    forged["push_token"] = json!("attacker-token");
    forged["nonce"] = json!("bm90LXRoZS1zYW1lLW5vbmNl");
    assert_eq!(
        send(forged.to_string()).await,
        403,
        "the signature covers the token"
    );
    let clear = phone
        .auth
        .push_token_request(phone.id.clone(), None, now_unix(&s.server))
        .await
        .expect("signed");
    assert_eq!(send(clear.body).await, 200);
    assert_eq!(
        devices(&s).await["devices"][0]["push_token_registered"],
        false
    );
}

/// The employee removes the account on the phone (issue 17): the phone's signed request
/// unregisters the device, and nothing else can. A poll's signature is not an unregistration;
/// another device's id under this phone's signature is refused; a replay finds nothing.
#[tokio::test]
async fn the_phone_unregisters_itself() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");
    let url = s.server.url("/api/authenticator/unregister");
    let send = |body: String| {
        let url = url.clone();
        async move {
            client()
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("post")
                .status()
        }
    };
    let active = |s: &Setup| {
        let url = s
            .server
            .url(&format!("/api/v1/employees/{}/devices", s.employee_id));
        let (admin, csrf) = (s.admin.clone(), s.csrf.clone());
        async move {
            let devices = call(&admin, Method::GET, url, &csrf, None).await.1;
            devices["devices"]
                .as_array()
                .map(|d| d.iter().filter(|d| d["state"] == "active").count())
                .unwrap_or(0)
        }
    };

    // A poll request's signature (same fields, other domain tag) does not unregister.
    let poll = phone
        .auth
        .poll_request(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("poll");
    let lifted = json!({
        "device_id": poll.device_id,
        "timestamp": poll.timestamp_unix,
        "nonce": poll.nonce,
        "signature": poll.signature,
    });
    assert_eq!(send(lifted.to_string()).await, 403);
    // This phone's signature over another device's id.
    let req = phone
        .auth
        .unregister_request(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("signed");
    assert_eq!(req.url, url);
    let mut other: Value = serde_json::from_str(&req.body).expect("json");
    other["device_id"] = json!("a-device-that-does-not-exist");
    assert_eq!(send(other.to_string()).await, 404);
    assert_eq!(active(&s).await, 1, "still registered");
    assert_eq!(poll_status(&s, &phone).await, 200);

    assert_eq!(send(req.body.clone()).await, 200);
    assert_eq!(active(&s).await, 0);
    assert_eq!(send(req.body.clone()).await, 404, "a replay finds nothing");
    assert_eq!(poll_status(&s, &phone).await, 403, "the device is gone");
    let audit =
        crate::support::audit_events(&s.server, "device.unregistered", &s.employee_id).await;
    assert_eq!(audit.len(), 1, "the admin sees it in the audit log");
    // Confirmed by the server: the phone forgets the account.
    phone
        .auth
        .remove_account(phone.id.clone())
        .await
        .expect("removed");
    assert!(phone.auth.accounts().is_empty());
}

async fn poll_status(s: &Setup, phone: &Phone) -> u16 {
    let req = phone
        .auth
        .poll_request(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("poll request");
    let mut r = client().get(&req.url);
    for h in &req.headers {
        r = r.header(&h.name, &h.value);
    }
    r.send().await.expect("poll").status().as_u16()
}

#[tokio::test]
async fn an_admin_revokes_a_phone_from_the_console() {
    for db in backends() {
        let s = setup(db).await;
        let link = enrolment_link(&s).await;
        let phone = register(&s, &link).await.2.expect("registered");
        let page = |s: &Setup| {
            let url = s.server.url(&format!("/admin/employees/{}", s.employee_id));
            let admin = s.admin.clone();
            async move {
                admin
                    .get(url)
                    .send()
                    .await
                    .expect("get")
                    .text()
                    .await
                    .expect("text")
            }
        };
        let device_id = {
            let (_, body) = call(
                &s.admin,
                Method::GET,
                s.server
                    .url(&format!("/api/v1/employees/{}/devices", s.employee_id)),
                &s.csrf,
                None,
            )
            .await;
            body["devices"][0]["id"].as_str().expect("id").to_owned()
        };
        let action = format!(
            "/admin/employees/{}/devices/{device_id}/revoke",
            s.employee_id
        );
        assert!(page(&s).await.contains(&action), "{db:?}: a Revoke button");
        let r = s
            .admin
            .post(s.server.url(&action))
            .form(&[("csrf_token", s.csrf.as_str())])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 303, "{db:?}");
        let html = page(&s).await;
        assert!(html.contains("Phone revoked"), "{db:?}: the notice");
        assert!(
            !html.contains(&action),
            "{db:?}: no Revoke button on a revoked phone"
        );
        // The phone is cut off, and revoking again finds no active device.
        let req = phone
            .auth
            .poll_request(phone.id.clone(), now_unix(&s.server))
            .await
            .expect("poll request");
        let mut r = client().get(&req.url);
        for h in &req.headers {
            r = r.header(&h.name, &h.value);
        }
        assert!(
            r.send().await.expect("poll").status().is_client_error(),
            "{db:?}"
        );
        let (status, _) = call(
            &s.admin,
            Method::DELETE,
            s.server.url(&format!(
                "/api/v1/employees/{}/devices/{device_id}",
                s.employee_id
            )),
            &s.csrf,
            None,
        )
        .await;
        assert_eq!(status, 404, "{db:?}");
    }
}

/// Offline codes guessed at scale (issue 15): 200 wrong codes spread over four spellings of one
/// employee's name (e-mail, UPN, `DOMAIN\sam`, `sam`) and two client addresses. Failures are
/// counted per employee in the database: after the configured count the sign-in locks, a correct
/// code is refused while it is locked (with the same answer as a wrong one), and an admin lifts it.
#[tokio::test]
async fn guessing_offline_codes_locks_the_employee_whatever_the_spelling() {
    let Some(dc) = crate::ad::Dc::corp() else {
        return;
    };
    let s = setup_with(Db::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        // The per-account lock is what this test looks at, not the deployment's daily budget.
        c.oidc.offline_code_daily_budget = Some(1000);
    })
    .await;
    // The employee is also an AD account (same e-mail): the sync takes the manual one over.
    let mut corner = crate::ad::Corner::new(&dc).await;
    let sam = format!("g{}", &corner.tag[..8]);
    let dn = corner
        .add_user(&crate::ad::NewUser {
            sam: &sam,
            given: Some("Pia"),
            sn: Some("Phone"),
            mail: Some(&s.email),
            ..crate::ad::NewUser::default()
        })
        .await;
    let upn = format!("{sam}@corp.example.test");
    corner.set(&dn, "userPrincipalName", &upn).await;
    let group = corner.group.clone();
    corner.add_member(&group, &dn).await;
    let input = serde_json::from_value(corner.domain_json("corp")).expect("domain");
    sso_server::directory::Domains {
        store: &s.server.state.store,
        cipher: &s.server.state.cipher,
    }
    .create(
        &sso_server::audit::Actor::cli(),
        s.server.clock.now_ms(),
        &input,
    )
    .await
    .expect("domain");
    let run = s
        .server
        .state
        .syncer()
        .run(
            "corp",
            sso_server::directory::RunOptions {
                mode: sso_server::directory::SyncMode::Full,
                dry_run: false,
                force: false,
                trigger: sso_server::directory::sync::Trigger::Cli,
                actor: sso_server::audit::Actor::cli(),
            },
            None,
        )
        .await
        .expect("sync");
    assert_eq!((run.state.as_str(), run.taken_over), ("succeeded", 1));
    let link = enrolment_link(&s).await;
    let (status, reg, phone) = register(&s, &link).await;
    assert_eq!(status, 200, "{reg}");
    let phone = phone.expect("registered");
    let netbios = if dc.netbios.is_empty() {
        "CORP".to_owned()
    } else {
        dc.netbios.clone()
    };
    let spellings = [
        s.email.to_uppercase(),
        upn,
        format!("{netbios}\\{sam}"),
        sam.clone(),
    ];
    // A sign-in form ready to post (fast), then the post itself (the slow part: every failure
    // answers no sooner than the failure floor, so the later ones go in parallel).
    let prepare = |username: String, code: String, address: &'static str| {
        let s = &s;
        async move {
            let (browser, request) = start_sign_in(s).await;
            let page = browser
                .get(s.server.url(&format!("/login?request={request}")))
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html");
            let form = vec![
                ("csrf_token", form_field(&page, "csrf_token")),
                ("request", request),
                ("username", username),
                ("code", code),
            ];
            browser
                .post(s.server.url("/login/code"))
                .header("x-forwarded-for", address)
                .form(&form)
        }
    };
    async fn send(post: reqwest::RequestBuilder) -> (u16, String) {
        let resp = post.send().await.expect("post");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
    let attempt = |username: String, code: String, address: &'static str| {
        let prepared = prepare(username, code, address);
        async move { send(prepared.await).await }
    };
    let lock_after = s.server.state.config.oidc.sign_in_lockout_after;
    let mut later = tokio::task::JoinSet::new();
    for i in 0..200u32 {
        if i < lock_after {
            // Past the growing delay, so that each of the first attempts is evaluated.
            s.server.clock.advance(Duration::from_secs(61));
        }
        let now = now_unix(&s.server);
        let right = phone
            .auth
            .offline_code(phone.id.clone(), now)
            .await
            .expect("code")
            .code;
        let wrong = format!(
            "{:06}",
            (right.parse::<u32>().expect("digits") + 1 + i) % 1_000_000
        );
        let name = spellings[i as usize % 4].clone();
        let address = if i % 2 == 0 {
            "198.51.100.7"
        } else {
            "203.0.113.9"
        };
        let post = prepare(name, wrong, address).await;
        if i < lock_after {
            let (status, page) = send(post).await;
            assert_eq!(status, 401, "attempt {i}: {page}");
            assert!(page.contains("Wrong account or code"), "{page}");
        } else {
            later.spawn(send(post));
        }
    }
    while let Some(r) = later.join_next().await {
        let (status, page) = r.expect("task");
        assert_eq!(status, 401, "{page}");
        assert!(page.contains("Wrong account or code"), "{page}");
    }
    // Exactly the configured number were evaluated, then the lock.
    let evaluated =
        crate::support::audit_events(&s.server, "employee.sign_in_failed", &s.employee_id)
            .await
            .iter()
            .filter(|e| e.detail.contains("wrong_code"))
            .count();
    let locks = crate::support::audit_events(&s.server, "employee.sign_in_locked", &s.employee_id)
        .await
        .len();
    assert_eq!(evaluated + locks, lock_after as usize);
    assert_eq!(locks, 1);

    // The right code, a new spelling's worth of address: refused while locked, like a wrong one.
    s.server.clock.advance(Duration::from_secs(31));
    let right = phone
        .auth
        .offline_code(phone.id.clone(), now_unix(&s.server))
        .await
        .expect("code")
        .code;
    let (status, page) = attempt(s.email.clone(), right.clone(), "192.0.2.1").await;
    assert_eq!(status, 401, "a correct code while locked: {page}");
    assert!(page.contains("Wrong account or code"));
    // The admin lifts the lock; the (still fresh) code then works.
    let (status, _) = call(
        &s.admin,
        Method::DELETE,
        s.server
            .url(&format!("/api/v1/employees/{}/sign-in-lock", s.employee_id)),
        &s.csrf,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, page) = attempt(sam, right, "192.0.2.1").await;
    assert_eq!(status, 303, "{page}");
}

/// A decoy (a name that cannot receive a push) and a real challenge answer the sign-in page alike,
/// byte for byte in shape and in time; an approval left unused dies with its challenge (issue 15).
#[tokio::test]
async fn decoys_look_real_and_approvals_expire_with_their_challenge() {
    let s = setup(Db::Sqlite).await;
    let link = enrolment_link(&s).await;
    let (status, reg, phone) = register(&s, &link).await;
    assert_eq!(status, 200, "{reg}");
    let phone = phone.expect("registered");
    // Every member's kind and length, and the whole answer's length: one for both.
    let shape = |v: &Value| -> String {
        let members: Vec<String> = v
            .as_object()
            .expect("object")
            .iter()
            .map(|(k, v)| match v {
                Value::String(t) => format!(
                    "{k}: {} characters{}",
                    t.len(),
                    if uuid::Uuid::parse_str(t).is_ok() {
                        ", a UUID"
                    } else {
                        ""
                    }
                ),
                Value::Number(n) => format!("{k}: {} digits", n.to_string().len()),
                other => format!("{k}: {other}"),
            })
            .collect();
        format!("{} bytes; {}", v.to_string().len(), members.join("; "))
    };
    let mut real_times = Vec::new();
    let mut decoy_times = Vec::new();
    let mut shapes = std::collections::HashSet::new();
    for i in 0..2 {
        for (name, times) in [
            (s.email.clone(), &mut real_times),
            (format!("nobody{i}@example.test"), &mut decoy_times),
        ] {
            let (browser, request) = start_sign_in(&s).await;
            let t = std::time::Instant::now();
            let started = push_start(&s, &browser, &request, &name).await;
            times.push(t.elapsed());
            assert_eq!(
                started["expires_in"],
                json!(s.server.state.config.push.challenge_ttl_seconds),
                "{started}"
            );
            shapes.insert(shape(&started));
        }
    }
    assert_eq!(shapes.len(), 1, "one shape: {shapes:?}");
    let floor = Duration::from_millis(150);
    assert!(real_times.iter().chain(&decoy_times).all(|t| *t >= floor));
    let (real, decoy) = (
        real_times.iter().min().copied().unwrap_or_default(),
        decoy_times.iter().min().copied().unwrap_or_default(),
    );
    assert!(
        real.abs_diff(decoy) < Duration::from_millis(100),
        "real {real:?}, decoy {decoy:?}"
    );

    // Approved, but the page comes back after the challenge expired: nothing signs in.
    s.server.clock.advance(Duration::from_secs(300));
    let (browser, request) = start_sign_in(&s).await;
    let started = push_start(&s, &browser, &request, &s.email).await;
    let shown = started["number"].as_u64().expect("number") as u32;
    let pending = poll(&s, &phone).await;
    let c = pending
        .iter()
        .find(|c| c.challenge_id == started["challenge"].as_str().expect("id"))
        .expect("the challenge reached the phone");
    let (status, body, _) = answer(&s, &phone, c, Decision::Approve, Some(shown)).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    s.server.clock.advance(Duration::from_secs(
        u64::from(s.server.state.config.push.challenge_ttl_seconds) + 1,
    ));
    let st = push_status(
        &s,
        &browser,
        started["challenge"].as_str().expect("id"),
        &request,
    )
    .await;
    assert_eq!(st["state"], "expired", "{st}");
}

/// Issue 18: two instances on one PostgreSQL. A sign-in started on A wakes the phone's long poll
/// held by B, and the phone's answer landing on B wakes the sign-in page's long poll held by A,
/// each through a NOTIFY rather than at the next re-check (every 5 s); a signing-key rotation
/// through A is published by B at once (its cached ring is dropped).
#[tokio::test]
async fn two_instances_wake_each_other() {
    if !backends().contains(&Db::Postgres) {
        return;
    }
    let s = setup(Db::Postgres).await;
    let a = &s.server;
    let b = a.another_instance().await;
    // B listens once its LISTEN connection is up: probe until a publication from A reaches it.
    let mut ready = false;
    for _ in 0..100 {
        let started = std::time::Instant::now();
        tokio::join!(
            b.state.wake.wait("probe", Duration::from_millis(300)),
            async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                a.state.wake.publish("probe").await;
            }
        );
        if started.elapsed() < Duration::from_millis(250) {
            ready = true;
            break;
        }
    }
    assert!(ready, "B never heard A");
    let link = enrolment_link(&s).await;
    let phone = register(&s, &link).await.2.expect("registered");
    let on_b = |url: &str| url.replace(&a.base, &b.base);

    // The phone long-polls B; the sign-in starts on A.
    let req = phone
        .auth
        .poll_request(phone.id.clone(), now_unix(a))
        .await
        .expect("poll");
    let mut r = client().get(format!("{}?wait=20", on_b(&req.url)));
    for h in &req.headers {
        r = r.header(&h.name, &h.value);
    }
    let held = tokio::spawn(async move {
        let resp = r.send().await.expect("poll");
        (std::time::Instant::now(), resp.text().await.expect("body"))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (browser, request) = start_sign_in(&s).await;
    let started = push_start(&s, &browser, &request, &s.email).await;
    let asked = std::time::Instant::now();
    let (woke, body) = held.await.expect("poll task");
    let latency = woke.saturating_duration_since(asked);
    println!("phone's long poll on B woken {latency:?} after the sign-in started on A");
    assert!(latency < Duration::from_millis(2500), "{latency:?}");
    let [c]: [Challenge; 1] = phone
        .auth
        .verify_poll_response(phone.id.clone(), body, now_unix(a))
        .expect("verified")
        .try_into()
        .expect("one challenge");

    // The page long-polls A; the phone answers through B.
    let id = started["challenge"].as_str().expect("id").to_owned();
    let page = {
        let (browser, url) = (browser.clone(), a.url("/login/push/status"));
        let body = json!({"challenge": id, "request": request, "wait": 20});
        tokio::spawn(async move {
            let v: Value = browser
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("status")
                .json()
                .await
                .expect("json");
            (std::time::Instant::now(), v)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signed = phone
        .auth
        .answer_challenge(
            phone.id.clone(),
            c,
            Decision::Approve,
            Some(started["number"].as_u64().expect("n") as u32),
            now_unix(a),
        )
        .await
        .expect("signed");
    let (status, body) = post_answer(&on_b(&signed.url), &signed.body).await;
    assert_eq!(
        (status.as_u16(), body["result"].as_str()),
        (200, Some("approved"))
    );
    let answered = std::time::Instant::now();
    let (woke, st) = page.await.expect("status task");
    let latency = woke.saturating_duration_since(answered);
    println!("sign-in page's long poll on A woken {latency:?} after the answer on B");
    assert_eq!(st["state"], "approved", "{st}");
    assert!(latency < Duration::from_millis(2500), "{latency:?}");

    // A signing-key rotation through A: B publishes the new key without waiting for its cache.
    let jwks = |srv: &TestServer| {
        let url = srv.url("/oauth2/jwks");
        async move {
            let v: Value = client()
                .get(url)
                .send()
                .await
                .expect("jwks")
                .json()
                .await
                .expect("json");
            v["keys"]
                .as_array()
                .map(|k| {
                    k.iter()
                        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    let before = jwks(&b).await;
    let (status, rotated) = call(
        &s.admin,
        Method::POST,
        a.url("/api/v1/oidc/keys/rotate"),
        &s.csrf,
        Some(json!({"alg": "ES256"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let kid = rotated["kid"].as_str().expect("kid").to_owned();
    assert!(!before.contains(&kid));
    eventually(
        Duration::from_secs(1),
        "B to publish the key A made",
        || async { jwks(&b).await.contains(&kid).then_some(()) },
    )
    .await;
}
