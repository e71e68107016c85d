//! The console's pages over plain HTTP: sign-in required, every form refused without the
//! session's CSRF token (nothing changed), input errors shown next to their field. The browser
//! walk-through is in the e2e crate (tests/tests/console.rs).

use reqwest::{Method, StatusCode};

use crate::support::{backends, call, TestServer};

fn hidden_csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("csrf field") + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn console_pages_need_sign_in() {
    let srv = TestServer::start(crate::support::Db::Sqlite).await;
    let c = crate::support::client();
    for path in [
        "/admin",
        "/admin/employees",
        "/admin/employees/new",
        "/admin/sync",
        "/admin/domains",
        "/admin/clients",
        "/admin/audit",
    ] {
        let r = c.get(srv.url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/admin/login", "{path}");
    }
    let r = c
        .post(srv.url("/admin/employees/new"))
        .form(&[("display_name", "X")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin/login");
}

#[tokio::test]
async fn console_forms_without_the_csrf_token_are_refused() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, api_csrf) = srv.admin_client().await;
        let page = c
            .get(srv.url("/admin/employees/new"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let token = hidden_csrf(&page);
        assert_eq!(token, api_csrf, "one token per session");

        // Missing and wrong tokens: 403, and nothing created.
        for fields in [
            vec![("display_name", "Forged Person")],
            vec![("display_name", "Forged Person"), ("csrf_token", "forged")],
        ] {
            let r = c
                .post(srv.url("/admin/employees/new"))
                .form(&fields)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{db:?} {fields:?}");
            assert!(r
                .text()
                .await
                .expect("text")
                .contains("nothing was changed"));
        }
        let (status, list) = call(&c, Method::GET, srv.url("/api/v1/employees"), "", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["total"], 0, "{db:?}: a refused form created nothing");

        // Every other state-changing form is guarded the same way.
        for path in [
            "/admin/sync",
            "/admin/domains/new",
            "/admin/clients/new",
            "/admin/logout",
        ] {
            let r = c
                .post(srv.url(path))
                .form(&[("name", "x")])
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{db:?} {path}");
        }

        // With the token it works (and redirects, so a reload does not post again).
        let r = c
            .post(srv.url("/admin/employees/new"))
            .form(&[("display_name", "Real Person"), ("csrf_token", &token)])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{db:?}");
        let location = r.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let detail = c
            .get(srv.url(&location))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(detail.contains("Added Real Person."), "{db:?}: the notice");
        assert!(detail.contains("Real Person"));
    }
}

#[tokio::test]
async fn console_form_errors_are_shown_next_to_the_field() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, token) = srv.admin_client().await;
        let r = c
            .post(srv.url("/admin/employees/new"))
            .form(&[
                ("given_name", "Ada"),
                ("email", "ada at example"),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{db:?}");
        let html = r.text().await.expect("text");
        assert!(
            html.contains(r#"aria-describedby="f-email-hint f-email-error" aria-invalid="true""#),
            "{html}"
        );
        assert!(html.contains(r#"<p class="field-error" id="f-email-error">must be an e-mail address like name@example.com</p>"#));
        assert!(
            html.contains(r#"value="ada at example""#),
            "keeps what was typed"
        );
        assert!(html.contains(r#"value="Ada""#));

        // A domain's list field names the line.
        let r = c
            .post(srv.url("/admin/domains/new"))
            .form(&[
                ("name", "corp"),
                ("urls", "ldaps://dc1.example.test\nhttp://dc2"),
                ("bind_dn", "svc@example.test"),
                ("bind_password", "x"),
                ("base_dn", "DC=example,DC=test"),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.expect("text");
        assert!(
            html.contains(r#"id="f-urls-error">line 2: must start with ldaps:// or ldap://"#),
            "{html}"
        );
        assert!(!html.contains(r#"value="x""#), "a password is never echoed");
    }
}
