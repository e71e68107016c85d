//! Issue 18: an instance killed (SIGKILL) in the middle of a password rotation. Two instances
//! share one PostgreSQL: the test's in-process server A and a real `sso-server` process K. The
//! agent confirms the key's new password to K, which then sets it in AD through a relay that
//! holds the connection (a DC that does not answer yet). While K lives, A leaves the rotation
//! alone (K's lease); K is killed; the relay lets the DC answer; A's retry takes the rotation
//! over once K's heartbeat is stale and completes it. At every moment AD accepts a password the
//! key holds.

use std::time::{Duration, Instant};

use key_bridge::{Agent, AgentConfig};
use reqwest::Method;
use serde_json::{json, Value};

use crate::keys::{api, rotating_with};
use crate::process::{free_port, start_on};
use crate::support::{eventually, Db, HoldingProxy};

/// The rotation's state through A, polled until `want` or the deadline.
async fn until_state(f: &crate::keys::Rotating, want: &str, within: Duration) -> Value {
    eventually(within, &format!("the rotation to reach {want}"), || async {
        let r = f.rotation().await;
        (r["state"] == json!(want)).then_some(r)
    })
    .await
}

#[tokio::test]
async fn an_instance_killed_while_setting_the_password_is_taken_over_by_another() {
    if !crate::support::backends().contains(&Db::Postgres) {
        return;
    }
    let Some(mut f) = rotating_with(Db::Postgres, |c| {
        c.instance.dead_after_seconds = 3;
        c.keys.retry_interval_seconds = 1;
    })
    .await
    else {
        return;
    };
    let dc = f.corner.dc.clone();
    let n = f.netbios.clone();
    // The activation's own rotation first.
    f.wait_state("awaiting_key").await;
    f.round().await;
    f.wait_state("committing").await;
    f.round().await;
    f.wait_state("done").await;
    let first = f.held(&n).expect("password");

    // An admin's rotation (its scan of the rotation group still reaches the DC directly).
    let (status, r) = f.rotate(json!({})).await;
    assert_eq!(status, 202, "{r}");

    // The domain now reaches its DC through the relay (same host, so the certificate matches).
    let dc_addr = dc.url.trim_start_matches("ldaps://").to_owned();
    let host = dc_addr.split(':').next().expect("host").to_owned();
    let relay = HoldingProxy::start(&dc_addr);
    let (status, d) = f
        .api(
            Method::PUT,
            &format!("/api/v1/directory/domains/{}", f.domain_id),
            Some({
                let mut b = f.corner.domain_json(&f.domain_name);
                b["urls"] = json!([format!("ldaps://{host}:{}", relay.port)]);
                b["timeout_seconds"] = json!(120);
                b
            }),
        )
        .await;
    assert_eq!(status, 200, "{d}");

    // K: a real process on the same database and data-encryption key.
    let config = &f.server.state.config;
    let db_url = config.database.url.clone().expect("PostgreSQL URL");
    let data_dir = config.data_dir.to_string_lossy().into_owned();
    let cwd = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let k_base = format!("http://localhost:{port}");
    let mut k = start_on(
        cwd.path(),
        port,
        &[
            ("SSO_DATABASE__URL", db_url.as_str()),
            ("SSO_DATA_DIR", data_dir.as_str()),
            ("SSO_PUBLIC_URL", k_base.as_str()),
            ("SSO_DIRECTORY__SCHEDULE_ENABLED", "false"),
            ("SSO_KEYS__SCAN_INTERVAL_MINUTES", "0"),
            ("SSO_INSTANCE__DEAD_AFTER_SECONDS", "3"),
            ("SSO_INSTANCE__DRAIN_SECONDS", "0"),
        ],
    )
    .await;
    // The same workstation's agent, talking to K.
    let agent_k = Agent::new(AgentConfig {
        server: k_base.clone(),
        ca_pem: None,
        workstation: f.agent.workstation().cloned(),
        clock: key_bridge::agent::system_clock(),
    })
    .expect("agent");

    // The agent stores the new password beside the current one and confirms to K, which goes on
    // to AD and hangs there; meanwhile A must not touch the rotation; then K dies.
    let (server, admin, csrf) = (&f.server, &f.admin, &f.csrf);
    let rotation_path = format!("/api/v1/employees/{}/domain-accounts", f.employee);
    let watch = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, a) = api(server, admin, csrf, Method::GET, &rotation_path, None).await;
            if a[0]["rotation"]["state"] == "setting_directory" && relay.accepted() == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "K never reached AD alone ({} connections): {a}",
                relay.accepted()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Several of A's retry rounds, and past the dead-after time: K beats, so its lease holds.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(
            relay.accepted(),
            1,
            "A took over a rotation a live instance holds"
        );
        k.child.kill().expect("SIGKILL");
        k.child.wait().expect("reaped");
    };
    let (round, ()) = tokio::join!(
        agent_k.run_once(&mut f.device, Duration::from_secs(2)),
        watch
    );
    assert!(
        round.is_err(),
        "K died before answering the confirmation: {round:?}"
    );

    // Nobody is locked out: AD still has the current password, the key holds it and the new one.
    let next = f
        .held(&format!("{n}+next"))
        .expect("the new password beside the current");
    assert_eq!(f.held(&n).as_deref(), Some(first.as_str()));
    assert!(dc.binds(&f.dn, &first).await);
    assert!(!dc.binds(&f.dn, &next).await);
    assert_eq!(f.rotation().await["state"], "setting_directory");

    // The DC answers again: A's retry takes the rotation over once K's heartbeat is stale.
    relay.release();
    until_state(&f, "committing", Duration::from_secs(30)).await;
    assert!(relay.accepted() >= 2, "A reached AD itself");
    assert!(dc.binds(&f.dn, &next).await && !dc.binds(&f.dn, &first).await);
    assert!(f.key_can_sign_in().await);
    f.round().await;
    let done = until_state(&f, "done", Duration::from_secs(10)).await;
    assert!(done["error"].is_null(), "{done}");
    assert_eq!(f.held(&n).as_deref(), Some(next.as_str()));
    assert!(f.held(&format!("{n}+next")).is_none());
}
