//! End-to-end tests across the crates, against real servers started by `scripts/test.sh`.
//!
//! This library reads the environment the test script exports (through the workspace's
//! `test-support` crate), so every test finds the same PostgreSQL, Samba AD DC and SMTP server,
//! and a missing one fails the test in strict mode ([`require`]). Tests live in `tests/tests/`.
#![deny(clippy::unwrap_used)]

pub mod flows;

use std::path::PathBuf;

/// The servers from the environment, the one gate and waiting: the workspace's shared helpers.
pub use test_support::dc::Dc as SambaDc;
pub use test_support::mail::Smtp;
pub use test_support::{eventually, postgres_url, require, servers_required};

/// An AD domain named `name` on `dc` for the members of `group`, created as the command line
/// does; `extra` adds or overrides settings (e.g. `invite_on_import`).
pub async fn add_domain(
    dc: &SambaDc,
    state: &sso_server::app::AppState,
    name: &str,
    group: &str,
    extra: serde_json::Value,
) -> sso_server::directory::DomainView {
    use sso_server::clock::Clock as _;
    let mut v = serde_json::json!({
        "name": name, "urls": [dc.url], "ca_pem": dc.ca_pem(), "bind_dn": dc.admin,
        "bind_password": dc.password, "base_dn": dc.base_dn,
        "netbios_name": dc.netbios, "sync_group": group,
    });
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    let input = serde_json::from_value(v).expect("domain input");
    sso_server::directory::Domains {
        store: &state.store,
        cipher: &state.cipher,
    }
    .create(
        &sso_server::audit::Actor::cli(),
        sso_server::clock::SystemClock.now_ms(),
        &input,
    )
    .await
    .expect("domain")
}

/// Headless Chromium driven over WebDriver: a `chromedriver` started on a free loopback port,
/// stopped when this is dropped.
pub struct Chromedriver {
    child: std::process::Child,
    pub url: String,
    /// The Chromium binary to start.
    pub chromium: PathBuf,
}

/// The flags Chromium is started with: headless, and nothing that reaches out to the network.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
];

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Chromium and chromedriver for a test, through the one gate (fails in strict mode when they
/// are not installed).
pub fn chromium() -> Option<Chromedriver> {
    require(
        "Chromium and chromedriver (apt-get install chromium chromium-driver, as \
         scripts/install-deps.sh does)",
        Chromedriver::start(),
    )
}

impl Chromedriver {
    /// Starts chromedriver; `None` when Chromium or chromedriver is not installed (Debian
    /// packages `chromium` and `chromium-driver`). Panics if it is installed but does not start.
    pub fn start() -> Option<Self> {
        let driver = find_binary(&["chromedriver"])?;
        let chromium = find_binary(&["chromium", "chromium-browser"])?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = std::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let me = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        };
        // Ready when it accepts connections (it answers /status at once after that).
        test_support::eventually_blocking(
            std::time::Duration::from_secs(20),
            &format!("chromedriver to listen on port {port}"),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        Some(me)
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // Ask chromedriver to end its sessions (closing the browsers a failed test left open)
        // and exit; then make sure it has, by its own pid. Never signal a process group or a
        // negative pid here: procps `kill -KILL -<pid>` can end up as kill(-1), every process.
        use std::io::{Read as _, Write as _};
        if let Some(addr) = self.url.strip_prefix("http://") {
            if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let _ = s.write_all(b"GET /shutdown HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                let _ = s.read(&mut [0u8; 256]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where tests save screenshots: `target/console-screenshots/` of the workspace (an artifact,
/// not committed).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// axe-core's script (`scripts/axe.sh` fetches it; the test script exports its path as
/// `E2E_AXE_JS`), or `None` when it is not set.
pub fn axe_script() -> Option<String> {
    let path = test_support::env("E2E_AXE_JS")?;
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}")))
}
