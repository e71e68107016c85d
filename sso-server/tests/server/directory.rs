//! Directory sync against the real Samba AD DCs that `scripts/test.sh` starts (corp, and emea for
//! the multi-domain cases). Each test works in its own OU with its own sync group.

use reqwest::Method;
use serde_json::{json, Value};
use sso_server::audit::Actor;
use sso_server::directory::store::{IdentityRow, RunRow};
use sso_server::directory::sync::Trigger;
use sso_server::directory::{Domains, RunOptions, RunReport, SyncMode};
use sso_server::employees::store::EmployeeRow;

use crate::ad::{Corner, Dc, NewUser};
use crate::support::{backends, call, eventually, Db, TestServer};

pub(crate) fn opts(mode: SyncMode) -> RunOptions {
    RunOptions {
        mode,
        dry_run: false,
        force: false,
        trigger: Trigger::Cli,
        actor: Actor::cli(),
    }
}

pub(crate) async fn add_domain(server: &TestServer, corner: &Corner, name: &str) {
    add_domain_json(server, corner.domain_json(name)).await;
}

pub(crate) async fn add_domain_json(server: &TestServer, v: Value) {
    let input = serde_json::from_value(v).expect("domain input");
    Domains {
        store: &server.state.store,
        cipher: &server.state.cipher,
    }
    .create(&Actor::cli(), server.clock.now_ms(), &input)
    .await
    .expect("create domain");
}

pub(crate) async fn sync_with(
    server: &TestServer,
    domain: &str,
    o: RunOptions,
) -> (RunRow, RunReport) {
    let run = server
        .state
        .syncer()
        .run(domain, o, None)
        .await
        .expect("run claimed");
    let report: RunReport = serde_json::from_str(&run.report).unwrap_or_default();
    (run, report)
}

pub(crate) async fn sync(server: &TestServer, domain: &str) -> (RunRow, RunReport) {
    let (run, report) = sync_with(server, domain, opts(SyncMode::Full)).await;
    assert_eq!(
        run.state, "succeeded",
        "{:?} {:?}",
        run.message, report.errors
    );
    (run, report)
}

/// The run as stored (not the copy the syncer returned).
pub(crate) async fn stored_run(server: &TestServer, id: &str) -> RunRow {
    let mut conn = server.state.store.conn().await.expect("conn");
    sso_server::directory::store::get_run(&mut conn, id)
        .await
        .expect("run")
        .expect("stored")
}

pub(crate) async fn employees(server: &TestServer) -> Vec<EmployeeRow> {
    let mut conn = server.state.store.conn().await.expect("conn");
    let mut v = sso_server::employees::store::all(&mut conn)
        .await
        .expect("employees");
    v.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    v
}

async fn identities(server: &TestServer) -> Vec<IdentityRow> {
    let mut conn = server.state.store.conn().await.expect("conn");
    sso_server::directory::store::all_identities(&mut conn)
        .await
        .expect("identities")
}

pub(crate) fn by_email<'a>(list: &'a [EmployeeRow], email: &str) -> &'a EmployeeRow {
    list.iter()
        .find(|e| e.email.as_deref().map(str::to_lowercase) == Some(email.to_lowercase()))
        .unwrap_or_else(|| panic!("no employee with {email}: {list:?}"))
}

use sso_server::clock::Clock as _;

pub(crate) fn user<'a>(
    sam: &'a str,
    given: &'a str,
    sn: &'a str,
    mail: Option<&'a str>,
) -> NewUser<'a> {
    NewUser {
        sam,
        given: Some(given),
        sn: Some(sn),
        mail,
        ..NewUser::default()
    }
}

/// 1, 2, 15: members and nested members imported with their attributes, non-members not; a
/// second run changes nothing; objectGUID is the key, byte-exact.
#[tokio::test]
async fn imports_members_and_nested_members_and_a_rerun_changes_nothing() {
    let Some(dc) = Dc::corp() else { return };
    for db in backends() {
        let server = TestServer::start(db).await;
        let mut c = Corner::new(&dc).await;
        let t = c.tag.clone();
        let nested = c.add_group("Nested").await;
        let group = c.group.clone();
        c.add_member(&group, &nested).await;
        let (s1, s2, s3) = (format!("a{t}"), format!("b{t}"), format!("c{t}"));
        let ada = c
            .add_user(&NewUser {
                sam: &s1,
                given: Some("Ada"),
                sn: Some("Lovelace"),
                mail: Some("Ada.Lovelace@corp.example.test"),
                phone: Some("+44 20 7946 0001"),
                department: Some("Engineering"),
                title: Some("Analyst"),
                disabled: false,
            })
            .await;
        let bob = c
            .add_user(&user(&s2, "Bob", "Nested", Some("bob@corp.example.test")))
            .await;
        c.add_user(&user(
            &s3,
            "Carl",
            "Outsider",
            Some("carl@corp.example.test"),
        ))
        .await;
        c.add_member(&group, &ada).await;
        c.add_member(&nested, &bob).await;
        add_domain(&server, &c, "corp").await;

        let (run, report) = sync(&server, "corp").await;
        assert_eq!(run.kind, "full");
        assert_eq!((run.added, run.errors), (2, 0), "{report:?}");
        let list = employees(&server).await;
        assert_eq!(list.len(), 2, "the non-member is not imported: {list:?}");
        let a = by_email(&list, "ada.lovelace@corp.example.test");
        assert_eq!(a.given_name.as_deref(), Some("Ada"));
        assert_eq!(a.family_name.as_deref(), Some("Lovelace"));
        assert_eq!(a.phone.as_deref(), Some("+44 20 7946 0001"));
        assert_eq!(a.department.as_deref(), Some("Engineering"));
        assert_eq!(a.title.as_deref(), Some("Analyst"));
        assert_eq!(
            (a.source.as_str(), a.state.as_str()),
            ("directory", "active")
        );
        by_email(&list, "bob@corp.example.test");

        let ids = identities(&server).await;
        let guid = c.guid_of(&ada).await;
        let ada_id = ids
            .iter()
            .find(|i| i.employee_id == a.id)
            .expect("identity");
        assert_eq!(ada_id.object_guid, guid.to_string());
        assert_eq!(ada_id.dn.to_lowercase(), ada.to_lowercase());
        assert_eq!(ada_id.sam_account_name.as_deref(), Some(s1.as_str()));

        // 2: nothing changed in AD, nothing changes here.
        let before = employees(&server).await;
        let (run, report) = sync(&server, "corp").await;
        assert_eq!(report.changed(), 0, "{report:?}");
        assert_eq!((run.added, run.updated, run.unchanged), (0, 0, 2));
        assert_eq!(employees(&server).await, before);

        // Imported employees are read-only through the API.
        let (client, csrf) = server.admin_client().await;
        let (status, body) = call(
            &client,
            Method::PUT,
            server.url(&format!("/api/v1/employees/{}", a.id)),
            &csrf,
            Some(json!({"display_name": "Someone Else"})),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        if db == Db::Sqlite {
            eprintln!("sqlite ok");
        }
    }
}

/// 3: a rename and a move update the same employee.
#[tokio::test]
async fn rename_and_move_update_the_same_employee() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let sam = format!("r{}", c.tag);
    let dn = c
        .add_user(&user(
            &sam,
            "Rita",
            "Before",
            Some("rita@corp.example.test"),
        ))
        .await;
    let group = c.group.clone();
    c.add_member(&group, &dn).await;
    add_domain(&server, &c, "corp").await;
    sync(&server, "corp").await;
    let id = by_email(&employees(&server).await, "rita@corp.example.test")
        .id
        .clone();

    let moved_to = c.add_ou("Moved").await;
    let dn2 = c.rename(&dn, "CN=Rita After", Some(&moved_to)).await;
    c.set(&dn2, "sn", "After").await;
    c.set(&dn2, "displayName", "Rita After").await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!((run.updated, run.added), (1, 0), "{report:?}");
    assert!(report.changes[0].fields.contains(&"dn".to_owned()));
    let list = employees(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, id);
    assert_eq!(list[0].display_name, "Rita After");
    assert_eq!(list[0].family_name.as_deref(), Some("After"));
    let ids = identities(&server).await;
    assert_eq!(ids[0].dn.to_lowercase(), dn2.to_lowercase());
}

/// 4 and 5: leaving the group or being disabled keeps the employee, marked, access revoked;
/// coming back reactivates.
#[tokio::test]
async fn removed_or_disabled_employees_stay_and_come_back() {
    let Some(dc) = Dc::corp() else { return };
    for db in backends() {
        let server = TestServer::start(db).await;
        let mut c = Corner::new(&dc).await;
        let group = c.group.clone();
        let t = c.tag.clone();
        let mut dns = Vec::new();
        for i in 0..4 {
            let sam = format!("u{i}{t}");
            let mail = format!("user{i}.{t}@corp.example.test");
            let dn = c
                .add_user(&user(&sam, "User", &format!("N{i}"), Some(&mail)))
                .await;
            c.add_member(&group, &dn).await;
            dns.push(dn);
        }
        add_domain(&server, &c, "corp").await;
        sync(&server, "corp").await;
        let removed_mail = format!("user0.{t}@corp.example.test");
        let disabled_mail = format!("user1.{t}@corp.example.test");

        c.remove_member(&group, &dns[0]).await;
        c.set(&dns[1], "userAccountControl", "514").await;
        let (run, report) = sync(&server, "corp").await;
        assert_eq!(run.removed, 2, "{report:?}");
        let list = employees(&server).await;
        assert_eq!(list.len(), 4, "nobody is deleted");
        let gone = by_email(&list, &removed_mail);
        assert_eq!(gone.state, "removed-from-sync");
        let off = by_email(&list, &disabled_mail);
        assert_eq!(off.state, "disabled");
        // Access is revoked in the same transaction, with a trail.
        let mut conn = server.state.store.conn().await.expect("conn");
        let events = sso_server::audit::store::list(
            &mut conn,
            &sso_server::audit::store::AuditFilter {
                action: Some("employee.deactivated".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
        drop(conn);
        let targets: Vec<_> = events.iter().filter_map(|e| e.target_id.clone()).collect();
        assert!(
            targets.contains(&gone.id) && targets.contains(&off.id),
            "{events:?}"
        );

        c.add_member(&group, &dns[0]).await;
        c.set(&dns[1], "userAccountControl", "512").await;
        let (run, report) = sync(&server, "corp").await;
        assert_eq!(run.reactivated, 2, "{report:?}");
        let list = employees(&server).await;
        assert!(list.iter().all(|e| e.state == "active"), "{list:?}");
        assert_eq!(list.len(), 4);
    }
}

/// 6: the same e-mail in two domains is one employee with two identities; distinct, two.
#[tokio::test]
async fn same_email_in_two_domains_is_one_employee() {
    let (Some(corp), Some(emea)) = (Dc::corp(), Dc::emea()) else {
        return;
    };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c1 = Corner::new(&corp).await;
    let mut c2 = Corner::new(&emea).await;
    let t = c1.tag.clone();
    let shared = format!("shared.{t}@example.test");
    let (g1, g2) = (c1.group.clone(), c2.group.clone());
    let s1 = format!("s{t}");
    let d1 = c1
        .add_user(&user(&s1, "Sam", "Shared", Some(&shared.to_uppercase())))
        .await;
    c1.add_member(&g1, &d1).await;
    let d2 = c2
        .add_user(&user(&s1, "Sam", "Shared", Some(&shared)))
        .await;
    c2.add_member(&g2, &d2).await;
    let only = format!("only.{t}@emea.example.test");
    let s2 = format!("o{t}");
    let d3 = c2.add_user(&user(&s2, "Olga", "Only", Some(&only))).await;
    c2.add_member(&g2, &d3).await;
    add_domain(&server, &c1, "corp").await;
    add_domain(&server, &c2, "emea").await;
    sync(&server, "corp").await;
    let (run, report) = sync(&server, "emea").await;
    assert_eq!((run.merged, run.added), (1, 1), "{report:?}");
    let list = employees(&server).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let sam = by_email(&list, &shared);
    let ids = identities(&server).await;
    let of_sam: Vec<_> = ids.iter().filter(|i| i.employee_id == sam.id).collect();
    assert_eq!(of_sam.len(), 2);
    assert_ne!(of_sam[0].domain_id, of_sam[1].domain_id);

    // Through the API: the employee's identities, one per domain.
    let (client, csrf) = server.admin_client().await;
    let (status, body) = call(
        &client,
        Method::GET,
        server.url(&format!("/api/v1/employees/{}/identities", sam.id)),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let accounts = body.as_array().expect("a list");
    assert_eq!(accounts.len(), 2, "{body}");
    // The same read model as the console's employee page: the domain's name, the account's
    // state, and which of the employee's fields each account provides (each field from one).
    let mut domains: Vec<_> = accounts
        .iter()
        .filter_map(|a| a["domain"].as_str())
        .collect();
    domains.sort_unstable();
    assert_eq!(domains, ["corp", "emea"], "{body}");
    assert!(
        accounts
            .iter()
            .all(|a| a["in_scope"] == true && a["disabled"] == false),
        "{body}"
    );
    let provided: Vec<&str> = accounts
        .iter()
        .flat_map(|a| a["provides"].as_array().into_iter().flatten())
        .filter_map(|f| f.as_str())
        .collect();
    assert_eq!(
        provided.iter().filter(|f| **f == "display name").count(),
        1,
        "{body}"
    );
    assert!(provided.contains(&"e-mail"), "{body}");
}

/// 7: a manual employee with the same e-mail, or the same full name when AD has no e-mail, is
/// taken over, becomes read-only, and the audit log says so.
#[tokio::test]
async fn manual_employees_are_taken_over() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (client, csrf) = server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let t = c.tag.clone();
    let mail = format!("mia.{t}@corp.example.test");
    let mut ids = Vec::new();
    for body in [
        json!({"display_name": "Mia Manual", "email": mail.to_uppercase()}),
        json!({"display_name": "Nils Noemail", "given_name": "Nils", "family_name": format!("Noemail{t}")}),
    ] {
        let (status, body) = call(
            &client,
            Method::POST,
            server.url("/api/v1/employees"),
            &csrf,
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    let group = c.group.clone();
    let (s1, s2) = (format!("m{t}"), format!("n{t}"));
    let sn = format!("Noemail{t}");
    let d1 = c
        .add_user(&user(&s1, "Mia", "Directory", Some(&mail)))
        .await;
    let d2 = c.add_user(&user(&s2, "nils", &sn, None)).await;
    c.add_member(&group, &d1).await;
    c.add_member(&group, &d2).await;
    add_domain(&server, &c, "corp").await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!((run.taken_over, run.added), (2, 0), "{report:?}");
    let list = employees(&server).await;
    assert_eq!(list.len(), 2);
    for id in &ids {
        let e = list.iter().find(|e| &e.id == id).expect("same employee");
        assert_eq!(e.source, "directory");
        let (status, body) = call(
            &client,
            Method::DELETE,
            server.url(&format!("/api/v1/employees/{id}")),
            &csrf,
            None,
        )
        .await;
        assert_eq!(status, 409, "read-only now: {body}");
    }
    let mia = by_email(&list, &mail);
    assert_eq!(
        mia.family_name.as_deref(),
        Some("Directory"),
        "AD data wins"
    );
    let (status, body) = call(
        &client,
        Method::GET,
        server.url("/api/v1/audit?action=employee.taken_over"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{body}");
    let matched: Vec<_> = items
        .iter()
        .map(|i| i["detail"]["matched_by"].clone())
        .collect();
    assert!(matched.contains(&json!("email")) && matched.contains(&json!("full name")));
}

/// 8: emptying the group trips the guard: nothing removed, the report says why; force proceeds.
#[tokio::test]
async fn emptying_the_group_trips_the_guard_and_force_proceeds() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mut dns = Vec::new();
    for i in 0..3 {
        let sam = format!("g{i}{t}");
        let dn = c
            .add_user(&user(&sam, "Guard", &format!("G{i}"), None))
            .await;
        c.add_member(&group, &dn).await;
        dns.push(dn);
    }
    let mut d = c.domain_json("corp");
    d["max_removal_percent"] = json!(10);
    add_domain_json(&server, d).await;
    sync(&server, "corp").await;
    for dn in &dns {
        c.remove_member(&group, dn).await;
    }
    let (run, report) = sync_with(&server, "corp", opts(SyncMode::Full)).await;
    assert_eq!(run.state, "refused");
    assert!(
        stored_run(&server, &run.id).await.finished_at.is_some(),
        "a refused run says when it finished"
    );
    let msg = run.message.unwrap_or_default();
    assert!(
        msg.contains("returned no member") && msg.contains("nothing was changed"),
        "{msg}"
    );
    assert_eq!(report.counts.removed, 3, "the report shows what would go");
    assert_eq!(report.held.len(), 3, "and holds it");
    assert!(employees(&server).await.iter().all(|e| e.state == "active"));

    let mut forced = opts(SyncMode::Full);
    forced.force = true;
    let (run, _) = sync_with(&server, "corp", forced).await;
    assert_eq!((run.state.as_str(), run.removed), ("succeeded", 3));
    assert!(
        stored_run(&server, &run.id).await.finished_at.is_some(),
        "a succeeded run says when it finished"
    );
    assert!(employees(&server)
        .await
        .iter()
        .all(|e| e.state == "removed-from-sync"));
}

/// 9: unreachable DC, wrong password, untrusted certificate, missing group: a clear error in the
/// run, nothing changed. 14: the first DC down, the next one is used.
#[tokio::test]
async fn connection_failures_change_nothing_and_failover_works() {
    let (Some(dc), Some(other)) = (Dc::corp(), Dc::emea()) else {
        return;
    };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let sam = format!("f{}", c.tag);
    let dn = c.add_user(&user(&sam, "Fay", "Failover", None)).await;
    c.add_member(&group, &dn).await;
    let dead = "ldaps://127.0.0.1:1";

    let mut first_down = c.domain_json("failover");
    first_down["urls"] = json!([dead, dc.url]);
    add_domain_json(&server, first_down).await;
    let (run, _) = sync(&server, "failover").await;
    assert_eq!(run.dc_url.as_deref(), Some(dc.url.as_str()));
    assert_eq!(run.added, 1);
    let before = employees(&server).await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("unreachable", json!({"urls": [dead]}), "cannot reach"),
        (
            "wrongpass",
            json!({"bind_password": "wrong-Passw0rd"}),
            "refused the bind",
        ),
        (
            "untrusted",
            json!({"ca_pem": other.ca_pem()}),
            "not trusted",
        ),
        (
            "nogroup",
            json!({"sync_group": "No Such Group Here"}),
            "was not found",
        ),
    ];
    for (name, patch, expect) in cases {
        let mut d = c.domain_json(name);
        for (k, v) in patch.as_object().expect("object") {
            d[k] = v.clone();
        }
        add_domain_json(&server, d).await;
        let (run, report) = sync_with(&server, name, opts(SyncMode::Full)).await;
        assert_eq!(run.state, "failed", "{name}");
        assert!(
            stored_run(&server, &run.id).await.finished_at.is_some(),
            "{name}: a failed run says when it finished"
        );
        let msg = run.message.clone().unwrap_or_default();
        assert!(msg.contains(expect), "{name}: {msg}");
        assert!(!msg.contains(&dc.password), "no password in errors");
        assert_eq!(report.changed(), 0);
        assert_eq!(employees(&server).await, before, "{name} changed nothing");
        // "Test connection" says the same.
        let t = Domains {
            store: &server.state.store,
            cipher: &server.state.cipher,
        }
        .test_connection(name, &server.state.clock)
        .await
        .expect("test ran");
        assert!(!t.ok);
        assert!(t.error.unwrap_or_default().contains(expect), "{name}");
    }
    let t = Domains {
        store: &server.state.store,
        cipher: &server.state.cipher,
    }
    .test_connection("failover", &server.state.clock)
    .await
    .expect("test ran");
    assert!(t.ok, "{t:?}");
    assert_eq!(t.members, Some(1));
}

/// 10: more members than the DC's page size (1,000): all imported.
#[tokio::test]
async fn imports_more_members_than_one_page() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    const N: usize = 2_500;
    // Created in parallel on cloned handles of one connection; no passwords (quick to create).
    let mut ldap = c.ldap.clone();
    let ou = c.ou.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let mut l = ldap.clone();
        let (ou, t, group) = (ou.clone(), t.clone(), group.clone());
        tasks.spawn(async move {
            for i in (chunk..N).step_by(8) {
                let dn = format!("CN=bulk{i}{t},{ou}");
                let sam = format!("k{i}{t}");
                let (sn, mail) = (bulk_surname(i), bulk_mail(i, &t));
                // Every other one enabled (a normal account that needs no password: 512 | 32),
                // the rest disabled as well (| 2).
                let uac = if i % 2 == 0 { "544" } else { "546" };
                let one = |v: &str| std::collections::HashSet::from([v.to_owned()]);
                l.add(
                    &dn,
                    vec![
                        (
                            "objectClass".to_owned(),
                            ["top", "person", "organizationalPerson", "user"]
                                .map(str::to_owned)
                                .into(),
                        ),
                        ("sAMAccountName".to_owned(), one(&sam)),
                        ("givenName".to_owned(), one("Bulk")),
                        ("sn".to_owned(), one(&sn)),
                        ("mail".to_owned(), one(&mail)),
                        ("userAccountControl".to_owned(), one(uac)),
                    ],
                )
                .await
                .expect("add")
                .success()
                .expect("add bulk user");
                l.modify(
                    &group,
                    vec![ldap3::Mod::Add(
                        "member",
                        std::collections::HashSet::from([dn.as_str()]),
                    )],
                )
                .await
                .expect("member")
                .success()
                .expect("add member");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("bulk task");
    }
    let _ = ldap.unbind().await;
    add_domain(&server, &c, "corp").await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!(run.added as usize, N, "{:?}", report.errors.first());
    let imported = employees(&server).await;
    assert_eq!(imported.len(), N);
    // Each one as created: name, e-mail and state, not only the count.
    let mut got: Vec<_> = imported
        .iter()
        .map(|e| {
            (
                e.email.clone().unwrap_or_default().to_lowercase(),
                e.given_name.clone(),
                e.family_name.clone(),
                e.display_name.clone(),
                e.state.clone(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<_> = (0..N)
        .map(|i| {
            (
                bulk_mail(i, &t),
                Some("Bulk".to_owned()),
                Some(bulk_surname(i)),
                format!("Bulk {}", bulk_surname(i)),
                if i % 2 == 0 { "active" } else { "disabled" }.to_owned(),
            )
        })
        .collect();
    want.sort();
    if let Some((g, w)) = got.iter().zip(&want).find(|(g, w)| g != w) {
        panic!("imported {g:?}, created {w:?}");
    }
}

fn bulk_surname(i: usize) -> String {
    format!("N{i:04}")
}

fn bulk_mail(i: usize, tag: &str) -> String {
    format!("bulk{i}.{tag}@corp.example.test")
}

/// 11: after a full sync, changing one user makes a delta run touch only that user; a logon
/// (which bumps uSNChanged) is not a change.
#[tokio::test]
async fn delta_sync_touches_only_the_changed_user() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mut dns = Vec::new();
    for i in 0..5 {
        let sam = format!("d{i}{t}");
        let dn = c
            .add_user(&user(&sam, "Delta", &format!("D{i}"), None))
            .await;
        c.add_member(&group, &dn).await;
        dns.push(dn);
    }
    add_domain(&server, &c, "corp").await;
    sync(&server, "corp").await;
    c.set(&dns[2], "title", "Promoted").await;
    // A newcomer and a logon by someone else.
    let sam = format!("dn{t}");
    let newcomer = c.add_user(&user(&sam, "New", "Comer", None)).await;
    c.add_member(&group, &newcomer).await;
    let mut as_user = Dc {
        admin: dns[0].clone(),
        password: crate::ad::USER_PASSWORD.into(),
        ..dc.clone()
    }
    .connect()
    .await;
    let _ = as_user.unbind().await;

    let (run, report) = sync_with(&server, "corp", opts(SyncMode::Delta)).await;
    assert_eq!(run.state, "succeeded", "{:?}", run.message);
    assert_eq!(run.kind, "delta");
    assert_eq!(
        (run.updated, run.added, run.removed),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(run.unchanged, 4);
    let updated: Vec<_> = report
        .changes
        .iter()
        .filter(|c| c.kind == sso_server::directory::report::ChangeKind::Updated)
        .collect();
    assert_eq!(updated[0].fields, vec!["title".to_owned()]);
    let list = employees(&server).await;
    assert_eq!(
        list.iter()
            .find(|e| e.family_name.as_deref() == Some("D2"))
            .and_then(|e| e.title.clone()),
        Some("Promoted".into())
    );
    // Removal shows in a delta too (membership, not the user's own uSNChanged).
    c.remove_member(&group, &dns[4]).await;
    let (run, report) = sync_with(&server, "corp", opts(SyncMode::Delta)).await;
    assert_eq!(
        (run.kind.as_str(), run.removed, run.updated),
        ("delta", 1, 0),
        "{report:?}"
    );
    // A deleted account leaves its groups without touching them: found among the tombstones.
    c.delete(&dns[3]).await;
    let (run, report) = sync_with(&server, "corp", opts(SyncMode::Delta)).await;
    assert_eq!(
        (run.kind.as_str(), run.removed, run.updated),
        ("delta", 1, 0),
        "{report:?}"
    );
}

/// 12: two server instances on one PostgreSQL, both asked at once: exactly one run happens.
#[tokio::test]
async fn two_instances_run_one_sync_at_a_time() {
    let Some(dc) = Dc::corp() else { return };
    if !backends().contains(&Db::Postgres) {
        return;
    }
    let first = TestServer::start(Db::Postgres).await;
    let second = first.another_instance().await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let sam = format!("p{}", c.tag);
    let dn = c.add_user(&user(&sam, "Pat", "Parallel", None)).await;
    c.add_member(&group, &dn).await;
    add_domain(&first, &c, "corp").await;

    let (c1, t1) = first.admin_client().await;
    second
        .create_admin("admin2", crate::support::ADMIN_PASSWORD)
        .await;
    let c2 = crate::support::client();
    let t2 = second
        .api_login(&c2, "admin2", crate::support::ADMIN_PASSWORD)
        .await;
    let body = json!({"domain": "corp"});
    let (a, b) = tokio::join!(
        call(
            &c1,
            Method::POST,
            first.url("/api/v1/directory/sync"),
            &t1,
            Some(body.clone())
        ),
        call(
            &c2,
            Method::POST,
            second.url("/api/v1/directory/sync"),
            &t2,
            Some(body)
        ),
    );
    let statuses = [a.0.as_u16(), b.0.as_u16()];
    assert!(
        statuses.contains(&202) && statuses.contains(&409),
        "one starts, one is refused: {a:?} {b:?}"
    );
    let refused = if a.0 == 409 { &a.1 } else { &b.1 };
    assert!(refused["message"]
        .as_str()
        .unwrap_or("")
        .contains("already running"));
    let run_id = if a.0 == 202 { &a.1 } else { &b.1 }["runs"][0]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();
    let run = wait_run(&first, &c1, &t1, &run_id).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["counts"]["added"], 1);
    let mut conn = first.state.store.conn().await.expect("conn");
    let runs = sso_server::directory::store::list_runs(&mut conn, None, 10)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "exactly one run");
}

async fn wait_run(server: &TestServer, client: &reqwest::Client, csrf: &str, id: &str) -> Value {
    let url = server.url(&format!("/api/v1/directory/runs/{id}"));
    eventually(RUN_WAIT, &format!("run {id} to finish"), || async {
        let (status, body) = call(client, Method::GET, url.clone(), csrf, None).await;
        assert_eq!(status, 200, "{body}");
        (body["state"] != "running").then_some(body)
    })
    .await
}

/// How long a sync run against the DC may take.
const RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// 13: deleted and re-created with the same name and e-mail (a new objectGUID): one employee.
#[tokio::test]
async fn recreated_account_stays_one_employee() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let sam = format!("z{t}");
    let mail = format!("zoe.{t}@corp.example.test");
    let dn = c.add_user(&user(&sam, "Zoe", "Again", Some(&mail))).await;
    c.add_member(&group, &dn).await;
    add_domain(&server, &c, "corp").await;
    sync(&server, "corp").await;
    let old_guid = c.guid_of(&dn).await;
    c.delete(&dn).await;
    let dn = c.add_user(&user(&sam, "Zoe", "Again", Some(&mail))).await;
    c.add_member(&group, &dn).await;
    assert_ne!(c.guid_of(&dn).await, old_guid);
    let (run, report) = sync(&server, "corp").await;
    assert_eq!(
        (run.merged, run.added, run.removed),
        (1, 0, 0),
        "{report:?}"
    );
    let list = employees(&server).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, "active");
}

/// The admin API: domain validation names the field, test connection, sync through HTTP with a
/// run id, the report, the run list, a dry run that changes nothing.
#[tokio::test]
async fn directory_api_end_to_end() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (client, csrf) = server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let sam = format!("w{}", c.tag);
    let dn = c.add_user(&user(&sam, "Wes", "Web", None)).await;
    c.add_member(&group, &dn).await;

    let url = server.url("/api/v1/directory/domains");
    let mut bad = c.domain_json("api");
    bad["urls"] = json!(["http://dc1"]);
    let (status, body) = call(&client, Method::POST, url.clone(), &csrf, Some(bad)).await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("urls[0]")),
        "{body}"
    );
    let mut bad = c.domain_json("api");
    bad["bind_password"] = Value::Null;
    let (status, body) = call(&client, Method::POST, url.clone(), &csrf, Some(bad)).await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("bind_password"))
    );
    let (status, created) = call(
        &client,
        Method::POST,
        url.clone(),
        &csrf,
        Some(c.domain_json("api")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("bind_password").is_none());
    assert_eq!(created["has_bind_password"], true);
    let (status, _) = call(
        &client,
        Method::POST,
        url.clone(),
        &csrf,
        Some(c.domain_json("API")),
    )
    .await;
    assert_eq!(status, 409, "names are unique, case-insensitively");

    let (status, t) = call(
        &client,
        Method::POST,
        server.url("/api/v1/directory/domains/api/test"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(
        (t["ok"].clone(), t["members"].clone()),
        (json!(true), json!(1)),
        "{t}"
    );

    let sync_url = server.url("/api/v1/directory/sync");
    let (status, started) = call(
        &client,
        Method::POST,
        sync_url.clone(),
        &csrf,
        Some(json!({"domain": "api", "dry_run": true})),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let id = started["runs"][0]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let run = wait_run(&server, &client, &csrf, &id).await;
    assert_eq!(
        (run["state"].clone(), run["dry_run"].clone()),
        (json!("succeeded"), json!(true))
    );
    assert_eq!(run["counts"]["added"], 1);
    assert_eq!(run["report"]["changes"].as_array().map(Vec::len), Some(1));
    assert!(
        employees(&server).await.is_empty(),
        "a dry run changes nothing"
    );

    let (status, started) = call(
        &client,
        Method::POST,
        sync_url.clone(),
        &csrf,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    let id = started["runs"][0]["run_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let run = wait_run(&server, &client, &csrf, &id).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(employees(&server).await.len(), 1);

    let (status, runs) = call(
        &client,
        Method::GET,
        server.url("/api/v1/directory/runs?domain=api"),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    let (status, _) = call(
        &client,
        Method::POST,
        sync_url,
        &csrf,
        Some(json!({"domain": "api", "mode": "sideways"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = call(
        &client,
        Method::GET,
        server.url(&format!("/api/v1/directory/runs/{}", uuid::Uuid::new_v4())),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    // Deleting a domain with imported accounts is refused.
    let (status, _) = call(
        &client,
        Method::DELETE,
        server.url(&format!(
            "/api/v1/directory/domains/{}",
            created["id"].as_str().unwrap_or("")
        )),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, 409);
}

/// The stored bind password goes only where it went before (issue 15): pointing a domain at
/// other DCs without typing the password again is refused, naming the field, and nothing changes;
/// with the password it is accepted.
#[tokio::test]
async fn moving_a_domain_elsewhere_needs_its_secret_again() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (client, csrf) = server.admin_client().await;
    let c = Corner::new(&dc).await;
    let (status, created) = call(
        &client,
        Method::POST,
        server.url("/api/v1/directory/domains"),
        &csrf,
        Some(c.domain_json("corp")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let url = server.url(&format!(
        "/api/v1/directory/domains/{}",
        created["id"].as_str().expect("id")
    ));
    let mut moved = c.domain_json("corp");
    moved
        .as_object_mut()
        .expect("object")
        .remove("bind_password");
    moved["urls"] = json!(["ldaps://attacker.example:636"]);
    let (status, body) = call(
        &client,
        Method::PUT,
        url.clone(),
        &csrf,
        Some(moved.clone()),
    )
    .await;
    assert_eq!(
        (status.as_u16(), body["field"].as_str()),
        (400, Some("bind_password")),
        "{body}"
    );
    let (_, now) = call(&client, Method::GET, url.clone(), &csrf, None).await;
    assert_eq!(now["urls"], json!([dc.url]), "nothing changed");
    // The same DCs without the password: kept, fine.
    let mut same = c.domain_json("corp");
    same.as_object_mut()
        .expect("object")
        .remove("bind_password");
    same["invite_on_import"] = json!(false);
    let (status, body) = call(&client, Method::PUT, url.clone(), &csrf, Some(same)).await;
    assert_eq!(status, 200, "{body}");
    moved["bind_password"] = json!(dc.password);
    let (status, body) = call(&client, Method::PUT, url, &csrf, Some(moved)).await;
    assert_eq!(status, 200, "{body}");
}

/// The schedule starts a sync of each due domain, and not again until the interval passed.
#[tokio::test]
async fn the_schedule_runs_due_domains() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let sam = format!("h{}", c.tag);
    let dn = c.add_user(&user(&sam, "Hour", "Ly", None)).await;
    c.add_member(&group, &dn).await;
    add_domain(&server, &c, "corp").await;
    let started = sso_server::directory::schedule::tick(&server.state.syncer())
        .await
        .expect("tick");
    assert_eq!(started.len(), 1);
    let run = &eventually(RUN_WAIT, "the scheduled run to finish", || async {
        let mut conn = server.state.store.conn().await.expect("conn");
        let run = sso_server::directory::store::get_run(&mut conn, &started[0])
            .await
            .expect("run")
            .expect("exists");
        (run.state != "running").then_some(run)
    })
    .await;
    assert_eq!(
        (run.state.as_str(), run.trigger.as_str()),
        ("succeeded", "schedule")
    );
    // Not due again within the hour; due after it.
    server
        .clock
        .advance(std::time::Duration::from_secs(30 * 60));
    assert!(
        sso_server::directory::schedule::tick(&server.state.syncer())
            .await
            .expect("tick")
            .is_empty()
    );
    server
        .clock
        .advance(std::time::Duration::from_secs(31 * 60));
    let again = sso_server::directory::schedule::tick(&server.state.syncer())
        .await
        .expect("tick");
    assert_eq!(again.len(), 1);
}

/// One bad object (two live accounts of one domain with the same e-mail) is reported with its DN
/// and skipped, the run goes on; an account past accountExpires counts as disabled; a DC that
/// accepts the connection and never answers times out and changes nothing.
#[tokio::test]
async fn bad_objects_expiry_and_timeouts() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let mail = format!("twice.{t}@corp.example.test");
    let (s1, s2, s3) = (format!("x{t}"), format!("y{t}"), format!("e{t}"));
    let d1 = c.add_user(&user(&s1, "Twice", "One", Some(&mail))).await;
    let d2 = c.add_user(&user(&s2, "Twice", "Two", Some(&mail))).await;
    let d3 = c.add_user(&user(&s3, "Expiring", "Soon", None)).await;
    for dn in [&d1, &d2, &d3] {
        c.add_member(&group, dn).await;
    }
    add_domain(&server, &c, "corp").await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!((run.added, run.errors), (2, 1), "{report:?}");
    let bad = &report.errors[0];
    assert_eq!(
        bad.dn.as_deref().map(str::to_lowercase),
        Some(d2.to_lowercase())
    );
    assert!(bad.message.contains("same e-mail"), "{}", bad.message);

    // accountExpires one hour before the server's clock (FILETIME, 100 ns since 1601).
    let past_ms = server.clock.now_ms() - 3_600_000;
    let filetime = past_ms * 10_000 + 116_444_736_000_000_000;
    c.set(&d3, "accountExpires", &filetime.to_string()).await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!(run.removed, 1, "{report:?}");
    let list = employees(&server).await;
    let expired = list
        .iter()
        .find(|e| e.family_name.as_deref() == Some("Soon"))
        .expect("kept");
    assert_eq!(expired.state, "disabled");

    // A "DC" that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let before = employees(&server).await;
    let mut d = c.domain_json("silent");
    d["urls"] = json!([format!("ldaps://127.0.0.1:{port}")]);
    d["timeout_seconds"] = json!(1);
    add_domain_json(&server, d).await;
    let started = std::time::Instant::now();
    let (run, _) = sync_with(&server, "silent", opts(SyncMode::Full)).await;
    assert_eq!(run.state, "failed");
    let msg = run.message.clone().unwrap_or_default();
    assert!(
        msg.contains("timeout") || msg.contains("timed out"),
        "{msg}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(employees(&server).await, before);
}

/// A domain that invites on import: imported employees with an e-mail get an invitation in the
/// sync's transaction (in the outbox here: no SMTP server configured).
#[tokio::test]
async fn imported_employees_are_invited_when_the_domain_says_so() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let (s1, s2) = (format!("i{t}"), format!("j{t}"));
    let mail = format!("invited.{t}@corp.example.test");
    let d1 = c.add_user(&user(&s1, "Ina", "Vited", Some(&mail))).await;
    let d2 = c.add_user(&user(&s2, "No", "Mail", None)).await;
    c.add_member(&group, &d1).await;
    c.add_member(&group, &d2).await;
    let mut d = c.domain_json("corp");
    d["invite_on_import"] = json!(true);
    add_domain_json(&server, d).await;
    let (run, _) = sync(&server, "corp").await;
    assert!(run
        .message
        .unwrap_or_default()
        .contains("1 imported employees invited"));
    let mut conn = server.state.store.conn().await.expect("conn");
    let invitations = sso_server::enrol::store::list(&mut conn, None, 10)
        .await
        .expect("list");
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].email, mail);
    // A re-sync does not invite again.
    drop(conn);
    sync(&server, "corp").await;
    let mut conn = server.state.store.conn().await.expect("conn");
    assert_eq!(
        sso_server::enrol::store::list(&mut conn, None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
}

/// Issue 18: the schedule runs on every instance; two instances on one PostgreSQL ticking at the
/// same moment start one run of a due domain between them, not two (the domain's lease). The
/// "DC" accepts and never answers, so the first run is still going when the second tick comes.
#[tokio::test]
async fn two_instances_ticking_at_once_start_one_scheduled_run() {
    if !backends().contains(&Db::Postgres) {
        return;
    }
    let first = TestServer::start(Db::Postgres).await;
    let second = first.another_instance().await;
    let port = crate::support::silent_dc().await;
    add_domain_json(&first, crate::support::hanging_domain(port)).await;
    for round in 0..3 {
        let (first_syncer, second_syncer) = (first.state.syncer(), second.state.syncer());
        let (a, b) = tokio::join!(
            sso_server::directory::schedule::tick(&first_syncer),
            sso_server::directory::schedule::tick(&second_syncer)
        );
        let started = a.expect("tick").len() + b.expect("tick").len();
        assert_eq!(started, usize::from(round == 0), "round {round}");
    }
    let mut conn = first.state.store.conn().await.expect("conn");
    let runs = sso_server::directory::store::list_runs(&mut conn, None, 10)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "exactly one run");
    assert_eq!(runs[0].state, "running");
}

/// Issue 18: one password-rotation scan at a time across instances. While one instance scans (its
/// DC never answers), a scheduled scan on the other returns at once without scanning.
#[tokio::test]
async fn two_instances_scan_rotations_one_at_a_time() {
    if !backends().contains(&Db::Postgres) {
        return;
    }
    let first = TestServer::start(Db::Postgres).await;
    let second = first.another_instance().await;
    let port = crate::support::silent_dc().await;
    let mut domain = crate::support::hanging_domain(port);
    domain["rotation_group"] = json!("CN=rotate,DC=hang,DC=test");
    add_domain_json(&first, domain).await;
    let scanning = {
        let state = first.state.clone();
        tokio::spawn(async move {
            sso_server::keys::rotation::scheduled_scan(&state.hardware_keys()).await
        })
    };
    // The first instance scans: it holds the lease.
    eventually(
        std::time::Duration::from_secs(2),
        "the first instance to hold the scan lease",
        || async {
            let mut conn = first.state.store.conn().await.expect("conn");
            sso_server::instance::store::lease_holder(
                &mut conn,
                "password-rotation-scan",
                &first.state.instance.owner(),
                first.clock.now_ms(),
            )
            .await
            .expect("lease")
        },
    )
    .await;
    let other = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sso_server::keys::rotation::scheduled_scan(&second.state.hardware_keys()),
    )
    .await
    .expect("the second answers at once");
    assert!(other.is_none(), "the second does not scan");
    assert!(!scanning.is_finished(), "the first is still scanning");
    scanning.abort();
}

/// Fencing (issue 18): a run marked interrupted while it was still working (its instance's lease
/// lapsed, so another instance recorded the run as interrupted) applies nothing when it reaches
/// its end; the run keeps saying interrupted, which is then true. Before, the late instance's
/// changes were committed and its outcome overwrote "interrupted".
#[tokio::test]
async fn a_run_marked_interrupted_applies_nothing_when_it_resumes() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let sam = format!("f{}", c.tag);
    let dn = c.add_user(&user(&sam, "Fenn", "Cing", None)).await;
    c.add_member(&group, &dn).await;
    // The DC is reached through a relay that holds the connection until released.
    let addr = dc.url.trim_start_matches("ldaps://").to_owned();
    let host = addr.split(':').next().expect("host").to_owned();
    let relay = crate::support::HoldingProxy::start(&addr);
    let mut body = c.domain_json("corp");
    body["urls"] = json!([format!("ldaps://{host}:{}", relay.port)]);
    add_domain_json(&server, body).await;
    let state = server.state.clone();
    let run =
        tokio::spawn(async move { state.syncer().run("corp", opts(SyncMode::Full), None).await });
    eventually(
        std::time::Duration::from_secs(20),
        "the run to reach the DC",
        || async { (relay.accepted() > 0).then_some(()) },
    )
    .await;
    // What another instance does when this one's lease has lapsed.
    {
        let mut conn = server.state.store.conn().await.expect("conn");
        let marked = sqlx::query(
            "UPDATE sync_run SET state = 'failed', message = 'interrupted: marked by another \
             instance' WHERE state = 'running'",
        )
        .execute(&mut *conn)
        .await
        .expect("mark");
        assert_eq!(marked.rows_affected(), 1);
    }
    relay.release();
    let row = run.await.expect("join").expect("run");
    assert_eq!(row.state, "failed", "{:?}", row.message);
    // Issue 27: a failed run shows no counts as if applied (it had planned to add Fenn).
    assert_eq!((row.added, row.unchanged, row.taken_over), (0, 0, 0));
    assert!(!row.report.contains("Fenn"), "{}", row.report);
    let stored = stored_run(&server, &row.id).await;
    assert_eq!(stored.state, "failed");
    assert_eq!(stored.added, 0);
    assert_eq!(
        stored.message.as_deref(),
        Some("interrupted: marked by another instance")
    );
    assert!(
        employees(&server)
            .await
            .iter()
            .all(|e| !e.display_name.contains("Fenn")),
        "nothing was applied"
    );
}

/// Issue 27: two domains that share employees, synced at the same moment (as the hourly schedule
/// starts them), 20 times on each backend: every run succeeds, and every shared person is one
/// employee with both identities, whichever run imported them first (the other merges by e-mail
/// in its own transaction instead of failing on the unique e-mail).
#[tokio::test]
async fn two_domains_synced_at_once_share_employees_without_failing() {
    let (Some(corp), Some(emea)) = (Dc::corp(), Dc::emea()) else {
        return;
    };
    for db in backends() {
        let server = TestServer::start(db).await;
        let mut c1 = Corner::new(&corp).await;
        let mut c2 = Corner::new(&emea).await;
        let (g1, g2) = (c1.group.clone(), c2.group.clone());
        add_domain(&server, &c1, "corp").await;
        add_domain(&server, &c2, "emea").await;
        for round in 0..20 {
            let t = format!("{}{round}", &c1.tag[..6]);
            let email = format!("jane.{t}@example.test");
            let sam = format!("j{t}");
            let d1 = c1
                .add_user(&user(
                    &sam,
                    "Jane",
                    &format!("Doe{round}"),
                    Some(&email.to_uppercase()),
                ))
                .await;
            c1.add_member(&g1, &d1).await;
            let d2 = c2
                .add_user(&user(&sam, "Jane", &format!("Doe{round}"), Some(&email)))
                .await;
            c2.add_member(&g2, &d2).await;
            let (a, b) = tokio::join!(
                sync_with(&server, "corp", opts(SyncMode::Full)),
                sync_with(&server, "emea", opts(SyncMode::Full)),
            );
            for (run, report) in [&a, &b] {
                assert_eq!(
                    run.state, "succeeded",
                    "{db:?} round {round}: {:?} {:?}",
                    run.message, report.errors
                );
            }
            let list = employees(&server).await;
            let jane = by_email(&list, &email);
            let ids = identities(&server).await;
            let hers: Vec<_> = ids.iter().filter(|i| i.employee_id == jane.id).collect();
            assert_eq!(hers.len(), 2, "{db:?} round {round}: {hers:?}");
            assert_eq!(
                list.iter()
                    .filter(|e| e.email.as_deref().map(str::to_lowercase) == Some(email.clone()))
                    .count(),
                1,
                "{db:?} round {round}: one employee"
            );
        }
    }
}

/// Issue 27: with "invite imported employees" on, a newly synced member who is disabled in AD
/// (and has an e-mail) no longer fails the run: the member is imported inactive and not invited,
/// the others are invited, and the run's message says why.
#[tokio::test]
async fn a_disabled_member_does_not_fail_an_inviting_run() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let mut c = Corner::new(&dc).await;
    let group = c.group.clone();
    let t = c.tag.clone();
    let active_mail = format!("active.{t}@corp.example.test");
    let disabled_mail = format!("disabled.{t}@corp.example.test");
    let d1 = c
        .add_user(&user(&format!("a{t}"), "Ann", "Active", Some(&active_mail)))
        .await;
    let d2 = c
        .add_user(&NewUser {
            sam: &format!("d{t}"),
            given: Some("Dan"),
            sn: Some("Disabled"),
            mail: Some(&disabled_mail),
            disabled: true,
            ..NewUser::default()
        })
        .await;
    c.add_member(&group, &d1).await;
    c.add_member(&group, &d2).await;
    let mut d = c.domain_json("corp");
    d["invite_on_import"] = json!(true);
    add_domain_json(&server, d).await;
    let (run, report) = sync(&server, "corp").await;
    // The report says it against the person.
    assert_eq!(report.notes.len(), 1, "{report:?}");
    assert_eq!(report.notes[0].dn.as_deref(), Some(d2.as_str()));
    assert!(report.notes[0].message.contains("disabled"), "{report:?}");
    let (admin, _) = server.admin_client().await;
    let page = admin
        .get(server.url(&format!("/admin/sync/runs/{}", run.id)))
        .send()
        .await
        .expect("report page")
        .text()
        .await
        .expect("text");
    assert!(
        page.contains(&format!("data-note=\"{}\"", report.notes[0].employee_id)),
        "{page}"
    );
    let message = run.message.unwrap_or_default();
    assert!(
        message.contains("1 imported employees invited"),
        "{message}"
    );
    assert!(
        message.contains("1 imported employees not invited: their accounts are disabled"),
        "{message}"
    );
    let list = employees(&server).await;
    assert_ne!(by_email(&list, &disabled_mail).state, "active");
    let mut conn = server.state.store.conn().await.expect("conn");
    let invitations = sso_server::enrol::store::list(&mut conn, None, 10)
        .await
        .expect("list");
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0].email, active_mail);
}

/// Issue 27: `PATCH` of a domain changes only the fields sent; the bind password is kept (the
/// connection test still binds), and an unknown field is named.
#[tokio::test]
async fn patching_a_domain_changes_only_what_is_sent() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (admin, csrf) = server.admin_client().await;
    let c = Corner::new(&dc).await;
    add_domain(&server, &c, "corp").await;
    let (_, before) = call(
        &admin,
        Method::GET,
        server.url("/api/v1/directory/domains/corp"),
        &csrf,
        None,
    )
    .await;
    let id = before["id"].as_str().expect("id").to_owned();
    let url = server.url(&format!("/api/v1/directory/domains/{id}"));
    let (status, after) = call(
        &admin,
        Method::PATCH,
        url.clone(),
        &csrf,
        Some(json!({"max_removal_percent": 25})),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{after}");
    assert_eq!(after["max_removal_percent"], 25);
    let mut expected = before.clone();
    expected["max_removal_percent"] = json!(25);
    for (k, v) in expected.as_object().expect("object") {
        if k != "updated_at" {
            assert_eq!(&after[k], v, "{k} changed");
        }
    }
    let (status, tested) = call(
        &admin,
        Method::POST,
        server.url(&format!("/api/v1/directory/domains/{id}/test")),
        &csrf,
        None,
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "the bind password was kept: {tested}");
    let (status, e) = call(
        &admin,
        Method::PATCH,
        url,
        &csrf,
        Some(json!({"max_removal_precent": 5})),
    )
    .await;
    assert_eq!(
        (status, e["field"].as_str()),
        (
            reqwest::StatusCode::BAD_REQUEST,
            Some("max_removal_precent")
        ),
        "{e}"
    );
}

/// Issue 27: a manual employee with the same name as an imported one but another e-mail is not
/// merged silently: the run report flags the new employee as a possible duplicate (against that
/// person), and both employees' pages link to each other.
#[tokio::test]
async fn a_same_named_manual_employee_is_flagged_not_merged() {
    let Some(dc) = Dc::corp() else { return };
    let server = TestServer::start(Db::Sqlite).await;
    let (client, csrf) = server.admin_client().await;
    let mut c = Corner::new(&dc).await;
    let t = c.tag.clone();
    let family = format!("Dupe{t}");
    let (status, manual) = call(
        &client,
        Method::POST,
        server.url("/api/v1/employees"),
        &csrf,
        Some(json!({"given_name": "Jane", "family_name": family,
            "email": format!("jane.{t}@home.example")})),
    )
    .await;
    assert_eq!(status, 201, "{manual}");
    let manual_id = manual["id"].as_str().expect("id").to_owned();
    let group = c.group.clone();
    let dn = c
        .add_user(&user(
            &format!("j{t}"),
            "JANE",
            &family.to_uppercase(),
            Some(&format!("jane.{t}@corp.example.test")),
        ))
        .await;
    c.add_member(&group, &dn).await;
    add_domain(&server, &c, "corp").await;
    let (run, report) = sync(&server, "corp").await;
    assert_eq!(
        (run.added, run.taken_over),
        (1, 0),
        "not merged: {report:?}"
    );
    let note = report
        .notes
        .iter()
        .find(|n| n.dn.as_deref() == Some(dn.as_str()))
        .unwrap_or_else(|| panic!("flagged: {report:?}"));
    assert!(note.message.contains("possible duplicate"), "{note:?}");
    assert!(
        note.message.contains(&format!("jane.{t}@home.example")),
        "{note:?}"
    );
    let imported_id = note.employee_id.clone();
    assert_ne!(imported_id, manual_id);
    for (page_of, links_to) in [(&imported_id, &manual_id), (&manual_id, &imported_id)] {
        let page = client
            .get(server.url(&format!("/admin/employees/{page_of}")))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(
            page.contains(&format!("data-duplicate=\"{links_to}\"")),
            "{page_of} links to {links_to}: {page}"
        );
    }
    // A manual employee with another name is not flagged.
    let (_, other) = call(
        &client,
        Method::POST,
        server.url("/api/v1/employees"),
        &csrf,
        Some(json!({"display_name": format!("Someone Else {t}")})),
    )
    .await;
    let page = client
        .get(server.url(&format!(
            "/admin/employees/{}",
            other["id"].as_str().expect("id")
        )))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("text");
    assert!(!page.contains("data-duplicate"), "{page}");
}
