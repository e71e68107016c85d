//! The console's pages over plain HTTP: sign-in required, every form refused without the
//! session's CSRF token (nothing changed), input errors shown next to their field. The browser
//! walk-through is in the e2e crate (tests/tests/console.rs).

use reqwest::{Method, StatusCode};

use test_support::html::csrf;

use crate::support::{backends, call, Db, TestServer};

/// How many audit events the log holds.
async fn audit_count(srv: &TestServer, c: &reqwest::Client) -> usize {
    let (status, audit) = call(c, Method::GET, srv.url("/api/v1/audit?limit=500"), "", None).await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    audit["items"].as_array().expect("items").len()
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
        "/admin/keys",
        "/admin/keys/import",
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
        let token = csrf(&page);
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

        // Every other state-changing form is guarded the same way, each sent as it would
        // succeed with the token; and a refused form changes nothing: no audit event, no
        // domain, no client, no sync run, and the session (whose sign-out was refused) lives.
        let audit_before = audit_count(&srv, &c).await;
        for (path, fields) in [
            ("/admin/sync", vec![("mode", "full")]),
            (
                "/admin/domains/new",
                vec![
                    ("name", "forged"),
                    ("urls", "ldaps://dc1.example.test"),
                    ("bind_dn", "svc@example.test"),
                    ("bind_password", "x"),
                    ("base_dn", "DC=example,DC=test"),
                    ("sync_group", "CN=staff,DC=example,DC=test"),
                ],
            ),
            (
                "/admin/clients/new",
                vec![
                    ("name", "Forged"),
                    ("kind", "confidential"),
                    ("redirect_uris", "https://forged.example.test/cb"),
                ],
            ),
            (
                "/admin/employees/00000000-0000-4000-8000-000000000000/unlock",
                vec![],
            ),
            (
                "/admin/employees/00000000-0000-4000-8000-000000000000/sign-out",
                vec![],
            ),
            ("/admin/logout", vec![]),
        ] {
            let r = c
                .post(srv.url(path))
                .form(&fields)
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{db:?} {path}");
        }
        assert_eq!(
            audit_count(&srv, &c).await,
            audit_before,
            "{db:?}: a refused form leaves no audit event"
        );
        for (list, what) in [
            ("/api/v1/directory/domains", "domain"),
            ("/api/v1/oidc/clients", "client"),
            ("/api/v1/directory/runs", "sync run"),
        ] {
            let (status, body) = call(&c, Method::GET, srv.url(list), "", None).await;
            assert_eq!(status, StatusCode::OK, "{list}");
            let items = body.get("items").unwrap_or(&body);
            assert_eq!(
                items.as_array().map(Vec::len),
                Some(0),
                "{db:?}: a refused form made no {what}: {body}"
            );
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

/// The keys pages' forms (import, state action, assign, password rotation) refuse a missing or
/// wrong CSRF token and change nothing; with the token, an import reports bad lines by number, an
/// action the state does not allow is a message (not an error page), and the activation code is
/// shown once.
#[tokio::test]
async fn console_key_forms_need_the_csrf_token() {
    for db in backends() {
        let srv = TestServer::start(db).await;
        let (c, token) = srv.admin_client().await;
        let (status, e) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/employees"),
            &token,
            Some(serde_json::json!({"display_name": "Kim Key", "email": "kim.key@example.test"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        let employee = e["id"].as_str().expect("id").to_owned();
        let (status, r) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/keys"),
            &token,
            Some(serde_json::json!({"keys": [{"serial": "CSRF-0001", "attestation": crate::support::attestation_for("CSRF-0001")}]})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{r}");
        let (_, list) = call(&c, Method::GET, srv.url("/api/v1/keys"), &token, None).await;
        let key = list[0]["id"].as_str().expect("key").to_owned();

        let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/admin/keys/import".into(), vec![("keys", "FORGED-1")]),
            (
                format!("/admin/keys/{key}/actions"),
                vec![("action", "wipe")],
            ),
            (
                format!("/admin/keys/{key}/assign"),
                vec![("employee_id", employee.as_str())],
            ),
            (
                format!("/admin/employees/{employee}/password-rotations"),
                vec![("mode", "generate")],
            ),
        ];
        for (path, fields) in &forms {
            for forged in [None, Some("forged")] {
                let mut f = fields.clone();
                if let Some(t) = forged {
                    f.push(("csrf_token", t));
                }
                let r = c.post(srv.url(path)).form(&f).send().await.expect("post");
                assert_eq!(
                    r.status(),
                    StatusCode::FORBIDDEN,
                    "{db:?} {path} {forged:?}"
                );
                assert!(r
                    .text()
                    .await
                    .expect("text")
                    .contains("nothing was changed"));
            }
        }
        let (_, list) = call(&c, Method::GET, srv.url("/api/v1/keys"), &token, None).await;
        assert_eq!(
            list.as_array().map(Vec::len),
            Some(1),
            "{db:?}: nothing imported"
        );
        assert_eq!(list[0]["state"], "ready", "{db:?}: not assigned, no wipe");

        // With the token: an import with a bad line names it, and imports the good ones.
        let r = c
            .post(srv.url("/admin/keys/import"))
            .form(&[
                (
                    "keys",
                    format!(
                        "serial,model,attestation\n{}\nbad serial!\n{}",
                        crate::support::inventory_line("CSRF-0002", "Hideez Key 4"),
                        crate::support::inventory_line("CSRF-0001", "Hideez Key 4"),
                    )
                    .as_str(),
                ),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{db:?}");
        let html = r.text().await.expect("text");
        assert!(
            html.contains(r#"id="f-keys-error">line 3: serial: letters, digits"#),
            "{html}"
        );
        assert!(
            html.contains("Imported 1 key; 1 already in the inventory."),
            "{html}"
        );
        // Only the line that was not imported comes back to be fixed.
        assert!(html.contains("bad serial!"), "{html}");
        assert!(!html.contains("CSRF-0002,"), "{html}");

        // A state the action does not fit: a message on the key's page.
        let r = c
            .post(srv.url(&format!("/admin/keys/{key}/actions")))
            .form(&[("action", "resume"), ("csrf_token", &token)])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{db:?}");
        let page = c
            .get(srv.url(&format!("/admin/keys/{key}")))
            .send()
            .await
            .expect("get");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("text");
        assert!(html.contains("cannot resume a key that is ready"), "{html}");

        // Assigned: the code once on the key's page, then never again.
        let r = c
            .post(srv.url(&format!("/admin/keys/{key}/assign")))
            .form(&[("employee_id", employee.as_str()), ("csrf_token", &token)])
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{db:?}");
        let first = c
            .get(srv.url(&format!("/admin/keys/{key}")))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        let marker = r#"id="activation-code" readonly value=""#;
        let at = first.find(marker).expect("the activation code") + marker.len();
        let code = first[at..].split('"').next().expect("code").to_owned();
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{code}"
        );
        let again = c
            .get(srv.url(&format!("/admin/keys/{key}")))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(!again.contains("activation-code"), "{db:?}: shown once");
        assert!(again.contains("reserved"));

        // The inventory names the key's employee (joined in the list's query, both backends),
        // and the API's employee filter reads through the same query.
        let inventory = c
            .get(srv.url("/admin/keys?q=csrf-0001"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(inventory.contains("Kim Key"), "{db:?}: {inventory}");
        let (status, of_kim) = call(
            &c,
            Method::GET,
            srv.url(&format!("/api/v1/keys?employee={employee}")),
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{of_kim}");
        let serials: Vec<_> = of_kim
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|k| k["serial"].as_str())
            .collect();
        assert_eq!(serials, ["CSRF-0001"], "{db:?}");
        let (status, e) = call(
            &c,
            Method::GET,
            srv.url("/admin/keys?state=lost"),
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{db:?}: {e}");
    }
}

/// The domain form of kind Entra ID: its fields are checked and the error is shown next to the
/// field; the LDAP fields left on the page are ignored.
#[tokio::test]
async fn console_entra_domain_form_errors_are_shown_next_to_the_field() {
    let srv = TestServer::start(crate::support::Db::Sqlite).await;
    let (c, token) = srv.admin_client().await;
    let r = c
        .post(srv.url("/admin/domains/new"))
        .form(&[
            ("kind", "entra_id"),
            ("name", "cloud"),
            ("urls", "ldaps://ignored.example.test"),
            ("tenant_id", "not a tenant"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("client_secret", "s3cret-value"),
            ("group_id", "66666666-7777-8888-9999-000000000000"),
            ("authority_url", "https://login.microsoftonline.com"),
            ("graph_url", "https://graph.microsoft.com/v1.0"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.expect("text");
    assert!(
        html.contains(r#"id="f-tenant_id-error">must be the tenant id (a GUID)"#),
        "{html}"
    );
    assert!(
        html.contains(r#"value="not a tenant""#),
        "keeps what was typed"
    );
    assert!(!html.contains("s3cret-value"), "a secret is never echoed");
    assert!(html.contains(r#"<option value="entra_id" selected>"#));
}

/// An Entra ID domain added through the console's form (the secret write-only), its connection
/// tested from its page against the local Graph, and edited keeping the stored secret.
#[tokio::test]
async fn console_entra_domain_is_added_and_tested() {
    let mock = crate::graph_mock::GraphMock::start().await;
    mock.add_user("Ann", "Entra", "ann.entra@example.test", true, true);
    mock.add_user("Bob", "Entra", "bob.entra@example.test", true, true);
    let srv = TestServer::start(crate::support::Db::Sqlite).await;
    let (c, token) = srv.admin_client().await;
    let d = mock.domain_json("cloud");
    let s = |k: &str| d[k].as_str().expect(k).to_owned();
    let secret = s("client_secret");
    let mut form = vec![
        ("kind", "entra_id".to_owned()),
        ("name", "cloud".to_owned()),
        ("tenant_id", s("tenant_id")),
        ("client_id", s("client_id")),
        ("client_secret", secret.clone()),
        ("group_id", s("group_id")),
        ("authority_url", s("authority_url")),
        ("graph_url", s("graph_url")),
        ("ca_pem", s("ca_pem")),
        ("max_removal_percent", "50".to_owned()),
        ("enabled", "on".to_owned()),
        ("csrf_token", token.clone()),
    ];
    let r = c
        .post(srv.url("/admin/domains/new"))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let page = c
        .get(srv.url(&location))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("Entra ID (Microsoft Graph)"), "{page}");
    assert!(page.contains("client secret stored"));
    assert!(!page.contains(&secret), "the secret is write-only");
    let tested = c
        .post(srv.url(&format!("{location}/test")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(
        tested.contains("Connection works") && tested.contains("has 2 members"),
        "{tested}"
    );

    // The edit form: the secret field blank keeps the stored one.
    let edit = c
        .get(srv.url(&format!("{location}/edit")))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(edit.contains(r#"<option value="entra_id" selected>"#));
    assert!(!edit.contains(&secret));
    for (k, v) in form.iter_mut() {
        if *k == "client_secret" {
            v.clear();
        }
    }
    let r = c
        .post(srv.url(&format!("{location}/edit")))
        .form(&form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let tested = c
        .post(srv.url(&format!("{location}/test")))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .expect("post")
        .text()
        .await
        .expect("text");
    assert!(tested.contains("Connection works"), "{tested}");
    assert!(mock.problems().is_empty(), "{:?}", mock.problems());
}

/// Workstations in the console: added with the enrolment token shown once, the real agent enrols
/// with it, revoked only with the CSRF token; a revoked workstation's agent is refused.
#[tokio::test]
async fn workstations_are_added_shown_once_and_revoked() {
    let srv = TestServer::start(Db::Sqlite).await;
    let (c, csrf) = srv.admin_client().await;
    let r = c
        .post(srv.url("/admin/workstations"))
        .form(&[("csrf_token", csrf.as_str()), ("name", "")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the name is required");
    let r = c
        .post(srv.url("/admin/workstations"))
        .form(&[("name", "PC-0413")])
        .send()
        .await
        .expect("post");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no CSRF token, nothing added"
    );
    let r = c
        .post(srv.url("/admin/workstations"))
        .form(&[("csrf_token", csrf.as_str()), ("name", "PC-0413")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(srv.url("/admin/workstations"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(page.contains("<th scope=\"row\">PC-0413</th>"), "{page}");
    let start = page.find("id=\"enrolment-token\"").expect("token shown");
    let value = &page[start..];
    let value = &value[value.find("value=\"").expect("value") + 7..];
    let token = value[..value.find('"').expect("end")].to_owned();
    let again = c
        .get(srv.url("/admin/workstations"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(!again.contains(&token), "the token is shown once");

    let mut agent = key_bridge::Agent::new(key_bridge::AgentConfig {
        server: srv.base.clone(),
        ca_pem: None,
        workstation: None,
        clock: crate::keys::server_clock(&srv),
    })
    .expect("agent");
    let ws = agent.enrol(&token).await.expect("enrol");
    assert!(agent.enrol(&token).await.is_err(), "the token works once");
    let r = c
        .post(srv.url(&format!("/admin/workstations/{}/revoke", ws.id)))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(srv.url(&format!("/admin/workstations/{}/revoke", ws.id)))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mut device = crate::keys::key();
    match agent.run_once(&mut device, std::time::Duration::ZERO).await {
        Err(key_bridge::AgentError::Refused { status: 401, .. }) => {}
        other => panic!("a revoked workstation got {other:?}"),
    }
}

/// The employee page's "Revoke" on an invitation: only "resend" and "revoke" are actions, and
/// only on the employee's own invitation (ids in the URL are checked together).
#[tokio::test]
async fn console_invitation_actions() {
    let srv = TestServer::start(Db::Sqlite).await;
    let (c, token) = srv.admin_client().await;
    let mut ids = Vec::new();
    for name in ["Ida Invite", "Otto Other"] {
        let (status, e) = call(
            &c,
            Method::POST,
            srv.url("/api/v1/employees"),
            &token,
            Some(serde_json::json!({"display_name": name, "email": format!("{}@example.test", name.replace(' ', "."))})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        ids.push(e["id"].as_str().expect("id").to_owned());
    }
    let (status, inv) = call(
        &c,
        Method::POST,
        srv.url(&format!("/api/v1/employees/{}/invitations", ids[0])),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let inv = inv["id"].as_str().expect("invitation id").to_owned();
    let page = c
        .get(srv.url(&format!("/admin/employees/{}", ids[0])))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let form_token = csrf(&page);
    let post = |path: String| {
        let c = c.clone();
        let form_token = form_token.clone();
        let url = srv.url(&path);
        async move {
            c.post(url)
                .form(&[("csrf_token", form_token.as_str())])
                .send()
                .await
                .expect("post")
        }
    };
    let state = || async {
        let (_, list) = call(
            &c,
            Method::GET,
            srv.url("/api/v1/invitations"),
            &token,
            None,
        )
        .await;
        list.as_array()
            .expect("invitations")
            .iter()
            .find(|i| i["id"] == inv.as_str())
            .map(|i| i["state"].as_str().unwrap_or_default().to_owned())
            .expect("the invitation is listed")
    };
    let before = state().await;
    // No such action: no page, nothing changed.
    let r = post(format!(
        "/admin/employees/{}/invitations/{inv}/delete",
        ids[0]
    ))
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Another employee's URL with this invitation: not found for them, nothing changed.
    let r = post(format!(
        "/admin/employees/{}/invitations/{inv}/revoke",
        ids[1]
    ))
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        state().await,
        before,
        "not revoked through another employee"
    );
    // The employee's own: revoked.
    let r = post(format!(
        "/admin/employees/{}/invitations/{inv}/revoke",
        ids[0]
    ))
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(state().await, "revoked");
}
