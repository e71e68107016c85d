//! Configuration: built-in defaults, then a TOML file, then environment variables (`SSO_…`, with
//! `__` between nested keys, and `DATABASE_URL`). Every value has a default that runs out of the
//! box on a laptop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// The file read when `--config` / `SSO_CONFIG` is not given (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "sso-server.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` header is believed:
    /// the client is the right-most address in it that is not one of these. Empty (the
    /// default): the header is ignored and the peer address is the client.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The URL users and relying parties reach the server at (the OIDC issuer). `https://` makes
    /// cookies `Secure`.
    pub public_url: Url,
    /// Where the embedded database and the generated key file live.
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    /// Path of the data-encryption key file. Default: `<data_dir>/master.key`, created on first
    /// start. `SSO_MASTER_KEY` (base64 of 32 bytes) takes precedence over any file.
    pub master_key_file: Option<PathBuf>,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub metrics: MetricsConfig,
    pub directory: DirectoryConfig,
    pub oidc: OidcConfig,
    pub mail: MailConfig,
    pub invitations: InvitationConfig,
    pub push: PushConfig,
    pub keys: KeysConfig,
    pub instance: InstanceConfig,
    /// The employee pages' language when the browser asks for none we have, and the e-mails'
    /// (`en` or `de`).
    pub default_language: crate::i18n::Lang,
}

/// This process among several instances on one database (docs: "Running several instances").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceConfig {
    /// A name that stays the same across restarts of this instance. Default: the host name and
    /// the port it listens on.
    pub name: Option<String>,
    /// An instance whose heartbeat is older than this is taken for dead: its leases (a sync, a
    /// rotation scan) are free for the others. It beats every third of this.
    pub dead_after_seconds: u32,
    /// On SIGTERM: seconds to keep serving while `/readyz` says draining, so the load balancer
    /// stops sending new requests before the listener closes; long polls answer at once.
    pub drain_seconds: u32,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        Self {
            name: None,
            dead_after_seconds: 30,
            drain_seconds: 2,
        }
    }
}

/// Hardware keys and the domain passwords they hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Length of generated domain passwords (12 to 128).
    pub password_length: usize,
    /// Rotate passwords older than this (the domain's `maxPwdAge` wins when shorter).
    pub max_password_age_days: u32,
    /// Minutes between rotation scans in this instance (0: only on demand).
    pub scan_interval_minutes: u32,
    /// Seconds between retries of rotations waiting for the directory (a DC that was down, or
    /// an instance that died while setting a password), 1 to 3600.
    pub retry_interval_seconds: u32,
    /// The vendor CA certificates (PEM bundle) that certify keys' factory identities. The
    /// inventory import checks each key's certificate against them; without it no key can be
    /// imported. Read at each import.
    pub vendor_ca_file: Option<std::path::PathBuf>,
}

/// The length of generated domain passwords unless configured.
pub const DEFAULT_PASSWORD_LENGTH: usize = 20;

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            password_length: DEFAULT_PASSWORD_LENGTH,
            max_password_age_days: 28,
            scan_interval_minutes: 60,
            retry_interval_seconds: 60,
            vendor_ca_file: None,
        }
    }
}

/// Push services for the phone app. Without them phones get challenges through their poll.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    pub apns: Option<ApnsConfig>,
    pub fcm: Option<FcmConfig>,
    /// How long the employee has to answer a sign-in challenge on the phone (10 to 600).
    pub challenge_ttl_seconds: u32,
    /// A MaxMind-format GeoIP database (GeoLite2-City.mmdb or similar): the phone then shows the
    /// city and country a sign-in comes from. Without one it shows the kind of network.
    pub geoip_database: Option<PathBuf>,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            apns: None,
            fcm: None,
            challenge_ttl_seconds: 60,
            geoip_database: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS (port 587). Required, not opportunistic.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or in tests.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server. Without one, invitations wait in the outbox for an admin to copy.
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub tls: MailTls,
    pub username: Option<String>,
    /// Better given as `SSO_MAIL__PASSWORD`.
    pub password: Option<String>,
    /// The sender, e.g. `SSO <sso@example.com>`.
    pub from: String,
    /// Who is told when something needs an admin (e.g. removals held by the sync's removal
    /// guard). Empty: nobody is mailed; the dashboard still shows it.
    pub alert_recipients: Vec<String>,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            tls: MailTls::Starttls,
            username: None,
            password: None,
            from: "SSO <sso@localhost>".into(),
            alert_recipients: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InvitationConfig {
    /// How long an invitation link works.
    pub ttl_hours: u32,
}

impl Default for InvitationConfig {
    fn default() -> Self {
        Self { ttl_hours: 72 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    pub access_token_ttl_seconds: u32,
    pub id_token_ttl_seconds: u32,
    pub auth_code_ttl_seconds: u32,
    /// Refresh tokens expire after this long without use (each refresh extends it)...
    pub refresh_token_ttl_days: u32,
    /// ...and never later than this long after the sign-in that started them.
    pub refresh_token_absolute_days: u32,
    /// An employee's sign-in session lasts this long (absolute).
    pub session_ttl_hours: u32,
    /// Failed employee sign-ins (password or offline code) per employee that cost no delay;
    /// after them each failure waits 1 s, 2 s, 4 s… (up to a minute) before the next attempt.
    pub sign_in_free_failures: u32,
    /// Failed sign-ins per employee (whatever spelling of the name) before the sign-in is
    /// locked, for `sign_in_lockout_minutes` or until an admin lifts it.
    pub sign_in_lockout_after: u32,
    pub sign_in_lockout_minutes: u32,
    /// Failed sign-ins (any account, admins included) per client address in 15 minutes before
    /// the address is refused (429) for 15 minutes.
    pub sign_in_address_limit: u32,
    /// Failed offline codes the whole deployment allows in a UTC day before offline codes
    /// pause until the next day. Default (unset): `max(5, registered phones / 1250)`, which keeps
    /// the expected number of guessed codes below 0.01 a year (docs/architecture.md). Set it
    /// only with that arithmetic in mind.
    pub offline_code_daily_budget: Option<u32>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_seconds: 600,
            id_token_ttl_seconds: 600,
            auth_code_ttl_seconds: 60,
            refresh_token_ttl_days: 30,
            refresh_token_absolute_days: 90,
            session_ttl_hours: 12,
            sign_in_free_failures: 3,
            sign_in_lockout_after: 10,
            sign_in_lockout_minutes: 60,
            sign_in_address_limit: 100,
            offline_code_daily_budget: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`. Default: SQLite in `<data_dir>/sso.db`.
    pub url: Option<String>,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter such as `info` or `sso_server=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Absolute lifetime of an admin session.
    pub session_ttl_minutes: u32,
    /// A session unused this long ends.
    pub session_idle_minutes: u32,
    /// Failed sign-ins per admin user name (existing or not) before it is locked.
    pub max_failed_logins: u32,
    pub lockout_minutes: u32,
    /// Password checks (argon2id, 19 MiB each) running at once; more sign-ins get 429 at once
    /// instead of queueing, so a flood cannot exhaust memory or CPU.
    pub max_concurrent_password_checks: u32,
    /// Every administrator must sign in with a passkey: a password alone opens a session that
    /// can only register one.
    pub require_passkey: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Collect Prometheus metrics.
    pub enabled: bool,
    /// A file holding the bearer token a scraper sends to read `/metrics`. Without it `/metrics`
    /// answers 404: the counters (routes, rates, failures) are nobody's business on the public
    /// port. Read at each scrape, so the token can be replaced without a restart.
    pub token_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Run scheduled syncs in this process (every instance may; a lease keeps one run per domain).
    pub schedule_enabled: bool,
    /// Minutes between scheduled syncs of each domain.
    pub sync_interval_minutes: u32,
    /// A scheduled sync is a full one when the last full sync is older than this; otherwise it is
    /// a delta sync by uSNChanged.
    pub full_sync_interval_hours: u32,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            schedule_enabled: true,
            sync_interval_minutes: 60,
            full_sync_interval_hours: 24,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            trusted_proxies: Vec::new(),
            public_url: Url::parse("http://localhost:8080").unwrap_or_else(|_| unreachable!()),
            data_dir: PathBuf::from("./data"),
            database: DatabaseConfig::default(),
            master_key_file: None,
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            metrics: MetricsConfig {
                enabled: true,
                token_file: None,
            },
            directory: DirectoryConfig::default(),
            oidc: OidcConfig::default(),
            mail: MailConfig::default(),
            invitations: InvitationConfig::default(),
            push: PushConfig::default(),
            keys: KeysConfig::default(),
            instance: InstanceConfig::default(),
            default_language: crate::i18n::Lang::En,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Pretty,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            session_ttl_minutes: 8 * 60,
            session_idle_minutes: 30,
            max_failed_logins: 5,
            lockout_minutes: 15,
            max_concurrent_password_checks: 4,
            require_passkey: false,
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            token_file: None,
        }
    }
}

impl Config {
    /// Loads the configuration. `file` is the explicit path (flag or `SSO_CONFIG`), which must
    /// exist; without it `sso-server.toml` is read when present.
    pub fn load(file: Option<&Path>) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) if !path.is_file() => {
                return Err(Error::Config(format!(
                    "configuration file {} does not exist",
                    path.display()
                )));
            }
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        let figment = figment
            .merge(
                Env::prefixed("SSO_")
                    .ignore(&["CONFIG", "MASTER_KEY"])
                    .split("__"),
            )
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            );
        Self::from_figment(&figment)
    }

    /// Loads from an in-memory TOML text (tests, `config check` of a given text).
    pub fn from_toml_str(text: &str) -> Result<Self> {
        Self::from_figment(
            &Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
        )
    }

    fn from_figment(figment: &Figment) -> Result<Self> {
        let config: Config = figment
            .extract()
            .map_err(|e| Error::Config(describe(figment, e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if !(12..=128).contains(&self.keys.password_length) {
            return Err(invalid("keys.password_length", "must be 12 to 128"));
        }
        if !(1..=3600).contains(&self.keys.retry_interval_seconds) {
            return Err(invalid("keys.retry_interval_seconds", "must be 1 to 3600"));
        }
        if !(1..=3650).contains(&self.keys.max_password_age_days) {
            return Err(invalid("keys.max_password_age_days", "must be 1 to 3650"));
        }
        if self.instance.drain_seconds > 60 {
            return Err(invalid("instance.drain_seconds", "must be at most 60"));
        }
        if !(3..=600).contains(&self.instance.dead_after_seconds) {
            return Err(invalid("instance.dead_after_seconds", "must be 3 to 600"));
        }
        if self
            .instance
            .name
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.len() > 200 || n.chars().any(char::is_control))
        {
            return Err(invalid("instance.name", "must be 1 to 200 characters"));
        }
        if self.push.challenge_ttl_seconds > 600 {
            return Err(invalid("push.challenge_ttl_seconds", "must be at most 600"));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "mail.from",
                "must be an address such as `SSO <sso@example.com>`",
            ));
        }
        if self
            .mail
            .alert_recipients
            .iter()
            .any(|a| a.parse::<lettre::Address>().is_err())
        {
            return Err(invalid(
                "mail.alert_recipients",
                "must be e-mail addresses such as `it@example.com`",
            ));
        }
        if !matches!(self.public_url.scheme(), "http" | "https") {
            return Err(invalid("public_url", "must be an http:// or https:// URL"));
        }
        if self.public_url.query().is_some() || self.public_url.fragment().is_some() {
            return Err(invalid("public_url", "must not have a query or a fragment"));
        }
        if let Some(url) = &self.database.url {
            if !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
            {
                return Err(invalid(
                    "database.url",
                    "must start with sqlite:, postgres:// or postgresql://",
                ));
            }
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(invalid(
                "log.level",
                "is not a valid filter (try `info` or `debug`)",
            ));
        }
        let a = &self.admin;
        for (key, v) in [
            ("admin.session_ttl_minutes", a.session_ttl_minutes),
            ("admin.session_idle_minutes", a.session_idle_minutes),
            ("admin.max_failed_logins", a.max_failed_logins),
            ("admin.lockout_minutes", a.lockout_minutes),
            (
                "admin.max_concurrent_password_checks",
                a.max_concurrent_password_checks,
            ),
            (
                "directory.sync_interval_minutes",
                self.directory.sync_interval_minutes,
            ),
            (
                "directory.full_sync_interval_hours",
                self.directory.full_sync_interval_hours,
            ),
            (
                "oidc.access_token_ttl_seconds",
                self.oidc.access_token_ttl_seconds,
            ),
            ("oidc.id_token_ttl_seconds", self.oidc.id_token_ttl_seconds),
            (
                "oidc.auth_code_ttl_seconds",
                self.oidc.auth_code_ttl_seconds,
            ),
            (
                "oidc.refresh_token_ttl_days",
                self.oidc.refresh_token_ttl_days,
            ),
            (
                "oidc.refresh_token_absolute_days",
                self.oidc.refresh_token_absolute_days,
            ),
            ("oidc.session_ttl_hours", self.oidc.session_ttl_hours),
            (
                "oidc.sign_in_lockout_after",
                self.oidc.sign_in_lockout_after,
            ),
            (
                "oidc.sign_in_lockout_minutes",
                self.oidc.sign_in_lockout_minutes,
            ),
            (
                "oidc.sign_in_address_limit",
                self.oidc.sign_in_address_limit,
            ),
            ("invitations.ttl_hours", self.invitations.ttl_hours),
            (
                "push.challenge_ttl_seconds",
                self.push.challenge_ttl_seconds,
            ),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The SQLite file the server uses when no database URL is configured (absolute), or `None`
    /// when a database URL is configured.
    pub fn default_sqlite_path(&self) -> Result<Option<PathBuf>> {
        if self.database.url.is_some() {
            return Ok(None);
        }
        // Without `.` components, so the path shown is the one a person would type.
        absolute(&self.data_dir.join("sso.db")).map(|p| Some(p.components().collect()))
    }

    /// The database URL in use: the configured one or SQLite inside the data folder.
    pub fn database_url(&self) -> Result<String> {
        if let Some(url) = &self.database.url {
            return Ok(url.clone());
        }
        let path = absolute(&self.data_dir.join("sso.db"))?;
        let mut url = Url::from_file_path(&path)
            .map_err(|_| invalid("data_dir", "cannot be turned into a database path"))?;
        url.set_query(Some("mode=rwc"));
        Ok(format!("sqlite://{}", &url.as_str()["file://".len()..]))
    }

    /// The OIDC issuer: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The effective configuration as JSON, with the database password masked.
    pub fn to_redacted_json(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &shown.database.url {
            shown.database.url = Some(redact_url(url));
        }
        if shown.mail.password.is_some() {
            shown.mail.password = Some("***".into());
        }
        serde_json::to_string_pretty(&shown).unwrap_or_default()
    }
}

fn invalid(key: &str, what: &str) -> Error {
    Error::Config(format!("invalid configuration: key `{key}` {what}"))
}

/// Names the source (file or environment variable), the key and the problem for each error.
fn describe(figment: &Figment, err: figment::Error) -> String {
    let mut lines = Vec::new();
    for e in err {
        let key = if e.path.is_empty() {
            "(top level)".to_owned()
        } else {
            e.path.join(".")
        };
        let source = e
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(figment::Source::File(p)) => format!("file {}", p.display()),
                Some(other) => format!("{} ({other})", m.name),
                None => m.name.to_string(),
            })
            .or_else(|| {
                figment
                    .find_metadata(&e.path.join("."))
                    .map(|m| m.name.to_string())
            })
            .unwrap_or_else(|| "configuration".to_owned());
        lines.push(format!(
            "invalid configuration in {source}: key `{key}`: {}",
            e.kind
        ));
    }
    lines.join("\n")
}

/// Removes the password from a database URL before it is shown anywhere.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable url>".to_owned(),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(Error::io("reading the current directory"))?;
    Ok(cwd.join(p))
}

/// A list of networks, each written as CIDR (`10.0.0.0/8`) or as one address (`10.0.0.5`).
fn networks<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<ipnet::IpNet>, D::Error> {
    let items: Vec<String> = Deserialize::deserialize(d)?;
    items
        .iter()
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{s}` is neither an IP address nor a CIDR network"
                    ))
                })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsConfig {
    /// The .p8 key file from Apple (PKCS#8 PEM).
    pub key_file: std::path::PathBuf,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    #[serde(default = "default_apns_endpoint")]
    pub endpoint: String,
}

fn default_apns_endpoint() -> String {
    "https://api.push.apple.com".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmConfig {
    /// The service-account JSON file from the Firebase console.
    pub service_account_file: std::path::PathBuf,
    pub project_id: String,
    #[serde(default = "default_fcm_endpoint")]
    pub endpoint: String,
}

fn default_fcm_endpoint() -> String {
    "https://fcm.googleapis.com".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_toml_str("").unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert!(c.database_url().unwrap().starts_with("sqlite:///"));
        assert!(c.database_url().unwrap().ends_with("/data/sso.db?mode=rwc"));
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = Config::from_toml_str("[database]\nmax_connections = \"many\"").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("database.max_connections"), "{msg}");
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        let c =
            Config::from_toml_str("trusted_proxies = [\"10.0.0.5\", \"192.168.0.0/16\", \"::1\"]")
                .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["10.0.0.5/32", "192.168.0.0/16", "::1/128"]);
        let msg = Config::from_toml_str("trusted_proxies = [\"10.0.0.0/33\"]")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("trusted_proxies") && msg.contains("10.0.0.0/33"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_geoip_database_names_the_key() {
        let msg = crate::push::place::Places::open(Path::new("/nonexistent/GeoLite2-City.mmdb"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("push.geoip_database"), "{msg}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let msg = Config::from_toml_str("listne = \"1.2.3.4:80\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("listne"), "{msg}");
    }

    #[test]
    fn bad_url_scheme_is_refused() {
        let msg = Config::from_toml_str("public_url = \"ftp://x\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("public_url"), "{msg}");
        let msg = Config::from_toml_str("[database]\nurl = \"mysql://x\"")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("database.url"), "{msg}");
    }

    #[test]
    fn redacts_password() {
        let r = redact_url("postgres://sso:s3cret@db.example:5432/sso");
        assert!(!r.contains("s3cret"));
        assert!(r.contains("***"));
    }
}
