//! Administrator sign-in: the console form with its CSRF token, the API, lockout, session expiry,
//! cookie attributes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use test_support::html::csrf as hidden_csrf;

use crate::support::{call, client, Db, TestServer, ADMIN, ADMIN_PASSWORD};

async fn post_login_form(
    srv: &TestServer,
    c: &reqwest::Client,
    user: &str,
    pw: &str,
    csrf: &str,
) -> reqwest::Response {
    c.post(srv.url("/admin/login"))
        .form(&[("username", user), ("password", pw), ("csrf_token", csrf)])
        .send()
        .await
        .expect("post login")
}

#[tokio::test]
async fn console_login_form_with_csrf_and_logout() {
    let srv = TestServer::start(Db::Sqlite).await;
    let c = client();
    // Before any admin exists the page says how to create one.
    let page = c
        .get(srv.url("/admin/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("sso-server admin create"));
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;

    // The landing page sends strangers to sign in.
    let r = c.get(srv.url("/admin")).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin/login");

    let page = c
        .get(srv.url("/admin/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(!page.contains("sso-server admin create"));
    let token = hidden_csrf(&page);

    // A form without the matching token (a cross-site post) is refused, even with good credentials.
    let r = post_login_form(&srv, &client(), ADMIN, ADMIN_PASSWORD, &token).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF cookie");
    let r = post_login_form(&srv, &c, ADMIN, ADMIN_PASSWORD, "forged").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "wrong CSRF field");

    let page = c
        .get(srv.url("/admin/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let r = post_login_form(&srv, &c, ADMIN, "wrong password!", &hidden_csrf(&page)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.text().await.expect("text");
    assert!(body.contains("Wrong username or password"));

    let page = c
        .get(srv.url("/admin/login"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let r = post_login_form(&srv, &c, ADMIN, ADMIN_PASSWORD, &hidden_csrf(&page)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie: Vec<_> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("sso_admin="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain http dev server: {session}"
    );

    let home = c.get(srv.url("/admin")).send().await.expect("get");
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.expect("text");
    assert!(home.contains("Signed in as admin"));

    // Logout needs the session's CSRF token too.
    let r = c
        .post(srv.url("/admin/logout"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        c.get(srv.url("/admin")).send().await.expect("get").status(),
        StatusCode::OK,
        "still signed in"
    );
    let r = c
        .post(srv.url("/admin/logout"))
        .form(&[("csrf_token", hidden_csrf(&home))])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        c.get(srv.url("/admin")).send().await.expect("get").status(),
        StatusCode::SEE_OTHER,
        "signed out"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_answer_alike_and_lockout_applies() {
    let srv = TestServer::start(Db::Sqlite).await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let c = client();
    let login = |user: &'static str, pw: &'static str| {
        let c = c.clone();
        let url = srv.url("/api/v1/session");
        async move {
            let r = c
                .post(url)
                .json(&json!({"username": user, "password": pw}))
                .send()
                .await
                .expect("send");
            let status = r.status();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            (status, r.json::<Value>().await.expect("json"), retry)
        }
    };
    let (s1, b1, _) = login("nobody", "whatever password").await;
    let (s2, b2, _) = login(ADMIN, "whatever password").await;
    assert_eq!(
        (s1, &b1),
        (s2, &b2),
        "unknown user and wrong password must look the same"
    );
    assert_eq!(s1, StatusCode::UNAUTHORIZED);

    // Five consecutive failures (one above plus four) lock the account…
    for _ in 0..4 {
        assert_eq!(
            login(ADMIN, "still wrong!!").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (st, body, retry) = login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!(retry > 14 * 60 && retry <= 15 * 60, "{retry}");
    // …until the lockout has passed (the injected clock moves, nobody sleeps).
    srv.clock.advance(Duration::from_secs(15 * 60 + 1));
    let (st, _, _) = login(ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(st, StatusCode::OK);

    let mut conn = srv.state.store.conn().await.expect("conn");
    let failed = sso_server::audit::store::list(
        &mut conn,
        &sso_server::audit::store::AuditFilter {
            action: Some("admin.login_failed".into()),
            target_id: None,
        },
        None,
        50,
    )
    .await
    .expect("audit");
    assert_eq!(failed.len(), 6, "one unknown user, five wrong passwords");
    assert!(
        failed
            .iter()
            .all(|e| !e.detail.contains("whatever") && !e.detail.contains("wrong!!")),
        "no passwords in the audit log"
    );
}

#[tokio::test]
async fn sessions_expire_when_idle_and_absolutely() {
    let srv = TestServer::start(Db::Sqlite).await;
    let (c, csrf) = srv.admin_client().await;
    let get = || async {
        call(&c, Method::GET, srv.url("/api/v1/session"), &csrf, None)
            .await
            .0
    };
    assert_eq!(get().await, StatusCode::OK);
    srv.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(get().await, StatusCode::OK, "used within the idle limit");
    srv.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(get().await, StatusCode::OK, "idle limit restarts on use");
    srv.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(get().await, StatusCode::UNAUTHORIZED, "idle too long");

    let csrf = srv.api_login(&c, ADMIN, ADMIN_PASSWORD).await;
    for _ in 0..16 {
        srv.clock.advance(Duration::from_secs(29 * 60));
        assert_eq!(
            call(&c, Method::GET, srv.url("/api/v1/session"), &csrf, None)
                .await
                .0,
            StatusCode::OK
        );
    }
    srv.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        call(&c, Method::GET, srv.url("/api/v1/session"), &csrf, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "8 h absolute limit"
    );

    // API logout ends the session.
    let csrf = srv.api_login(&c, ADMIN, ADMIN_PASSWORD).await;
    let (st, _) = call(&c, Method::DELETE, srv.url("/api/v1/session"), &csrf, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&c, Method::GET, srv.url("/api/v1/session"), &csrf, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn https_deployments_get_secure_host_cookies() {
    let srv = TestServer::start_with(Db::Sqlite, |c| {
        c.public_url = url::Url::parse("https://sso.example.com").expect("url");
    })
    .await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let r = client()
        .post(srv.url("/api/v1/session"))
        .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    for name in ["__Host-sso_admin=", "__Host-sso_admin_device="] {
        let cookie = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {cookies:?}"));
        assert!(
            cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("Path=/"),
            "{cookie}"
        );
    }
    // Behind https: HSTS on every answer, and the employee sign-in's CSRF cookie is __Host- too.
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000",
        "HSTS behind https"
    );
    let page = client()
        .get(srv.url("/login"))
        .send()
        .await
        .expect("sign-in page");
    assert!(page.headers().contains_key("strict-transport-security"));
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.starts_with("__Host-sso_signin_csrf="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    // The console's sign-in form and its one-time messages: __Host- as well.
    let host_cookie = |r: &reqwest::Response, name: &str| {
        let c = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains(name))
            .unwrap_or_else(|| panic!("no {name} cookie"))
            .to_owned();
        assert!(c.starts_with(&format!("__Host-{name}=")), "{c}");
        assert!(
            c.contains("Secure") && (c.contains("Path=/;") || c.ends_with("Path=/")),
            "{c}"
        );
        assert!(!c.contains("Domain"), "{c}");
    };
    let page = client()
        .get(srv.url("/admin/login"))
        .send()
        .await
        .expect("console sign-in");
    host_cookie(&page, "sso_login_csrf");
    // A console form that leaves a message for the next page (the session cookie sent by hand:
    // a client sends a Secure cookie over https only, and this test server speaks http).
    let admin_cookie = cookies
        .iter()
        .find(|c| c.starts_with("__Host-sso_admin="))
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let login: Value = r.json().await.expect("json");
    let csrf = login["csrf_token"].as_str().expect("csrf").to_owned();
    let flashed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(srv.url("/admin/keys/import"))
        .header("cookie", admin_cookie)
        .form(&[
            (
                "keys",
                crate::support::inventory_line("HOST-0001", "Key").as_str(),
            ),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .expect("import");
    assert_eq!(flashed.status(), StatusCode::SEE_OTHER);
    host_cookie(&flashed, "sso_console_flash");
}

/// Every answer carries the Content-Security-Policy (scripts and styles only from our own files),
/// pages and errors alike; over plain http there is no HSTS (it would mean nothing).
#[tokio::test]
async fn every_page_carries_the_content_security_policy() {
    let srv = TestServer::start(Db::Sqlite).await;
    let (c, _) = srv.admin_client().await;
    for path in [
        "/login",
        "/login/base.css",
        "/login/signin.js",
        "/account",
        "/invite/not-a-token",
        "/admin",
        "/admin/login",
        "/admin/employees",
        "/admin/keys",
        "/admin/workstations",
        "/api/v1/employees",
        "/.well-known/openid-configuration",
        "/healthz",
    ] {
        let r = c.get(srv.url(path)).send().await.expect("get");
        let csp = r
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert_eq!(csp, sso_server::http::CSP, "{path}");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert!(
            !r.headers().contains_key("strict-transport-security"),
            "{path}"
        );
    }
    // No page has inline script or style left for the policy to block.
    for path in ["/login", "/admin", "/admin/employees"] {
        let html = c
            .get(srv.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(
            !html.contains("<script>") && !html.contains("<style"),
            "{path}"
        );
    }
}

/// 300 concurrent wrong admin sign-ins (issue 15): attempts are taken in the database before any
/// password is checked, so at most the configured count is evaluated; argon2 (19 MiB each) runs
/// at most `admin.max_concurrent_password_checks` at once (memory bound: 4 × 19 MiB); every other
/// request gets 429 at once; the right password is then refused too.
#[tokio::test]
async fn a_flood_of_admin_sign_ins_evaluates_at_most_the_limit() {
    for db in crate::support::backends() {
        let srv = TestServer::start(db).await;
        srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
        let url = srv.url("/api/v1/session");
        let mut set = tokio::task::JoinSet::new();
        for i in 0..300 {
            let url = url.clone();
            set.spawn(async move {
                client()
                    .post(url)
                    .json(&json!({"username": ADMIN, "password": format!("wrong guess {i}")}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            });
        }
        let (mut unauthorized, mut too_many) = (0, 0);
        while let Some(status) = set.join_next().await {
            match status.expect("task") {
                401 => unauthorized += 1,
                429 => too_many += 1,
                other => panic!("unexpected {other}"),
            }
        }
        let limit = srv.state.config.admin.max_failed_logins as usize;
        assert!(unauthorized <= limit, "{unauthorized} evaluated");
        assert_eq!(unauthorized + too_many, 300);
        let mut conn = srv.state.store.conn().await.expect("conn");
        let evaluated = sso_server::audit::store::list(
            &mut conn,
            &sso_server::audit::store::AuditFilter {
                action: Some("admin.login_failed".into()),
                target_id: None,
            },
            None,
            500,
        )
        .await
        .expect("audit")
        .len();
        drop(conn);
        assert_eq!(
            evaluated, unauthorized,
            "one audit record per password checked"
        );
        let bound = srv.state.config.admin.max_concurrent_password_checks as usize;
        assert!(
            srv.state.password_checks.peak() <= bound,
            "at most {bound} argon2 checks at once"
        );
        let r = client()
            .post(url)
            .json(&json!({"username": ADMIN, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("send");
        if unauthorized == limit {
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "locked");
        }
    }
}

/// Nobody can lock an administrator out (issue 26): 50 wrong passwords from 50 addresses lock
/// the name for browsers that never signed in as it (429, even with the right password), but the
/// admin's own browser, which signed in before, signs in at once; a mistyped password there
/// costs its own small budget only.
#[tokio::test]
async fn guessing_an_admins_password_never_locks_the_owner_out() {
    let srv = TestServer::start_with(Db::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let sign_in = |browser: reqwest::Client, password: &'static str, from: String| {
        let url = srv.url("/api/v1/session");
        async move {
            browser
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"username": ADMIN, "password": password}))
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    let owner = client();
    assert_eq!(
        sign_in(owner.clone(), ADMIN_PASSWORD, "192.0.2.1".into()).await,
        StatusCode::OK
    );
    for i in 0..50 {
        let status = sign_in(client(), "wrong guess", format!("198.51.100.{i}")).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
            "{status}"
        );
    }
    assert_eq!(
        sign_in(client(), ADMIN_PASSWORD, "203.0.113.9".into()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a browser that never signed in is locked out"
    );
    assert_eq!(
        sign_in(owner.clone(), "mistyped", "192.0.2.1".into()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(owner.clone(), ADMIN_PASSWORD, "192.0.2.1".into()).await,
        StatusCode::OK,
        "the owner's browser signs in"
    );
}

/// An IPv6 client counts by its /64 (a subscriber picks a fresh address from its /64 for every
/// request): failures from new addresses of one /64 share one budget; another /64 has its own.
#[tokio::test]
async fn ipv6_addresses_are_throttled_by_their_64() {
    let srv = TestServer::start_with(Db::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.oidc.sign_in_address_limit = 3;
    })
    .await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let login = |from: String| {
        let url = srv.url("/api/v1/session");
        async move {
            client()
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"username": "someone", "password": "not it"}))
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    for i in 1..=3 {
        assert_eq!(
            login(format!("2001:db8:7:7::{i}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login("2001:db8:7:7:dead:beef:0:1".into()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a new address of the same /64"
    );
    assert_eq!(
        login("2001:db8:7:8::1".into()).await,
        StatusCode::UNAUTHORIZED
    );
}

/// The per-address limit: many names tried from one address are refused (429) from that address
/// only; the answers before it cannot tell known names from unknown ones.
#[tokio::test]
async fn one_address_trying_many_names_is_refused() {
    let srv = TestServer::start_with(Db::Sqlite, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
        c.oidc.sign_in_address_limit = 5;
    })
    .await;
    srv.create_admin(ADMIN, ADMIN_PASSWORD).await;
    let login = |user: String, from: &'static str| {
        let url = srv.url("/api/v1/session");
        async move {
            client()
                .post(url)
                .header("x-forwarded-for", from)
                .json(&json!({"username": user, "password": "not it at all"}))
                .send()
                .await
                .expect("send")
        }
    };
    for i in 0..5 {
        let user = if i == 0 {
            ADMIN.to_owned()
        } else {
            format!("guess{i}")
        };
        assert_eq!(
            login(user, "198.51.100.20").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = login("guess9".into(), "198.51.100.20").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        login("guess9".into(), "203.0.113.20").await.status(),
        StatusCode::UNAUTHORIZED,
        "another address is not affected"
    );
}
