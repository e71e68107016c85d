//! Entra ID domains against a local Microsoft Graph (`graph_mock`, HTTPS with a test CA) and, for
//! the merge, the real Samba AD DC: one employee from both directories, disabled accounts,
//! paging and delta runs with a removed member, throttling, a missing permission, bad input.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sso_server::audit::Actor;
use sso_server::clock::Clock as _;
use sso_server::directory::store::{DomainRow, RunRow};
use sso_server::directory::sync::Trigger;
use sso_server::directory::{Domains, RunOptions, RunReport, SyncMode};
use sso_server::employees::store::EmployeeRow;

use crate::ad::{Corner, Dc, NewUser};
use crate::graph_mock::GraphMock;
use crate::support::{backends, call, TestServer};

fn opts(mode: SyncMode) -> RunOptions {
    RunOptions {
        mode,
        dry_run: false,
        force: false,
        trigger: Trigger::Cli,
        actor: Actor::cli(),
    }
}

async fn sync(server: &TestServer, domain: &str, mode: SyncMode) -> (RunRow, RunReport) {
    let run = server
        .state
        .syncer()
        .run(domain, opts(mode), None)
        .await
        .expect("run claimed");
    let report: RunReport = serde_json::from_str(&run.report).unwrap_or_default();
    (run, report)
}

async fn sync_ok(server: &TestServer, domain: &str, mode: SyncMode) -> (RunRow, RunReport) {
    let (run, report) = sync(server, domain, mode).await;
    assert_eq!(
        run.state, "succeeded",
        "{:?} {:?}",
        run.message, report.errors
    );
    (run, report)
}

/// Adds the tenant as a domain through the admin API (as the console does).
async fn add_entra_domain(server: &TestServer, mock: &GraphMock, name: &str) -> Value {
    let (c, csrf) = server.admin_client().await;
    let (st, body) = call(
        &c,
        Method::POST,
        server.url("/api/v1/directory/domains"),
        &csrf,
        Some(mock.domain_json(name)),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    body
}

async fn employees(server: &TestServer) -> Vec<EmployeeRow> {
    let mut conn = server.state.store.conn().await.expect("conn");
    sso_server::employees::store::all(&mut conn)
        .await
        .expect("employees")
}

async fn domain_row(server: &TestServer, name: &str) -> DomainRow {
    let mut conn = server.state.store.conn().await.expect("conn");
    sso_server::directory::store::find_domain_by_name(&mut conn, name)
        .await
        .expect("query")
        .expect("domain")
}

fn by_email<'a>(list: &'a [EmployeeRow], email: &str) -> &'a EmployeeRow {
    list.iter()
        .find(|e| e.email.as_deref().map(str::to_lowercase) == Some(email.to_lowercase()))
        .unwrap_or_else(|| panic!("no employee with {email}: {list:?}"))
}

/// The same person in on-premises AD and in Entra ID (same e-mail, other case) is one employee
/// with two identities; the Entra identity is keyed by the object id. "Test connection" reads
/// the group through the API.
#[tokio::test]
async fn ad_and_entra_accounts_with_one_email_are_one_employee() {
    let Some(dc) = Dc::corp() else { return };
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let mut c = Corner::new(&dc).await;
        let t = c.tag.clone();
        let mail = format!("dana.{t}@corp.example.test");
        let sam = format!("d{t}");
        let dana_dn = c
            .add_user(&NewUser {
                sam: &sam,
                given: Some("Dana"),
                sn: Some("Scully"),
                mail: Some(&mail),
                ..NewUser::default()
            })
            .await;
        let group = c.group.clone();
        c.add_member(&group, &dana_dn).await;
        let input = serde_json::from_value(c.domain_json("corp")).expect("input");
        Domains {
            store: &server.state.store,
            cipher: &server.state.cipher,
        }
        .create(&Actor::cli(), server.clock.now_ms(), &input)
        .await
        .expect("AD domain");

        let dana_entra = mock.add_user("Dana", "Scully", &mail.to_uppercase(), true, true);
        let fox = mock.add_user(
            "Fox",
            "Mulder",
            &format!("fox.{t}@corp.example.test"),
            true,
            true,
        );
        mock.add_user(
            "Not",
            "Member",
            &format!("x.{t}@corp.example.test"),
            true,
            false,
        );
        let view = add_entra_domain(&server, &mock, "cloud").await;
        assert_eq!(view["kind"], "entra_id");
        assert_eq!(view["has_client_secret"], true);
        assert_eq!(view["group_id"], mock.group_id.as_str());
        assert!(
            !view.to_string().contains(&mock.client_secret),
            "no secret in the view"
        );

        // Test connection: token, group, member count.
        let (cl, csrf) = {
            let cl = crate::support::client();
            let csrf = server
                .api_login(&cl, crate::support::ADMIN, crate::support::ADMIN_PASSWORD)
                .await;
            (cl, csrf)
        };
        let (st, test) = call(
            &cl,
            Method::POST,
            server.url("/api/v1/directory/domains/cloud/test"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(test["ok"], true, "{test}");
        assert_eq!(test["members"], 2);
        assert!(test["group_dn"]
            .as_str()
            .unwrap_or("")
            .contains("Hideez Users Sync"));

        let (run, _) = sync_ok(&server, "corp", SyncMode::Full).await;
        assert_eq!(run.added, 1);
        let (run, report) = sync_ok(&server, "cloud", SyncMode::Full).await;
        assert_eq!((run.added, run.merged), (1, 1), "{report:?}");
        assert_eq!(run.dc_url.as_deref(), Some(mock.graph_url().as_str()));

        let list = employees(&server).await;
        assert_eq!(list.len(), 2, "{list:?}");
        let dana = by_email(&list, &mail);
        let mut conn = server.state.store.conn().await.expect("conn");
        let ids = sso_server::directory::store::identities_of_employee(&mut conn, &dana.id)
            .await
            .expect("identities");
        assert_eq!(ids.len(), 2, "{ids:?}");
        let cloud = domain_row(&server, "cloud").await;
        let entra = ids
            .iter()
            .find(|i| i.domain_id == cloud.id)
            .expect("Entra identity");
        assert_eq!(entra.object_guid, dana_entra);
        assert_eq!(entra.upn.as_deref(), Some(mail.to_uppercase().as_str()));
        let ad = ids.iter().find(|i| i.domain_id != cloud.id).expect("AD id");
        assert_eq!(ad.object_guid, c.guid_of(&dana_dn).await.to_string());
        let fox_emp = by_email(&list, &format!("fox.{t}@corp.example.test"));
        assert_eq!(fox_emp.source, "directory");
        assert_eq!(fox_emp.display_name, "Fox Mulder");
        assert!(!fox.is_empty());
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}

/// `accountEnabled: false` is a disabled account, as in AD: the employee becomes `disabled`
/// (deactivated) and comes back when enabled again; a run reads the changes by delta.
#[tokio::test]
async fn a_user_disabled_in_entra_is_handled_like_a_disabled_ad_user() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let ann = mock.add_user(
            "Ann",
            "Able",
            &format!("ann.{tag}@example.test"),
            true,
            true,
        );
        mock.add_user(
            "Ben",
            "Baker",
            &format!("ben.{tag}@example.test"),
            true,
            true,
        );
        // Already disabled at import: imported as disabled.
        mock.add_user("Cy", "Cold", &format!("cy.{tag}@example.test"), false, true);
        add_entra_domain(&server, &mock, "cloud").await;
        sync_ok(&server, "cloud", SyncMode::Full).await;
        let list = employees(&server).await;
        assert_eq!(
            by_email(&list, &format!("cy.{tag}@example.test")).state,
            "disabled"
        );
        assert_eq!(
            by_email(&list, &format!("ann.{tag}@example.test")).state,
            "active"
        );

        mock.set(&ann, "accountEnabled", json!(false));
        let (run, report) = sync_ok(&server, "cloud", SyncMode::Delta).await;
        assert_eq!(run.kind, "delta");
        assert_eq!(run.removed, 1, "{report:?}");
        assert_eq!(
            report.changes[0].kind,
            sso_server::directory::report::ChangeKind::Disabled
        );
        let list = employees(&server).await;
        let ann_emp = by_email(&list, &format!("ann.{tag}@example.test"));
        assert_eq!(ann_emp.state, "disabled");
        // Deactivated as AD's disabled users are (the lifecycle records it).
        let mut conn = server.state.store.conn().await.expect("conn");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'employee.deactivated' AND target_id = $1",
        )
        .bind(&ann_emp.id)
        .fetch_one(&mut *conn)
        .await
        .expect("audit");
        assert_eq!(n, 1);

        mock.set(&ann, "accountEnabled", json!(true));
        let (run, _) = sync_ok(&server, "cloud", SyncMode::Delta).await;
        assert_eq!(run.reactivated, 1);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}

/// Members come in several pages (`@odata.nextLink`); a delta run uses the stored delta link,
/// follows its pages, sees a deleted member (`@removed`, gone from the group), a changed one and
/// a new member, and stores the new delta link.
#[tokio::test]
async fn paging_and_delta_with_a_removed_member() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let ids: Vec<String> = (0..5)
            .map(|i| {
                mock.add_user(
                    &format!("U{i}"),
                    "Paged",
                    &format!("u{i}.{tag}@example.test"),
                    true,
                    true,
                )
            })
            .collect();
        add_entra_domain(&server, &mock, "cloud").await;
        let (run, report) = sync_ok(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.kind, "full");
        assert_eq!(run.added, 5, "{report:?}");
        assert_eq!(report.members, 5);
        assert_eq!(mock.seen("transitiveMembers"), 3, "2 + 2 + 1 per page");
        assert_eq!(mock.seen("$skiptoken=m"), 2);
        let first_link = domain_row(&server, "cloud").await.cursor_delta_link;
        let token = mock.with(|t| t.delta_token.clone()).expect("token");
        assert!(first_link.as_deref().is_some_and(|l| l.ends_with(&token)));

        // Deleted, changed, and a new member whose user object did not change.
        mock.delete_user(&ids[1]);
        mock.set(&ids[2], "department", json!("Research"));
        mock.set(&ids[3], "jobTitle", json!("Lead"));
        let newcomer = mock.add_user(
            "New",
            "Comer",
            &format!("new.{tag}@example.test"),
            true,
            true,
        );
        let (run, report) = sync_ok(&server, "cloud", SyncMode::Delta).await;
        assert_eq!(run.kind, "delta");
        assert_eq!(
            (run.added, run.updated, run.removed),
            (1, 2, 1),
            "{report:?}"
        );
        assert_eq!(report.members, 5);
        assert_eq!(
            mock.seen(&format!("$deltatoken={token}")),
            1,
            "the stored link was used"
        );
        assert!(
            mock.seen("users/delta?$skiptoken=ds") >= 1,
            "delta pages followed"
        );
        assert_eq!(mock.seen(&format!("/users/{newcomer}?")), 1);
        let row = domain_row(&server, "cloud").await;
        let token2 = mock.with(|t| t.delta_token.clone()).expect("token");
        assert_ne!(token, token2);
        assert!(row
            .cursor_delta_link
            .as_deref()
            .is_some_and(|l| l.ends_with(&token2)));
        let list = employees(&server).await;
        let gone = by_email(&list, &format!("u1.{tag}@example.test"));
        assert_eq!(gone.state, "removed-from-sync");
        assert_eq!(
            by_email(&list, &format!("u2.{tag}@example.test"))
                .department
                .as_deref(),
            Some("Research")
        );

        // Nothing changed since: a delta run changes nothing.
        let (run, report) = sync_ok(&server, "cloud", SyncMode::Delta).await;
        assert_eq!(report.changed(), 0, "{report:?}");
        assert_eq!(run.unchanged, 5);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}

/// 429 and 503 with `Retry-After` are retried after the wait (on the app's clock, so the test
/// does not sleep); a service that keeps throttling fails the run and changes nothing.
#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        for i in 0..3 {
            mock.add_user(
                &format!("T{i}"),
                "Throttled",
                &format!("t{i}.{tag}@example.test"),
                true,
                true,
            );
        }
        add_entra_domain(&server, &mock, "cloud").await;
        mock.with(|t| {
            t.throttle
                .extend([(429, Some(7)), (503, Some(5)), (429, None)]);
        });
        let before = server.clock.now_ms();
        let (run, _) = sync_ok(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.added, 3);
        let waited = server.clock.now_ms() - before;
        // 7 s and 5 s as told, then the backoff's 8 s for the third attempt (no header).
        assert!(waited >= 14_000, "waited {waited} ms");
        assert!(waited < 60_000, "waited {waited} ms");

        mock.with(|t| t.throttle.extend([(429, Some(1)); 5]));
        let before = employees(&server).await;
        let (run, _) = sync(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.state, "failed");
        let msg = run.message.unwrap_or_default();
        assert!(msg.contains("still throttled (HTTP 429)"), "{msg}");
        assert_eq!(employees(&server).await, before);
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}

/// Without the permission to read the group, the run fails with a message naming the
/// permission; a wrong secret names the credentials; neither leaks the secret or changes anything.
#[tokio::test]
async fn missing_permission_and_wrong_secret_are_clear_errors() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        mock.add_user("P", "Denied", &format!("p.{tag}@example.test"), true, true);
        add_entra_domain(&server, &mock, "cloud").await;
        mock.with(|t| t.deny = true);
        let (run, _) = sync(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.state, "failed");
        let msg = run.message.unwrap_or_default();
        assert!(msg.contains("Authorization_RequestDenied"), "{msg}");
        assert!(
            msg.contains("User.Read.All") || msg.contains("GroupMember.Read.All"),
            "{msg}"
        );
        assert!(employees(&server).await.is_empty());
        let t = Domains {
            store: &server.state.store,
            cipher: &server.state.cipher,
        }
        .test_connection("cloud", &server.state.clock)
        .await
        .expect("test ran");
        assert!(!t.ok);
        assert!(
            t.error.unwrap_or_default().contains("GroupMember.Read.All"),
            "test connection names the permission"
        );

        // A wrong client secret (set through the API): the authority refuses.
        mock.with(|t| t.deny = false);
        let c = crate::support::client();
        let csrf = server
            .api_login(&c, crate::support::ADMIN, crate::support::ADMIN_PASSWORD)
            .await;
        let row = domain_row(&server, "cloud").await;
        let mut body = mock.domain_json("cloud");
        body["client_secret"] = json!("wrong-secret-value");
        let (st, b) = call(
            &c,
            Method::PUT,
            server.url(&format!("/api/v1/directory/domains/{}", row.id)),
            &csrf,
            Some(body),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let (run, _) = sync(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.state, "failed");
        let msg = run.message.unwrap_or_default();
        assert!(msg.contains("refused the app's credentials"), "{msg}");
        assert!(msg.contains("AADSTS7000215"), "{msg}");
        assert!(!msg.contains("wrong-secret-value") && !msg.contains(&mock.client_secret));
        assert!(employees(&server).await.is_empty());
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}

/// Bad Entra ID domain input answers 400 naming the field.
#[tokio::test]
async fn bad_entra_domain_input_names_the_field() {
    let server = TestServer::start(crate::support::Db::Sqlite).await;
    let mock = GraphMock::start().await;
    let (c, csrf) = server.admin_client().await;
    let url = server.url("/api/v1/directory/domains");
    let with = |k: &str, v: Value| {
        let mut b = mock.domain_json("cloud");
        if v.is_null() {
            b.as_object_mut().expect("object").remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    let cases = [
        (with("tenant_id", Value::Null), "tenant_id"),
        (with("tenant_id", json!("not a tenant!")), "tenant_id"),
        (with("client_id", json!("app")), "client_id"),
        (with("client_secret", Value::Null), "client_secret"),
        (with("group_id", json!("Hideez Users Sync")), "group_id"),
        (
            with("graph_url", json!("http://graph.example")),
            "graph_url",
        ),
        (with("authority_url", json!("not a url")), "authority_url"),
        (
            with(
                "ca_pem",
                json!("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"),
            ),
            "ca_pem",
        ),
        (with("urls", json!(["ldaps://dc1"])), "urls"),
        (with("bind_password", json!("x")), "bind_password"),
        (with("kind", json!("ldap")), "tenant_id"),
    ];
    for (body, field) in cases {
        let (st, err) = call(&c, Method::POST, url.clone(), &csrf, Some(body.clone())).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    // Defaults: Microsoft's endpoints.
    let mut b = mock.domain_json("cloud");
    let o = b.as_object_mut().expect("object");
    o.remove("authority_url");
    o.remove("graph_url");
    let (st, view) = call(&c, Method::POST, url.clone(), &csrf, Some(b)).await;
    assert_eq!(st, StatusCode::CREATED, "{view}");
    assert_eq!(view["authority_url"], "https://login.microsoftonline.com");
    assert_eq!(view["graph_url"], "https://graph.microsoft.com/v1.0");
    // The kind cannot change on edit.
    let id = view["id"].as_str().expect("id").to_owned();
    let mut ldap = json!({"name": "cloud", "urls": ["ldaps://dc1:636"], "bind_dn": "x",
        "base_dn": "DC=x", "ca_pem": mock.ca_pem});
    let (st, err) = call(
        &c,
        Method::PUT,
        server.url(&format!("/api/v1/directory/domains/{id}")),
        &csrf,
        Some(ldap.take()),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["field"], "kind");
}

/// A certificate instead of a secret: the token request carries a signed client assertion; the
/// private key is sealed and never shown.
#[tokio::test]
async fn a_certificate_credential_gets_a_token() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let mock = GraphMock::start().await;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        mock.add_user("Cert", "User", &format!("c.{tag}@example.test"), true, true);
        let pem = mock.use_certificate();
        let mut body = mock.domain_json("cloud");
        let o = body.as_object_mut().expect("object");
        o.remove("client_secret");
        o.insert("client_certificate".into(), json!(pem));
        let (c, csrf) = server.admin_client().await;
        let (st, view) = call(
            &c,
            Method::POST,
            server.url("/api/v1/directory/domains"),
            &csrf,
            Some(body),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{view}");
        assert_eq!(
            (
                view["has_client_certificate"].clone(),
                view["has_client_secret"].clone()
            ),
            (json!(true), json!(false))
        );
        assert!(!view.to_string().contains("PRIVATE KEY"));
        let (run, _) = sync_ok(&server, "cloud", SyncMode::Full).await;
        assert_eq!(run.added, 1);
        assert_eq!(mock.with(|t| t.assertions), 1);
        if db == crate::support::Db::Sqlite {
            // Sealed at rest: a line of the key's base64 is nowhere in the database files.
            let line = pem
                .split("-----BEGIN PRIVATE KEY-----")
                .nth(1)
                .and_then(|k| k.lines().nth(3))
                .expect("a key line")
                .to_owned();
            let dir = &server.state.config.data_dir;
            for name in ["sso.db", "sso.db-wal"] {
                let bytes = std::fs::read(dir.join(name)).unwrap_or_default();
                assert!(!bytes.windows(line.len()).any(|w| w == line.as_bytes()));
            }
        }

        // A certificate without its key is refused, naming the field.
        let mut body = mock.domain_json("other");
        let o = body.as_object_mut().expect("object");
        o.remove("client_secret");
        let cert_only = pem
            .split("-----BEGIN PRIVATE KEY-----")
            .next()
            .unwrap_or_default();
        o.insert("client_certificate".into(), json!(cert_only));
        let (st, err) = call(
            &c,
            Method::POST,
            server.url("/api/v1/directory/domains"),
            &csrf,
            Some(body),
        )
        .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["field"], "client_certificate");
        assert_eq!(mock.problems(), Vec::<String>::new());
    }
}
