//! Invitations through a real SMTP server (aiosmtpd, started by the test command, keeping a
//! Maildir): sent with a single-use link, the page registers a phone (the real mobile-core) or a
//! passkey, retries and failures, the outbox without SMTP, invitations on import.

use std::sync::Arc;
use std::time::Duration;

use mobile_core::authenticator::Authenticator;
use mobile_core::keystore::SoftwareKeyStore;
use mobile_core::protocol::Platform;
use reqwest::Method;
use serde_json::{json, Value};
use sso_server::clock::Clock as _;
use sso_server::config::MailTls;
use sso_server::enrol::invitations::deliver_due;

use crate::support::{call, client, registration_link, Db, TestServer};

pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub maildir: std::path::PathBuf,
}

pub fn smtp() -> Option<Smtp> {
    let host = std::env::var("E2E_SMTP_HOST").ok();
    let Some(host) = host else {
        assert!(
            std::env::var("E2E_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "E2E_SMTP_* not set but servers are required"
        );
        eprintln!("skipped: no SMTP server (run scripts/test.sh)");
        return None;
    };
    Some(Smtp {
        host,
        port: std::env::var("E2E_SMTP_PORT").ok()?.parse().ok()?,
        maildir: std::env::var("E2E_SMTP_MAILDIR").ok()?.into(),
    })
}

impl Smtp {
    /// Whether a message to `to` whose decoded text contains `needle` arrives within 5 s.
    pub async fn received(&self, to: &str, needle: &str) -> bool {
        for _ in 0..100 {
            let found = ["new", "cur"].iter().any(|d| {
                std::fs::read_dir(self.maildir.join(d))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| {
                        let text = unqp(&std::fs::read_to_string(e.path()).unwrap_or_default());
                        text.contains(to) && text.contains(needle)
                    })
            });
            if found {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

/// Undoes quoted-printable soft breaks and escapes.
pub fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The invitation link in the newest message to `to`.
fn mailed_link(smtp: &Smtp, to: &str, base: &str) -> Option<String> {
    let mut found = None;
    for dir in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(smtp.maildir.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let text = unqp(&std::fs::read_to_string(e.path()).unwrap_or_default());
            if !text.contains(to) {
                continue;
            }
            let marker = format!("{base}/invite/");
            if let Some(start) = text.find(&marker) {
                let rest = &text[start..];
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
                    .unwrap_or(rest.len());
                found = Some(rest[..end].to_owned());
            }
        }
    }
    found
}

async fn employee(server: &TestServer, admin: &reqwest::Client, csrf: &str) -> (String, String) {
    let email = format!("ivy.{}@example.test", uuid::Uuid::new_v4().simple());
    let (status, e) = call(
        admin,
        Method::POST,
        server.url("/api/v1/employees"),
        csrf,
        Some(json!({"display_name": "Ivy Invite", "email": email})),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    (e["id"].as_str().expect("id").to_owned(), email)
}

#[tokio::test]
async fn invitation_e_mail_then_phone_registration() {
    let Some(smtp) = smtp() else { return };
    let server = TestServer::start_with(Db::Sqlite, |c| {
        c.mail.smtp_host = Some(smtp.host.clone());
        c.mail.smtp_port = smtp.port;
        c.mail.tls = MailTls::None;
        c.mail.from = "SSO <sso@example.test>".into();
    })
    .await;
    let (admin, csrf) = server.admin_client().await;
    let (id, email) = employee(&server, &admin, &csrf).await;
    let (status, inv) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 201, "{inv}");
    assert_eq!(inv["delivery"], "queued");
    assert_eq!(
        deliver_due(&server.state.invitations())
            .await
            .expect("deliver"),
        1
    );
    let link = mailed_link(&smtp, &email, &server.base).expect("the e-mail holds the link");
    let (_, list) = call(
        &admin,
        Method::GET,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(list[0]["delivery"], "sent");
    assert_eq!(list[0]["link"].as_str(), Some(link.as_str()));

    // The employee opens the link: a QR code and its link; the phone registers with it.
    let page = client()
        .get(&link)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("<svg"), "inline SVG QR code");
    assert!(page.contains("data:image/png;base64,"), "PNG on request");
    let reg_link = registration_link(&page);
    let dir = tempfile::tempdir().expect("dir");
    let auth = Authenticator::new(
        Arc::new(SoftwareKeyStore::new()),
        dir.path().join("a.json").display().to_string(),
        true,
    )
    .expect("auth");
    let info = auth
        .parse_registration(reg_link, server.clock.now_ms() / 1000)
        .expect("QR accepted");
    let req = auth
        .build_registration_request(info.clone(), "Ivy's phone".into(), None, Platform::Other)
        .await
        .expect("req");
    let resp = client()
        .post(&req.url)
        .header("content-type", "application/json")
        .body(req.body)
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), 200);
    auth.complete_registration(info, resp.text().await.expect("body"))
        .await
        .expect("stored");

    // The page's status check sees it; the link is spent.
    let token = link.rsplit('/').next().expect("token");
    let st: Value = client()
        .get(server.url(&format!("/invite/{token}/status")))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(st["state"], "accepted");
    assert_eq!(
        client().get(&link).send().await.expect("page").status(),
        404
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_and_shown() {
    let Some(smtp) = smtp() else { return };
    // Nothing listens on this port: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let server = TestServer::start_with(Db::Sqlite, |c| {
        c.mail.smtp_host = Some("127.0.0.1".into());
        c.mail.smtp_port = closed;
        c.mail.tls = MailTls::None;
    })
    .await;
    let _ = smtp;
    let (admin, csrf) = server.admin_client().await;
    let (id, _) = employee(&server, &admin, &csrf).await;
    let (_, inv) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(
        deliver_due(&server.state.invitations())
            .await
            .expect("pass"),
        0
    );
    let (_, failed) = call(
        &admin,
        Method::GET,
        server.url("/api/v1/invitations?delivery=failed"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    assert!(failed[0]["last_error"]
        .as_str()
        .unwrap_or("")
        .contains("SMTP"));
    assert_eq!(failed[0]["attempts"], 1);
    // Not due again at once; due after the backoff.
    assert_eq!(
        deliver_due(&server.state.invitations())
            .await
            .expect("pass"),
        0
    );
    let (_, again) = call(
        &admin,
        Method::GET,
        server.url("/api/v1/invitations"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(again[0]["attempts"], 1);
    server.clock.advance(Duration::from_secs(61));
    deliver_due(&server.state.invitations())
        .await
        .expect("pass");
    let (_, again) = call(
        &admin,
        Method::GET,
        server.url("/api/v1/invitations"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(again[0]["attempts"], 2);
    // Revoked: the link stops working.
    let link = again[0]["link"].as_str().expect("link").to_owned();
    let (status, _) = call(
        &admin,
        Method::DELETE,
        server.url(&format!(
            "/api/v1/invitations/{}",
            inv["id"].as_str().expect("id")
        )),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        client().get(&link).send().await.expect("page").status(),
        404
    );
}

#[tokio::test]
async fn without_smtp_invitations_wait_in_the_outbox() {
    let server = TestServer::start(Db::Sqlite).await;
    let (admin, csrf) = server.admin_client().await;
    let (id, _) = employee(&server, &admin, &csrf).await;
    let (id2, _) = employee(&server, &admin, &csrf).await;
    let (status, bulk) = call(
        &admin,
        Method::POST,
        server.url("/api/v1/invitations"),
        &csrf,
        Some(json!({"employee_ids": [id, id2, uuid::Uuid::new_v4()]})),
    )
    .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(bulk["invited"].as_array().map(Vec::len), Some(2));
    assert_eq!(bulk["refused"].as_object().map(|o| o.len()), Some(1));
    let (_, outbox) = call(
        &admin,
        Method::GET,
        server.url("/api/v1/invitations?delivery=outbox"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(outbox.as_array().map(Vec::len), Some(2));
    let link = outbox[0]["link"]
        .as_str()
        .expect("the admin can copy the link")
        .to_owned();
    assert_eq!(
        client().get(&link).send().await.expect("page").status(),
        200
    );
    let (status, body) = call(
        &admin,
        Method::POST,
        server.url(&format!(
            "/api/v1/invitations/{}/resend",
            outbox[0]["id"].as_str().expect("id")
        )),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    // Inviting again replaces the link.
    let (_, fresh) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    let (_, all) = call(
        &admin,
        Method::GET,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(all.as_array().map(Vec::len), Some(2));
    assert_eq!(
        all.as_array()
            .map(|v| v.iter().filter(|i| i["state"] == "pending").count()),
        Some(1)
    );
    assert!(fresh["link"].is_string());
}

#[tokio::test]
async fn a_passkey_from_the_invitation_page() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    use webauthn_rs::prelude::CreationChallengeResponse;

    let smtp = smtp();
    let server = TestServer::start_with(Db::Sqlite, |c| {
        if let Some(smtp) = &smtp {
            c.mail.smtp_host = Some(smtp.host.clone());
            c.mail.smtp_port = smtp.port;
            c.mail.tls = sso_server::config::MailTls::None;
        }
    })
    .await;
    let (admin, csrf) = server.admin_client().await;
    let (id, email) = employee(&server, &admin, &csrf).await;
    let (_, inv) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    let link = inv["link"].as_str().expect("link").to_owned();
    let token = link.rsplit('/').next().expect("token").to_owned();
    let browser = client();
    let start: Value = browser
        .post(server.url(&format!("/invite/{token}/passkey/options")))
        .json(&json!({}))
        .send()
        .await
        .expect("options")
        .json()
        .await
        .expect("json");
    let mut options = start["options"].clone();
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    let options: CreationChallengeResponse = serde_json::from_value(options).expect("options");
    let credential = SoftPasskey::new(true)
        .do_registration(url::Url::parse(&server.base).expect("origin"), options)
        .expect("register");
    let resp = browser
        .post(server.url(&format!("/invite/{token}/passkey")))
        .json(&json!({"ceremony": start["ceremony"], "credential": credential, "name": "Laptop"}))
        .send()
        .await
        .expect("finish");
    assert_eq!(resp.status(), 201);
    let (_, all) = call(
        &admin,
        Method::GET,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(all[0]["state"], "accepted");
    assert_eq!(
        client().get(&link).send().await.expect("page").status(),
        404,
        "single use"
    );
    // The employee is told that a passkey was added (issue 15).
    if let Some(smtp) = &smtp {
        let told = smtp
            .received(&email, "A passkey named \"Laptop\" was added")
            .await;
        assert!(told, "the security notice reached {email}");
    }
}
