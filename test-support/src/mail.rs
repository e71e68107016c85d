//! The SMTP sink the test command starts (aiosmtpd keeping a Maildir): where it listens, and
//! the messages it received, decoded.

use std::path::PathBuf;
use std::time::Duration;

/// The SMTP server from `E2E_SMTP_HOST`, `E2E_SMTP_PORT` and `E2E_SMTP_MAILDIR`.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Smtp {
    /// The server, or `None` when the environment names none (see [`crate::require`]).
    pub fn from_env() -> Option<Self> {
        Some(Self {
            host: crate::env("E2E_SMTP_HOST")?,
            port: crate::env("E2E_SMTP_PORT")?.parse().ok()?,
            maildir: PathBuf::from(crate::env("E2E_SMTP_MAILDIR")?),
        })
    }

    /// The server for a test, through the one gate (fails in strict mode when missing).
    pub fn required() -> Option<Self> {
        crate::require("SMTP server (E2E_SMTP_*)", Self::from_env())
    }

    /// Every message received so far, decoded ([`unqp`]), oldest first by file name.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<_> = ["new", "cur"]
            .iter()
            .flat_map(|d| {
                std::fs::read_dir(self.maildir.join(d))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| unqp(&t))
            .collect()
    }

    /// The messages to `to` (their decoded text names the address).
    pub fn messages_to(&self, to: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.contains(to))
            .collect()
    }

    /// Waits (10 s at most) for a message to `to` whose decoded text contains `needle`, and
    /// returns it.
    pub async fn wait_for(&self, to: &str, needle: &str) -> String {
        crate::eventually(
            Duration::from_secs(10),
            &format!("a message to {to} containing {needle:?}"),
            || async {
                self.messages_to(to)
                    .into_iter()
                    .rev()
                    .find(|m| m.contains(needle))
            },
        )
        .await
    }
}

/// Undoes quoted-printable: soft line breaks and `=XX` escapes (UTF-8 text comes back whole).
pub fn unqp(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::unqp;

    #[test]
    fn decodes_quoted_printable() {
        assert_eq!(unqp("a=3Db=\r\nc =C3=A9=\nd"), "a=bc éd");
        assert_eq!(unqp("50% =ZZ"), "50% =ZZ");
    }
}
