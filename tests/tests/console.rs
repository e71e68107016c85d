//! The admin console in a real browser (headless Chromium over WebDriver): sign-in, "Sync with
//! Active Directory" against the Samba AD DC with live progress, imported employees marked and
//! not editable, a manual employee added (after a field error) and edited, an invitation sent
//! and resent over real SMTP, an OIDC client whose secret is shown once, a domain's connection
//! test, the audit log; and hardware keys: import with a bad line named, assignment with the
//! activation code shown once (and used), state actions and a refused one, the employee's keys
//! and password form, an Entra ID domain form with a field error. Screenshots of every page go
//! to `target/console-screenshots/`. And the employee's pages: sign-in without JavaScript, by
//! phone from the one account field, by passkey through autofill; the account page's passkeys
//! and "sign out everywhere".

use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sso_server::audit::Actor;
use sso_server::clock::{Clock as _, SystemClock};
use sso_server::config::{Config, MailTls};

const ADMIN: &str = "console-admin";
const ADMIN_PASSWORD: &str = "console test password 1";
const WAIT: Duration = Duration::from_secs(60);

struct Shots {
    dir: std::path::PathBuf,
    prefix: &'static str,
    n: u32,
}

impl Shots {
    /// A screenshot of the page, which is also checked with axe-core.
    async fn take(&mut self, c: &Client, name: &str) {
        axe(c, name).await;
        self.n += 1;
        let png = c.screenshot().await.expect("screenshot");
        let path = self
            .dir
            .join(format!("{}{:02}-{name}.png", self.prefix, self.n));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// Runs axe-core (WCAG 2 A and AA rules and best practices) on the page in `c` and fails on any
/// serious or critical violation, naming the rule and the elements.
async fn axe(c: &Client, page: &str) {
    let Some(script) = e2e::require("axe-core (E2E_AXE_JS, scripts/axe.sh)", e2e::axe_script())
    else {
        return;
    };
    c.execute(&format!("{script}\n;return true;"), vec![])
        .await
        .unwrap_or_else(|e| panic!("{page}: injecting axe-core: {e}"));
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then((r) => done(r.violations
                 .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => ({rule: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => n.target.join(' ') + ' | ' + n.failureSummary)}))))
               .catch((e) => done([{rule: 'axe-error', help: String(e)}]));",
            vec![],
        )
        .await
        .unwrap_or_else(|e| panic!("{page}: running axe-core: {e}"));
    let none = found.as_array().is_some_and(Vec::is_empty);
    assert!(none, "{page}: accessibility violations: {found:#}");
}

async fn text_of(c: &Client, loc: Locator<'_>) -> String {
    // The element may belong to the page being replaced (a click just navigated): a stale
    // reference means "look again on the new page".
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = c.wait().at_most(WAIT).for_element(loc).await;
        match found {
            Ok(e) => match e.text().await {
                Ok(t) => return t,
                Err(err) if std::time::Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("{loc:?}: {err}"),
            },
            Err(e) => panic!("{loc:?}: {e}"),
        }
    }
}

/// The element's text once `want` holds for it (the page a click leads to may still be loading).
async fn text_when(c: &Client, loc: Locator<'_>, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let t = text_of(c, loc).await;
        if want(&t) || std::time::Instant::now() >= deadline {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, loc: Locator<'_>) {
    let old_page = c.find(Locator::Css("html")).await.ok();
    c.wait()
        .at_most(WAIT)
        .for_element(loc)
        .await
        .unwrap_or_else(|e| panic!("{loc:?}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {loc:?}: {e}"));
    // Most clicks load a new page: wait (briefly) for the old one to go, then for the new one
    // to finish loading, so what the test reads next is the new page.
    if let Some(old) = old_page {
        let until = std::time::Instant::now() + Duration::from_secs(2);
        while std::time::Instant::now() < until && old.tag_name().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let until = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < until {
        match c.execute("return document.readyState", vec![]).await {
            Ok(v) if v == serde_json::json!("complete") => break,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn fill(c: &Client, id: &str, value: &str) {
    let el = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"));
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

async fn body(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text")
}

async fn browser(driver: &e2e::Chromedriver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium,
            "args": e2e::CHROMIUM_ARGS.iter().chain(&["--window-size=1280,900"]).collect::<Vec<_>>(),
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("webdriver session")
}

/// The server in this process on a free port (`http://localhost:<port>`, the public URL),
/// schedules off, with `adjust` applied to its configuration; keep the folder while it serves.
async fn start_server(
    adjust: impl FnOnce(&mut Config),
) -> (tempfile::TempDir, String, sso_server::app::AppState) {
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
    adjust(&mut config);
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .expect("init");
    let serving = state.clone();
    tokio::spawn(async move {
        let _ = sso_server::server::serve(serving, listener, std::future::pending()).await;
    });
    (dir, base, state)
}

/// The console's administrator (ADMIN, ADMIN_PASSWORD).
async fn add_admin(state: &sso_server::app::AppState) {
    sso_server::admin::accounts::create_admin(
        &state.store,
        SystemClock.now_ms(),
        &Actor::cli(),
        ADMIN,
        ADMIN_PASSWORD,
    )
    .await
    .expect("admin");
}

/// A browser signed in to the console at `base` as ADMIN, on the dashboard, and its screenshots
/// named with `prefix`.
async fn signed_in(
    driver: &e2e::Chromedriver,
    base: &str,
    prefix: &'static str,
) -> (Client, Shots) {
    let c = browser(driver).await;
    c.goto(&format!("{base}/admin/login")).await.expect("goto");
    fill(&c, "username", ADMIN).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    click(&c, Locator::Css("button[type=submit]")).await;
    // Waits for the new page's heading (the old page has one too).
    text_of(&c, Locator::XPath("//main/h1[.='Dashboard']")).await;
    let shots = Shots {
        dir: e2e::screenshot_dir(),
        prefix,
        n: 0,
    };
    (c, shots)
}

fn button(label: &str) -> String {
    format!("//button[normalize-space()='{label}']")
}

/// The console with a directory: sign-in, a sync with live progress and its report, the
/// imported employees, an invitation e-mailed and resent, the domain's connection test, the
/// dashboard after the sync (laptop and phone), the skip link.
#[tokio::test]
async fn admin_syncs_and_invites_in_a_browser() {
    let (Some(dc), Some(smtp)) = (e2e::SambaDc::corp(), e2e::Smtp::required()) else {
        return;
    };
    let Some(driver) = e2e::chromium() else {
        return;
    };

    // Two employees in a sync group of their own.
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let group = format!("Console Sync {tag}");
    let ou = format!("OU=Console {tag},{}", dc.base_dn);
    dc.samba_tool(&["ou", "add", &ou]);
    dc.samba_tool(&["group", "add", &group]);
    let people = [("Grace", "Hopper"), ("Alan", "Turing")];
    let mut emails = Vec::new();
    for (given, family) in people {
        let sam = format!("c{}{tag}", &given.to_lowercase()[..3]);
        let email = format!("{sam}@corp.example.test");
        dc.samba_tool(&[
            "user",
            "create",
            &sam,
            "Console-Passw0rd!",
            &format!("--userou=OU=Console {tag}"),
            &format!("--mail-address={email}"),
            &format!("--given-name={given}"),
            &format!("--surname={family}"),
        ]);
        dc.samba_tool(&["group", "addmembers", &group, &sam]);
        emails.push(email);
    }

    // The server (SMTP for invitations), a domain for that group, an administrator.
    let (_dir, base, state) = start_server(|c| {
        c.mail.smtp_host = Some(smtp.host.clone());
        c.mail.smtp_port = smtp.port;
        c.mail.tls = MailTls::None;
    })
    .await;
    let domain = e2e::add_domain(&dc, &state, &format!("corp{tag}"), &group, json!({})).await;
    add_admin(&state).await;

    let c = browser(&driver).await;
    let mut shots = Shots {
        dir: e2e::screenshot_dir(),
        prefix: "",
        n: 0,
    };

    // Sign-in: the console sends a stranger to the sign-in page.
    c.goto(&format!("{base}/admin")).await.expect("goto");
    assert!(c
        .current_url()
        .await
        .expect("url")
        .path()
        .ends_with("/admin/login"));
    fill(&c, "username", ADMIN).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    shots.take(&c, "sign-in").await;
    click(&c, Locator::Css("button[type=submit]")).await;
    assert_eq!(text_of(&c, Locator::Css("main h1")).await, "Dashboard");
    assert!(body(&c).await.contains("Never synced"));
    shots.take(&c, "dashboard-before-sync").await;

    // Sync with AD → confirmation → Sync now → live progress → finished.
    click(&c, Locator::LinkText("Employees")).await;
    click(&c, Locator::LinkText("Sync with Active Directory")).await;
    assert_eq!(
        text_of(&c, Locator::Css("main h1")).await,
        "Sync with Active Directory"
    );
    shots.take(&c, "sync-confirm").await;
    click(&c, Locator::XPath(&button("Sync now"))).await;
    let live = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("runs"))
        .await
        .expect("progress");
    assert_eq!(
        live.attr("aria-live").await.expect("attr").as_deref(),
        Some("polite")
    );
    shots.take(&c, "sync-progress").await;
    let finished = text_of(&c, Locator::Id("sync-finished")).await;
    assert!(finished.contains("Finished"), "{finished}");
    let card = text_of(&c, Locator::Css("[data-run]")).await;
    assert!(card.contains("Succeeded"), "{card}");
    assert_eq!(
        text_of(&c, Locator::Css("[data-count=added]")).await,
        "2",
        "{card}"
    );
    shots.take(&c, "sync-finished").await;
    click(&c, Locator::LinkText("Run report")).await;
    let report = text_of(&c, Locator::Css("main")).await;
    assert!(
        report.contains("Changes (2)") && report.contains("Grace Hopper"),
        "{report}"
    );
    shots.take(&c, "sync-report").await;

    // The imported employees: the directory icon, and no Edit button.
    c.goto(&format!("{base}/admin/employees?q={tag}"))
        .await
        .expect("goto");
    for (given, family) in people {
        let row = c
            .find(Locator::XPath(&format!(
                "//tr[th/a[normalize-space()='{given} {family}']]"
            )))
            .await
            .unwrap_or_else(|e| panic!("row of {given}: {e}"));
        let source = row
            .find(Locator::Css(".source.directory"))
            .await
            .expect("directory icon");
        assert_eq!(
            source.attr("title").await.expect("title").as_deref(),
            Some("Imported from Active Directory")
        );
        row.find(Locator::Css("svg.icon")).await.expect("the icon");
        assert!(
            row.find_all(Locator::LinkText("Edit"))
                .await
                .expect("find")
                .is_empty(),
            "an imported employee has no Edit button"
        );
        assert!(row.text().await.expect("text").contains("active"));
    }
    shots.take(&c, "employees-imported").await;

    // An invitation for an imported employee, sent and then resent (real SMTP).
    c.goto(&format!("{base}/admin/employees?q={tag}"))
        .await
        .expect("goto");
    click(&c, Locator::LinkText("Grace Hopper")).await;
    let detail = text_of(&c, Locator::Css("main")).await;
    assert!(
        detail.contains(&format!("corp{tag}")),
        "the directory account: {detail}"
    );
    click(&c, Locator::XPath(&button("Send invitation"))).await;
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("Invitation created"), "{notice}");
    sso_server::enrol::invitations::deliver_due(&state.invitations())
        .await
        .expect("deliver");
    click(&c, Locator::XPath(&button("Resend"))).await;
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("is being sent again"), "{notice}");
    sso_server::enrol::invitations::deliver_due(&state.invitations())
        .await
        .expect("deliver");
    let to_grace = smtp
        .messages()
        .into_iter()
        .filter(|m| m.contains(&emails[0]))
        .count();
    assert_eq!(to_grace, 2, "the invitation was e-mailed, then again");
    let trail = text_of(&c, Locator::Css("section[aria-labelledby=audit-h]")).await;
    assert!(trail.contains("employee.invited"), "{trail}");
    c.refresh().await.expect("refresh");
    let trail = text_of(&c, Locator::Css("section[aria-labelledby=audit-h]")).await;
    assert!(
        trail.contains("invitation.resent") || body(&c).await.contains("sent"),
        "{trail}"
    );
    shots.take(&c, "employee-imported-detail").await;

    // Domains: the list, the connection test, the edit form.
    click(&c, Locator::LinkText("Domains")).await;
    shots.take(&c, "domains").await;
    click(&c, Locator::LinkText("Add domain")).await;
    shots.take(&c, "domain-new").await;
    c.goto(&format!("{base}/admin/domains/{}", domain.id))
        .await
        .expect("goto");
    click(&c, Locator::XPath(&button("Test connection"))).await;
    let result = text_of(&c, Locator::Id("test-result")).await;
    assert!(
        result.contains("Connection works") && result.contains("has 2 members"),
        "{result}"
    );
    shots.take(&c, "domain-test").await;
    click(&c, Locator::LinkText("Edit")).await;
    shots.take(&c, "domain-edit").await;

    // The dashboard after the sync, on a laptop and on a phone.
    click(&c, Locator::LinkText("Dashboard")).await;
    let dash = body(&c).await;
    assert!(
        dash.contains("Succeeded") && dash.contains(&format!("corp{tag}")),
        "{dash}"
    );
    shots.take(&c, "dashboard").await;
    c.set_window_size(390, 844).await.expect("resize");
    shots.take(&c, "dashboard-phone").await;
    c.goto(&format!("{base}/admin/employees?q={tag}"))
        .await
        .expect("goto");
    shots.take(&c, "employees-phone").await;

    // Keyboard: the skip link is the first stop and leads to the content.
    c.find(Locator::Css("body"))
        .await
        .expect("body")
        .send_keys("\u{E004}")
        .await
        .expect("tab");
    assert_eq!(
        c.active_element()
            .await
            .expect("focus")
            .text()
            .await
            .expect("text"),
        "Skip to content"
    );

    c.close().await.expect("close");
}

/// The console's forms without a directory: a manual employee (a field error shown where it
/// belongs, then added and edited), an OIDC client (its secret shown once), the audit log
/// filtered to that edit.
#[tokio::test]
async fn admin_adds_employees_and_clients_in_a_browser() {
    let Some(driver) = e2e::chromium() else {
        return;
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (_dir, base, state) = start_server(|_| {}).await;
    add_admin(&state).await;
    let (c, mut shots) = signed_in(&driver, &base, "forms-").await;

    // A manual employee: a bad e-mail is shown next to the field, keeping what was typed.
    c.goto(&format!("{base}/admin/employees"))
        .await
        .expect("goto");
    click(&c, Locator::LinkText("Add employee")).await;
    fill(&c, "f-given_name", "Margaret").await;
    fill(&c, "f-family_name", &format!("Hamilton{tag}")).await;
    fill(&c, "f-email", "margaret at example").await;
    shots.take(&c, "employee-new").await;
    click(&c, Locator::XPath(&button("Add employee"))).await;
    let error = text_of(&c, Locator::Id("f-email-error")).await;
    assert!(error.contains("must be an e-mail address"), "{error}");
    let email_input = c.find(Locator::Id("f-email")).await.expect("input");
    let described = email_input
        .attr("aria-describedby")
        .await
        .expect("attr")
        .unwrap_or_default();
    assert!(
        described.split(' ').any(|id| id == "f-email-error"),
        "{described}"
    );
    assert_eq!(
        email_input
            .attr("aria-invalid")
            .await
            .expect("attr")
            .as_deref(),
        Some("true")
    );
    assert_eq!(
        email_input.prop("value").await.expect("value").as_deref(),
        Some("margaret at example"),
        "what the admin typed is kept"
    );
    assert_eq!(
        c.active_element()
            .await
            .expect("focus")
            .attr("id")
            .await
            .expect("id")
            .as_deref(),
        Some("f-email"),
        "the field in error has the focus"
    );
    shots.take(&c, "employee-new-field-error").await;
    fill(&c, "f-email", &format!("margaret.{tag}@example.test")).await;
    click(&c, Locator::XPath(&button("Add employee"))).await;
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("Added Margaret Hamilton"), "{notice}");
    click(&c, Locator::LinkText("Edit")).await;
    fill(&c, "f-department", "Apollo Guidance").await;
    shots.take(&c, "employee-edit").await;
    click(&c, Locator::XPath(&button("Save"))).await;
    assert_eq!(text_of(&c, Locator::Css(".notice")).await, "Saved.");
    assert!(body(&c).await.contains("Apollo Guidance"));
    shots.take(&c, "employee-manual").await;
    c.goto(&format!("{base}/admin/employees?q=hamilton{tag}"))
        .await
        .expect("goto");
    let row = text_of(&c, Locator::Css("tbody tr")).await;
    assert!(
        row.contains("Manual") && row.contains("Apollo Guidance"),
        "{row}"
    );
    c.find(Locator::Css("tbody tr a[aria-label^='Edit']"))
        .await
        .expect("a manual employee has an Edit button");

    // An OIDC client: its secret is shown once, and not again on reload.
    click(&c, Locator::LinkText("OIDC clients")).await;
    click(&c, Locator::LinkText("Add client")).await;
    fill(&c, "f-name", &format!("Wiki {tag}")).await;
    fill(&c, "f-redirect_uris", "ftp://wiki.example.test/cb").await;
    click(&c, Locator::XPath(&button("Create client"))).await;
    let error = text_of(&c, Locator::Id("f-redirect_uris-error")).await;
    assert!(error.starts_with("line 1: must use https"), "{error}");
    fill(
        &c,
        "f-redirect_uris",
        "https://wiki.example.test/oidc/callback",
    )
    .await;
    shots.take(&c, "client-new").await;
    click(&c, Locator::XPath(&button("Create client"))).await;
    let secret = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("client-secret"))
        .await
        .expect("secret shown")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert_eq!(secret.len(), 43, "a 256-bit secret");
    shots.take(&c, "client-created-secret").await;
    c.refresh().await.expect("refresh");
    text_of(&c, Locator::Id("client-id")).await;
    assert!(
        c.find_all(Locator::Id("client-secret"))
            .await
            .expect("find")
            .is_empty(),
        "the secret is not shown again"
    );
    assert!(!c.source().await.expect("source").contains(&secret));
    shots.take(&c, "client").await;
    click(&c, Locator::LinkText("Edit")).await;
    fill(&c, "f-name", &format!("Team wiki {tag}")).await;
    shots.take(&c, "client-edit").await;
    click(&c, Locator::XPath(&button("Save"))).await;
    assert_eq!(text_of(&c, Locator::Css(".notice")).await, "Saved.");
    assert_eq!(
        text_of(&c, Locator::Css("main h1")).await,
        format!("Client Team wiki {tag}")
    );
    click(&c, Locator::LinkText("OIDC clients")).await;
    shots.take(&c, "clients").await;
    click(
        &c,
        Locator::Css(&format!("a[aria-label='Delete Team wiki {tag}']")),
    )
    .await;
    shots.take(&c, "client-delete").await;
    click(&c, Locator::XPath(&button("Delete client"))).await;
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("Deleted client"), "{notice}");
    assert!(
        c.find_all(Locator::Css(&format!(
            "a[aria-label='Delete Team wiki {tag}']"
        )))
        .await
        .expect("find")
        .is_empty(),
        "the client is gone from the list"
    );

    // The audit log, filtered.
    click(&c, Locator::LinkText("Audit log")).await;
    shots.take(&c, "audit").await;
    fill(&c, "action", "employee.updated").await;
    click(&c, Locator::XPath(&button("Filter"))).await;
    let rows = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("tbody"))
        .await
        .expect("rows")
        .find_all(Locator::Css("tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "one edit");
    shots.take(&c, "audit-filtered").await;

    c.close().await.expect("close");
}

#[tokio::test]
async fn admin_manages_hardware_keys_in_a_browser() {
    let Some(driver) = e2e::chromium() else {
        return;
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase();

    // The key vendor: its CA, trusted by the server, and the keys it made (their factory
    // certificates go into the inventory CSV).
    let vendor_dir = tempfile::tempdir().expect("dir");
    let vendor = key_bridge::VendorCa::generate("Test Key Vendor").expect("vendor CA");
    let vendor_file = vendor_dir.path().join("vendor-ca.pem");
    std::fs::write(&vendor_file, vendor.cert_pem()).expect("write");
    let serials: Vec<String> = (1..=3).map(|i| format!("K{tag}-{i}")).collect();
    let mut devices: Vec<key_bridge::EmulatedKey> = Vec::new();
    let mut lines = Vec::new();
    for serial in &serials {
        let mut device = key_bridge::EmulatedKey::in_memory(key_bridge::EmulatedKeyConfig {
            serial: Some(serial.clone()),
            ..Default::default()
        })
        .expect("key");
        lines.push(
            device
                .provision(&vendor, "Hideez Key 4")
                .expect("provision"),
        );
        devices.push(device);
    }

    // The server, an administrator and a manual employee to give a key to.
    let (_dir, base, state) =
        start_server(|c| c.keys.vendor_ca_file = Some(vendor_file.clone())).await;
    add_admin(&state).await;
    let name = format!("Kim Keyholder{tag}");
    let fields = sso_server::employees::EmployeeFields {
        display_name: Some(name.clone()),
        email: Some(format!("kim.{tag}@example.test").to_lowercase()),
        ..Default::default()
    };
    let employee = sso_server::employees::Employees {
        store: &state.store,
    }
    .create_manual(
        &Actor::cli(),
        SystemClock.now_ms(),
        fields.validate().expect("valid"),
    )
    .await
    .expect("employee");

    let (c, mut shots) = signed_in(&driver, &base, "keys-").await;

    // Import: three good lines in, the bad one named by its line next to the field.
    click(&c, Locator::LinkText("Keys")).await;
    text_of(&c, Locator::XPath("//main//h1[.='Hardware keys']")).await;
    click(&c, Locator::LinkText("Import keys")).await;
    let csv = format!(
        "serial,model,attestation\n{}\n{}\nnot a serial!\n{}",
        lines[0], lines[1], lines[2]
    );
    fill(&c, "f-keys", &csv).await;
    shots.take(&c, "import").await;
    click(&c, Locator::XPath(&button("Import"))).await;
    let error = text_of(&c, Locator::Id("f-keys-error")).await;
    assert!(error.starts_with("line 4: serial:"), "{error}");
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("Imported 3 keys"), "{notice}");
    shots.take(&c, "import-line-error").await;

    // The inventory: search by serial, filter by state.
    c.goto(&format!("{base}/admin/keys?q=k{tag}"))
        .await
        .expect("goto");
    let rows = c.find_all(Locator::Css("tbody tr")).await.expect("rows");
    assert_eq!(rows.len(), 3, "the search is case-insensitive");
    c.find(Locator::Id("state"))
        .await
        .expect("state filter")
        .select_by_value("ready")
        .await
        .expect("select");
    click(&c, Locator::XPath(&button("Search"))).await;
    let count = text_when(&c, Locator::Id("count"), |t| t.starts_with("3 keys ready")).await;
    assert!(count.starts_with("3 keys ready"), "{count}");
    shots.take(&c, "inventory").await;

    // Assign: a bad employee id is shown next to the field; then found by search.
    click(&c, Locator::LinkText(&serials[0])).await;
    shots.take(&c, "key-ready").await;
    click(&c, Locator::LinkText("Assign to an employee")).await;
    fill(&c, "f-employee_id", "kim").await;
    click(&c, Locator::Css("form.form button.primary")).await;
    let error = text_of(&c, Locator::Id("f-employee_id-error")).await;
    assert!(error.contains("must be an employee id"), "{error}");
    fill(&c, "q", &name).await;
    click(&c, Locator::XPath(&button("Search"))).await;
    shots.take(&c, "assign").await;
    click(
        &c,
        Locator::Css(&format!("button[aria-label='Assign to {name}']")),
    )
    .await;
    let code = c
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("activation-code"))
        .await
        .expect("the activation code")
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(text_of(&c, Locator::Id("key-state")).await, "reserved");
    c.find(Locator::Css(&format!(
        "dl.facts a[href='/admin/employees/{}']",
        employee.id
    )))
    .await
    .expect("the key's employee");
    shots.take(&c, "assigned-code").await;
    c.refresh().await.expect("refresh");
    text_of(&c, Locator::Id("key-state")).await;
    assert!(
        c.find_all(Locator::Id("activation-code"))
            .await
            .expect("find")
            .is_empty(),
        "the code is not shown again"
    );
    assert!(!c.source().await.expect("source").contains(&code));

    // The employee types the code at the workstation (what the key-bridge sends).
    // The key's identity and its factory key's attestation, as the key-bridge registers them
    // (the API checks the key's signature).
    use key_bridge::KeyDevice as _;
    let device = &mut devices[0];
    let activated = sso_server::keys::activate(
        &state.hardware_keys(),
        &Actor::cli(),
        &serials[0],
        &code,
        &device.public_key().expect("identity"),
        &device.attest_identity().expect("attestation"),
        "test-workstation",
    )
    .await
    .expect("activate");
    assert!(
        matches!(activated, sso_server::keys::Activation::Activated { .. }),
        "{activated:?}"
    );

    // State actions: suspend and resume; an action the state no longer allows is a message.
    c.refresh().await.expect("refresh");
    assert_eq!(text_of(&c, Locator::Id("key-state")).await, "active");
    fill(&c, "reason", "left at home").await;
    click(&c, Locator::XPath(&button("Suspend"))).await;
    let notice = text_of(&c, Locator::Css(".notice")).await;
    assert!(notice.contains("suspended (now suspended)"), "{notice}");
    assert!(body(&c).await.contains("left at home"));
    shots.take(&c, "key-suspended").await;
    click(&c, Locator::XPath(&button("Resume"))).await;
    // The next page's notice (the current one has a notice too).
    text_of(
        &c,
        Locator::XPath("//p[@class='notice'][contains(., 'resumed (now active)')]"),
    )
    .await;
    // Another admin suspends it meanwhile; this page still offers Suspend.
    sso_server::keys::act(
        &state.hardware_keys(),
        &Actor::cli(),
        &employee_key(&state, &serials[0]).await,
        sso_server::keys::AdminAction::Suspend,
        None,
    )
    .await
    .expect("suspend");
    click(&c, Locator::XPath(&button("Suspend"))).await;
    let alert = text_of(&c, Locator::Css("p.alert")).await;
    assert!(
        alert.contains("cannot suspend a key that is suspended"),
        "{alert}"
    );
    shots.take(&c, "key-refused-action").await;
    click(&c, Locator::XPath(&button("Resume"))).await;
    text_of(&c, Locator::Css(".notice")).await;

    // The employee's page: the key, and the password form (checked, never echoed).
    click(&c, Locator::LinkText(&name)).await;
    let keys = text_of(&c, Locator::Id("employee-keys")).await;
    assert!(
        keys.contains(&serials[0]) && keys.contains("active"),
        "{keys}"
    );
    fill(&c, "f-password", "short1!").await;
    click(&c, Locator::XPath(&button("Set this password"))).await;
    let error = text_of(&c, Locator::Id("f-password-error")).await;
    assert!(error.contains("12 to 128 characters"), "{error}");
    assert_eq!(
        c.find(Locator::Id("f-password"))
            .await
            .expect("field")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("")
    );
    shots.take(&c, "employee-keys-password-error").await;
    click(&c, Locator::XPath(&button("Rotate now"))).await;
    let alert = text_of(&c, Locator::Css("p.alert")).await;
    assert!(alert.contains("no domain account"), "{alert}");

    // The dashboard counts keys by state.
    click(&c, Locator::LinkText("Dashboard")).await;
    let tile = text_of(&c, Locator::Id("keys-tile")).await;
    assert!(tile.contains("hardware keys"), "{tile}");
    let active = text_of(&c, Locator::Css("#keys-tile [data-state=active]")).await;
    assert!(
        active.ends_with("active") && active != "0 active",
        "{active}"
    );
    shots.take(&c, "dashboard").await;

    // An Entra ID domain: the form shows that kind's fields; a bad tenant id is shown next to it.
    click(&c, Locator::LinkText("Domains")).await;
    click(&c, Locator::LinkText("Add domain")).await;
    c.find(Locator::Id("f-kind"))
        .await
        .expect("kind")
        .select_by_value("entra_id")
        .await
        .expect("select");
    assert!(
        !c.find(Locator::Id("f-urls"))
            .await
            .expect("urls")
            .is_displayed()
            .await
            .expect("displayed"),
        "the LDAP fields are hidden"
    );
    fill(&c, "f-name", &format!("cloud{tag}").to_lowercase()).await;
    fill(&c, "f-tenant_id", "not a tenant").await;
    fill(&c, "f-client_id", "11111111-2222-3333-4444-555555555555").await;
    fill(&c, "f-client_secret", "a-client-secret").await;
    fill(&c, "f-group_id", "66666666-7777-8888-9999-000000000000").await;
    assert_eq!(
        c.find(Locator::Id("f-graph_url"))
            .await
            .expect("graph")
            .prop("value")
            .await
            .expect("value")
            .as_deref(),
        Some("https://graph.microsoft.com/v1.0"),
        "Microsoft's default"
    );
    shots.take(&c, "domain-entra-new").await;
    click(&c, Locator::XPath(&button("Add domain"))).await;
    let error = text_of(&c, Locator::Id("f-tenant_id-error")).await;
    assert!(error.contains("must be the tenant id"), "{error}");
    assert_eq!(
        c.active_element()
            .await
            .expect("focus")
            .attr("id")
            .await
            .expect("id")
            .as_deref(),
        Some("f-tenant_id")
    );
    assert!(
        c.find(Locator::Id("f-tenant_id"))
            .await
            .expect("tenant")
            .is_displayed()
            .await
            .expect("displayed"),
        "the Entra ID fields stay shown"
    );
    shots.take(&c, "domain-entra-field-error").await;
    fill(&c, "f-tenant_id", "contoso.onmicrosoft.com").await;
    fill(&c, "f-client_secret", "a-client-secret").await;
    click(&c, Locator::XPath(&button("Add domain"))).await;
    let facts = text_of(&c, Locator::Css("dl.facts")).await;
    assert!(
        facts.contains("Entra ID") && facts.contains("client secret stored"),
        "{facts}"
    );
    shots.take(&c, "domain-entra").await;
    click(&c, Locator::LinkText("Keys")).await;
    c.set_window_size(390, 844).await.expect("resize");
    shots.take(&c, "inventory-phone").await;
    c.set_window_size(1280, 900).await.expect("resize");
    click(&c, Locator::LinkText("Workstations")).await;
    text_when(&c, Locator::Css("h1"), |t| t.contains("Workstations")).await;
    shots.take(&c, "workstations").await;

    c.close().await.expect("close");
}

/// The id of the key with this serial.
async fn employee_key(state: &sso_server::app::AppState, serial: &str) -> String {
    let mut conn = state.store.conn().await.expect("conn");
    sso_server::keys::store::by_serial(&mut conn, serial)
        .await
        .expect("key")
        .expect("the key")
        .id
}

/// WebDriver's "add virtual authenticator" (W3C WebAuthn, chromedriver): a platform authenticator
/// with user verification that holds discoverable credentials, standing in for Touch ID or
/// Windows Hello.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl fantoccini::wd::WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/webauthn/authenticator",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true, "isUserConsenting": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Chromium with JavaScript switched off (the no-script paths of the sign-in page).
async fn browser_without_js(driver: &e2e::Chromedriver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium,
            "args": e2e::CHROMIUM_ARGS.iter().chain(&["--window-size=1280,900"]).collect::<Vec<_>>(),
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("webdriver session")
}

/// The browser's address once `want` holds for it.
async fn url_when(c: &Client, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let u = c.current_url().await.expect("url").to_string();
        if want(&u) {
            return u;
        }
        assert!(std::time::Instant::now() < deadline, "stuck at {u}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Issue 19, in Chromium: an employee signs in to an app with the domain password while
/// JavaScript is off; approves on the phone from the single account field; adds a passkey on the
/// account page and then signs in through the account field's autofill (conditional mediation,
/// nothing clicked); renames and removes the passkey; signs out everywhere, which ends the app's
/// refresh token; and a browser asking for German gets German.
#[tokio::test]
async fn employee_signs_in_and_manages_the_account_in_a_browser() {
    let Some(dc) = e2e::SambaDc::corp() else {
        return;
    };
    let Some(driver) = e2e::chromium() else {
        return;
    };
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let group = format!("Employee Pages {tag}");
    let sam = format!("ep{tag}");
    let email = format!("{sam}@corp.example.test");
    let password = "Employee-Passw0rd!";
    dc.samba_tool(&["group", "add", &group]);
    dc.samba_tool(&[
        "user",
        "create",
        &sam,
        password,
        &format!("--mail-address={email}"),
        "--given-name=Ada",
        "--surname=Pages",
        "--use-username-as-cn",
    ]);
    dc.samba_tool(&["group", "addmembers", &group, &sam]);

    let (_dir, base, state) = start_server(|_| {}).await;
    let domain = format!("corp{tag}");
    e2e::add_domain(&dc, &state, &domain, &group, json!({})).await;
    let run = state
        .syncer()
        .run(
            &domain,
            sso_server::directory::RunOptions {
                mode: sso_server::directory::SyncMode::Full,
                dry_run: false,
                force: false,
                trigger: sso_server::directory::sync::Trigger::Cli,
                actor: Actor::cli(),
            },
            None,
        )
        .await
        .expect("sync");
    assert_eq!(run.state, "succeeded", "{:?}", run.message);
    let rp = e2e::flows::Rp::create(&state, &base, "Wiki").await;

    // 1. JavaScript off: the password path through the one form.
    let nojs = browser_without_js(&driver).await;
    let (auth_url, _) = rp.authorize_url();
    nojs.goto(&auth_url).await.expect("authorize");
    url_when(&nojs, |u| u.contains("/login?request=")).await;
    let field = nojs
        .find(Locator::Id("username"))
        .await
        .expect("account field");
    // Chromium's virtual authenticator answers a conditional request without showing the
    // autofill list (step 4), so the field's `webauthn` token is checked here.
    assert_eq!(
        field.attr("autocomplete").await.expect("attr").as_deref(),
        Some("username webauthn")
    );
    field.send_keys(&email).await.expect("type");
    nojs.find(Locator::Css("#other-ways summary"))
        .await
        .expect("other ways")
        .click()
        .await
        .expect("open");
    nojs.find(Locator::Id("password"))
        .await
        .expect("password field")
        .send_keys(password)
        .await
        .expect("type");
    nojs.find(Locator::Id("password-button"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let back = url_when(&nojs, |u| u.starts_with(e2e::flows::REDIRECT)).await;
    assert!(back.contains("code="), "{back}");
    nojs.close().await.expect("close");

    // 2. The phone, registered from an enrolment link; then approval from the account field.
    let c = browser(&driver).await;
    c.issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("virtual authenticator");
    // (The invitation page an admin's invitation links to, checked for accessibility.)
    let employee_id = {
        let mut conn = state.store.conn().await.expect("conn");
        sso_server::employees::store::find_by_email(&mut conn, &email)
            .await
            .expect("find")
            .expect("imported")
            .id
    };
    let invitation =
        sso_server::enrol::invitations::invite(&state.invitations(), &Actor::cli(), &employee_id)
            .await
            .expect("invitation");
    c.goto(&invitation.link.expect("link"))
        .await
        .expect("invitation page");
    text_of(&c, Locator::Css("h1")).await;
    axe(&c, "invitation").await;
    let phone = e2e::flows::Phone::register(&state, &email).await;
    let (auth_url, flow) = rp.authorize_url();
    c.goto(&auth_url).await.expect("authorize");
    axe(&c, "sign-in").await;
    card_shot(&c, "employee-sign-in").await;
    fill(&c, "username", &email).await;
    c.find(Locator::Id("push-button"))
        .await
        .expect("phone button")
        .click()
        .await
        .expect("click");
    let number = text_when(&c, Locator::Id("push-number-value"), |t| !t.is_empty()).await;
    phone
        .approve(number.parse().expect("a two-digit number"))
        .await;
    let back = url_when(&c, |u| u.starts_with(e2e::flows::REDIRECT)).await;
    let refresh = rp.exchange(&back, flow).await.refresh;
    assert!(
        rp.refresh(&refresh).await.is_ok(),
        "the app's refresh token works"
    );

    // 3. A passkey added on the account page (the phone sign-in is recent and strong).
    c.goto(&format!("{base}/account")).await.expect("account");
    axe(&c, "account").await;
    fill(&c, "passkey-name", "Laptop").await;
    click(&c, Locator::Id("add-passkey")).await;
    text_when(&c, Locator::Id("passkeys"), |t| t.contains("Laptop")).await;
    click(&c, Locator::XPath(&button("Sign out"))).await;
    assert!(body(&c).await.contains("You are signed out"));

    // 4. Back on the sign-in page nothing is clicked: the browser offers the passkey in the
    // account field's autofill and the virtual authenticator picks it.
    c.goto(&format!("{base}/login"))
        .await
        .expect("sign-in page");
    let at = url_when(&c, |u| u.ends_with("/account")).await;
    assert!(at.ends_with("/account"));
    let recent = text_of(&c, Locator::Id("sign-ins")).await;
    assert!(recent.contains("passkey"), "{recent}");
    assert!(
        recent.contains("from this computer (127.0.0.1)"),
        "where each sign-in came from: {recent}"
    );

    // 5. Rename, then remove.
    let rename = c
        .find(Locator::Css("#passkeys input[name=name]"))
        .await
        .expect("rename field");
    rename.clear().await.expect("clear");
    rename.send_keys("Work laptop").await.expect("type");
    click(&c, Locator::XPath(&button("Rename"))).await;
    text_when(&c, Locator::Id("passkeys"), |t| t.contains("Work laptop")).await;
    card_shot(&c, "employee-account").await;
    click(
        &c,
        Locator::Css("button[aria-label='Remove the passkey Work laptop']"),
    )
    .await;
    let list = text_when(&c, Locator::Id("passkeys"), |t| !t.contains("Work laptop")).await;
    assert!(!list.contains("Work laptop"), "{list}");

    // 6. Sign out everywhere: the app's refresh token is dead.
    c.goto(&format!("{base}/account")).await.expect("account");
    click(&c, Locator::XPath(&button("Sign out everywhere"))).await;
    assert!(rp.refresh(&refresh).await.is_err(), "refresh token ended");
    c.close().await.expect("close");

    // 7. A browser that asks for German gets the sign-in page in German (checked with axe-core
    // too); the page's switch goes back to English.
    let de = browser_in(&driver, "de-DE,de").await;
    de.goto(&format!("{base}/login"))
        .await
        .expect("sign-in page");
    assert_eq!(text_of(&de, Locator::Css("h1")).await, "Anmelden");
    assert_eq!(
        text_of(&de, Locator::Id("push-button")).await,
        "Anfrage an mein Telefon senden"
    );
    let html_lang = de
        .find(Locator::Css("html"))
        .await
        .expect("html")
        .attr("lang")
        .await
        .expect("attr");
    assert_eq!(html_lang.as_deref(), Some("de"));
    axe(&de, "sign-in (German)").await;
    click(&de, Locator::LinkText("English")).await;
    assert_eq!(text_of(&de, Locator::Css("h1")).await, "Sign in");
    de.close().await.expect("close");
}

/// A screenshot of the page's card only (small, for the README: scripts/screenshots.sh).
async fn card_shot(c: &Client, name: &str) {
    let card = c
        .find(Locator::Css(".card"))
        .await
        .unwrap_or_else(|e| panic!("{name}: no card: {e}"));
    let png = card.screenshot().await.expect("screenshot");
    let path = e2e::screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Chromium asking for `languages` (its `Accept-Language`).
async fn browser_in(driver: &e2e::Chromedriver, languages: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium,
            "args": e2e::CHROMIUM_ARGS.iter().chain(&["--window-size=1280,900"]).collect::<Vec<_>>(),
            "prefs": {"intl.accept_languages": languages},
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("webdriver session")
}

/// Issue 26: administrators sign in with passkeys, in Chromium with a virtual authenticator.
/// With `admin.require_passkey`, a password alone opens only "Your passkeys"; the admin adds a
/// passkey there, signs out, and signs in to the console with it (no name, no password).
#[tokio::test]
async fn admin_signs_in_to_the_console_with_a_passkey() {
    let Some(driver) = e2e::chromium() else {
        return;
    };
    let (_dir, base, state) = start_server(|c| c.admin.require_passkey = true).await;
    add_admin(&state).await;
    let c = browser(&driver).await;
    c.issue_cmd(AddVirtualAuthenticator)
        .await
        .expect("virtual authenticator");
    c.goto(&format!("{base}/admin/login")).await.expect("goto");
    fill(&c, "username", ADMIN).await;
    fill(&c, "password", ADMIN_PASSWORD).await;
    click(&c, Locator::Css("button[type=submit]")).await;
    // The password alone opens nothing but the passkeys page.
    let refused = text_when(&c, Locator::Css("body"), |t| {
        t.contains("passkey is required")
    })
    .await;
    assert!(refused.contains("passkey is required"), "{refused}");
    c.goto(&format!("{base}/admin/passkeys"))
        .await
        .expect("goto");
    text_of(&c, Locator::XPath("//main/h1[.='Your passkeys']")).await;
    axe(&c, "your passkeys").await;
    fill(&c, "passkey-name", "Laptop").await;
    click(&c, Locator::Id("add-passkey")).await;
    let table = text_when(&c, Locator::Css("main"), |t| t.contains("Laptop")).await;
    assert!(table.contains("Laptop"), "{table}");
    click(&c, Locator::XPath(&button("Sign out"))).await;
    text_of(&c, Locator::XPath("//h1[.='Administrator sign-in']")).await;
    click(&c, Locator::Id("passkey-signin")).await;
    text_of(&c, Locator::XPath("//main/h1[.='Dashboard']")).await;
    c.close().await.expect("close");
}
