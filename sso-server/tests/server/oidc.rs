//! The OpenID Connect provider, driven as real relying parties drive it: the `openidconnect`
//! crate (discovery, code + PKCE, ID token verification with nonce and at_hash, userinfo,
//! refresh), a cookie-keeping HTTP client as the employee's browser, domain password sign-in
//! against the Samba AD DC, and passkeys with webauthn-rs's software authenticator.

use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sso_server::audit::Actor;
use sso_server::clock::Clock as _;
use sso_server::directory::sync::Trigger;
use sso_server::directory::{Domains, RunOptions, SyncMode};

use crate::ad::{Corner, Dc, NewUser, USER_PASSWORD};
use crate::support::{backends, call, client, eventually, form_field as field, Db, TestServer};

const REDIRECT: &str = "http://localhost:9/callback";
const LOGGED_OUT: &str = "http://localhost:9/bye";

struct Fixture {
    server: TestServer,
    corner: Corner,
    /// `CORP\sam`
    account: String,
    user_dn: String,
    employee_id: String,
    client_id: String,
    secret: String,
}

async fn sync(server: &TestServer) {
    let run = server
        .state
        .syncer()
        .run(
            "corp",
            RunOptions {
                mode: SyncMode::Full,
                dry_run: false,
                force: true,
                trigger: Trigger::Cli,
                actor: Actor::cli(),
            },
            None,
        )
        .await
        .expect("sync");
    assert_eq!(run.state, "succeeded", "{:?}", run.message);
}

async fn setup(db: Db) -> Option<Fixture> {
    setup_with(db, |_| {}).await
}

/// [`setup`] on a server with an adjusted configuration.
async fn setup_with(
    db: Db,
    adjust: impl FnOnce(&mut sso_server::config::Config),
) -> Option<Fixture> {
    let dc = Dc::corp()?;
    let server = TestServer::start_with(db, adjust).await;
    let mut corner = Corner::new(&dc).await;
    let sam = format!("o{}", corner.tag);
    let mail = format!("oidc.{}@corp.example.test", corner.tag);
    let user_dn = corner
        .add_user(&NewUser {
            sam: &sam,
            given: Some("Olive"),
            sn: Some("Idc"),
            mail: Some(&mail),
            phone: Some("+1 555 0142"),
            ..NewUser::default()
        })
        .await;
    let group = corner.group.clone();
    corner.add_member(&group, &user_dn).await;
    let input = serde_json::from_value(corner.domain_json("corp")).expect("domain");
    Domains {
        store: &server.state.store,
        cipher: &server.state.cipher,
    }
    .create(&Actor::cli(), server.clock.now_ms(), &input)
    .await
    .expect("domain");
    sync(&server).await;
    let mut conn = server.state.store.conn().await.expect("conn");
    let employee_id = sso_server::employees::store::find_by_email(&mut conn, &mail)
        .await
        .expect("find")
        .expect("imported")
        .id;
    drop(conn);
    let (admin, csrf) = server.admin_client().await;
    let (status, created) = call(
        &admin,
        Method::POST,
        server.url("/api/v1/oidc/clients"),
        &csrf,
        Some(json!({
            "name": "Wiki",
            "kind": "confidential",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [LOGGED_OUT],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let netbios = if dc.netbios.is_empty() {
        "corp".to_owned()
    } else {
        dc.netbios.clone()
    };
    Some(Fixture {
        account: format!("{netbios}\\{sam}"),
        user_dn,
        employee_id,
        client_id: created["client_id"].as_str().expect("id").to_owned(),
        secret: created["client_secret"]
            .as_str()
            .expect("secret")
            .to_owned(),
        server,
        corner,
    })
}

/// A password sign-in from a fresh browser (no device token, no session), optionally from
/// another address (`X-Forwarded-For`, for servers that trust the test's loopback proxy): the
/// status and the page's error text.
async fn password_attempt(
    server: &TestServer,
    username: &str,
    password: &str,
    from: Option<&str>,
) -> (StatusCode, String) {
    let browser = client();
    let page = browser
        .get(server.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let mut req = browser.post(server.url("/login/password")).form(&[
        ("csrf_token", field(&page, "csrf_token").as_str()),
        ("request", ""),
        ("username", username),
        ("password", password),
    ]);
    if let Some(ip) = from {
        req = req.header("x-forwarded-for", ip);
    }
    let resp = req.send().await.expect("sign in");
    let status = resp.status();
    let html = resp.text().await.expect("html");
    let error = html
        .split("id=\"signin-error\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_default()
        .to_owned();
    (status, error)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn rp(
    f: &Fixture,
) -> (
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    CoreProviderMetadata,
) {
    let meta = CoreProviderMetadata::discover_async(
        IssuerUrl::new(f.server.base.clone()).expect("issuer"),
        &http(),
    )
    .await
    .expect("discovery");
    let c = CoreClient::from_provider_metadata(
        meta.clone(),
        ClientId::new(f.client_id.clone()),
        Some(ClientSecret::new(f.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
    (c, meta)
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Location; status {}", resp.status()))
        .to_owned()
}

fn absolute(f: &Fixture, loc: &str) -> String {
    if loc.starts_with('/') {
        f.server.url(loc)
    } else {
        loc.to_owned()
    }
}

/// Follows redirects inside the SSO server until one leaves it; returns that URL.
async fn follow(f: &Fixture, browser: &reqwest::Client, mut url: String) -> String {
    for _ in 0..10 {
        if !url.starts_with(&f.server.base) {
            return url;
        }
        let resp = browser.get(&url).send().await.expect("get");
        if !resp.status().is_redirection() {
            panic!("stopped at {url}: {}", resp.status());
        }
        url = absolute(f, &location(&resp));
    }
    panic!("too many redirects");
}

/// The browser opens the authorization URL, lands on the sign-in page, signs in with the domain
/// password, and comes back to the client with a code. Returns the final redirect.
async fn sign_in_with_password(
    f: &Fixture,
    browser: &reqwest::Client,
    auth_url: &str,
    password: &str,
) -> Result<url::Url, (StatusCode, String)> {
    let resp = browser.get(auth_url).send().await.expect("authorize");
    assert!(
        resp.status().is_redirection(),
        "authorize: {}",
        resp.status()
    );
    let login = absolute(f, &location(&resp));
    if login.starts_with(REDIRECT) {
        // Already signed in: the code comes back at once.
        return Ok(url::Url::parse(&login).expect("url"));
    }
    assert!(login.contains("/login?request="), "{login}");
    let page = browser
        .get(&login)
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    let csrf = field(&page, "csrf_token");
    let request = field(&page, "request");
    let resp = browser
        .post(f.server.url("/login/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", request.as_str()),
            ("username", f.account.as_str()),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in");
    if !resp.status().is_redirection() {
        let status = resp.status();
        return Err((status, resp.text().await.unwrap_or_default()));
    }
    let next = absolute(f, &location(&resp));
    Ok(url::Url::parse(&follow(f, browser, next).await).expect("url"))
}

fn query(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.to_string())
}

/// The whole code flow as the openidconnect crate runs it, plus userinfo and refresh.
#[tokio::test]
async fn code_flow_with_pkce_userinfo_and_refresh() {
    for db in backends() {
        let Some(f) = setup(db).await else { return };
        let (rp, meta) = rp(&f).await;
        assert_eq!(meta.issuer().as_str(), f.server.base);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = rp
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("phone".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        let browser = client();
        let back = sign_in_with_password(&f, &browser, auth_url.as_str(), USER_PASSWORD)
            .await
            .expect("signed in");
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        assert_eq!(
            query(&back, "state").as_deref(),
            Some(csrf.secret().as_str()),
            "state comes back"
        );
        assert_eq!(
            query(&back, "iss").as_deref(),
            Some(f.server.base.as_str()),
            "RFC 9207 iss"
        );
        let code = query(&back, "code").expect("code");

        let http = http();
        let tokens = rp
            .exchange_code(AuthorizationCode::new(code))
            .expect("token endpoint")
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("token exchange");
        let id_token = tokens.id_token().expect("id token");
        let verifier = rp.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &nonce)
            .expect("ID token verifies, nonce matches");
        assert_eq!(claims.subject().as_str(), f.employee_id);
        assert_eq!(
            claims.email().map(|e| e.as_str().to_owned()),
            Some(format!("oidc.{}@corp.example.test", f.corner.tag))
        );
        assert!(claims.auth_time().is_some());
        let amr: Vec<String> = claims
            .auth_method_refs()
            .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
            .unwrap_or_default();
        assert_eq!(amr, vec!["pwd".to_owned()]);
        let expected = claims.access_token_hash().expect("at_hash");
        let actual = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().expect("alg"),
            id_token.signing_key(&verifier).expect("key"),
        )
        .expect("hash");
        assert_eq!(&actual, expected, "at_hash binds the access token");
        assert_eq!(
            id_token.signing_alg().expect("alg"),
            &openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
        );

        let info: CoreUserInfoClaims = rp
            .user_info(tokens.access_token().clone(), None)
            .expect("userinfo endpoint")
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(info.subject().as_str(), f.employee_id);
        assert_eq!(info.phone_number().map(|p| p.as_str()), Some("+1 555 0142"));
        assert_eq!(
            info.given_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str()),
            Some("Olive")
        );

        // Refresh rotates; the old refresh token then revokes the family.
        let first = tokens.refresh_token().expect("refresh token").clone();
        let refreshed = rp
            .exchange_refresh_token(&first)
            .expect("endpoint")
            .request_async(&http)
            .await
            .expect("refresh");
        let second = refreshed.refresh_token().expect("rotated").clone();
        assert_ne!(second.secret(), first.secret());
        let new_id = refreshed.id_token().expect("new id token");
        let c2 = new_id
            .claims(&verifier, |_: Option<&Nonce>| Ok(()))
            .expect("verifies");
        assert_eq!(
            c2.auth_time(),
            claims.auth_time(),
            "auth_time is the sign-in's"
        );
        let reuse = rp
            .exchange_refresh_token(&first)
            .expect("endpoint")
            .request_async(&http)
            .await;
        assert!(format!("{reuse:?}").contains("invalid_grant"), "{reuse:?}");
        let after = rp
            .exchange_refresh_token(&second)
            .expect("endpoint")
            .request_async(&http)
            .await;
        assert!(
            format!("{after:?}").contains("invalid_grant"),
            "the family is revoked: {after:?}"
        );
        let gone: Result<CoreUserInfoClaims, _> = rp
            .user_info(refreshed.access_token().clone(), None)
            .expect("endpoint")
            .request_async(&http)
            .await;
        assert!(gone.is_err(), "access tokens of a revoked family stop too");
    }
}

/// A started flow: authorization URL parameters and the code that came back.
struct Flow {
    code: String,
    verifier: String,
}

fn auth_url(f: &Fixture, extra: &[(&str, &str)]) -> (String, String) {
    let verifier = format!("v{}", "x".repeat(50));
    let d = ring_digest(&verifier);
    let mut u = url::Url::parse(&f.server.url("/oauth2/authorize")).expect("url");
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("response_type", "code");
        q.append_pair("client_id", &f.client_id);
        q.append_pair("redirect_uri", REDIRECT);
        let scope = extra
            .iter()
            .find(|(k, _)| *k == "scope")
            .map_or("openid email offline_access", |(_, v)| *v);
        q.append_pair("scope", scope);
        q.append_pair("state", "st4te");
        q.append_pair("nonce", "n0nce");
        q.append_pair("code_challenge", &d);
        q.append_pair("code_challenge_method", "S256");
        for (k, v) in extra.iter().filter(|(k, _)| *k != "scope") {
            q.append_pair(k, v);
        }
    }
    (u.to_string(), verifier)
}

fn ring_digest(v: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

async fn start_flow(f: &Fixture, browser: &reqwest::Client) -> Flow {
    let (url, verifier) = auth_url(f, &[]);
    let back = sign_in_with_password(f, browser, &url, USER_PASSWORD)
        .await
        .expect("signed in");
    Flow {
        code: query(&back, "code").expect("code"),
        verifier,
    }
}

async fn token_call(
    f: &Fixture,
    params: &[(&str, &str)],
    secret: Option<&str>,
) -> (StatusCode, Value) {
    let resp = http()
        .post(f.server.url("/oauth2/token"))
        .basic_auth(&f.client_id, Some(secret.unwrap_or(&f.secret)))
        .form(params)
        .send()
        .await
        .expect("token");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn exchange(f: &Fixture, flow: &Flow) -> (StatusCode, Value) {
    token_call(
        f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &flow.verifier),
        ],
        None,
    )
    .await
}

async fn userinfo_status(f: &Fixture, access: &str) -> StatusCode {
    http()
        .get(f.server.url("/oauth2/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .expect("userinfo")
        .status()
}

/// Code reuse, expiry, PKCE mismatch, bad secret, wrong redirect URI at the token endpoint.
#[tokio::test]
async fn token_endpoint_refuses_bad_exchanges() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let flow = start_flow(&f, &browser).await;

    // Bad client secret: 401 invalid_client, nothing consumed.
    let (status, body) = token_call(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &flow.verifier),
        ],
        Some("not-the-secret"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // PKCE mismatch.
    let wrong = format!("w{}", "y".repeat(50));
    let (status, body) = token_call(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    // Wrong redirect URI.
    let (_, body) = token_call(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow.code),
            ("redirect_uri", "http://localhost:9/other"),
            ("code_verifier", &flow.verifier),
        ],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // The real exchange works once.
    let (status, tokens) = exchange(&f, &flow).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    assert_eq!(userinfo_status(&f, &access).await, 200);
    // Reuse fails and revokes what the first exchange issued.
    let (status, body) = exchange(&f, &flow).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(userinfo_status(&f, &access).await, 401);
    let (_, body) = token_call(
        &f,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // An expired code (the clock moves past its 60 s).
    let flow = start_flow(&f, &browser).await;
    f.server.clock.advance(Duration::from_secs(61));
    let (_, body) = exchange(&f, &flow).await;
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"]
        .as_str()
        .unwrap_or("")
        .contains("expired"));

    // Unsupported grant type and a form sent as JSON.
    let (_, body) = token_call(&f, &[("grant_type", "password")], None).await;
    assert_eq!(body["error"], "unsupported_grant_type");
    let resp = http()
        .post(f.server.url("/oauth2/token"))
        .basic_auth(&f.client_id, Some(&f.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("json");
    assert_eq!(resp.status(), 400);
}

/// Errors at the authorization endpoint: an unknown client or redirect URI gets a page, never a
/// redirect; others redirect back; prompt=none signed out is login_required.
#[tokio::test]
async fn authorization_endpoint_errors() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let (url, _) = auth_url(&f, &[]);
    let bad_redirect = url.replace("localhost%3A9%2Fcallback", "evil.example%2Fcb");
    assert_ne!(bad_redirect, url);
    let resp = browser.get(&bad_redirect).send().await.expect("get");
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
    let unknown = url.replace(&f.client_id, "no-such-client");
    let resp = browser.get(&unknown).send().await.expect("get");
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());

    let (url, _) = auth_url(&f, &[("prompt", "none")]);
    let resp = browser.get(&url).send().await.expect("get");
    let back = url::Url::parse(&location(&resp)).expect("redirect");
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query(&back, "state").as_deref(), Some("st4te"));

    let (url, _) = auth_url(&f, &[]);
    let plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain");
    let resp = browser.get(&plain).send().await.expect("get");
    let back = url::Url::parse(&location(&resp)).expect("redirect");
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    let no_openid = url.replace("scope=openid+email", "scope=email");
    let resp = browser.get(&no_openid).send().await.expect("get");
    let back = url::Url::parse(&location(&resp)).expect("redirect");
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_scope"));

    // Signed in: prompt=none now returns a code at once; prompt=login asks again.
    start_flow(&f, &browser).await;
    let (url, _) = auth_url(&f, &[("prompt", "none")]);
    let resp = browser.get(&url).send().await.expect("get");
    let back = url::Url::parse(&location(&resp)).expect("redirect");
    assert!(query(&back, "code").is_some(), "{back}");
    let (url, _) = auth_url(&f, &[("prompt", "login")]);
    let resp = browser.get(&url).send().await.expect("get");
    assert!(location(&resp).starts_with("/login?request="));
}

/// Wrong password and unknown account answer alike (status, text, and no faster).
#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike() {
    let Some(mut f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let (url, _) = auth_url(&f, &[]);
    let t = Instant::now();
    let (s1, body1) = sign_in_with_password(&f, &browser, &url, "Wr0ng-Passw0rd!")
        .await
        .expect_err("refused");
    let d1 = t.elapsed();
    f.account = "CORP\\nobody-here".into();
    let t = Instant::now();
    let (s2, body2) = sign_in_with_password(&f, &browser, &url, "Wr0ng-Passw0rd!")
        .await
        .expect_err("refused");
    let d2 = t.elapsed();
    assert_eq!(s1, s2);
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    let msg = |b: &str| {
        b.split("id=\"signin-error\">")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .map(str::to_owned)
    };
    assert_eq!(msg(&body1), msg(&body2));
    assert!(msg(&body1).is_some());
    assert!(
        d1 >= Duration::from_millis(400) && d2 >= Duration::from_millis(400),
        "{d1:?} {d2:?}"
    );
    // Repeated failures for one name are delayed, known or not, and still answer the same: a
    // delayed attempt checks nothing (so it cannot be guessed through) and looks like any failure.
    for _ in 0..6 {
        let (status, body) = sign_in_with_password(&f, &browser, &url, "Wr0ng-Passw0rd!")
            .await
            .expect_err("refused");
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(msg(&body), msg(&body1));
    }
    let mut conn = f.server.state.store.conn().await.expect("conn");
    let failed = sso_server::audit::store::list(
        &mut conn,
        &sso_server::audit::store::AuditFilter {
            action: Some("employee.sign_in_failed".into()),
            target_id: None,
        },
        None,
        50,
    )
    .await
    .expect("audit");
    assert!(
        failed.iter().any(|e| e.detail.contains("throttled")),
        "attempts past the free ones are not checked"
    );
}

/// RFC 9700 by default (issue 26): a new client must send PKCE (an authorization request
/// without it is refused with `invalid_request`) unless an admin opts that client out; and a
/// client introspects only its own tokens unless it is marked a resource server (another
/// client's token reads "not active", as an unknown one).
#[tokio::test]
async fn pkce_by_default_and_introspection_only_of_own_tokens() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let body = |pkce: bool, resource_server: bool| {
        json!({"name": "Reports API", "kind": "confidential", "redirect_uris": [REDIRECT],
               "grant_types": ["authorization_code", "client_credentials"],
               "pkce_required": pkce, "resource_server": resource_server})
    };
    let (status, b) = call(
        &admin,
        Method::POST,
        f.server.url("/api/v1/oidc/clients"),
        &csrf,
        Some(json!({"name": "Reports API", "kind": "confidential", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "client_credentials"]})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    assert_eq!(
        (b["pkce_required"].clone(), b["resource_server"].clone()),
        (json!(true), json!(false))
    );
    let (b_id, b_secret) = (
        b["client_id"].as_str().expect("id").to_owned(),
        b["client_secret"].as_str().expect("secret").to_owned(),
    );
    let authorize_without_pkce = || {
        let mut u = url::Url::parse(&f.server.url("/oauth2/authorize")).expect("url");
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &b_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid")
            .append_pair("state", "s");
        let u = u.to_string();
        async move {
            let resp = http().get(u).send().await.expect("authorize");
            location(&resp)
        }
    };
    let refused = authorize_without_pkce().await;
    assert!(refused.starts_with(REDIRECT), "{refused}");
    assert!(
        refused.contains("error=invalid_request") && refused.contains("PKCE"),
        "{refused}"
    );
    // Opted out by the admin: the same request goes on to the sign-in page.
    let (status, e) = call(
        &admin,
        Method::PUT,
        f.server.url(&format!("/api/v1/oidc/clients/{b_id}")),
        &csrf,
        Some(body(false, false)),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    let allowed = authorize_without_pkce().await;
    assert!(!allowed.contains("error="), "{allowed}");
    // A public client cannot be opted out.
    let (status, e) = call(
        &admin,
        Method::POST,
        f.server.url("/api/v1/oidc/clients"),
        &csrf,
        Some(json!({"name": "SPA", "kind": "public", "redirect_uris": [REDIRECT], "pkce_required": false})),
    )
    .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("pkce_required")),
        "{e}"
    );

    // The employee's token at the first app, introspected by the second.
    let (_, tokens) = exchange(&f, &start_flow(&f, &client()).await).await;
    let access = tokens["access_token"].as_str().expect("at").to_owned();
    let introspect = |id: String, secret: String| {
        let (url, access) = (f.server.url("/oauth2/introspect"), access.clone());
        async move {
            http()
                .post(url)
                .basic_auth(&id, Some(&secret))
                .form(&[("token", access.as_str())])
                .send()
                .await
                .expect("introspect")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let by_other = introspect(b_id.clone(), b_secret.clone()).await;
    assert_eq!(by_other, json!({"active": false}));
    let own = introspect(f.client_id.clone(), f.secret.clone()).await;
    assert_eq!(own["active"], true, "{own}");
    let (status, _) = call(
        &admin,
        Method::PUT,
        f.server.url(&format!("/api/v1/oidc/clients/{b_id}")),
        &csrf,
        Some(body(false, true)),
    )
    .await;
    assert_eq!(status, 200);
    let by_resource_server = introspect(b_id, b_secret).await;
    assert_eq!(by_resource_server["active"], true, "{by_resource_server}");
    assert_eq!(by_resource_server["sub"], json!(f.employee_id));
}

/// Nobody can lock an employee out (issue 26): 50 wrong passwords from 50 addresses lock the
/// account for browsers it never signed in with, but the owner, from the browser they signed in
/// with before (its device token), signs in at once with the right password.
#[tokio::test]
async fn guessing_from_anywhere_never_locks_the_owner_out() {
    for db in backends() {
        let Some(f) = setup_with(db, |c| {
            c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        })
        .await
        else {
            return;
        };
        let f = std::sync::Arc::new(f);
        let owner = client();
        let (_, tokens) = exchange(&f, &start_flow(&f, &owner).await).await;
        assert!(tokens["id_token"].is_string(), "{tokens}");
        // The attack: one wrong password from each of 50 addresses, browsers without a token.
        let mut attempts = tokio::task::JoinSet::new();
        for i in 0..50u8 {
            let f = f.clone();
            attempts.spawn(async move {
                let from = format!("198.51.100.{i}");
                password_attempt(&f.server, &f.account, "Wr0ng-Guess!", Some(&from))
                    .await
                    .0
            });
        }
        while let Some(status) = attempts.join_next().await {
            assert_eq!(status.expect("task"), StatusCode::UNAUTHORIZED);
        }
        // A browser the owner never used: locked (the answer is a wrong password's).
        let stranger =
            sign_in_with_password(&f, &client(), &auth_url(&f, &[]).0, USER_PASSWORD).await;
        assert!(stranger.is_err(), "an untrusted browser is locked");
        // The owner's browser, asked to sign in again (prompt=login): in at once.
        let (url, _) = auth_url(&f, &[("prompt", "login")]);
        let back = sign_in_with_password(&f, &owner, &url, USER_PASSWORD)
            .await
            .expect("the owner signs in from their browser");
        assert!(query(&back, "code").is_some());
    }
}

/// Never trip the domain's lockout (issue 26): the employee's account gets a fine-grained
/// password policy that locks it at 4 wrong passwords; 12 wrong passwords at the sign-in page
/// (from 12 addresses, our own throttle set out of the way) leave AD's `badPwdCount` below the
/// threshold: the account is not locked in the domain and the right password still binds.
#[tokio::test]
async fn the_sign_in_page_never_trips_the_domains_lockout() {
    let Some(mut f) = setup_with(Db::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.oidc.sign_in_free_failures = 100;
        c.oidc.sign_in_lockout_after = 100;
    })
    .await
    else {
        return;
    };
    let pso = format!("pso-{}", f.corner.tag);
    let sam = f.account.rsplit('\\').next().expect("sam").to_owned();
    let dc = f.corner.dc.clone();
    dc.samba_tool(&[
        "domain",
        "passwordsettings",
        "pso",
        "create",
        &pso,
        "1",
        "--account-lockout-threshold=4",
        "--account-lockout-duration=30",
        "--reset-account-lockout-after=30",
    ]);
    dc.samba_tool(&["domain", "passwordsettings", "pso", "apply", &pso, &sam]);
    for i in 0..12u8 {
        let from = format!("198.51.100.{i}");
        let (status, _) =
            password_attempt(&f.server, &f.account, "Wr0ng-Guess!", Some(&from)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let found = f
        .corner
        .ldap
        .search(
            &f.user_dn,
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["badPwdCount", "lockoutTime"],
        )
        .await
        .expect("search")
        .success()
        .expect("search");
    let entry = ldap3::SearchEntry::construct(found.0.into_iter().next().expect("user"));
    let bad: i64 = entry.attrs["badPwdCount"][0].parse().expect("count");
    assert!(bad < 4, "badPwdCount {bad} reached the threshold");
    assert!(bad >= 1, "the first wrong passwords did reach AD ({bad})");
    let lockout = entry
        .attrs
        .get("lockoutTime")
        .and_then(|v| v.first())
        .map_or("0", String::as_str);
    assert_eq!(lockout, "0", "not locked in the domain");
    assert!(
        dc.binds(&f.user_dn, USER_PASSWORD).await,
        "the owner still signs in"
    );
    dc.samba_tool(&["domain", "passwordsettings", "pso", "delete", &pso]);
}

/// A plain account name two employees share (the same sAMAccountName in two domains): guesses
/// typed as that name count against each of them (issue 26), so spelling the name another way
/// (`CORP\\name`) gives nobody a fresh budget: after 4 failures as the shared name, the
/// employee's right password as `CORP\\name` waits out the delay like any other guess.
#[tokio::test]
async fn a_name_shared_by_two_domains_counts_against_each_employee() {
    let Some(emea) = Dc::emea() else {
        return;
    };
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let sam = f.account.rsplit('\\').next().expect("sam").to_owned();
    let mut other = Corner::new(&emea).await;
    let dn = other
        .add_user(&NewUser {
            sam: &sam,
            given: Some("Otto"),
            sn: Some("Emea"),
            mail: Some(&format!("{sam}@emea.example.test")),
            ..NewUser::default()
        })
        .await;
    let group = other.group.clone();
    other.add_member(&group, &dn).await;
    let input = serde_json::from_value(other.domain_json("emea")).expect("domain");
    Domains {
        store: &f.server.state.store,
        cipher: &f.server.state.cipher,
    }
    .create(&Actor::cli(), f.server.clock.now_ms(), &input)
    .await
    .expect("domain");
    let run = f
        .server
        .state
        .syncer()
        .run(
            "emea",
            RunOptions {
                mode: SyncMode::Full,
                dry_run: false,
                force: true,
                trigger: Trigger::Cli,
                actor: Actor::cli(),
            },
            None,
        )
        .await
        .expect("sync");
    assert_eq!(run.state, "succeeded", "{:?}", run.message);

    let attempt = |username: String, password: &'static str| {
        let server = &f.server;
        async move { password_attempt(server, &username, password, None).await.0 }
    };
    for _ in 0..4 {
        assert_eq!(
            attempt(sam.clone(), "Wr0ng-Guess!").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt(f.account.clone(), USER_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "the shared name's failures count against this employee too"
    );
    f.server.clock.advance(Duration::from_secs(2));
    assert_eq!(
        attempt(f.account.clone(), USER_PASSWORD).await,
        StatusCode::SEE_OTHER,
        "after the delay the right password signs in"
    );
}

/// While the domain's DC cannot be reached, a known account name and an unknown one get the same
/// answer (issue 26): before, the known one was told that its domain was down, which told an
/// attacker that the name exists.
#[tokio::test]
async fn a_dc_that_is_down_does_not_tell_known_names_from_unknown() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (_, domains) = call(
        &admin,
        Method::GET,
        f.server.url("/api/v1/directory/domains"),
        &csrf,
        None,
    )
    .await;
    let id = domains[0]["id"].as_str().expect("domain").to_owned();
    // The DC goes away: the domain now points at a port nothing listens on.
    let mut body = f.corner.domain_json("corp");
    body["urls"] = json!(["ldaps://127.0.0.1:1"]);
    body["timeout_seconds"] = json!(2);
    let (status, e) = call(
        &admin,
        Method::PUT,
        f.server.url(&format!("/api/v1/directory/domains/{id}")),
        &csrf,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    let answer = |username: String| {
        let server = &f.server;
        async move { password_attempt(server, &username, USER_PASSWORD, None).await }
    };
    let known = answer(f.account.clone()).await;
    let unknown = answer(format!("CORP\\nobody{}", f.corner.tag)).await;
    assert_eq!(known.0, StatusCode::UNAUTHORIZED);
    assert_eq!(known, unknown);
    assert!(
        !known.1.is_empty() && !known.1.contains("cannot be reached right now"),
        "{known:?}"
    );
}

/// Revocation, logout, a disabled employee's refresh, client credentials and introspection.
#[tokio::test]
async fn revocation_logout_disable_and_introspection() {
    let Some(mut f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let access = tokens["access_token"].as_str().expect("at").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();

    let introspect = |token: String| {
        let f = &f;
        async move {
            http()
                .post(f.server.url("/oauth2/introspect"))
                .basic_auth(&f.client_id, Some(&f.secret))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .expect("introspect")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let i = introspect(access.clone()).await;
    assert_eq!(
        (i["active"].clone(), i["sub"].clone()),
        (json!(true), json!(f.employee_id))
    );
    assert_eq!(introspect(refresh.clone()).await["active"], true);
    assert_eq!(introspect("garbage".into()).await["active"], false);

    // RFC 7009: revoking the refresh token stops it and the access token.
    let resp = http()
        .post(f.server.url("/oauth2/revoke"))
        .basic_auth(&f.client_id, Some(&f.secret))
        .form(&[
            ("token", refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    assert_eq!(introspect(access.clone()).await["active"], false);
    assert_eq!(userinfo_status(&f, &access).await, 401);
    let (_, body) = token_call(
        &f,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");

    // Client credentials.
    let (status, cc) = token_call(&f, &[("grant_type", "client_credentials")], None).await;
    assert_eq!(status, 200, "{cc}");
    assert!(cc.get("id_token").is_none() && cc.get("refresh_token").is_none());
    assert_eq!(
        introspect(cc["access_token"].as_str().expect("at").into()).await["sub"],
        json!(f.client_id)
    );

    // RP-initiated logout with the ID token hint: signed out, redirected with state.
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let id_token = tokens["id_token"].as_str().expect("id").to_owned();
    let mut u = url::Url::parse(&f.server.url("/oauth2/logout")).expect("url");
    u.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", LOGGED_OUT)
        .append_pair("state", "bye-state");
    let resp = browser.get(u.as_str()).send().await.expect("logout");
    let back = url::Url::parse(&location(&resp)).expect("redirect");
    assert!(back.as_str().starts_with(LOGGED_OUT));
    assert_eq!(query(&back, "state").as_deref(), Some("bye-state"));
    let (url, _) = auth_url(&f, &[("prompt", "none")]);
    let resp = browser.get(&url).send().await.expect("get");
    assert!(
        location(&resp).contains("error=login_required"),
        "signed out"
    );
    assert_eq!(
        userinfo_status(&f, tokens["access_token"].as_str().expect("at")).await,
        401,
        "the session's tokens are revoked"
    );
    // An unregistered post-logout URI gets a page, not a redirect.
    let mut u = url::Url::parse(&f.server.url("/oauth2/logout")).expect("url");
    u.query_pairs_mut()
        .append_pair("client_id", &f.client_id)
        .append_pair("post_logout_redirect_uri", "https://evil.example/");
    let resp = browser.get(u.as_str()).send().await.expect("logout");
    assert_eq!(resp.status(), 400);

    // Disabled in AD: the next sync revokes; refresh fails and sign-in is refused.
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let dn = f.user_dn.clone();
    f.corner.set(&dn, "userAccountControl", "514").await;
    sync(&f.server).await;
    let (_, body) = token_call(
        &f,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        userinfo_status(&f, tokens["access_token"].as_str().expect("at")).await,
        401
    );
    let (url, _) = auth_url(&f, &[("prompt", "none")]);
    let resp = browser.get(&url).send().await.expect("get");
    assert!(
        location(&resp).contains("error=login_required"),
        "the session ended with the deactivation"
    );
}

/// Discovery, JWKS and key rotation: the old key stays published, new tokens use the new key.
#[tokio::test]
async fn discovery_jwks_and_key_rotation() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let d: Value = http()
        .get(f.server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(d["issuer"], json!(f.server.base));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let jwks = |f: &Fixture| {
        let url = f.server.url("/oauth2/jwks");
        async move {
            http()
                .get(url)
                .send()
                .await
                .expect("jwks")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let before = jwks(&f).await;
    let kids = |v: &Value| {
        v["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    assert_eq!(kids(&before).len(), 2, "one RS256 and one ES256 key");
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (status, rotated) = call(
        &admin,
        Method::POST,
        f.server.url("/api/v1/oidc/keys/rotate"),
        &csrf,
        Some(json!({"alg": "RS256"})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let after = jwks(&f).await;
    let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
    assert!(kids(&after).contains(&new_kid));
    for k in kids(&before) {
        assert!(kids(&after).contains(&k), "the retired key stays published");
    }
    let browser = client();
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let header = tokens["id_token"]
        .as_str()
        .expect("id")
        .split('.')
        .next()
        .expect("header")
        .to_owned();
    use base64::Engine as _;
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(header["kid"], json!(new_kid));
    // Past the publication window the retired key leaves the JWKS.
    f.server.clock.advance(Duration::from_secs(3 * 3600));
    let (status, _) = call(
        &admin,
        Method::GET,
        f.server.url("/api/v1/oidc/clients"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(
        status, 401,
        "the admin session expired meanwhile, as it should"
    );
    f.server
        .state
        .keys
        .reload(&f.server.state.key_ctx())
        .await
        .expect("reload");
    assert_eq!(kids(&jwks(&f).await).len(), 2);
}

/// The client registry through the API: validation names the field, the secret shows once.
#[tokio::test]
async fn client_registry_api() {
    let server = TestServer::start(Db::Sqlite).await;
    let (admin, csrf) = server.admin_client().await;
    let url = server.url("/api/v1/oidc/clients");
    let (status, body) = call(
        &admin,
        Method::POST,
        url.clone(),
        &csrf,
        Some(json!({"name": "x", "kind": "public", "redirect_uris": ["http://app.example/cb"]})),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("redirect_uris[0]")),
        "{body}"
    );
    let (status, body) = call(&admin, Method::POST, url.clone(), &csrf, Some(json!({"name": "x", "kind": "public", "redirect_uris": ["https://app.example/cb"], "grant_types": ["client_credentials"]}))).await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("grant_types[0]")),
        "{body}"
    );
    let (status, created) = call(
        &admin,
        Method::POST,
        url.clone(),
        &csrf,
        Some(json!({"name": "SPA", "kind": "public", "redirect_uris": ["https://app.example/cb"]})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(
        created["client_secret"].is_null(),
        "public clients have no secret"
    );
    let (status, created) = call(&admin, Method::POST, url.clone(), &csrf, Some(json!({"name": "Web", "kind": "confidential", "redirect_uris": ["https://web.example/cb"], "grant_types": ["authorization_code", "client_credentials"]}))).await;
    assert_eq!(status, 201);
    let secret = created["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let id = created["client_id"].as_str().expect("id").to_owned();
    let (_, list) = call(&admin, Method::GET, url.clone(), &csrf, None).await;
    assert!(
        !list.to_string().contains(&secret),
        "the secret is shown once"
    );
    // A client_credentials token: what the secret is good for.
    let token_with = |secret: String| {
        let (id, url) = (id.clone(), server.url("/oauth2/token"));
        async move {
            let resp = client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .expect("token request");
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = token_with(secret.clone()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the secret works before the rotation: {body}"
    );
    let (status, rotated) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/oidc/clients/{id}/secret")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["client_secret"].as_str(), Some(secret.as_str()));
    // The token endpoint refuses the old secret and accepts the new one.
    let new_secret = rotated["client_secret"].as_str().expect("new secret");
    let (status, body) = token_with(secret.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client")),
        "the old secret is refused: {body}"
    );
    let (status, body) = token_with(new_secret.to_owned()).await;
    assert_eq!(status, StatusCode::OK, "the new secret is accepted: {body}");
    assert!(body["access_token"].is_string(), "{body}");
    let (status, _) = call(
        &admin,
        Method::DELETE,
        server.url(&format!("/api/v1/oidc/clients/{id}")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &admin,
        Method::GET,
        server.url(&format!("/api/v1/oidc/clients/{id}")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// The account page's CSRF token (its `data-csrf`), for `browser`'s session.
async fn account_csrf(f: &Fixture, browser: &reqwest::Client) -> String {
    let page = browser
        .get(f.server.url("/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    let marker = "data-csrf=\"";
    page[page.find(marker).expect("csrf") + marker.len()..]
        .split('"')
        .next()
        .expect("csrf")
        .to_owned()
}

/// Posts JSON (with the CSRF header when given): status and JSON body.
async fn post_json(
    browser: &reqwest::Client,
    url: String,
    body: Value,
    csrf: Option<&str>,
) -> (StatusCode, Value) {
    let mut r = browser.post(url).json(&body);
    if let Some(c) = csrf {
        r = r.header("x-csrf-token", c);
    }
    let resp = r.send().await.expect("post");
    let status = resp.status();
    (status, resp.json::<Value>().await.unwrap_or(Value::Null))
}

/// WebAuthn creation options as the software authenticator can follow them (it cannot hold
/// discoverable credentials, see the notes).
pub(crate) fn soft_creation_options(
    mut options: Value,
) -> webauthn_rs::prelude::CreationChallengeResponse {
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    serde_json::from_value(options).expect("options")
}

/// The fixture employee's first passkey, added through an invitation link: the authenticator
/// holding it and its credential id.
async fn passkey_from_invitation(
    f: &Fixture,
) -> (webauthn_authenticator_rs::softpasskey::SoftPasskey, Vec<u8>) {
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    let admin = client();
    let admin_csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (_, inv) = call(
        &admin,
        Method::POST,
        f.server
            .url(&format!("/api/v1/employees/{}/invitations", f.employee_id)),
        &admin_csrf,
        None,
    )
    .await;
    let token = inv["link"]
        .as_str()
        .expect("link")
        .rsplit('/')
        .next()
        .expect("token")
        .to_owned();
    let (status, start) = post_json(
        &client(),
        f.server.url(&format!("/invite/{token}/passkey/options")),
        json!({}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{start}");
    assert_eq!(
        start["options"]["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    let mut authenticator = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
    let credential = authenticator
        .do_registration(
            url::Url::parse(&f.server.base).expect("origin"),
            soft_creation_options(start["options"].clone()),
        )
        .expect("register");
    let cred_id = credential.raw_id.to_vec();
    let (status, added) = post_json(
        &client(),
        f.server.url(&format!("/invite/{token}/passkey")),
        json!({"ceremony": start["ceremony"], "credential": credential, "name": "Laptop"}),
        None,
    )
    .await;
    assert_eq!(status, 201, "{added}");
    // The same ceremony cannot be finished twice.
    let (status, _) = post_json(
        &client(),
        f.server.url(&format!("/invite/{token}/passkey")),
        json!({"ceremony": start["ceremony"], "credential": credential, "name": "Again"}),
        None,
    )
    .await;
    assert!(status == 400 || status == 404, "{status}");
    (authenticator, cred_id)
}

/// A passkey sign-in in a fresh browser, in the middle of an authorization request.
struct PasskeySignIn {
    browser: reqwest::Client,
    tokens: Value,
    /// The finished ceremony and the assertion sent, to try them again.
    ceremony: Value,
    assertion: Value,
}

async fn sign_in_with_passkey(
    f: &Fixture,
    authenticator: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
    cred_id: &[u8],
) -> PasskeySignIn {
    use base64::Engine as _;
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    use webauthn_rs::prelude::RequestChallengeResponse;
    let browser = client();
    let (url, verifier) = auth_url(f, &[]);
    let resp = browser.get(&url).send().await.expect("authorize");
    let login = location(&resp);
    let request = login.split("request=").nth(1).expect("request").to_owned();
    let request = url::form_urlencoded::parse(format!("r={request}").as_bytes())
        .next()
        .expect("r")
        .1
        .to_string();
    let (_, start) = post_json(
        &browser,
        f.server.url("/login/passkey/options"),
        json!({"request": request}),
        None,
    )
    .await;
    let mut options = start["options"].clone();
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cred_id)}]);
    let options: RequestChallengeResponse = serde_json::from_value(options).expect("options");
    let mut assertion = authenticator
        .do_authentication(url::Url::parse(&f.server.base).expect("origin"), options)
        .expect("assert");
    let user = uuid::Uuid::parse_str(&f.employee_id).expect("uuid");
    assertion.response.user_handle = Some(user.as_bytes().to_vec());
    let (status, done) = post_json(
        &browser,
        f.server.url("/login/passkey"),
        json!({"ceremony": start["ceremony"], "credential": assertion, "request": request}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let next = f.server.url(done["redirect"].as_str().expect("redirect"));
    let back = url::Url::parse(&follow(f, &browser, next).await).expect("url");
    let flow = Flow {
        code: query(&back, "code").expect("code"),
        verifier,
    };
    let (status, tokens) = exchange(f, &flow).await;
    assert_eq!(status, 200);
    PasskeySignIn {
        browser,
        tokens,
        ceremony: start["ceremony"].clone(),
        assertion: serde_json::to_value(&assertion).expect("assertion"),
    }
}

/// Passkeys (issue 15's step-up): a password-only session cannot add one (a phished password is
/// not enough); the CSRF token is checked first.
#[tokio::test]
async fn a_password_only_session_cannot_add_a_passkey() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    start_flow(&f, &browser).await;
    let csrf = account_csrf(&f, &browser).await;
    let (status, _) = post_json(
        &browser,
        f.server.url("/account/passkeys/options"),
        json!({}),
        Some("wrong"),
    )
    .await;
    assert_eq!(status, 403, "CSRF is checked");
    // A password-only session: refused on both enrolment endpoints.
    let (status, body) = post_json(
        &browser,
        f.server.url("/account/passkeys/options"),
        json!({}),
        Some(&csrf),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("sign in again with a passkey"),
        "{body}"
    );
    let (status, _) = post_json(
        &browser,
        f.server.url("/account/passkeys"),
        json!({"ceremony": "x", "credential": {}, "name": "Phished"}),
        Some(&csrf),
    )
    .await;
    assert_eq!(status, 403);
}

/// The first passkey comes through the employee's invitation; a passkey sign-in then signs in
/// without a password (the ID token says amr hwk), and its ceremony is single use.
#[tokio::test]
async fn a_passkey_from_the_invitation_signs_in_without_a_password() {
    use base64::Engine as _;
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let (mut authenticator, cred_id) = passkey_from_invitation(&f).await;
    let signed_in = sign_in_with_passkey(&f, &mut authenticator, &cred_id).await;
    let payload = signed_in.tokens["id_token"]
        .as_str()
        .expect("id")
        .split('.')
        .nth(1)
        .expect("payload")
        .to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(claims["amr"], json!(["hwk", "user"]));
    assert_eq!(claims["sub"], json!(f.employee_id));
    // The ceremony is single use.
    let resp = signed_in
        .browser
        .post(f.server.url("/login/passkey"))
        .json(&json!({"ceremony": signed_in.ceremony, "credential": signed_in.assertion, "request": ""}))
        .send()
        .await
        .expect("replay");
    assert_eq!(resp.status(), 401);
}

/// After a passkey sign-in the account page may add another passkey, rename and remove them
/// with its forms, but only within minutes of that sign-in; it lists the sign-ins and how.
#[tokio::test]
async fn after_a_passkey_sign_in_the_account_page_manages_passkeys() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;

    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    // A password sign-in first (listed below), then the passkey one.
    start_flow(&f, &client()).await;
    let (mut authenticator, cred_id) = passkey_from_invitation(&f).await;
    let browser2 = sign_in_with_passkey(&f, &mut authenticator, &cred_id)
        .await
        .browser;
    let csrf = account_csrf(&f, &browser2).await;
    let (status, start) = post_json(
        &browser2,
        f.server.url("/account/passkeys/options"),
        json!({}),
        Some(&csrf),
    )
    .await;
    assert_eq!(status, 200, "{start}");
    let credential = SoftPasskey::new(true)
        .do_registration(
            url::Url::parse(&f.server.base).expect("origin"),
            soft_creation_options(start["options"].clone()),
        )
        .expect("register");
    let (status, added) = post_json(
        &browser2,
        f.server.url("/account/passkeys"),
        json!({"ceremony": start["ceremony"], "credential": credential, "name": "Phone"}),
        Some(&csrf),
    )
    .await;
    assert_eq!(status, 201, "{added}");
    // The account page lists both, and renames and removes them with its forms.
    let page = || {
        let (b, url) = (browser2.clone(), f.server.url("/account"));
        async move {
            b.get(url)
                .send()
                .await
                .expect("page")
                .text()
                .await
                .expect("html")
        }
    };
    let mut ids: Vec<String> = page()
        .await
        .split("action=\"/account/passkeys/")
        .skip(1)
        .filter_map(|r| r.split('/').next().map(str::to_owned))
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let form = |path: String, fields: Vec<(&'static str, String)>| {
        let (b, url) = (browser2.clone(), f.server.url(&path));
        async move {
            b.post(url)
                .form(&fields)
                .send()
                .await
                .expect("form")
                .status()
                .as_u16()
        }
    };
    let rename = format!("/account/passkeys/{}/rename", ids[1]);
    assert_eq!(
        form(
            rename.clone(),
            vec![("csrf_token", "forged".into()), ("name", "Stolen".into())]
        )
        .await,
        403
    );
    assert_eq!(
        form(
            rename.clone(),
            vec![("csrf_token", csrf.clone()), ("name", " ".into())]
        )
        .await,
        400
    );
    assert_eq!(
        form(
            rename,
            vec![("csrf_token", csrf.clone()), ("name", "Work phone".into())]
        )
        .await,
        303
    );
    assert!(page().await.contains("Work phone"));
    assert_eq!(
        form(
            format!("/account/passkeys/{}/remove", uuid::Uuid::new_v4()),
            vec![("csrf_token", csrf.clone())]
        )
        .await,
        404
    );
    // Only passkeys and phones can be removed from the account page: any other kind of thing
    // in the path is no page at all, and removes nothing.
    for other in ["admins", "sessions", "keys"] {
        assert_eq!(
            form(
                format!("/account/{other}/{}/remove", ids[1]),
                vec![("csrf_token", csrf.clone())]
            )
            .await,
            404,
            "{other}"
        );
    }
    assert_eq!(
        form(
            format!("/account/passkeys/{}/remove", ids[1]),
            vec![("csrf_token", csrf.clone())]
        )
        .await,
        303
    );
    assert!(!page().await.contains("Work phone"), "removed");
    // ...but only within minutes of that sign-in.
    f.server
        .clock
        .advance(std::time::Duration::from_secs(11 * 60));
    let (status, _) = post_json(
        &browser2,
        f.server.url("/account/passkeys/options"),
        json!({}),
        Some(&csrf),
    )
    .await;
    assert_eq!(status, 403, "the step-up is recent or nothing");
    assert_eq!(
        form(
            format!("/account/passkeys/{}/remove", ids[0]),
            vec![("csrf_token", csrf.clone())]
        )
        .await,
        403,
        "removing needs the step-up too"
    );
    let left = page().await;
    assert_eq!(
        left.matches("/remove\"").count(),
        1,
        "the first passkey stays"
    );
    // The sign-ins, with how and to which app: the passkey one and the password one of the flow.
    assert!(left.contains("Recent sign-ins"), "{left}");
    assert!(
        left.contains("passkey, to Wiki") && left.contains("domain password, to Wiki"),
        "{left}"
    );
}

/// A client that asks for ES256 ID tokens gets them, and the relying party verifies them.
#[tokio::test]
async fn es256_id_tokens_on_request() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (status, body) = call(
        &admin,
        Method::PUT,
        f.server
            .url(&format!("/api/v1/oidc/clients/{}", f.client_id)),
        &csrf,
        Some(json!({
            "name": "Wiki",
            "kind": "confidential",
            "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [LOGGED_OUT],
            "id_token_signed_response_alg": "ES256",
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (rp, _) = rp(&f).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let browser = client();
    let back = sign_in_with_password(&f, &browser, auth_url.as_str(), USER_PASSWORD)
        .await
        .expect("signed in");
    let code = query(&back, "code").expect("code");
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("exchange");
    let id_token = tokens.id_token().expect("id token");
    assert_eq!(
        id_token.signing_alg().expect("alg"),
        &openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    let v = rp.id_token_verifier().set_allowed_algs(vec![
        openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ]);
    id_token
        .claims(&v, &nonce)
        .expect("verifies with the published ES256 key");
}

/// A leaver (out of a nested group) is removed by the next *scheduled* sync, unforced, in a
/// domain of 4 (25%, within the removal guard's floor): their refresh token stops working and
/// their session ends (issue 16).
#[tokio::test]
async fn a_leaver_removed_by_the_scheduled_sync_loses_refresh_tokens_and_session() {
    let Some(mut f) = setup(Db::Sqlite).await else {
        return;
    };
    let group = f.corner.group.clone();
    let nested = f.corner.add_group("Nested").await;
    f.corner.add_member(&group, &nested).await;
    let dn = f.user_dn.clone();
    f.corner.add_member(&nested, &dn).await;
    f.corner.remove_member(&group, &dn).await;
    let tag = f.corner.tag.clone();
    for i in 0..3 {
        let sam = format!("p{i}{tag}");
        let peer = f
            .corner
            .add_user(&NewUser {
                sam: &sam,
                given: Some("Peer"),
                sn: Some(&format!("N{i}")),
                ..NewUser::default()
            })
            .await;
        f.corner.add_member(&group, &peer).await;
    }
    sync(&f.server).await;
    let browser = client();
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();

    f.corner.remove_member(&nested, &dn).await;
    f.server
        .clock
        .advance(std::time::Duration::from_secs(61 * 60));
    let started = sso_server::directory::schedule::tick(&f.server.state.syncer())
        .await
        .expect("tick");
    assert_eq!(started.len(), 1);
    let run = eventually(Duration::from_secs(30), "the run to finish", || async {
        let mut conn = f.server.state.store.conn().await.expect("conn");
        let run = sso_server::directory::store::get_run(&mut conn, &started[0])
            .await
            .expect("run")
            .expect("stored");
        (run.state != "running").then_some(run)
    })
    .await;
    assert_eq!(
        (run.state.as_str(), run.removed, run.forced),
        ("succeeded", 1, 0),
        "{:?}",
        run.message
    );
    let (_, body) = token_call(
        &f,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (url, _) = auth_url(&f, &[("prompt", "none")]);
    let resp = browser.get(&url).send().await.expect("get");
    assert!(
        location(&resp).contains("error=login_required"),
        "the session ended"
    );
}

/// Refresh tokens as an attacker tries them (issue 15): a made-up token naming a real grant (the
/// grant id is in every access token) neither refreshes nor revokes anything; revocation needs the
/// token itself; refresh tokens come only with `offline_access`; a refresh token dies at its
/// absolute lifetime however often it is used.
#[tokio::test]
async fn refresh_tokens_need_their_secret_offline_access_and_end_absolutely() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let flow = start_flow(&f, &browser).await;
    let (_, tokens) = exchange(&f, &flow).await;
    let first = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let gid = first.split('.').next().expect("grant id").to_owned();
    let (status, body) = token_call(
        &f,
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut current = body["refresh_token"].as_str().expect("rt").to_owned();

    // Made up: an older generation (what a reuse looks like) and the current one.
    for forged in [
        format!("{gid}.0.{}", "A".repeat(43)),
        format!("{gid}.1.{}", "B".repeat(43)),
    ] {
        let (status, body) = token_call(
            &f,
            &[("grant_type", "refresh_token"), ("refresh_token", &forged)],
            None,
        )
        .await;
        assert_eq!(
            (status.as_u16(), body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // Revocation without the secret: answered 200 (RFC 7009), revokes nothing.
        let resp = http()
            .post(f.server.url("/oauth2/revoke"))
            .basic_auth(&f.client_id, Some(&f.secret))
            .form(&[("token", forged.as_str())])
            .send()
            .await
            .expect("revoke");
        assert_eq!(resp.status(), 200);
    }
    let (status, body) = token_call(
        &f,
        &[("grant_type", "refresh_token"), ("refresh_token", &current)],
        None,
    )
    .await;
    assert_eq!(status, 200, "the grant still works: {body}");
    current = body["refresh_token"].as_str().expect("rt").to_owned();

    // Without offline_access: no refresh token.
    let (url, verifier) = auth_url(&f, &[("scope", "openid email")]);
    let back = sign_in_with_password(&f, &browser, &url, USER_PASSWORD)
        .await
        .expect("signed in");
    let (status, body) = token_call(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query(&back, "code").expect("code")),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body["access_token"].is_string());

    // Used every 29 days (within the idle lifetime) it lives 90 days, not one more.
    for _ in 0..3 {
        f.server
            .clock
            .advance(std::time::Duration::from_secs(29 * 86_400));
        let (status, body) = token_call(
            &f,
            &[("grant_type", "refresh_token"), ("refresh_token", &current)],
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        current = body["refresh_token"].as_str().expect("rt").to_owned();
    }
    f.server
        .clock
        .advance(std::time::Duration::from_secs(4 * 86_400));
    let (_, body) = token_call(
        &f,
        &[("grant_type", "refresh_token"), ("refresh_token", &current)],
        None,
    )
    .await;
    assert_eq!(
        body["error"], "invalid_grant",
        "past the absolute lifetime: {body}"
    );
}

/// Attacks that had no test (issue 15): client B redeeming client A's code or revoking A's
/// tokens; a code redeemed without its PKCE verifier; the employee's forms without their CSRF
/// token (nothing signed in, nothing enrolled, nobody signed out).
#[tokio::test]
async fn other_clients_codes_without_pkce_and_forms_without_csrf_are_refused() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (status, b) = call(
        &admin,
        Method::POST,
        f.server.url("/api/v1/oidc/clients"),
        &csrf,
        Some(json!({"name": "Client B", "kind": "confidential", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token"]})),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let (b_id, b_secret) = (
        b["client_id"].as_str().expect("id").to_owned(),
        b["client_secret"].as_str().expect("secret").to_owned(),
    );
    let as_b = |params: Vec<(&'static str, String)>| {
        let url = f.server.url("/oauth2/token");
        let (id, secret) = (b_id.clone(), b_secret.clone());
        async move {
            let resp = http()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&params)
                .send()
                .await
                .expect("token");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let browser = client();
    let flow = start_flow(&f, &browser).await;
    // Client B with A's code (and A's verifier): refused.
    let (status, body) = as_b(vec![
        ("grant_type", "authorization_code".into()),
        ("code", flow.code.clone()),
        ("redirect_uri", REDIRECT.into()),
        ("code_verifier", flow.verifier.clone()),
    ])
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // A's code without its verifier: refused.
    let flow2 = start_flow(&f, &browser).await;
    let (_, body) = token_call(
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &flow2.code),
            ("redirect_uri", REDIRECT),
        ],
        None,
    )
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    // A's own tokens: B can neither refresh nor revoke them.
    let flow3 = start_flow(&f, &browser).await;
    let (status, tokens) = exchange(&f, &flow3).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("at").to_owned();
    let refresh = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let (_, body) = as_b(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", refresh.clone()),
    ])
    .await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    for token in [&access, &refresh] {
        let resp = http()
            .post(f.server.url("/oauth2/revoke"))
            .basic_auth(&b_id, Some(&b_secret))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .expect("revoke");
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        userinfo_status(&f, &access).await,
        200,
        "still A's and alive"
    );

    // The employee's forms without their CSRF token.
    let fresh = client();
    for path in ["/login/password", "/login/code"] {
        let resp = fresh
            .post(f.server.url(path))
            .form(&[
                ("username", f.account.as_str()),
                ("password", USER_PASSWORD),
                ("code", "123456"),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403, "{path}");
        assert!(resp
            .headers()
            .get("set-cookie")
            .is_none_or(|c| { !c.to_str().unwrap_or_default().contains("sso_session") }));
    }
    assert!(
        fresh
            .get(f.server.url("/account"))
            .send()
            .await
            .expect("account")
            .status()
            .is_redirection(),
        "nobody signed in"
    );
    // Signed in (the browser above): the account forms need the token.
    for path in ["/account/phone", "/account/logout"] {
        let resp = browser
            .post(f.server.url(path))
            .form(&[("csrf_token", "forged")])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403, "{path}");
    }
    let enrolments =
        crate::support::audit_events(&f.server, "employee.enrolment_created", &f.employee_id).await;
    assert!(enrolments.is_empty(), "no phone enrolment was started");
    assert_eq!(
        browser
            .get(f.server.url("/account"))
            .send()
            .await
            .expect("account")
            .status(),
        200,
        "still signed in"
    );
}

/// "Sign out everywhere" (issue 15, item 4): from the account page it ends the employee's
/// sessions on every browser and every app's refresh token; forged, it changes nothing. The admin
/// does the same through the API.
#[tokio::test]
async fn sign_out_everywhere_ends_sessions_and_refresh_tokens() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let refresh_works = |rt: String| {
        let f = &f;
        async move {
            let (status, body) = token_call(
                f,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                None,
            )
            .await;
            (status.as_u16(), body)
        }
    };
    let (laptop, phone_browser) = (client(), client());
    let (_, tokens) = exchange(&f, &start_flow(&f, &laptop).await).await;
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    start_flow(&f, &phone_browser).await;
    let account = |b: &reqwest::Client| {
        let b = b.clone();
        let url = f.server.url("/account");
        async move { b.get(url).send().await.expect("account") }
    };

    // Forged: refused, nothing ended.
    let resp = laptop
        .post(f.server.url("/account/sign-out-everywhere"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403);
    let (status, body) = refresh_works(rt.clone()).await;
    assert_eq!(status, 200, "{body}");
    let rt = body["refresh_token"].as_str().expect("rt").to_owned();
    assert_eq!(account(&phone_browser).await.status(), 200);

    // From the account page, with its token.
    let page = account(&laptop).await.text().await.expect("html");
    let csrf = field(&page, "csrf_token");
    let resp = laptop
        .post(f.server.url("/account/sign-out-everywhere"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("html").contains("One app"));
    let (status, body) = refresh_works(rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    for b in [&laptop, &phone_browser] {
        assert!(account(b).await.status().is_redirection(), "signed out");
    }

    // The admin's API: the same, and 404 for nobody.
    let (_, tokens) = exchange(&f, &start_flow(&f, &laptop).await).await;
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let admin = client();
    let csrf = f
        .server
        .api_login(
            &admin,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    let (status, body) = call(
        &admin,
        Method::DELETE,
        f.server
            .url(&format!("/api/v1/employees/{}/sessions", f.employee_id)),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["sessions_ended"].as_u64(),
            body["grants_revoked"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(refresh_works(rt).await.0, 400);
    assert!(account(&laptop).await.status().is_redirection());
    let (status, _) = call(
        &admin,
        Method::DELETE,
        f.server.url(&format!(
            "/api/v1/employees/{}/sessions",
            uuid::Uuid::new_v4()
        )),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// "Sign out everywhere" ends what was in flight too (issue 26): an authorization code minted
/// just before it is refused at the token endpoint, a new-phone QR code made before it no longer
/// registers a phone, and an open phone prompt is withdrawn (the phone no longer gets it, an
/// answer is refused).
#[tokio::test]
async fn sign_out_everywhere_ends_codes_new_phone_links_and_prompts() {
    for db in backends() {
        let Some(f) = setup(db).await else {
            return;
        };
        let admin = client();
        let csrf = f
            .server
            .api_login(
                &admin,
                crate::support::ADMIN,
                crate::support::ADMIN_PASSWORD,
            )
            .await;
        let now = || f.server.clock.now_ms() / 1000;
        let link = || async {
            let (status, e) = call(
                &admin,
                Method::POST,
                f.server
                    .url(&format!("/api/v1/employees/{}/enrolments", f.employee_id)),
                &csrf,
                None,
            )
            .await;
            assert_eq!(status, 201, "{e}");
            e["link"].as_str().expect("link").to_owned()
        };
        let phone = crate::support::Phone::register(&link().await, "Phone", now()).await;
        let pending_link = link().await;
        // An open prompt, and a code not yet exchanged.
        let resp = client()
            .post(f.server.url("/login/push"))
            .json(&json!({"request": "", "username": f.account}))
            .send()
            .await
            .expect("push");
        assert_eq!(resp.status(), 200);
        let prompt = phone.poll(None, now()).await;
        assert_eq!(prompt.len(), 1);
        let flow = start_flow(&f, &client()).await;

        let (status, body) = call(
            &admin,
            Method::DELETE,
            f.server
                .url(&format!("/api/v1/employees/{}/sessions", f.employee_id)),
            &csrf,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["enrolments_ended"].as_u64(),
                body["prompts_withdrawn"].as_u64()
            ),
            (Some(1), Some(1)),
            "{body}"
        );
        let (status, body) = exchange(&f, &flow).await;
        assert_eq!(
            (status.as_u16(), body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
        let (status, body, registered) =
            crate::support::Registering::start(&pending_link, "Attacker phone", None, now())
                .await
                .send(&client())
                .await;
        assert!(registered.is_none(), "{status} {body}");
        assert!(status.is_client_error(), "{status} {body}");
        assert!(phone.poll(None, now()).await.is_empty(), "withdrawn");
        let (status, body, _) = phone
            .answer(
                &prompt[0],
                mobile_core::protocol::Decision::Deny,
                None,
                now(),
            )
            .await;
        assert_eq!(status.as_u16(), 409, "{body}");
    }
}

/// The `Set-Cookie` value of `name` in a response, if it sets one.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Issue 19: the sign-in page asks for the account once (one field, offered to the browser's
/// passkey autofill), works without JavaScript for the password, says so for the phone, and
/// remembers on the browser how it signed in last (the method, never the account). Attacks: a
/// forged post (no CSRF token) signs nobody in.
#[tokio::test]
async fn the_sign_in_page_asks_once_and_remembers_the_method() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let page = browser
        .get(f.server.url("/login"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert_eq!(page.matches("name=\"username\"").count(), 1, "{page}");
    assert!(page.contains("autocomplete=\"username webauthn\""));
    assert!(
        page.contains("<details id=\"other-ways\">"),
        "closed at first"
    );
    let post = |form: Vec<(&'static str, String)>| {
        let browser = browser.clone();
        let url = f.server.url("/login");
        async move { browser.post(url).form(&form).send().await.expect("post") }
    };
    let csrf = field(&page, "csrf_token");

    // Without JavaScript the phone button cannot wait for the phone: the page says so.
    let resp = post(vec![
        ("csrf_token", csrf.clone()),
        ("username", f.account.clone()),
        ("method", "phone".into()),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(set_cookie(&resp, "sso_session").is_none());
    let page = resp.text().await.expect("html");
    assert!(page.contains("needs JavaScript"), "{page}");
    assert!(page.contains("<details id=\"other-ways\" open>"));

    // A wrong password through the one form: refused, "other ways" stays open.
    let csrf = field(&page, "csrf_token");
    let resp = post(vec![
        ("csrf_token", csrf.clone()),
        ("username", f.account.clone()),
        ("password", "not-the-password".into()),
        ("method", "password".into()),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&resp, "sso_session").is_none());
    let page = resp.text().await.expect("html");
    assert!(page.contains("<details id=\"other-ways\" open>"));

    // A forged post from another site (no token): nobody is signed in.
    let resp = client()
        .post(f.server.url("/login"))
        .form(&[
            ("username", f.account.as_str()),
            ("password", USER_PASSWORD),
            ("method", "password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&resp, "sso_session").is_none());

    // Enter in the password field presses the first button (the phone's): the filled password
    // decides, and the employee is signed in.
    let csrf = field(&page, "csrf_token");
    let resp = post(vec![
        ("csrf_token", csrf),
        ("username", f.account.clone()),
        ("password", USER_PASSWORD.into()),
        ("method", "phone".into()),
    ])
    .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&resp), "/account");
    assert!(set_cookie(&resp, "sso_session").is_some());
    let last = set_cookie(&resp, "sso_last_method").expect("last method remembered");
    assert!(last.starts_with("sso_last_method=password;"), "{last}");
    assert!(
        last.contains("HttpOnly") && last.contains("Max-Age="),
        "{last}"
    );
    let sam = f.account.split('\\').nth(1).expect("sam");
    assert!(!last.contains(sam), "the cookie names no account: {last}");

    // Next time on this browser, the password is offered as the way used last.
    let page = browser
        .get(f.server.url("/login"))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("<details id=\"other-ways\" open>"));
    assert!(page.contains("Domain password <span class=\"badge\">last used here</span>"));
    assert!(!page.contains("Code from the phone app <span"));
}

/// Issue 19: the employee's pages in the browser's language (German here), a switch on the page
/// that the browser then remembers, and the sign-in's answers in that language too.
#[tokio::test]
async fn the_employee_pages_speak_german() {
    let Some(f) = setup(Db::Sqlite).await else {
        return;
    };
    let browser = client();
    let get = |path: &'static str, lang: &'static str| {
        let browser = browser.clone();
        let url = f.server.url(path);
        async move {
            browser
                .get(url)
                .header("accept-language", lang)
                .send()
                .await
                .expect("get")
        }
    };
    let page = get("/login", "de-AT,de;q=0.9,en;q=0.5")
        .await
        .text()
        .await
        .expect("html");
    assert!(page.contains("<html lang=\"de\">"), "{page}");
    assert!(page.contains("<h1>Anmelden</h1>"));
    assert!(page.contains("Anfrage an mein Telefon senden"));
    assert!(page.contains("Andere Anmeldemöglichkeiten"));
    assert!(!page.contains("Other ways to sign in"));

    // A wrong password: the answer is German too.
    let resp = browser
        .post(f.server.url("/login"))
        .header("accept-language", "de")
        .form(&[
            ("csrf_token", field(&page, "csrf_token").as_str()),
            ("username", f.account.as_str()),
            ("password", "falsch"),
            ("method", "password"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let page = resp.text().await.expect("html");
    assert!(
        page.contains("Falsches Konto oder falsches Passwort"),
        "{page}"
    );

    // The switch: English from now on for this browser, whatever it asks for.
    let resp = get("/login?lang=en", "de").await;
    assert!(set_cookie(&resp, "sso_lang").is_some_and(|c| c.starts_with("sso_lang=en;")));
    assert!(resp
        .text()
        .await
        .expect("html")
        .contains("<h1>Sign in</h1>"));
    let page = get("/login", "de").await.text().await.expect("html");
    assert!(page.contains("<html lang=\"en\">") && page.contains("<h1>Sign in</h1>"));
    // A language we do not have falls back to the configured one (English).
    let other = client()
        .get(f.server.url("/login"))
        .header("accept-language", "fr-FR,fr")
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("html");
    assert!(other.contains("<h1>Sign in</h1>"));
}
