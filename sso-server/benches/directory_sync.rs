//! Directory sync speed against a real Samba AD DC: 10,000 members of the sync group, created in
//! bulk over LDAP. Prints the time of a full sync, a no-change re-sync and a delta sync of 100
//! changed users, beside the floor: `ldapsearch` paging the same members with the same filter.
//!
//! Run with `scripts/bench.sh` (starts a fresh DC, runs this in release mode, stops the DC).
//! Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::Mod;
use sso_server::audit::Actor;
use sso_server::clock::SystemClock;
use sso_server::config::Config;
use sso_server::directory::sync::Trigger;
use sso_server::directory::{DomainInput, Domains, RunOptions, SyncMode};

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Records how long each phase of a run takes (connecting, reading, planning, applying).
fn phase_timer() -> (
    Arc<std::sync::Mutex<Vec<String>>>,
    sso_server::directory::sync::ProgressFn,
) {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let last = Arc::new(std::sync::Mutex::new((None::<String>, Instant::now())));
    let l2 = log.clone();
    let f: sso_server::directory::sync::ProgressFn = Arc::new(move |p| {
        let phase = format!("{:?}", p.phase).to_lowercase();
        let mut last = last.lock().unwrap();
        if last.0.as_deref() != Some(phase.as_str()) {
            if let Some(prev) = &last.0 {
                l2.lock()
                    .unwrap()
                    .push(format!("{prev} {:.2} s", last.1.elapsed().as_secs_f64()));
            }
            *last = (Some(phase), Instant::now());
        }
    });
    (log, f)
}

#[tokio::main]
async fn main() {
    let n = common::users(10_000);
    let dc = common::Dc::from_env();
    let (url, base, admin, password, ca_file, ca_pem) = (
        dc.url.clone(),
        dc.base_dn.clone(),
        dc.admin.clone(),
        dc.password.clone(),
        dc.ca_file.clone(),
        dc.ca_pem.clone(),
    );

    // Bulk creation over LDAP, several operations in flight on one connection.
    let mut ldap = dc.connect().await;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let started = Instant::now();
    let user_tag = tag.clone();
    let (_ou, group, dns) = common::ou_group_and_users(
        &mut ldap,
        &dc,
        &format!("bench{tag}"),
        &format!("Bench Sync {tag}"),
        &format!("benchsync{tag}"),
        n,
        move |i| {
            let tag = &user_tag;
            (
                format!("Bench User {i}"),
                vec![
                    common::user_class(),
                    common::attr("sAMAccountName", format!("b{i}{tag}")),
                    common::attr("givenName", format!("Bench{i}")),
                    common::attr("sn", "User"),
                    common::attr("mail", format!("bench.user{i}.{tag}@corp.example.test")),
                    common::attr("department", "Benchmarks"),
                ],
            )
        },
    )
    .await;
    println!(
        "created {n} users in the group in {}",
        secs(started.elapsed())
    );

    // The floor: ldapsearch paging the same members with the same filter and attributes.
    let filter = format!(
        "(&(objectCategory=person)(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:={group}))"
    );
    let attrs = sso_server::directory::ldap::USER_ATTRS;
    let t = Instant::now();
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", &ca_file)
        .env("LDAPTLS_REQCERT", "demand")
        .args([
            "-x",
            "-LLL",
            "-H",
            &url,
            "-D",
            &admin,
            "-w",
            &password,
            "-b",
            &base,
            "-E",
            "pr=1000/noprompt",
            &filter,
        ])
        .args(attrs)
        .output()
        .expect("ldapsearch");
    let floor = t.elapsed();
    let found = String::from_utf8_lossy(&out.stdout)
        .matches("\ndn: ")
        .count()
        + 1;
    println!("floor: ldapsearch paged {found} members in {}", secs(floor));

    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.directory.schedule_enabled = false;
    if let Ok(pg) = std::env::var("BENCH_DATABASE_URL") {
        config.database.url = Some(pg);
    }
    let state = sso_server::app::init(config, Arc::new(SystemClock))
        .await
        .unwrap();
    let input: DomainInput = serde_json::from_value(serde_json::json!({
        "name": "bench", "urls": [url], "ca_pem": ca_pem, "bind_dn": admin,
        "bind_password": password, "base_dn": base, "sync_group": group,
    }))
    .unwrap();
    Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
    .create(&Actor::cli(), 0, &input)
    .await
    .unwrap();
    let syncer = state.syncer();
    let opts = |mode| RunOptions {
        mode,
        dry_run: false,
        force: false,
        trigger: Trigger::Cli,
        actor: Actor::cli(),
    };
    let memory_before = peak_mib();

    let t = Instant::now();
    let (phases, progress) = phase_timer();
    let run = syncer
        .run("bench", opts(SyncMode::Full), Some(progress))
        .await
        .unwrap();
    let full = t.elapsed();
    println!("  phases: {}", phases.lock().unwrap().join(", "));
    assert_eq!(
        (run.state.as_str(), run.added as usize),
        ("succeeded", n),
        "{:?}",
        run.message
    );
    println!(
        "full sync: {n} added in {} ({:.2}x the floor)",
        secs(full),
        full.as_secs_f64() / floor.as_secs_f64()
    );

    let t = Instant::now();
    let run = syncer
        .run("bench", opts(SyncMode::Full), None)
        .await
        .unwrap();
    let resync = t.elapsed();
    assert_eq!(run.unchanged as usize, n);
    println!(
        "no-change full re-sync: {} unchanged in {}",
        run.unchanged,
        secs(resync)
    );

    for dn in dns.iter().take(100) {
        ldap.modify(dn, vec![Mod::Replace("title", HashSet::from(["Changed"]))])
            .await
            .unwrap()
            .success()
            .unwrap();
    }
    let t = Instant::now();
    let (phases, progress) = phase_timer();
    let run = syncer
        .run("bench", opts(SyncMode::Delta), Some(progress))
        .await
        .unwrap();
    let delta = t.elapsed();
    println!("  phases: {}", phases.lock().unwrap().join(", "));
    assert_eq!(
        (run.kind.as_str(), run.updated),
        ("delta", 100),
        "{:?}",
        run.message
    );
    println!("delta sync: {} updated in {}", run.updated, secs(delta));
    println!(
        "peak memory: {:.0} MiB (before the syncs: {:.0} MiB)",
        peak_mib(),
        memory_before
    );
    println!("backend: {}", state.store.backend().name());
}
