//! The product's main path, end to end across the crates and real servers: an employee imported
//! from the Samba AD DC is invited by e-mail (a real SMTP server), follows the link, registers
//! the phone (the real mobile-core with its software key store) from the page's QR payload, and
//! a relying party (the `openidconnect` crate) signs the employee in with "approve on your
//! phone", receiving a verified ID token.

use std::sync::Arc;

use serde_json::{json, Value};
use sso_server::audit::Actor;
use sso_server::clock::SystemClock;
use sso_server::config::{Config, MailTls};
use sso_server::directory::sync::Trigger;
use sso_server::directory::{RunOptions, SyncMode};

use test_support::phone::http;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("client")
}

#[tokio::test]
async fn invited_employee_registers_the_phone_and_signs_in_by_approving() {
    let (Some(dc), Some(smtp)) = (e2e::SambaDc::corp(), e2e::Smtp::required()) else {
        return;
    };
    // An employee in AD, in the sync group.
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let group = format!("E2E Sync {tag}");
    let sam = format!("e2e{tag}");
    let email = format!("e2e.{tag}@corp.example.test");
    dc.samba_tool(&["group", "add", &group]);
    dc.samba_tool(&[
        "user",
        "create",
        &sam,
        "E2e-Passw0rd!",
        &format!("--mail-address={email}"),
        "--given-name=Eve",
        "--surname=Endtoend",
        // The CN is the unique account name, so a DC kept between runs takes the user again.
        "--use-username-as-cn",
    ]);
    dc.samba_tool(&["group", "addmembers", &group, &sam]);

    // The server, with the SMTP server for invitations.
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!(
        "http://localhost:{}",
        listener.local_addr().expect("addr").port()
    );
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.public_url = base.parse().expect("url");
    config.directory.schedule_enabled = false;
    config.mail.smtp_host = Some(smtp.host.clone());
    config.mail.smtp_port = smtp.port;
    config.mail.tls = MailTls::None;
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .expect("init");
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = sso_server::server::serve(serving, listener, std::future::pending()).await;
    });

    // The domain invites on import; a sync imports the employee and queues the invitation.
    e2e::add_domain(
        &dc,
        &state,
        "corp",
        &group,
        json!({"invite_on_import": true}),
    )
    .await;
    let run = state
        .syncer()
        .run(
            "corp",
            RunOptions {
                mode: SyncMode::Full,
                dry_run: false,
                force: false,
                trigger: Trigger::Cli,
                actor: Actor::cli(),
            },
            None,
        )
        .await
        .expect("sync");
    assert_eq!(
        (run.state.as_str(), run.added),
        ("succeeded", 1),
        "{:?}",
        run.message
    );
    assert_eq!(
        sso_server::enrol::invitations::deliver_due(&state.invitations())
            .await
            .expect("deliver"),
        1
    );

    // The e-mail arrived; its link opens the invitation page with the QR payload.
    let mail = smtp.wait_for(&email, &format!("{base}/invite/")).await;
    let start = mail
        .find(&format!("{base}/invite/"))
        .expect("link in the e-mail");
    let link: String = mail[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect();
    let page = http()
        .get(&link)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let qr = test_support::html::registration_link(&page);

    // The phone registers with it.
    let phone = e2e::flows::Phone::register_with_link(&qr, "Eve's phone").await;

    // A relying party signs Eve in; she approves on the phone.
    let rp = e2e::flows::Rp::create(&state, &base, "Intranet").await;
    let (auth_url, flow) = rp.authorize_url();
    let browser = browser();
    let resp = browser.get(&auth_url).send().await.expect("authorize");
    let login = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let request = url::Url::parse(&format!("{base}{login}"))
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.to_string())
        .expect("request");
    let started: Value = browser
        .post(format!("{base}/login/push"))
        .json(&json!({"request": request, "username": email}))
        .send()
        .await
        .expect("push")
        .json()
        .await
        .expect("json");
    let number = started["number"].as_u64().expect("number") as u32;

    // The phone long-polls, verifies the server's signature, shows the prompt, approves.
    let c = phone.approve(number).await;
    assert_eq!(
        (c.client_name.as_str(), c.employee.as_str()),
        ("Intranet", "Eve Endtoend")
    );

    // The sign-in page sees the approval and goes back to the relying party with a code.
    let status: Value = browser
        .post(format!("{base}/login/push/status"))
        .json(&json!({"challenge": started["challenge"], "request": request}))
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(status["state"], "approved");
    let resp = browser
        .get(format!(
            "{base}{}",
            status["redirect"].as_str().expect("redirect")
        ))
        .send()
        .await
        .expect("resume");
    let back = resp.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    // `state` checked, code exchanged, ID token verified with its nonce.
    let signed_in = rp.exchange(&back, flow).await;
    assert_eq!(signed_in.email, Some(email));
    assert_eq!(signed_in.amr, vec!["pop".to_owned(), "user".to_owned()]);
}
