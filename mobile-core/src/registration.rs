//! The registration QR code: `hideez-auth://register?v=1&server=<base URL>&id=<enrolment id>
//! &secret=<32 bytes, base64url>&exp=<unix seconds>`, each parameter exactly once.

use std::fmt;

use url::Url;
use zeroize::Zeroizing;

use crate::crypto::{b64url, from_b64url};
use crate::error::AuthError;
use crate::protocol::is_valid_id;

pub const SCHEME: &str = "hideez-auth";
pub const VERSION: &str = "1";
pub const SECRET_LEN: usize = 32;

/// A parsed, not yet used, registration code.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationLink {
    /// The server's base URL; its path always ends with `/`, so endpoints join onto it.
    pub server: Url,
    pub enrolment_id: String,
    /// 32 bytes, wiped from memory when dropped; never printed.
    pub secret: Zeroizing<Vec<u8>>,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for RegistrationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationLink")
            .field("server", &self.server.as_str())
            .field("enrolment_id", &self.enrolment_id)
            .field("secret", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

fn missing(field: &str) -> AuthError {
    AuthError::MissingField {
        field: field.to_owned(),
    }
}

impl RegistrationLink {
    /// Parses and checks a scanned code. `now` is Unix seconds; `allow_http` only for development.
    pub fn parse(code: &str, now: i64, allow_http: bool) -> Result<Self, AuthError> {
        let url = Url::parse(code.trim()).map_err(|e| AuthError::NotARegistrationCode {
            reason: e.to_string(),
        })?;
        if url.scheme() != SCHEME || url.host_str() != Some("register") {
            return Err(AuthError::NotARegistrationCode {
                reason: format!("expected {SCHEME}://register"),
            });
        }
        let param = |name: &str| -> Result<String, AuthError> {
            let mut values = url.query_pairs().filter(|(k, _)| k == name);
            let first = values.next().ok_or_else(|| missing(name))?;
            if values.next().is_some() {
                return Err(AuthError::invalid(name, "appears more than once"));
            }
            Ok(first.1.into_owned())
        };
        let v = param("v")?;
        if v != VERSION {
            return Err(AuthError::UnsupportedVersion { version: v });
        }
        let server = parse_server(&param("server")?, allow_http)?;
        let enrolment_id = param("id")?;
        if !is_valid_id(&enrolment_id) {
            return Err(AuthError::invalid(
                "id",
                "must be 1 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        // Neither the secret nor a decoding error that could quote it goes into the error.
        let secret =
            Zeroizing::new(from_b64url(param("secret")?.as_str()).ok_or_else(|| {
                AuthError::invalid("secret", "must be base64url without padding")
            })?);
        if secret.len() != SECRET_LEN {
            return Err(AuthError::invalid(
                "secret",
                format!("must be {SECRET_LEN} bytes"),
            ));
        }
        let expires_at: i64 = param("exp")?
            .parse()
            .map_err(|_| AuthError::invalid("exp", "must be a Unix time in seconds"))?;
        if expires_at <= now {
            return Err(AuthError::RegistrationExpired {
                expired_at_unix: expires_at,
            });
        }
        Ok(Self {
            server,
            enrolment_id,
            secret,
            expires_at,
        })
    }

    /// The secret as it goes into the registration request (base64url, as in the link).
    pub fn secret_b64(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url(&self.secret))
    }

    /// An endpoint of this server, e.g. `api/authenticator/register`.
    pub fn endpoint(&self, path: &str) -> Result<Url, AuthError> {
        endpoint(&self.server, path)
    }
}

/// Joins a relative endpoint path onto a base URL whose path ends with `/`.
pub fn endpoint(base: &Url, path: &str) -> Result<Url, AuthError> {
    base.join(path).map_err(|e| AuthError::Internal {
        reason: format!("cannot build the endpoint URL: {e}"),
    })
}

/// Checks the `server` parameter: an absolute https (or, if allowed, http) URL with a host and
/// no credentials, query or fragment. Returns it with a path ending in `/`.
pub fn parse_server(s: &str, allow_http: bool) -> Result<Url, AuthError> {
    let mut server = Url::parse(s).map_err(|e| AuthError::invalid("server", e.to_string()))?;
    match server.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(AuthError::InsecureServer),
        other => {
            return Err(AuthError::invalid(
                "server",
                format!("must be an https URL, not {other}:"),
            ))
        }
    }
    if server.host_str().is_none_or(str::is_empty) {
        return Err(AuthError::invalid("server", "has no host"));
    }
    if !server.username().is_empty() || server.password().is_some() {
        return Err(AuthError::invalid("server", "must not hold credentials"));
    }
    if server.query().is_some() || server.fragment().is_some() {
        return Err(AuthError::invalid(
            "server",
            "must not have a query or fragment",
        ));
    }
    if !server.path().ends_with('/') {
        let path = format!("{}/", server.path());
        server.set_path(&path);
    }
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn code(server: &str, exp: i64) -> String {
        format!("hideez-auth://register?v=1&server={server}&id=enr1&secret={SECRET}&exp={exp}")
    }

    fn field_of(r: Result<RegistrationLink, AuthError>) -> String {
        match r {
            Err(AuthError::InvalidField { field, .. }) | Err(AuthError::MissingField { field }) => {
                field
            }
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_valid_code() {
        let l = RegistrationLink::parse(&code("https://sso.example.com", 200), 100, false).unwrap();
        assert_eq!(l.server.as_str(), "https://sso.example.com/");
        assert_eq!(l.enrolment_id, "enr1");
        assert_eq!(*l.secret, (0u8..32).collect::<Vec<_>>());
        assert_eq!(l.secret_b64().as_str(), SECRET);
        assert_eq!(
            l.endpoint("api/authenticator/register").unwrap().as_str(),
            "https://sso.example.com/api/authenticator/register"
        );
        // A base URL with a path keeps it.
        let l = RegistrationLink::parse(&code("https://x.test/sso", 200), 100, false).unwrap();
        assert_eq!(
            l.endpoint("api/authenticator/answer").unwrap().as_str(),
            "https://x.test/sso/api/authenticator/answer"
        );
        // Percent-encoded server (as a QR generator would write it).
        let enc = code("https%3A%2F%2Fsso.example.com%2Fauth%2F", 200);
        let l = RegistrationLink::parse(&enc, 100, false).unwrap();
        assert_eq!(l.server.as_str(), "https://sso.example.com/auth/");
    }

    #[test]
    fn refuses_bad_codes() {
        assert_eq!(
            RegistrationLink::parse(&code("https://a", 100), 100, false),
            Err(AuthError::RegistrationExpired {
                expired_at_unix: 100
            })
        );
        assert_eq!(
            RegistrationLink::parse(&code("http://a", 200), 100, false),
            Err(AuthError::InsecureServer)
        );
        assert!(RegistrationLink::parse(&code("http://a", 200), 100, true).is_ok());
        assert!(matches!(
            RegistrationLink::parse("https://evil", 0, false),
            Err(AuthError::NotARegistrationCode { .. })
        ));
        assert!(matches!(
            RegistrationLink::parse("hideez-auth://login?v=1", 0, false),
            Err(AuthError::NotARegistrationCode { .. })
        ));
        let no_secret = "hideez-auth://register?v=1&server=https://a&id=x&exp=9";
        assert_eq!(
            field_of(RegistrationLink::parse(no_secret, 0, false)),
            "secret"
        );
        let v2 = code("https://a", 200).replace("v=1", "v=2");
        assert_eq!(
            RegistrationLink::parse(&v2, 0, false),
            Err(AuthError::UnsupportedVersion {
                version: "2".into()
            })
        );
        let short = code("https://a", 200).replace(SECRET, "AAEC");
        assert_eq!(
            field_of(RegistrationLink::parse(&short, 0, false)),
            "secret"
        );
        let padded = code("https://a", 200).replace(SECRET, &format!("{SECRET}="));
        assert_eq!(
            field_of(RegistrationLink::parse(&padded, 0, false)),
            "secret"
        );
        let bad_exp = code("https://a", 200).replace("exp=200", "exp=soon");
        assert_eq!(field_of(RegistrationLink::parse(&bad_exp, 0, false)), "exp");
        let bad_id = code("https://a", 200).replace("id=enr1", "id=a%20b");
        assert_eq!(field_of(RegistrationLink::parse(&bad_id, 0, false)), "id");
        let twice = format!("{}&id=enr2", code("https://a", 200));
        assert_eq!(field_of(RegistrationLink::parse(&twice, 0, false)), "id");
        for server in ["ftp://a", "https://u:p@a", "https://a/?q=1", "not a url"] {
            let enc = server.replace('?', "%3F").replace('=', "%3D");
            assert_eq!(
                field_of(RegistrationLink::parse(&code(&enc, 200), 0, false)),
                "server",
                "{server}"
            );
        }
    }

    #[test]
    fn secret_never_printed() {
        let l = RegistrationLink::parse(&code("https://a", 200), 0, false).unwrap();
        let dbg = format!("{l:?}");
        assert!(!dbg.contains(SECRET) && dbg.contains("redacted"));
        let bad = code("https://a", 200).replace(SECRET, &format!("{SECRET}!!"));
        let err = RegistrationLink::parse(&bad, 0, false).unwrap_err();
        assert!(!err.to_string().contains(SECRET));
    }
}
