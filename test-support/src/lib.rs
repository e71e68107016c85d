//! What every test binary of the workspace shares, one helper per job:
//!
//! - [`require`]: a test's outside server (SMTP, Samba, PostgreSQL, Chromium …) or a skip, and
//!   never a silent skip when the test command sets `E2E_REQUIRE_SERVERS=1`;
//! - [`eventually`]: wait for something by a deadline instead of sleeping or counting rounds;
//! - [`html`]: a page's hidden form fields (CSRF tokens) and its escaped text;
//! - [`mail`]: the SMTP sink's Maildir, decoded;
//! - [`dc`]: a Samba AD DC from the environment and an LDAPS connection to it;
//! - [`phone`]: a phone on the real mobile-core that registers, polls and answers.
//!
//! It depends on no server crate, so the server's own integration tests and the end-to-end
//! tests use the same helpers.
#![deny(clippy::unwrap_used)]

pub mod dc;
pub mod html;
pub mod mail;
pub mod phone;
mod wait;

pub use wait::{eventually, eventually_blocking};

/// True when the test command asks that tests needing real servers fail instead of skipping
/// (`E2E_REQUIRE_SERVERS=1`, as `scripts/test.sh` sets it).
pub fn servers_required() -> bool {
    std::env::var("E2E_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// The one gate for a test's outside server: `found`, or `None` and a skip printed on stderr.
/// When servers are required a missing one fails the test here (no test returns early
/// silently); `what` names it and where it comes from (e.g. "an SMTP server (E2E_SMTP_*)").
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    if found.is_none() {
        assert!(
            !servers_required(),
            "{what} is missing but servers are required (E2E_REQUIRE_SERVERS=1)"
        );
        eprintln!("skipped: no {what} (scripts/test.sh starts it)");
    }
    found
}

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The PostgreSQL server for tests (`E2E_POSTGRES_URL`, a role that may create databases).
pub fn postgres_url() -> Option<String> {
    env("E2E_POSTGRES_URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_server_fails_in_strict_mode_and_skips_otherwise() {
        // One test touches the variable (tests in this binary run in parallel).
        std::env::set_var("E2E_REQUIRE_SERVERS", "1");
        let strict = std::panic::catch_unwind(|| require::<()>("a server", None));
        std::env::remove_var("E2E_REQUIRE_SERVERS");
        assert!(strict.is_err(), "strict mode must fail, not skip");
        assert_eq!(require::<()>("a server", None), None);
        assert_eq!(require("a server", Some(1)), Some(1));
    }
}
