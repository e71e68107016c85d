//! The hardware-key path as an attacker tries it, black-box against the running server, the real
//! agent and the real Samba DC (issue 14). Each test writes the request sequence that must fail
//! and the answer it must get.

use std::sync::Arc;
use std::time::Duration;

use key_bridge::{Agent, AgentError, KeyDevice, KeyError, KeySigner};
use key_protocol::sign::SignedHeaders;
use key_protocol::Scope;
use reqwest::Method;
use serde_json::{json, Value};

use crate::keys::{
    activated_key, agent, api, key, key_state, manual_employee, reserved_key, rotating, Rotating,
    PIN,
};
use crate::support::{backends, TestServer};

/// Sends one key-bridge request as given (headers from `Agent::sign`, or none) and returns the
/// status and the body exactly as it came over the wire.
async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    body: &[u8],
    headers: Option<&SignedHeaders>,
) -> (u16, String) {
    let mut req = reqwest::Client::new().request(method, server.url(&format!("/{path}")));
    for (name, value) in headers.map(SignedHeaders::pairs).unwrap_or_default() {
        req = req.header(name, value);
    }
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_vec());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// The fixture after the activation's rotation: the key holds the password AD has.
async fn rotated(db: crate::support::Db) -> Option<(Rotating, String)> {
    let mut f = rotating(db).await?;
    f.wait_state("awaiting_key").await;
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let n = f.netbios.clone();
    let current = f.held(&n).expect("the key holds the password");
    Some((f, current))
}

/// The takeover from the issue: knowing only a serial, choose the employee's password. Every
/// variant fails at the first step, and nothing changes in AD.
#[tokio::test]
async fn a_serial_and_a_workstation_are_worth_nothing_without_the_key() {
    for db in backends() {
        let Some((mut f, current)) = rotated(db).await else {
            return;
        };
        let dc = f.corner.dc.clone();
        let serial = f.device.serial();
        let chosen = format!("Attacker-Chosen-{}-9x", &f.corner.tag[..6]);
        let path = format!("api/keys/{serial}/password");
        let body = serde_json::to_vec(&json!({"scope": "key_and_directory", "password": chosen}))
            .expect("json");
        let before = f.rotation().await["id"].clone();

        // 1. The old way in: any confidential client with the client-credentials grant.
        let (status, c) = f
            .api(
                Method::POST,
                "/api/v1/oidc/clients",
                Some(json!({"name": "Some service", "kind": "confidential", "redirect_uris": ["https://svc.example/cb"], "grant_types": ["client_credentials"]})),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        let resp = reqwest::Client::new()
            .post(f.server.url(&format!("/{path}")))
            .basic_auth(
                c["client_id"].as_str().expect("id"),
                c["client_secret"].as_str(),
            )
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(
            resp.status().as_u16(),
            401,
            "client credentials prove nothing"
        );
        for p in [
            format!("api/keys/{serial}/tasks"),
            format!("api/keys/{serial}/tasks/x"),
        ] {
            let (status, _) = send(&f.server, Method::GET, &p, &[], None).await;
            assert!(status == 401 || status == 405, "{p}: {status}");
        }

        // 2. A genuinely enrolled workstation (an insider's) signs, but has no key to sign with.
        let attacker = agent(&f.server, &f.admin, &f.csrf).await;
        let h = attacker
            .sign(&Method::POST, &path, &body, None)
            .expect("sign");
        let (status, text) = send(&f.server, Method::POST, &path, &body, Some(&h)).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("not signed by the key"), "{text}");
        let tasks = format!("api/keys/{serial}/tasks");
        let h = attacker
            .sign(&Method::GET, &tasks, &[], None)
            .expect("sign");
        assert_eq!(
            send(&f.server, Method::GET, &tasks, &[], Some(&h)).await.0,
            401
        );

        // 3. Another key's signature, PIN verified and all, through either workstation.
        let mut stranger = key();
        for ws in [&attacker, &f.agent] {
            let h = ws
                .sign(
                    &Method::POST,
                    &path,
                    &body,
                    Some(KeySigner {
                        key: &mut stranger,
                        pin: Some(PIN),
                    }),
                )
                .expect("sign");
            let (status, text) = send(&f.server, Method::POST, &path, &body, Some(&h)).await;
            assert_eq!(status, 401, "{text}");
            assert!(text.contains("key signature does not verify"), "{text}");
            let h = ws
                .sign(
                    &Method::GET,
                    &tasks,
                    &[],
                    Some(KeySigner {
                        key: &mut stranger,
                        pin: None,
                    }),
                )
                .expect("sign");
            assert_eq!(
                send(&f.server, Method::GET, &tasks, &[], Some(&h)).await.0,
                401
            );
        }

        // 4. The real key, but without its PIN checked for this request: not the employee.
        let h = f
            .agent
            .sign(
                &Method::POST,
                &path,
                &body,
                Some(KeySigner {
                    key: &mut f.device,
                    pin: None,
                }),
            )
            .expect("sign");
        let (status, text) = send(&f.server, Method::POST, &path, &body, Some(&h)).await;
        assert_eq!(status, 403, "{text}");

        // Nothing started, nothing changed in AD.
        assert_eq!(f.rotation().await["id"], before);
        assert!(dc.binds(&f.dn, &current).await);
        assert!(!dc.binds(&f.dn, &chosen).await);

        // 5. The admin revokes the workstation: its agent is refused from the next request on.
        let ws = f.agent.workstation().expect("enrolled").id.clone();
        let (_, k) = f
            .api(Method::GET, &format!("/api/v1/keys/{}", f.key_id), None)
            .await;
        assert_eq!(k["workstation_id"].as_str(), Some(ws.as_str()), "{k}");
        let (status, w) = f
            .api(
                Method::POST,
                &format!("/api/v1/workstations/{ws}/revoke"),
                None,
            )
            .await;
        assert_eq!((status, w["state"].as_str()), (200, Some("revoked")), "{w}");
        match f.agent.run_once(&mut f.device, Duration::ZERO).await {
            Err(AgentError::Refused { status: 401, .. }) => {}
            other => panic!("a revoked workstation got {other:?}"),
        }
    }
}

/// A signed request captured on the wire cannot be sent again, and one signed too long ago (or
/// ahead) is refused.
#[tokio::test]
async fn replayed_and_stale_signed_requests_are_refused() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let (admin, csrf) = server.admin_client().await;
        let agent = agent(&server, &admin, &csrf).await;
        let employee = manual_employee(&server, &admin, &csrf).await;
        let (mut device, _) = activated_key(&server, &admin, &csrf, &agent, &employee).await;

        let path = format!("api/keys/{}/tasks", device.serial());
        let sign = |agent: &Agent, device: &mut key_bridge::EmulatedKey| {
            agent
                .sign(
                    &Method::GET,
                    &path,
                    &[],
                    Some(KeySigner {
                        key: device,
                        pin: None,
                    }),
                )
                .expect("sign")
        };
        let h = sign(&agent, &mut device);
        let (status, text) = send(&server, Method::GET, &path, &[], Some(&h)).await;
        assert_eq!(status, 200, "{text}");
        let (status, text) = send(&server, Method::GET, &path, &[], Some(&h)).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("replay"), "{text}");

        // Signed now, arriving 121 s later (the server's clock moves; the agent's does not).
        let h = sign(&agent, &mut device);
        server.clock.advance(Duration::from_secs(121));
        let (status, text) = send(&server, Method::GET, &path, &[], Some(&h)).await;
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("too long ago"), "{text}");
        // Signed "in the future" by a workstation whose clock is ahead: refused too.
        let ahead = Agent::new(key_bridge::AgentConfig {
            server: server.base.clone(),
            ca_pem: None,
            workstation: agent.workstation().cloned(),
            clock: Arc::new({
                let clock = server.clock.clone();
                move || {
                    use sso_server::clock::Clock as _;
                    u64::try_from(clock.now_ms() / 1000 + 121).unwrap_or(0)
                }
            }),
        })
        .expect("agent");
        let h = sign(&ahead, &mut device);
        assert_eq!(
            send(&server, Method::GET, &path, &[], Some(&h)).await.0,
            401
        );
        // A changed body or path under a valid signature: refused.
        let h = sign(&agent, &mut device);
        let other = format!("api/keys/{}/tasks?wait=1", device.serial());
        assert_eq!(
            send(&server, Method::GET, &other, &[], Some(&h)).await.0,
            401
        );
        // And the agent itself still works.
        agent
            .run_once(&mut device, Duration::ZERO)
            .await
            .expect("round");
    }
}

/// The admin's "set this password": the task travels sealed to the key; the body on the wire
/// holds no password in clear, and only the key opens it.
#[tokio::test]
async fn task_bodies_on_the_wire_carry_no_password_in_clear() {
    for db in backends() {
        let Some((mut f, _)) = rotated(db).await else {
            return;
        };
        let dc = f.corner.dc.clone();
        let chosen = format!("Admin-Set-{}-Pw7x", &f.corner.tag[..6]);
        let (status, r) = f.rotate(json!({"password": chosen})).await;
        assert_eq!(status, 202, "{r}");
        assert!(!r.to_string().contains(&chosen), "{r}");
        f.wait_state("awaiting_key").await;
        let path = format!("api/keys/{}/tasks", f.device.serial());
        let h = f
            .agent
            .sign(
                &Method::GET,
                &path,
                &[],
                Some(KeySigner {
                    key: &mut f.device,
                    pin: None,
                }),
            )
            .expect("sign");
        let (status, wire) = send(&f.server, Method::GET, &path, &[], Some(&h)).await;
        assert_eq!(status, 200, "{wire}");
        assert!(
            !wire.contains(&chosen),
            "the password is in clear on the wire: {wire}"
        );
        let list: Value = serde_json::from_str(&wire).expect("json");
        let task = &list["tasks"][0];
        assert_eq!(task["operation"], "write_password", "{wire}");
        assert!(task.get("password").is_none(), "{wire}");
        assert!(task["sealed_password"]["ciphertext"].is_string(), "{wire}");
        // Another key cannot open it; this one stores it.
        let sealed: key_protocol::SealedPassword =
            serde_json::from_value(task["sealed_password"].clone()).expect("sealed");
        let task_id = task["id"].as_str().expect("id");
        let mut stranger = key();
        stranger.link("123456").expect("link");
        assert!(matches!(
            stranger.write_sealed_credential(task_id, "X", "x", &sealed),
            Err(KeyError::InvalidInput(_))
        ));
        f.round().await;
        f.wait_state("committing").await;
        f.round().await;
        f.wait_state("done").await;
        let n = f.netbios.clone();
        assert_eq!(f.held(&n).as_deref(), Some(chosen.as_str()));
        assert!(dc.binds(&f.dn, &chosen).await);
    }
}

/// Someone with the key but not its PIN tries the employee's password change: each wrong PIN
/// costs an attempt on the key, the last one wipes it, and the employee still signs in to AD
/// with the last confirmed password (never a lockout). The wiped key is a stranger to the server.
#[tokio::test]
async fn wrong_pins_wipe_the_key_and_never_lock_the_employee_out() {
    let Some((mut f, current)) = rotated(crate::support::Db::Sqlite).await else {
        return;
    };
    let dc = f.corner.dc.clone();
    let before = f.rotation().await["id"].clone();
    let attempts = f.device.status().expect("status").pin_attempts_left;
    for left in (1..attempts).rev() {
        match f
            .agent
            .change_password(&mut f.device, "0000", Scope::KeyAndDirectory, None, None)
            .await
        {
            Err(AgentError::Key(KeyError::WrongPin { attempts_left })) => {
                assert_eq!(attempts_left, left)
            }
            other => panic!("{other:?}"),
        }
    }
    match f
        .agent
        .change_password(&mut f.device, "0000", Scope::KeyAndDirectory, None, None)
        .await
    {
        Err(AgentError::Key(KeyError::WipedAfterWrongPins)) => {}
        other => panic!("{other:?}"),
    }
    let status = f.device.status().expect("status");
    assert!(!status.linked && status.free_slots == status.slots);
    // No request reached the server as the employee: no rotation, AD unchanged.
    assert_eq!(f.rotation().await["id"], before);
    assert!(
        dc.binds(&f.dn, &current).await,
        "the last confirmed password works"
    );
    // The wiped key has a new identity: whoever holds it now cannot act as the old key.
    match f.agent.run_once(&mut f.device, Duration::ZERO).await {
        Err(AgentError::Refused { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    f.device.set_pin("1357").expect("new PIN");
    match f
        .agent
        .change_password(&mut f.device, "1357", Scope::KeyAndDirectory, None, None)
        .await
    {
        Err(AgentError::Refused { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(dc.binds(&f.dn, &current).await);
}

/// 100 wrong activation codes at once: exactly the allowed number is evaluated (one conditional
/// statement per attempt), then the key is locked and the right code no longer works.
#[tokio::test]
async fn parallel_wrong_activation_codes_get_exactly_the_allowed_evaluations() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let (admin, csrf) = server.admin_client().await;
        let agent = agent(&server, &admin, &csrf).await;
        let (mut device, key_id, code) = reserved_key(&server, &admin, &csrf).await;
        let code: u32 = code.parse().expect("digits");
        let public_key = key_protocol::b64(&device.public_key().expect("identity"));
        let attestation = key_protocol::b64(&device.attest_identity().expect("attestation"));
        let mut requests = Vec::new();
        for i in 1..=100u32 {
            let body = serde_json::to_vec(&json!({
                "serial": device.serial(),
                "code": format!("{:06}", (code + i) % 1_000_000),
                "public_key": public_key,
                "attestation": attestation,
            }))
            .expect("json");
            let h = agent
                .sign(
                    &Method::POST,
                    "api/keys/activate",
                    &body,
                    Some(KeySigner {
                        key: &mut device,
                        pin: Some(PIN),
                    }),
                )
                .expect("sign");
            requests.push((body, h));
        }
        let server = Arc::new(server);
        let mut set = tokio::task::JoinSet::new();
        for (body, h) in requests {
            let server = server.clone();
            set.spawn(async move {
                send(&server, Method::POST, "api/keys/activate", &body, Some(&h)).await
            });
        }
        let (mut wrong, mut locked, mut refused) = (0, 0, 0);
        while let Some(r) = set.join_next().await {
            let (status, text) = r.expect("task");
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match (status, v["error"].as_str()) {
                (403, Some("wrong_code")) => wrong += 1,
                (403, Some("locked")) => locked += 1,
                (409, _) => refused += 1,
                other => panic!("unexpected answer {other:?}: {text}"),
            }
        }
        assert_eq!((wrong, locked, refused), (4, 1, 95));
        let (_, events) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            "/api/v1/audit?action=key.activation_failed",
            None,
        )
        .await;
        assert_eq!(
            events["items"].as_array().map(Vec::len),
            Some(4),
            "{events}"
        );
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "locked");
        match agent
            .activate(&mut device, &format!("{code:06}"), PIN)
            .await
        {
            Err(AgentError::Refused { status: 409, .. }) => {}
            other => panic!("the right code after the lock: {other:?}"),
        }
    }
}

/// The key's activation as the server shows it: state and attempts left.
async fn reserved_attempts(
    server: &TestServer,
    admin: &reqwest::Client,
    csrf: &str,
    key_id: &str,
) -> (String, Option<i64>) {
    let (_, k) = api(
        server,
        admin,
        csrf,
        Method::GET,
        &format!("/api/v1/keys/{key_id}"),
        None,
    )
    .await;
    (
        k["state"].as_str().unwrap_or_default().to_owned(),
        k["activation_attempts_left"].as_i64(),
    )
}

/// The attack: root on the workstation reads the employee's activation code and
/// activates a key of its own under the employee's serial. A key made in software (never
/// provisioned, provisioned by another CA, or carrying the real key's identity and attestation
/// without its private half) is refused with 403 before the code is counted; six wrong codes
/// from such a key lock nothing; an unknown serial answers the same; the real key then activates
/// with the same code.
#[tokio::test]
async fn a_software_key_with_a_valid_code_is_refused_before_the_code_counts() {
    for db in backends() {
        let server = TestServer::start(db).await;
        let (admin, csrf) = server.admin_client().await;
        let agent = agent(&server, &admin, &csrf).await;
        let (mut device, key_id, code) = reserved_key(&server, &admin, &csrf).await;
        let serial = device.serial();

        let activate = |body: Value, signer: &mut key_bridge::EmulatedKey| {
            let body = serde_json::to_vec(&body).expect("json");
            let h = agent
                .sign(
                    &Method::POST,
                    "api/keys/activate",
                    &body,
                    Some(KeySigner {
                        key: signer,
                        pin: Some(PIN),
                    }),
                )
                .expect("sign");
            (body, h)
        };
        let not_genuine = |(status, text): (u16, String)| {
            assert_eq!(status, 403, "{text}");
            let v: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(v["error"], "not_genuine", "{text}");
        };
        let fake = |serial: &str| {
            let mut k = key_bridge::EmulatedKey::in_memory(key_bridge::EmulatedKeyConfig {
                serial: Some(serial.to_owned()),
                ..Default::default()
            })
            .expect("key");
            k.set_pin(PIN).expect("PIN");
            k
        };

        // 1. Never provisioned: it signs its own "attestation" with a key of its own.
        let mut software = fake(&serial);
        let made_up = key_protocol::IdentityKey::generate().expect("key");
        let pk = software.public_key().expect("pk");
        let body = json!({
            "serial": serial, "code": code, "public_key": key_protocol::b64(&pk),
            "attestation": key_protocol::b64(&made_up.sign(&key_protocol::identity_statement(&serial, &pk))),
        });
        let (body, h) = activate(body, &mut software);
        not_genuine(send(&server, Method::POST, "api/keys/activate", &body, Some(&h)).await);

        // 2. Provisioned by another vendor's CA for the same serial, through the real agent.
        let other_vendor = key_bridge::VendorCa::generate("Counterfeit Keys").expect("CA");
        let mut counterfeit = fake(&serial);
        counterfeit
            .provision(&other_vendor, "Hideez Key 4")
            .expect("provision");
        match agent.activate(&mut counterfeit, &code, PIN).await {
            Err(AgentError::Refused {
                status: 403,
                code: c,
                ..
            }) => assert_eq!(c, "not_genuine"),
            other => panic!("a counterfeit key activated: {other:?}"),
        }
        // ...and spends no attempts with wrong codes either (no lock by serial).
        for wrong in 0..6 {
            let guess = format!(
                "{:06}",
                (code.parse::<u32>().expect("digits") + 1 + wrong) % 1_000_000
            );
            assert!(matches!(
                agent.activate(&mut counterfeit, &guess, PIN).await,
                Err(AgentError::Refused { status: 403, .. })
            ));
        }

        // 3. The real key's identity and attestation (as seen on the wire), signed by another.
        let real_pk = device.public_key().expect("pk");
        let real_attestation = device.attest_identity().expect("attestation");
        let body = json!({
            "serial": serial, "code": code, "public_key": key_protocol::b64(&real_pk),
            "attestation": key_protocol::b64(&real_attestation),
        });
        let (body, h) = activate(body, &mut software);
        let (status, text) =
            send(&server, Method::POST, "api/keys/activate", &body, Some(&h)).await;
        assert_eq!(status, 401, "{text}");

        // 4. An unknown serial gets the same answer as a counterfeit.
        let mut stranger = fake("NOT-IN-THE-INVENTORY");
        stranger
            .provision(&crate::support::vendor().ca, "Hideez Key 4")
            .expect("provision");
        match agent.activate(&mut stranger, &code, PIN).await {
            Err(AgentError::Refused {
                status: 403,
                code: c,
                ..
            }) => assert_eq!(c, "not_genuine"),
            other => panic!("{other:?}"),
        }

        // Nothing was counted: the key is still reserved with every attempt.
        assert_eq!(
            reserved_attempts(&server, &admin, &csrf, &key_id).await,
            ("reserved".to_owned(), Some(keys_attempts()))
        );
        let (_, events) = api(
            &server,
            &admin,
            &csrf,
            Method::GET,
            "/api/v1/audit?action=key.activation_refused",
            None,
        )
        .await;
        assert!(
            events["items"].as_array().is_some_and(|a| a.len() >= 8),
            "{events}"
        );
        // The real key, with the same code, activates.
        agent
            .activate(&mut device, &code, PIN)
            .await
            .expect("the real key activates");
        assert_eq!(key_state(&server, &admin, &csrf, &key_id).await, "active");
    }
}

fn keys_attempts() -> i64 {
    sso_server::keys::ACTIVATION_ATTEMPTS
}

/// A stolen key without its PIN: it can still sign the agent's requests (that needs no PIN), so
/// it fetches the pending rotation, but it cannot store the password, and a confirmation that
/// says "applied" without the key's proof (or with a made-up one) is refused with 403. The
/// rotation waits, AD keeps the password the key holds, and the owner's agent, PIN verified,
/// completes it afterwards.
#[tokio::test]
async fn a_stolen_key_without_its_pin_cannot_move_ad() {
    for db in backends() {
        let Some((mut f, current)) = rotated(db).await else {
            return;
        };
        let dc = f.corner.dc.clone();
        let (status, r) = f.rotate(json!({})).await;
        assert_eq!(status, 202, "{r}");
        f.wait_state("awaiting_key").await;

        // The thief plugs the key into another session: no PIN.
        f.device.replug();
        let (_, tasks) = f
            .agent
            .fetch(&mut f.device, Duration::ZERO)
            .await
            .expect("fetch");
        let task = tasks
            .iter()
            .find(|t| t.operation == key_protocol::Operation::WritePassword)
            .expect("the rotation's write");
        assert_eq!(
            key_bridge::agent::apply(&mut f.device, task),
            Err(KeyError::PinRequired)
        );
        let path = format!("api/keys/{}/tasks/{}", f.device.serial(), task.id);
        for proof in [None, Some(key_protocol::b64(&[7u8; 32]))] {
            let body =
                serde_json::to_vec(&json!({"result": "applied", "proof": proof})).expect("json");
            let h = f
                .agent
                .sign(
                    &Method::POST,
                    &path,
                    &body,
                    Some(KeySigner {
                        key: &mut f.device,
                        pin: None,
                    }),
                )
                .expect("sign");
            let (status, text) = send(&f.server, Method::POST, &path, &body, Some(&h)).await;
            assert_eq!(status, 403, "{text}");
            assert!(text.contains("did not prove"), "{text}");
        }
        assert_eq!(f.rotation().await["state"], "awaiting_key");
        assert!(dc.binds(&f.dn, &current).await, "AD is unchanged");
        let (_, events) = f
            .api(Method::GET, "/api/v1/audit?action=key.task_unproven", None)
            .await;
        assert_eq!(
            events["items"].as_array().map(Vec::len),
            Some(2),
            "{events}"
        );

        // The owner, PIN verified, completes the rotation.
        f.device.verify_pin(PIN).expect("PIN");
        f.round().await;
        f.wait_state("committing").await;
        f.round().await;
        f.wait_state("done").await;
        let n = f.netbios.clone();
        let new = f.held(&n).expect("the new password");
        assert_ne!(new, current);
        assert!(dc.binds(&f.dn, &new).await);
        assert!(!dc.binds(&f.dn, &current).await);
    }
}
