//! Directory sync speed against a real Samba AD DC: 10,000 members of the sync group, created in
//! bulk over LDAP. Prints the time of a full sync, a no-change re-sync and a delta sync of 100
//! changed users, beside the floor: `ldapsearch` paging the same members with the same filter.
//!
//! Run with `scripts/bench.sh` (starts a fresh DC, runs this in release mode, stops the DC).
//! Figures go to docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{LdapConnAsync, LdapConnSettings, Mod};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use sso_server::audit::Actor;
use sso_server::clock::SystemClock;
use sso_server::config::Config;
use sso_server::directory::sync::Trigger;
use sso_server::directory::{DomainInput, Domains, RunOptions, SyncMode, Syncer};

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run scripts/bench.sh"))
}

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
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (url, base, admin, password, ca_file) = (
        env("E2E_SAMBA_URL"),
        env("E2E_SAMBA_BASE_DN"),
        env("E2E_SAMBA_ADMIN"),
        env("E2E_SAMBA_PASSWORD"),
        env("E2E_SAMBA_CA"),
    );
    let ca_pem = std::fs::read_to_string(&ca_file).expect("CA");

    // Bulk creation over LDAP, several operations in flight on one connection.
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let (conn, mut ldap) =
        LdapConnAsync::with_settings(LdapConnSettings::new().set_config(Arc::new(cfg)), &url)
            .await
            .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&admin, &password)
        .await
        .unwrap()
        .success()
        .unwrap();
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let ou = format!("OU=bench{tag},{base}");
    ldap.add(
        &ou,
        vec![("objectClass", HashSet::from(["top", "organizationalUnit"]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let group = format!("CN=Bench Sync {tag},{ou}");
    let gsam = format!("benchsync{tag}");
    ldap.add(
        &group,
        vec![
            ("objectClass", HashSet::from(["top", "group"])),
            ("sAMAccountName", HashSet::from([gsam.as_str()])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    const PAR: usize = 8;
    for lane in 0..PAR {
        let mut l = ldap.clone();
        let (ou, tag) = (ou.clone(), tag.clone());
        tasks.spawn(async move {
            let mut dns = Vec::new();
            for i in (lane..n).step_by(PAR) {
                let dn = format!("CN=Bench User {i},{ou}");
                let sam = format!("b{i}{tag}");
                let mail = format!("bench.user{i}.{tag}@corp.example.test");
                let given = format!("Bench{i}");
                l.add(
                    &dn,
                    vec![
                        (
                            "objectClass",
                            HashSet::from(["top", "person", "organizationalPerson", "user"]),
                        ),
                        ("sAMAccountName", HashSet::from([sam.as_str()])),
                        ("givenName", HashSet::from([given.as_str()])),
                        ("sn", HashSet::from(["User"])),
                        ("mail", HashSet::from([mail.as_str()])),
                        ("department", HashSet::from(["Benchmarks"])),
                    ],
                )
                .await
                .unwrap()
                .success()
                .unwrap();
                dns.push(dn);
            }
            dns
        });
    }
    let mut dns = Vec::new();
    while let Some(r) = tasks.join_next().await {
        dns.extend(r.unwrap());
    }
    for chunk in dns.chunks(500) {
        let values: HashSet<&str> = chunk.iter().map(String::as_str).collect();
        ldap.modify(&group, vec![Mod::Add("member", values)])
            .await
            .unwrap()
            .success()
            .unwrap();
    }
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
    let syncer = Syncer::new(&state);
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
