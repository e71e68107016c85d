//! Secrets at rest: what reaches the database is ciphertext.

use sso_server::clock::Clock;

use crate::support::{backends, Db, TestServer};

const SECRET: &str = "Bind-Passw0rd-Plaintext-7f3a9c";

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// All bytes SQLite has on disk for the database (main file and write-ahead log).
fn sqlite_bytes(srv: &TestServer) -> Vec<u8> {
    let dir = &srv.state.config.data_dir;
    let mut all = Vec::new();
    for name in ["sso.db", "sso.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    all
}

#[tokio::test]
async fn stored_secrets_are_not_in_the_database_in_clear() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let st = &srv.state;
        let now = srv.clock.now_ms();
        {
            let mut conn = st.store.conn().await.expect("conn");
            sso_server::secrets::put(
                &mut conn,
                &st.cipher,
                "domain:corp:bind_password",
                SECRET.as_bytes(),
                now,
            )
            .await
            .expect("put");
            let back = sso_server::secrets::get(&mut conn, &st.cipher, "domain:corp:bind_password")
                .await
                .expect("get");
            assert_eq!(back.as_deref(), Some(SECRET.as_bytes()));
            // Positive control: the same text stored in a plain column is found by the scan below.
            let control = sso_server::employees::store::EmployeeRow {
                id: uuid::Uuid::new_v4().to_string(),
                given_name: None,
                family_name: None,
                display_name: "Control".into(),
                email: None,
                phone: None,
                department: None,
                title: Some("PlainControl-4b1d".into()),
                source: "manual".into(),
                state: "active".into(),
                created_at: now,
                updated_at: now,
            };
            sso_server::employees::store::insert(&mut conn, &control)
                .await
                .expect("insert control");
            // A ciphertext moved to another name does not open.
            let sealed = sso_server::secrets::store::get(&mut conn, "domain:corp:bind_password")
                .await
                .expect("raw")
                .expect("row");
            assert!(!contains(&sealed, SECRET));
            sso_server::secrets::store::put(&mut conn, "domain:other:bind_password", &sealed, now)
                .await
                .expect("copy");
            assert!(
                sso_server::secrets::get(&mut conn, &st.cipher, "domain:other:bind_password")
                    .await
                    .is_err()
            );
        }
        match db {
            Db::Sqlite => {
                let raw = sqlite_bytes(&srv);
                assert!(
                    contains(&raw, "PlainControl-4b1d"),
                    "the scan must see plain columns"
                );
                assert!(
                    !contains(&raw, SECRET),
                    "secret found in clear in the SQLite files"
                );
            }
            Db::Postgres => {
                // The server's own copy of every stored byte, as PostgreSQL returns it.
                let mut conn = st.store.conn().await.expect("conn");
                let dump: Vec<(String, Vec<u8>)> =
                    sqlx::query_as("SELECT name, ciphertext FROM secret")
                        .fetch_all(&mut *conn)
                        .await
                        .expect("dump");
                assert_eq!(dump.len(), 2);
                assert!(dump.iter().all(|(_, c)| !contains(c, SECRET)));
                let text: Vec<String> =
                    sqlx::query_scalar("SELECT encode(ciphertext, 'escape') FROM secret")
                        .fetch_all(&mut *conn)
                        .await
                        .expect("text dump");
                assert!(text.iter().all(|t| !t.contains(SECRET)));
            }
        }
    }
}
