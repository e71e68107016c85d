//! The registration QR code: `hideez-auth://register?v=1&server=<base URL>&id=<enrolment id>
//! &secret=<32 bytes, base64url>&exp=<unix seconds>`.

use url::Url;

pub const SCHEME: &str = "hideez-auth";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("not a registration code: {0}")]
    NotARegistrationCode(String),
    #[error("unsupported registration code version {0}")]
    UnsupportedVersion(String),
    #[error("the registration code is missing `{0}`")]
    Missing(&'static str),
    #[error("the registration code has an invalid `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the registration code expired; ask for a new one")]
    Expired,
    #[error("the server must use https")]
    InsecureServer,
}

/// A parsed, not yet used, registration code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationLink {
    pub server: Url,
    pub enrolment_id: String,
    pub secret: Vec<u8>,
    /// Unix seconds.
    pub expires_at: i64,
}

impl RegistrationLink {
    /// Parses and checks a scanned code. `now` is Unix seconds; `allow_http` only for development.
    pub fn parse(code: &str, now: i64, allow_http: bool) -> Result<Self, RegistrationError> {
        let url = Url::parse(code.trim())
            .map_err(|e| RegistrationError::NotARegistrationCode(e.to_string()))?;
        if url.scheme() != SCHEME || url.host_str() != Some("register") {
            return Err(RegistrationError::NotARegistrationCode(format!(
                "expected {SCHEME}://register"
            )));
        }
        let param = |name: &'static str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .ok_or(RegistrationError::Missing(name))
        };
        let v = param("v")?;
        if v != VERSION.to_string() {
            return Err(RegistrationError::UnsupportedVersion(v));
        }
        let server = Url::parse(&param("server")?).map_err(|e| RegistrationError::Invalid {
            field: "server",
            reason: e.to_string(),
        })?;
        match server.scheme() {
            "https" => {}
            "http" if allow_http => {}
            _ => return Err(RegistrationError::InsecureServer),
        }
        let enrolment_id = param("id")?;
        if enrolment_id.is_empty() || enrolment_id.len() > 128 {
            return Err(RegistrationError::Invalid {
                field: "id",
                reason: "must be 1 to 128 characters".into(),
            });
        }
        let secret = decode_b64url(&param("secret")?).ok_or(RegistrationError::Invalid {
            field: "secret",
            reason: "must be base64url".into(),
        })?;
        if secret.len() != 32 {
            return Err(RegistrationError::Invalid {
                field: "secret",
                reason: "must be 32 bytes".into(),
            });
        }
        let expires_at: i64 = param("exp")?
            .parse()
            .map_err(|_| RegistrationError::Invalid {
                field: "exp",
                reason: "must be a Unix time".into(),
            })?;
        if expires_at <= now {
            return Err(RegistrationError::Expired);
        }
        Ok(Self {
            server,
            enrolment_id,
            secret,
            expires_at,
        })
    }
}

/// base64url without padding (RFC 4648 §5), the form the server writes.
fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn code(server: &str, exp: i64) -> String {
        format!("hideez-auth://register?v=1&server={server}&id=enr1&secret={SECRET}&exp={exp}")
    }

    #[test]
    fn parses_a_valid_code() {
        let l = RegistrationLink::parse(&code("https://sso.example.com", 200), 100, false).unwrap();
        assert_eq!(l.server.as_str(), "https://sso.example.com/");
        assert_eq!(l.enrolment_id, "enr1");
        assert_eq!(l.secret, (0u8..32).collect::<Vec<_>>());
    }

    #[test]
    fn refuses_bad_codes() {
        assert_eq!(
            RegistrationLink::parse(&code("https://a", 100), 100, false),
            Err(RegistrationError::Expired)
        );
        assert_eq!(
            RegistrationLink::parse(&code("http://a", 200), 100, false),
            Err(RegistrationError::InsecureServer)
        );
        assert!(RegistrationLink::parse(&code("http://a", 200), 100, true).is_ok());
        assert!(matches!(
            RegistrationLink::parse("https://evil", 0, false),
            Err(RegistrationError::NotARegistrationCode(_))
        ));
        let no_secret = "hideez-auth://register?v=1&server=https://a&id=x&exp=9";
        assert_eq!(
            RegistrationLink::parse(no_secret, 0, false),
            Err(RegistrationError::Missing("secret"))
        );
        let v2 = code("https://a", 200).replace("v=1", "v=2");
        assert_eq!(
            RegistrationLink::parse(&v2, 0, false),
            Err(RegistrationError::UnsupportedVersion("2".into()))
        );
    }
}
