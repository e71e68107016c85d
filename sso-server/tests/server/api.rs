//! `/api/v1/employees` and `/api/v1/audit` over HTTP, on both backends.

use reqwest::Method;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sso_server::employees::store::EmployeeRow;

use crate::support::{backends, call, client, TestServer};

#[tokio::test]
async fn employee_crud_happy_path_and_audit() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, csrf) = srv.admin_client().await;

        let (st, created) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/employees"),
            &csrf,
            Some(json!({
                "given_name": " Ada ", "family_name": "Lovelace", "email": "Ada@Example.com",
                "phone": "+44 20 7946 0000", "department": "Engineering", "title": "Analyst"
            })),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{db:?}: {created}");
        assert_eq!(created["display_name"], "Ada Lovelace");
        assert_eq!(created["given_name"], "Ada");
        assert_eq!(created["source"], "manual");
        assert_eq!(created["state"], "active");
        assert_eq!(created["editable"], true);
        let id = created["id"].as_str().expect("id").to_owned();

        let (st, got) = call(
            &c,
            Method::GET,
            srv.url(&format!("/api/v1/employees/{id}")),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(got, created);

        let (st, updated) = call(&c, Method::PUT, srv.url(&format!("/api/v1/employees/{id}")), &csrf, Some(json!({
            "given_name": "Ada", "family_name": "King", "display_name": "Ada King", "email": "ada@example.com"
        }))).await;
        assert_eq!(st, StatusCode::OK, "{updated}");
        assert_eq!(updated["display_name"], "Ada King");
        assert_eq!(updated["phone"], Value::Null, "PUT replaces all fields");
        assert_eq!(updated["created_at"], created["created_at"]);

        for i in 0..5 {
            let (st, _) = call(&c, Method::POST, srv.url("/api/v1/employees"), &csrf,
                Some(json!({ "display_name": format!("Person {i}"), "department": if i % 2 == 0 { "Sales" } else { "Ops" } }))).await;
            assert_eq!(st, StatusCode::CREATED);
        }
        let (st, page) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/employees?per_page=2&page=2"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(page["total"], 6);
        assert_eq!(page["page"], 2);
        let names: Vec<_> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["display_name"].clone())
            .collect();
        assert_eq!(names, [json!("Person 1"), json!("Person 2")]);
        let (_, found) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/employees?q=sales"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(found["total"], 3);

        let (st, _) = call(
            &c,
            Method::DELETE,
            srv.url(&format!("/api/v1/employees/{id}")),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, _) = call(
            &c,
            Method::GET,
            srv.url(&format!("/api/v1/employees/{id}")),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // Every admin action is in the audit log, attributed to the admin.
        let (st, audit) = call(
            &c,
            Method::GET,
            srv.url(&format!("/api/v1/audit?target_id={id}")),
            &csrf,
            None,
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let actions: Vec<_> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            actions,
            ["employee.deleted", "employee.updated", "employee.created"]
        );
        assert_eq!(audit["items"][0]["actor_name"], "admin");
        assert_eq!(audit["items"][0]["ip"], "127.0.0.1");
        let changed = &audit["items"][1]["detail"]["changed"];
        assert!(
            changed
                .as_array()
                .expect("changed")
                .contains(&json!("family_name")),
            "{changed}"
        );
        let (_, logins) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/audit?action=admin.login"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(logins["items"].as_array().expect("items").len(), 1);
    }
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_writes_nothing() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, csrf) = srv.admin_client().await;
        let url = srv.url("/api/v1/employees");
        let cases = [
            (
                json!({ "given_name": "A", "email": "not-an-email" }),
                "email",
            ),
            (json!({ "given_name": "A", "phone": "call me" }), "phone"),
            (json!({ "given_name": 42 }), "given_name"),
            (json!({ "given_name": "A", "nickname": "x" }), "nickname"),
            (json!({ "email": "a@b.co" }), "display_name"),
            (
                json!({ "given_name": "A", "title": "t".repeat(200) }),
                "title",
            ),
            (json!(["not", "an", "object"]), "body"),
        ];
        for (body, field) in cases {
            let (st, err) = call(&c, Method::POST, url.clone(), &csrf, Some(body.clone())).await;
            assert_eq!(st, StatusCode::BAD_REQUEST, "{db:?} {body}: {err}");
            assert_eq!(err["error"], "invalid_input");
            assert_eq!(err["field"], field, "{body}: {err}");
            assert!(!err["message"].as_str().unwrap_or("").is_empty());
        }
        // Not JSON at all.
        let resp = c
            .post(url.clone())
            .header("x-csrf-token", &csrf)
            .body("given_name=A")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        // Bad query and path parameters.
        let (st, err) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/employees?per_page=1000"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(
            (st, err["field"].clone()),
            (StatusCode::BAD_REQUEST, json!("per_page"))
        );
        let (st, err) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/employees?page=abc"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(
            (st, err["field"].clone()),
            (StatusCode::BAD_REQUEST, json!("page"))
        );
        let (st, err) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/employees/not-a-uuid"),
            &csrf,
            None,
        )
        .await;
        assert_eq!(
            (st, err["field"].clone()),
            (StatusCode::BAD_REQUEST, json!("id"))
        );
        let unknown = uuid::Uuid::new_v4();
        for m in [Method::GET, Method::DELETE] {
            let (st, err) = call(
                &c,
                m,
                srv.url(&format!("/api/v1/employees/{unknown}")),
                &csrf,
                None,
            )
            .await;
            assert_eq!(
                (st, err["error"].clone()),
                (StatusCode::NOT_FOUND, json!("not_found"))
            );
        }
        let (st, _) = call(
            &c,
            Method::PUT,
            srv.url(&format!("/api/v1/employees/{unknown}")),
            &csrf,
            Some(json!({"given_name": "X"})),
        )
        .await;
        assert_eq!(st, StatusCode::NOT_FOUND);

        // Nothing was written.
        let mut conn = srv.state.store.conn().await.expect("conn");
        assert_eq!(
            sso_server::employees::store::count(&mut conn)
                .await
                .expect("count"),
            0
        );
    }
}

#[tokio::test]
async fn conflicts_are_409() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, csrf) = srv.admin_client().await;
        let url = srv.url("/api/v1/employees");
        let (st, first) = call(
            &c,
            Method::POST,
            url.clone(),
            &csrf,
            Some(json!({"given_name": "A", "email": "a@corp.test"})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED);
        let (st, err) = call(
            &c,
            Method::POST,
            url.clone(),
            &csrf,
            Some(json!({"given_name": "B", "email": "A@CORP.test"})),
        )
        .await;
        assert_eq!(
            (st, err["field"].clone()),
            (StatusCode::CONFLICT, json!("email")),
            "{err}"
        );
        let (_, second) = call(
            &c,
            Method::POST,
            url.clone(),
            &csrf,
            Some(json!({"given_name": "B"})),
        )
        .await;
        let second_id = second["id"].as_str().expect("id");
        let (st, _) = call(
            &c,
            Method::PUT,
            srv.url(&format!("/api/v1/employees/{second_id}")),
            &csrf,
            Some(json!({"given_name": "B", "email": "a@corp.TEST"})),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT);
        // Keeping one's own address is not a conflict.
        let first_id = first["id"].as_str().expect("id");
        let (st, _) = call(
            &c,
            Method::PUT,
            srv.url(&format!("/api/v1/employees/{first_id}")),
            &csrf,
            Some(json!({"given_name": "A2", "email": "A@corp.test"})),
        )
        .await;
        assert_eq!(st, StatusCode::OK);

        // An employee imported from a directory cannot be edited or deleted.
        let imported = EmployeeRow {
            id: uuid::Uuid::new_v4().to_string(),
            given_name: Some("Dir".into()),
            family_name: Some("User".into()),
            display_name: "Dir User".into(),
            email: Some("dir@corp.test".into()),
            phone: None,
            department: None,
            title: None,
            source: "directory".into(),
            state: "active".into(),
            created_at: 1,
            updated_at: 1,
        };
        let mut conn = srv.state.store.conn().await.expect("conn");
        sso_server::employees::store::insert(&mut conn, &imported)
            .await
            .expect("insert imported");
        let url_one = srv.url(&format!("/api/v1/employees/{}", imported.id));
        let (st, view) = call(&c, Method::GET, url_one.clone(), &csrf, None).await;
        assert_eq!(
            (st, view["source"].clone(), view["editable"].clone()),
            (StatusCode::OK, json!("directory"), json!(false))
        );
        let (st, err) = call(
            &c,
            Method::PUT,
            url_one.clone(),
            &csrf,
            Some(json!({"given_name": "Changed"})),
        )
        .await;
        assert_eq!(st, StatusCode::CONFLICT);
        assert!(
            err["message"]
                .as_str()
                .unwrap_or("")
                .contains("imported from a directory"),
            "{err}"
        );
        let (st, err) = call(&c, Method::DELETE, url_one, &csrf, None).await;
        assert_eq!(st, StatusCode::CONFLICT, "{err}");
        let still = sso_server::employees::store::get(&mut conn, &imported.id)
            .await
            .expect("get")
            .expect("still there");
        assert_eq!(still, imported);
    }
}

#[tokio::test]
async fn api_requires_session_and_csrf() {
    let srv = TestServer::start(crate::support::Db::Sqlite).await;
    let anon = client();
    let resp = anon
        .get(srv.url("/api/v1/employees"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (c, csrf) = srv.admin_client().await;
    let body = Some(json!({"given_name": "A"}));
    let (st, err) = call(
        &c,
        Method::POST,
        srv.url("/api/v1/employees"),
        "",
        body.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{err}");
    let (st, _) = call(
        &c,
        Method::POST,
        srv.url("/api/v1/employees"),
        "wrong-token",
        body.clone(),
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = call(&c, Method::POST, srv.url("/api/v1/employees"), &csrf, body).await;
    assert_eq!(st, StatusCode::CREATED);
}

/// `/metrics` is nobody's by default (404), and with `metrics.token_file` only a scraper's with
/// that bearer token.
#[tokio::test]
async fn metrics_need_the_scrape_token() {
    let plain = TestServer::start(crate::support::Db::Sqlite).await;
    let r = client()
        .get(plain.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, "scrape-token-0123456789\n").expect("write");
    let srv = TestServer::start_with(crate::support::Db::Sqlite, |c| {
        c.metrics.token_file = Some(token_file.clone())
    })
    .await;
    for bad in [None, Some("Bearer wrong"), Some("scrape-token-0123456789")] {
        let mut req = client().get(srv.url("/metrics"));
        if let Some(b) = bad {
            req = req.header("authorization", b);
        }
        assert_eq!(
            req.send().await.expect("metrics").status(),
            StatusCode::UNAUTHORIZED,
            "{bad:?}"
        );
    }
    let r = client()
        .get(srv.url("/metrics"))
        .bearer_auth("scrape-token-0123456789")
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("metrics.token");
    std::fs::write(&token_file, "t0k3n").expect("write");
    let srv = TestServer::start_with(crate::support::Db::Sqlite, |c| {
        c.metrics.token_file = Some(token_file.clone())
    })
    .await;
    let c = client();
    let r = c.get(srv.url("/healthz")).send().await.expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(srv.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::OK);
    let ready: Value = r.json().await.expect("json");
    assert_eq!(ready["database"], "sqlite");
    let r = c
        .get(srv.url("/metrics"))
        .bearer_auth("t0k3n")
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.expect("text");
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"}"),
        "{text}"
    );
    let doc: Value = c
        .get(srv.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    for path in [
        "/api/v1/employees",
        "/api/v1/employees/{id}",
        "/api/v1/session",
        "/api/v1/audit",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("EmployeeView").is_some());
    // Readiness fails when the database is gone.
    srv.state.store.close().await;
    let r = c.get(srv.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// Issue 27: `PATCH` of an employee and of an OIDC client changes only the fields sent (`null`
/// clears one, a derived display name follows the names, the client's secret is kept), and an
/// unknown or bad field is named, changing nothing.
#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, csrf) = srv.admin_client().await;
        let (st, created) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/employees"),
            &csrf,
            Some(json!({
                "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com",
                "phone": "+44 20 7946 0000", "department": "Engineering", "title": "Analyst"
            })),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{created}");
        let url = srv.url(&format!(
            "/api/v1/employees/{}",
            created["id"].as_str().expect("id")
        ));
        let patch = |body: Value| {
            let (c, csrf, url) = (c.clone(), csrf.clone(), url.clone());
            async move { call(&c, Method::PATCH, url, &csrf, Some(body)).await }
        };
        let (st, e) = patch(json!({"title": "Engineer"})).await;
        assert_eq!(st, StatusCode::OK, "{db:?}: {e}");
        for k in [
            "given_name",
            "family_name",
            "display_name",
            "email",
            "phone",
            "department",
        ] {
            assert_eq!(e[k], created[k], "{db:?}: {k} kept");
        }
        assert_eq!(e["title"], "Engineer");
        let (st, e) = patch(json!({"family_name": "King", "phone": null})).await;
        assert_eq!(st, StatusCode::OK, "{e}");
        assert_eq!(e["display_name"], "Ada King", "the derived name follows");
        assert_eq!(e["phone"], Value::Null, "null clears");
        assert_eq!(e["email"], "ada@example.com");
        let (st, e) = patch(json!({"display_name": "The Countess"})).await;
        assert_eq!(
            (st, &e["display_name"]),
            (StatusCode::OK, &json!("The Countess"))
        );
        let (_, e) = patch(json!({"given_name": "Augusta"})).await;
        assert_eq!(
            e["display_name"], "The Countess",
            "a chosen display name stays"
        );
        for (body, field) in [
            (json!({"emial": "x@example.com"}), "emial"),
            (json!({"email": "not an address"}), "email"),
            (json!({"title": 5}), "title"),
        ] {
            let (st, err) = patch(body).await;
            assert_eq!(
                (st, err["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{db:?}: {err}"
            );
        }
        let (_, now) = call(&c, Method::GET, url.clone(), &csrf, None).await;
        assert_eq!(
            now["given_name"], "Augusta",
            "refused patches changed nothing"
        );
        assert_eq!(now["title"], "Engineer");
        // Its console page (which looks for same-named employees of the other source) opens.
        let page = c
            .get(srv.url(&format!(
                "/admin/employees/{}",
                created["id"].as_str().expect("id")
            )))
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), StatusCode::OK, "{db:?}");
        assert!(!page.text().await.expect("text").contains("data-duplicate"));

        // A client: its name changes, its redirect URIs and its secret stay.
        let (st, rp) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/oidc/clients"),
            &csrf,
            Some(json!({"name": "Wiki", "kind": "confidential",
                "redirect_uris": ["https://wiki.example/cb"],
                "grant_types": ["authorization_code", "client_credentials"]})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{rp}");
        let id = rp["client_id"].as_str().expect("id").to_owned();
        let secret = rp["client_secret"].as_str().expect("secret").to_owned();
        let curl = srv.url(&format!("/api/v1/oidc/clients/{id}"));
        let (_, before) = call(&c, Method::GET, curl.clone(), &csrf, None).await;
        let (st, after) = call(
            &c,
            Method::PATCH,
            curl.clone(),
            &csrf,
            Some(json!({"name": "Team wiki"})),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{after}");
        let mut expected = before.clone();
        expected["name"] = json!("Team wiki");
        assert_eq!(after, expected, "{db:?}: only the name changed");
        let token = client()
            .post(srv.url("/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token");
        assert_eq!(token.status(), StatusCode::OK, "the secret was kept");
        let (st, err) = call(
            &c,
            Method::PATCH,
            curl,
            &csrf,
            Some(json!({"client_secret": "mine"})),
        )
        .await;
        assert_eq!(
            (st, err["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("client_secret")),
            "{err}"
        );
    }
}
