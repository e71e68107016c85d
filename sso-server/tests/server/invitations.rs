//! Invitations through a real SMTP server (aiosmtpd, started by the test command, keeping a
//! Maildir): sent with a single-use link, the page registers a phone (the real mobile-core) or a
//! passkey, retries and failures, the outbox without SMTP, invitations on import.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sso_server::clock::Clock as _;
use sso_server::config::MailTls;
use sso_server::enrol::invitations::deliver_due;

use test_support::mail::Smtp;

use crate::support::{call, client, registration_link, Db, Phone, TestServer};

/// The invitation link in the newest message to `to`.
fn mailed_link(smtp: &Smtp, to: &str, base: &str) -> Option<String> {
    let marker = format!("{base}/invite/");
    smtp.messages_to(to).iter().rev().find_map(|text| {
        let rest = &text[text.find(&marker)?..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    })
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
    let Some(smtp) = Smtp::required() else {
        return;
    };
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
    Phone::register(&reg_link, "Ivy's phone", server.clock.now_ms() / 1000).await;

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
    // No SMTP server needed: the delivery goes to a closed port.
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
    // Inviting again replaces the link: the old one is dead, the new one opens the page.
    let (_, before) = call(
        &admin,
        Method::GET,
        server.url(&format!("/api/v1/employees/{id}/invitations")),
        &csrf,
        None,
    )
    .await;
    let old_link = before[0]["link"]
        .as_str()
        .expect("the first link")
        .to_owned();
    assert_eq!(
        client().get(&old_link).send().await.expect("page").status(),
        200,
        "the first link works until it is replaced"
    );
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
    let fresh_link = fresh["link"].as_str().expect("the new link");
    assert_ne!(fresh_link, old_link);
    assert_eq!(
        client().get(&old_link).send().await.expect("page").status(),
        404,
        "the replaced link is dead"
    );
    assert_eq!(
        client()
            .get(fresh_link)
            .send()
            .await
            .expect("page")
            .status(),
        200,
        "the new link opens the page"
    );
}

#[tokio::test]
async fn a_passkey_from_the_invitation_page() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator as _;
    use webauthn_rs::prelude::CreationChallengeResponse;

    let smtp = Smtp::required();
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
        smtp.wait_for(&email, "A passkey named \"Laptop\" was added")
            .await;
    }
}
