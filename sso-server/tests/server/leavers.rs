//! Leavers lose access on the next scheduled sync, in a small domain too; the removal guard
//! stops only mass removals, and a refused run still applies what is safe (issue 16). Against the
//! real Samba AD DC, driven by the schedule (`schedule::tick`, clock advanced, no force).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sso_server::directory::store::RunRow;
use sso_server::directory::{RunReport, SyncMode};

use crate::ad::{Corner, Dc};
use crate::directory::{add_domain_json, by_email, employees, opts, stored_run, sync_with, user};
use crate::keys::{activated_key, agent, api, key_state};
use crate::support::{backends, Db, TestServer};

/// Moves the clock past the sync interval and lets the schedule run the domain once.
async fn scheduled_run(server: &TestServer) -> (RunRow, RunReport) {
    server.clock.advance(Duration::from_secs(61 * 60));
    let started = sso_server::directory::schedule::tick(&server.state.syncer())
        .await
        .expect("tick");
    assert_eq!(started.len(), 1, "one scheduled run");
    let run = crate::support::eventually(
        Duration::from_secs(30),
        "the scheduled run to finish",
        || async {
            let run = stored_run(server, &started[0]).await;
            (run.state != "running").then_some(run)
        },
    )
    .await;
    assert_eq!(run.trigger, "schedule");
    assert!(
        run.finished_at.is_some(),
        "a finished run says when: {run:?}"
    );
    let report = serde_json::from_str(&run.report).unwrap_or_default();
    (run, report)
}

/// A new admin session (the clock jumps past a session's lifetime between scheduled runs).
async fn sign_in(server: &TestServer) -> (reqwest::Client, String) {
    let client = crate::support::client();
    let csrf = server
        .api_login(
            &client,
            crate::support::ADMIN,
            crate::support::ADMIN_PASSWORD,
        )
        .await;
    (client, csrf)
}

/// The default guard (10% and 10 accounts), as a new domain gets it.
fn domain_json(c: &Corner, name: &str) -> serde_json::Value {
    let mut d = c.domain_json(name);
    d["max_removal_percent"] = json!(10);
    d.as_object_mut()
        .expect("object")
        .remove("max_removal_count");
    d
}

/// A domain of 4: one employee leaves through a nested group; the next scheduled run removes
/// them (25% of the domain, within the floor), withdraws their key and queues its wipe, ends
/// their sessions and grants, and the run records when it finished.
#[tokio::test]
async fn a_leaver_in_a_small_domain_is_removed_by_the_next_scheduled_run() {
    let Some(dc) = Dc::corp() else { return };
    for db in backends() {
        let server = TestServer::start(db).await;
        server.admin_client().await;
        let mut c = Corner::new(&dc).await;
        let group = c.group.clone();
        let nested = c.add_group("Team").await;
        c.add_member(&group, &nested).await;
        let t = c.tag.clone();
        let mut dns = Vec::new();
        for i in 0..4 {
            let sam = format!("l{i}{t}");
            let mail = format!("leaver{i}.{t}@corp.example.test");
            let dn = c
                .add_user(&user(&sam, "Lea", &format!("V{i}"), Some(&mail)))
                .await;
            // The first one is a member only through the nested group.
            c.add_member(if i == 0 { &nested } else { &group }, &dn)
                .await;
            dns.push(dn);
        }
        add_domain_json(&server, domain_json(&c, "corp")).await;
        let (run, report) = scheduled_run(&server).await;
        assert_eq!(
            (run.state.as_str(), run.added),
            ("succeeded", 4),
            "{report:?}"
        );
        let leaver = by_email(
            &employees(&server).await,
            &format!("leaver0.{t}@corp.example.test"),
        )
        .id
        .clone();

        // The leaver has an active key.
        let (admin, csrf) = sign_in(&server).await;
        let agent = agent(&server, &admin, &csrf).await;
        let (mut device, key_id) = activated_key(&server, &admin, &csrf, &agent, &leaver).await;

        // Out of the nested group: the next scheduled run, unforced, removes them.
        c.remove_member(&nested, &dns[0]).await;
        let (run, report) = scheduled_run(&server).await;
        assert_eq!(
            (run.state.as_str(), run.removed, run.forced),
            ("succeeded", 1, 0),
            "{:?} {report:?}",
            run.message
        );
        let list = employees(&server).await;
        let gone = list.iter().find(|e| e.id == leaver).expect("leaver");
        assert_eq!(gone.state, "removed-from-sync");
        assert_eq!(list.iter().filter(|e| e.state == "active").count(), 3);
        let (admin, csrf) = sign_in(&server).await;
        assert_eq!(
            key_state(&server, &admin, &csrf, &key_id).await,
            "deactivated"
        );
        // Their key is sent a wipe; access ended in the same transaction, with a trail.
        let round = agent
            .run_once(&mut device, Duration::ZERO)
            .await
            .expect("round");
        assert_eq!(
            (round.key_state.as_str(), round.applied),
            ("deactivated", 1)
        );
        let (_, events) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            &format!("/api/v1/audit?action=employee.deactivated&target_id={leaver}"),
            None,
        )
        .await;
        let detail = &events["items"][0]["detail"];
        assert_eq!(detail["reason"], "removed-from-sync", "{events}");
        assert_eq!(detail["keys_deactivated"], 1, "{events}");
    }
}

/// A domain of 2: one member disabled in AD is a positive fact, never weighed by the guard (even
/// with no floor and a 10% share): removed at the next scheduled run.
#[tokio::test]
async fn a_disabled_member_of_a_small_domain_is_removed_without_force() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mut dns = Vec::new();
    for i in 0..2 {
        let sam = format!("d{i}{t}");
        let mail = format!("dis{i}.{t}@corp.example.test");
        let dn = c
            .add_user(&user(&sam, "Dee", &format!("S{i}"), Some(&mail)))
            .await;
        c.add_member(&group, &dn).await;
        dns.push(dn);
    }
    let mut d = domain_json(&c, "corp");
    d["max_removal_count"] = json!(0);
    add_domain_json(&server, d).await;
    let (run, _) = scheduled_run(&server).await;
    assert_eq!(run.added, 2);
    c.set(&dns[1], "userAccountControl", "514").await;
    let (run, report) = scheduled_run(&server).await;
    assert_eq!(
        (run.state.as_str(), run.removed),
        ("succeeded", 1),
        "{:?} {report:?}",
        run.message
    );
    let off = by_email(
        &employees(&server).await,
        &format!("dis1.{t}@corp.example.test"),
    )
    .clone();
    assert_eq!(off.state, "disabled");
    assert!(report.held.is_empty());
}

/// A domain of 40 with 15 members missing at once: a mass removal. The run is refused, the 15
/// removals are held and listed (report, dashboard, e-mail to the admins), the additions and
/// updates are applied; a forced run then applies the removals. An emptied group applies nothing.
#[tokio::test]
async fn a_mass_removal_is_held_the_rest_applied_and_force_applies_it() {
    let Some(dc) = Dc::corp() else { return };
    let smtp = test_support::mail::Smtp::required();
    let alert = format!("it.{}@example.test", uuid::Uuid::new_v4().simple());
    let server = TestServer::start_with(Db::Sqlite, |cfg| {
        if let Some(smtp) = &smtp {
            cfg.mail.smtp_host = Some(smtp.host.clone());
            cfg.mail.smtp_port = smtp.port;
            cfg.mail.tls = sso_server::config::MailTls::None;
            cfg.mail.alert_recipients = vec![alert.clone()];
        }
    })
    .await;
    server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mut dns = Vec::new();
    for i in 0..40 {
        let sam = format!("m{i}{t}");
        let mail = format!("mass{i}.{t}@corp.example.test");
        let dn = c
            .add_user(&user(&sam, "Max", &format!("S{i:02}"), Some(&mail)))
            .await;
        c.add_member(&group, &dn).await;
        dns.push(dn);
    }
    add_domain_json(&server, domain_json(&c, "corp")).await;
    let (run, _) = scheduled_run(&server).await;
    assert_eq!(run.added, 40);

    // 15 leave, one is renamed, two join.
    for dn in &dns[..15] {
        c.remove_member(&group, dn).await;
    }
    c.set(&dns[20], "title", "Head of Tests").await;
    for i in 0..2 {
        let sam = format!("n{i}{t}");
        let mail = format!("new{i}.{t}@corp.example.test");
        let dn = c
            .add_user(&user(&sam, "Nia", &format!("W{i}"), Some(&mail)))
            .await;
        c.add_member(&group, &dn).await;
        dns.push(dn);
    }
    let (run, report) = scheduled_run(&server).await;
    assert_eq!(run.state, "refused", "{:?}", run.message);
    let msg = run.message.clone().unwrap_or_default();
    assert!(
        msg.contains("15 of the domain's 40") && msg.contains("held"),
        "{msg}"
    );
    assert_eq!(report.held.len(), 15, "{report:?}");
    let held: Vec<String> = report.held.iter().filter_map(|h| h.dn.clone()).collect();
    for dn in &dns[..15] {
        assert!(held.contains(dn), "{dn} is listed as held");
    }
    assert_eq!(
        (run.added, run.updated, run.removed),
        (2, 1, 0),
        "{report:?}"
    );
    let list = employees(&server).await;
    assert_eq!(list.len(), 42);
    assert!(
        list.iter().all(|e| e.state == "active"),
        "the held stay active"
    );
    assert_eq!(
        by_email(&list, &format!("mass20.{t}@corp.example.test"))
            .title
            .as_deref(),
        Some("Head of Tests")
    );
    // The dashboard shows the held removals.
    let (admin, _) = sign_in(&server).await;
    let page = admin
        .get(server.url("/admin"))
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("15 removals held"),
        "the dashboard shows them"
    );
    assert!(page.contains("Max S00"), "and names them");
    // The admins are told.
    if let Some(smtp) = &smtp {
        // Fails unless the held removals were e-mailed to the admins.
        smtp.wait_for(&alert, "Held removals (15)").await;
    }

    // The admin reviews and forces: the removals are applied.
    server.clock.advance(Duration::from_secs(60));
    let mut forced = opts(SyncMode::Full);
    forced.force = true;
    let (run, _) = sync_with(&server, "corp", forced).await;
    assert_eq!((run.state.as_str(), run.removed), ("succeeded", 15));
    assert!(stored_run(&server, &run.id).await.finished_at.is_some());
    let list = employees(&server).await;
    assert_eq!(list.iter().filter(|e| e.state == "active").count(), 27);
    let page = admin
        .get(server.url("/admin"))
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("removals held"), "resolved: no longer shown");

    // The group emptied: refused, nothing removed.
    for dn in &dns[15..] {
        c.remove_member(&group, dn).await;
    }
    let (run, report) = scheduled_run(&server).await;
    assert_eq!(run.state, "refused");
    assert!(
        run.message
            .unwrap_or_default()
            .contains("nothing was changed"),
        "{report:?}"
    );
    assert_eq!(
        employees(&server)
            .await
            .iter()
            .filter(|e| e.state == "active")
            .count(),
        27
    );
}

/// The employee's page says which account each field comes from.
#[tokio::test]
async fn the_employee_page_shows_where_each_field_comes_from() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mail = format!("src.{t}@corp.example.test");
    let dn = c
        .add_user(&user(&format!("s{t}"), "Sou", "Rce", Some(&mail)))
        .await;
    c.add_member(&group, &dn).await;
    add_domain_json(&server, domain_json(&c, "corp")).await;
    scheduled_run(&server).await;
    let id = by_email(&employees(&server).await, &mail).id.clone();
    let (admin, _) = sign_in(&server).await;
    let page = admin
        .get(server.url(&format!("/admin/employees/{id}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("display name, given name, family name, e-mail"),
        "{page}"
    );
}

/// Issue 27: a leaver's pending invitation is revoked in the run that deactivates them, and its
/// link answers a page in the employee's language (not JSON) that registers nothing.
#[tokio::test]
async fn a_leavers_invitation_link_is_a_page_that_registers_nothing() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (admin, csrf) = server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mail = format!("leaving.{t}@corp.example.test");
    let dn = c
        .add_user(&user(&format!("l{t}"), "Lee", "Ving", Some(&mail)))
        .await;
    c.add_member(&group, &dn).await;
    add_domain_json(&server, domain_json(&c, "corp")).await;
    sync_with(&server, "corp", opts(SyncMode::Full)).await;
    let id = by_email(&employees(&server).await, &mail).id.clone();
    let (status, inv) = api(
        &server,
        &admin,
        &csrf,
        Method::POST,
        &format!("/api/v1/employees/{id}/invitations"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{inv}");
    let link = inv["link"].as_str().expect("link").to_owned();
    let path = link
        .find("/invite/")
        .map(|i| link[i..].to_owned())
        .expect("invite path");
    let page = crate::support::client()
        .get(server.url(&path))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200, "the invitation works while employed");

    // The employee leaves: removed from the sync group, the next (forced) run deactivates them.
    c.remove_member(&group, &dn).await;
    let mut o = opts(SyncMode::Full);
    o.force = true;
    let (run, _) = sync_with(&server, "corp", o).await;
    assert_eq!(run.state, "succeeded");
    let (_, list) = api(
        &server,
        &admin,
        &csrf,
        Method::GET,
        &format!("/api/v1/employees/{id}/invitations"),
        None,
    )
    .await;
    assert_eq!(list[0]["state"], "revoked", "{list}");
    for lang in ["en", "de"] {
        let page = crate::support::client()
            .get(server.url(&path))
            .header("accept-language", lang)
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 404);
        let ctype = page.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(ctype.starts_with("text/html"), "{ctype}");
        let html = page.text().await.expect("html");
        let want = if lang == "de" {
            "zurückgezogen"
        } else {
            "withdrawn"
        };
        assert!(html.contains(want), "{lang}: {html}");
        assert!(
            !html.contains("hideez-auth://register"),
            "no QR code on a dead link"
        );
    }
    // No enrolment was made for the dead link: the employee has no way to register through it.
    let mut conn = server.state.store.conn().await.expect("conn");
    let devices = sso_server::push::store::active_devices_of(&mut conn, &id)
        .await
        .expect("devices");
    assert!(devices.is_empty());
}
