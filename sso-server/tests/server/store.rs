//! The repositories behave the same on SQLite and on PostgreSQL.

use sso_server::admin::store::accounts::AdminRow;
use sso_server::admin::store::sessions::SessionRow;
use sso_server::audit::store::{AuditFilter, AuditRow};
use sso_server::employees::store::EmployeeRow;
use sso_server::store::{Backend, Store};

use crate::support::{backends, config_for, Db};

async fn open(db: Db) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_for(db, &dir).await;
    std::fs::create_dir_all(&config.data_dir).expect("data dir");
    let store = Store::connect(&config.database_url().expect("url"), 4)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    // A second migrate is a no-op, as at every restart.
    store.migrate().await.expect("migrate again");
    (store, dir)
}

fn employee(id: &str, display: &str, email: Option<&str>) -> EmployeeRow {
    EmployeeRow {
        id: id.into(),
        given_name: None,
        family_name: None,
        display_name: display.into(),
        email: email.map(Into::into),
        phone: Some("+1 555 0100".into()),
        department: Some("Research & Development".into()),
        title: None,
        source: "manual".into(),
        state: "active".into(),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

#[tokio::test]
async fn employees_repository() {
    for db in backends() {
        let (store, _dir) = open(db).await;
        assert_eq!(
            store.backend(),
            if db == Db::Sqlite {
                Backend::Sqlite
            } else {
                Backend::Postgres
            }
        );
        let mut c = store.conn().await.expect("conn");

        let names = [
            "Zoe Zed",
            "ada Lovelace",
            "Bob 100% Sure",
            "Carol_Underscore",
            "Dan",
        ];
        for (i, n) in names.iter().enumerate() {
            let e = employee(
                &format!("00000000-0000-4000-8000-00000000000{i}"),
                n,
                Some(&format!("u{i}@Example.COM")),
            );
            sso_server::employees::store::insert(&mut c, &e)
                .await
                .expect("insert");
        }
        // Unique e-mail, case-insensitively.
        let dup = employee(
            "00000000-0000-4000-8000-000000000009",
            "Dup",
            Some("U1@example.com"),
        );
        let err = sso_server::employees::store::insert(&mut c, &dup)
            .await
            .expect_err("duplicate email");
        assert!(
            err.as_database_error()
                .is_some_and(|d| d.is_unique_violation()),
            "{db:?}: {err}"
        );
        // Employees without e-mail do not clash with each other.
        for id in [
            "00000000-0000-4000-8000-00000000000a",
            "00000000-0000-4000-8000-00000000000b",
        ] {
            sso_server::employees::store::insert(&mut c, &employee(id, "No Mail", None))
                .await
                .expect("insert no mail");
        }

        // Sorted by display name, case-insensitively; paged.
        let (page, total) = sso_server::employees::store::list(&mut c, None, 3, 0)
            .await
            .expect("list");
        assert_eq!(total, 7);
        let shown: Vec<_> = page.iter().map(|e| e.display_name.as_str()).collect();
        assert_eq!(
            shown,
            ["ada Lovelace", "Bob 100% Sure", "Carol_Underscore"],
            "{db:?}"
        );
        let (page, _) = sso_server::employees::store::list(&mut c, None, 3, 6)
            .await
            .expect("list");
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].display_name, "Zoe Zed");

        // Search: case-insensitive substring; LIKE wildcards are literal.
        let (hits, n) = sso_server::employees::store::list(&mut c, Some("LOVE"), 50, 0)
            .await
            .expect("search");
        assert_eq!((n, hits[0].display_name.as_str()), (1, "ada Lovelace"));
        let (_, n) = sso_server::employees::store::list(&mut c, Some("100%"), 50, 0)
            .await
            .expect("search %");
        assert_eq!(n, 1, "{db:?}: % must be literal");
        let (_, n) = sso_server::employees::store::list(&mut c, Some("a_a"), 50, 0)
            .await
            .expect("search _");
        assert_eq!(n, 0, "{db:?}: _ must be literal");
        let (_, n) = sso_server::employees::store::list(&mut c, Some("research &"), 50, 0)
            .await
            .expect("search dept");
        assert_eq!(n, 7);
        let (_, n) = sso_server::employees::store::list(&mut c, Some("u3@example.com"), 50, 0)
            .await
            .expect("search mail");
        assert_eq!(n, 1);

        // Get, find by e-mail, update, delete.
        let id = "00000000-0000-4000-8000-000000000001";
        let mut e = sso_server::employees::store::get(&mut c, id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(e.display_name, "ada Lovelace");
        assert_eq!(
            sso_server::employees::store::find_by_email(&mut c, "U1@EXAMPLE.com")
                .await
                .expect("find")
                .map(|x| x.id),
            Some(id.to_owned())
        );
        e.title = Some("Countess".into());
        e.updated_at = 2_000;
        assert!(sso_server::employees::store::update(&mut c, &e)
            .await
            .expect("update"));
        let again = sso_server::employees::store::get(&mut c, id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(again, e);
        let (_, n) = sso_server::employees::store::list(&mut c, Some("countess"), 50, 0)
            .await
            .expect("search updated");
        assert_eq!(n, 1, "search text follows updates");
        assert!(sso_server::employees::store::delete(&mut c, id)
            .await
            .expect("delete"));
        assert!(!sso_server::employees::store::delete(&mut c, id)
            .await
            .expect("delete again"));
        assert!(sso_server::employees::store::get(&mut c, id)
            .await
            .expect("get")
            .is_none());
        let ghost = employee("00000000-0000-4000-8000-0000000000ff", "Ghost", None);
        assert!(!sso_server::employees::store::update(&mut c, &ghost)
            .await
            .expect("update missing"));
    }
}

#[tokio::test]
async fn transactions_roll_back_on_error() {
    for db in backends() {
        let (store, _dir) = open(db).await;
        let mut tx = store.begin().await.expect("begin");
        sso_server::employees::store::insert(
            &mut tx,
            &employee("00000000-0000-4000-8000-000000000001", "A", Some("a@x.io")),
        )
        .await
        .expect("insert");
        let err = sso_server::employees::store::insert(
            &mut tx,
            &employee("00000000-0000-4000-8000-000000000002", "B", Some("A@x.io")),
        )
        .await;
        assert!(err.is_err());
        drop(tx); // rolled back
        let mut c = store.conn().await.expect("conn");
        assert_eq!(
            sso_server::employees::store::count(&mut c)
                .await
                .expect("count"),
            0,
            "{db:?}: nothing half-written"
        );
    }
}

#[tokio::test]
async fn admins_sessions_audit_secrets_repositories() {
    for db in backends() {
        let (store, _dir) = open(db).await;
        let mut c = store.conn().await.expect("conn");
        let admin = AdminRow {
            id: "a1".into(),
            username: "Alice".into(),
            password_hash: "$argon2id$fake".into(),
            failed_logins: 0,
            locked_until: None,
            created_at: 5,
            last_login_at: None,
            role: "owner".into(),
            disabled_at: None,
        };
        sso_server::admin::store::accounts::insert(&mut c, &admin)
            .await
            .expect("insert admin");
        let again = AdminRow {
            id: "a2".into(),
            username: "alice".into(),
            ..admin.clone()
        };
        assert!(
            sso_server::admin::store::accounts::insert(&mut c, &again)
                .await
                .is_err(),
            "usernames are unique case-insensitively"
        );
        let found = sso_server::admin::store::accounts::find_by_username(&mut c, "ALICE")
            .await
            .expect("find")
            .expect("exists");
        assert_eq!(found.id, "a1");
        // The sign-in throttle's statements, on this backend.
        use sso_server::throttle::{self, Policy, Take};
        let p = Policy {
            free: 1,
            lock_after: 3,
            lock_ms: 60_000,
            window_ms: 3_600_000,
        };
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 1_000)
                .await
                .expect("take"),
            Take::Go { n: 1 }
        );
        assert!(!throttle::failed(&mut c, "admin:alice", 1, &p, 1_000)
            .await
            .expect("failed"));
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 1_001)
                .await
                .expect("take"),
            Take::Go { n: 2 }
        );
        // Failure 2 is past the free one: a one-second delay, during which nothing is taken.
        throttle::failed(&mut c, "admin:alice", 2, &p, 1_001)
            .await
            .expect("failed");
        assert!(matches!(
            throttle::take(&mut c, "admin:alice", &p, 1_500)
                .await
                .expect("take"),
            Take::Wait { .. }
        ));
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 2_100)
                .await
                .expect("take"),
            Take::Go { n: 3 }
        );
        assert!(throttle::failed(&mut c, "admin:alice", 3, &p, 2_100)
            .await
            .expect("failed"));
        assert!(throttle::locked(&mut c, "admin:alice", 2_200)
            .await
            .expect("locked"));
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 50_000)
                .await
                .expect("take"),
            Take::Wait {
                retry_after_secs: 13
            }
        );
        assert!(throttle::lift(&mut c, "admin:alice").await.expect("lift"));
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 50_001)
                .await
                .expect("take"),
            Take::Go { n: 1 }
        );
        throttle::release(&mut c, "admin:alice")
            .await
            .expect("release");
        assert_eq!(
            throttle::take(&mut c, "admin:alice", &p, 50_002)
                .await
                .expect("take"),
            Take::Go { n: 1 },
            "a released attempt does not count"
        );
        sso_server::admin::store::accounts::record_success(&mut c, "a1", 123)
            .await
            .expect("success");
        let ok = sso_server::admin::store::accounts::get(&mut c, "a1")
            .await
            .expect("get")
            .expect("exists");
        assert_eq!((ok.locked_until, ok.last_login_at), (None, Some(123)));

        let s = SessionRow {
            token_hash: vec![1, 2, 3, 0, 255],
            admin_id: "a1".into(),
            csrf_token: "csrf".into(),
            created_at: 10,
            expires_at: 100,
            last_seen_at: 10,
            method: "password".into(),
        };
        sso_server::admin::store::sessions::insert(&mut c, &s)
            .await
            .expect("insert session");
        sso_server::admin::store::sessions::touch(&mut c, &s.token_hash, 50)
            .await
            .expect("touch");
        let got = sso_server::admin::store::sessions::find(&mut c, &s.token_hash)
            .await
            .expect("find")
            .expect("exists");
        assert_eq!((got.admin_id.as_str(), got.last_seen_at), ("a1", 50));
        assert_eq!(
            sso_server::admin::store::sessions::delete_expired(&mut c, 99)
                .await
                .expect("expire"),
            0
        );
        assert_eq!(
            sso_server::admin::store::sessions::delete_expired(&mut c, 100)
                .await
                .expect("expire"),
            1
        );
        assert!(
            sso_server::admin::store::sessions::find(&mut c, &s.token_hash)
                .await
                .expect("find")
                .is_none()
        );

        for (i, action) in ["employee.created", "employee.updated", "employee.created"]
            .iter()
            .enumerate()
        {
            let row = AuditRow {
                id: 0,
                at: i as i64,
                actor_kind: "admin".into(),
                actor_id: Some("a1".into()),
                actor_name: "Alice".into(),
                action: (*action).into(),
                target_kind: Some("employee".into()),
                target_id: Some(format!("e{}", i % 2)),
                detail: "{}".into(),
                ip: None,
            };
            sso_server::audit::store::insert(&mut c, &row)
                .await
                .expect("audit insert");
        }
        let all = sso_server::audit::store::list(&mut c, &AuditFilter::default(), None, 10)
            .await
            .expect("list");
        assert_eq!(all.len(), 3);
        assert!(
            all[0].id > all[1].id && all[1].id > all[2].id,
            "newest first"
        );
        let created = AuditFilter {
            action: Some("employee.created".into()),
            target_id: None,
        };
        assert_eq!(
            sso_server::audit::store::list(&mut c, &created, None, 10)
                .await
                .expect("list")
                .len(),
            2
        );
        let e0 = AuditFilter {
            action: None,
            target_id: Some("e0".into()),
        };
        assert_eq!(
            sso_server::audit::store::list(&mut c, &e0, None, 10)
                .await
                .expect("list")
                .len(),
            2
        );
        let older =
            sso_server::audit::store::list(&mut c, &AuditFilter::default(), Some(all[0].id), 10)
                .await
                .expect("page");
        assert_eq!(older.len(), 2);

        sso_server::secrets::store::put(&mut c, "s1", b"one", 1)
            .await
            .expect("put");
        sso_server::secrets::store::put(&mut c, "s1", b"two", 2)
            .await
            .expect("overwrite");
        assert_eq!(
            sso_server::secrets::store::get(&mut c, "s1")
                .await
                .expect("get")
                .as_deref(),
            Some(&b"two"[..])
        );
        assert!(sso_server::secrets::store::delete(&mut c, "s1")
            .await
            .expect("delete"));
        assert!(sso_server::secrets::store::get(&mut c, "s1")
            .await
            .expect("get")
            .is_none());
    }
}
