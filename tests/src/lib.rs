//! End-to-end tests across the crates, against real servers started by `scripts/test.sh`.
//!
//! This library reads the environment the test script exports, so every test finds the same
//! PostgreSQL, Samba AD DC and (later) SMTP server. Tests live in `tests/tests/`.
#![deny(clippy::unwrap_used)]

pub mod flows;

use std::path::PathBuf;

/// The Samba AD DC started by `scripts/samba-dc.sh`.
#[derive(Debug, Clone)]
pub struct SambaDc {
    /// e.g. `ldaps://127.0.0.1:636`
    pub ldaps_url: String,
    /// e.g. `DC=corp,DC=example,DC=test`
    pub base_dn: String,
    pub admin_user: String,
    pub admin_password: String,
    /// The test CA that signed the DC's certificate.
    pub ca_file: PathBuf,
    /// The DC's smb.conf, for `samba-tool … -s`.
    pub smb_conf: PathBuf,
    pub netbios: String,
}

impl SambaDc {
    /// Reads `E2E_SAMBA_*`; `None` when the test script did not start a DC.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Self {
            ldaps_url: var("E2E_SAMBA_URL")?,
            base_dn: var("E2E_SAMBA_BASE_DN")?,
            admin_user: var("E2E_SAMBA_ADMIN")?,
            admin_password: var("E2E_SAMBA_PASSWORD")?,
            ca_file: PathBuf::from(var("E2E_SAMBA_CA")?),
            smb_conf: PathBuf::from(var("E2E_SAMBA_SMB_CONF")?),
            netbios: var("E2E_SAMBA_NETBIOS").unwrap_or_default(),
        })
    }

    /// Runs `samba-tool` against this DC's database; panics with its output on failure.
    /// An AD domain named `name` on this DC for the members of `group`, created as the command
    /// line does; `extra` adds or overrides settings (e.g. `invite_on_import`).
    pub async fn add_domain(
        &self,
        state: &sso_server::app::AppState,
        name: &str,
        group: &str,
        extra: serde_json::Value,
    ) -> sso_server::directory::DomainView {
        use sso_server::clock::Clock as _;
        let ca = std::fs::read_to_string(&self.ca_file).expect("ca");
        let mut v = serde_json::json!({
            "name": name, "urls": [self.ldaps_url], "ca_pem": ca, "bind_dn": self.admin_user,
            "bind_password": self.admin_password, "base_dn": self.base_dn,
            "netbios_name": self.netbios, "sync_group": group,
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

    pub fn samba_tool(&self, args: &[&str]) {
        let out = std::process::Command::new("samba-tool")
            .args(args)
            .arg("-s")
            .arg(&self.smb_conf)
            .output()
            .unwrap_or_else(|e| panic!("samba-tool: {e}"));
        assert!(
            out.status.success(),
            "samba-tool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The SMTP server started by `scripts/smtp.sh`, keeping a Maildir.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    pub fn from_env() -> Option<Self> {
        Some(Self {
            host: std::env::var("E2E_SMTP_HOST").ok()?,
            port: std::env::var("E2E_SMTP_PORT").ok()?.parse().ok()?,
            maildir: PathBuf::from(std::env::var("E2E_SMTP_MAILDIR").ok()?),
        })
    }

    /// The bodies of the messages received so far (quoted-printable soft breaks undone).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for dir in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(dir)) {
                for e in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        out.push(
                            text.replace("=\r\n", "")
                                .replace("=\n", "")
                                .replace("=3D", "="),
                        );
                    }
                }
            }
        }
        out
    }
}

/// The PostgreSQL server for tests: a URL whose role may create databases.
pub fn postgres_url() -> Option<String> {
    std::env::var("E2E_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

/// True when the test script asks that tests needing real servers fail instead of skipping.
pub fn servers_required() -> bool {
    std::env::var("E2E_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
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
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not start listening on port {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
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
    let path = std::env::var("E2E_AXE_JS").ok().filter(|p| !p.is_empty())?;
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}")))
}
