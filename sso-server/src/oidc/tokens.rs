//! The tokens we issue and how we read them back.
//!
//! - Access tokens are JWTs (RFC 9068, `typ: at+jwt`) signed ES256: userinfo and introspection
//!   verify them without a lookup, then check their grant is still alive (one read by primary key),
//!   so revoking a grant (logout, a disabled employee, refresh-token reuse) stops them at once.
//! - ID tokens are signed RS256 by default, ES256 for clients that ask.
//! - Refresh tokens are opaque: `<grant id>.<generation>.<256-bit secret>`; the grant row keeps the
//!   SHA-256 of the current one and its generation. A refresh rewrites that one row; an older
//!   generation presented again is a reuse and revokes the grant (the whole family).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::clients::Client;
use super::jws::{self, Alg};
use super::keys::KeyRing;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::crypto::{random_token, Cipher};
use crate::employees::store::EmployeeRow;
use crate::error::Result;
use crate::oidc::store::GrantRow;

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    /// The grant this token belongs to.
    pub gid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What the token endpoint answers.
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

pub fn has_scope(scope: &str, wanted: &str) -> bool {
    scope.split_whitespace().any(|s| s == wanted)
}

/// The claims about the employee that `scope` allows (OIDC Core 5.4).
pub fn user_claims(e: &EmployeeRow, scope: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(e.id));
    if has_scope(scope, "profile") {
        m.insert("name".into(), json!(e.display_name));
        if let Some(v) = &e.given_name {
            m.insert("given_name".into(), json!(v));
        }
        if let Some(v) = &e.family_name {
            m.insert("family_name".into(), json!(v));
        }
        m.insert("updated_at".into(), json!(e.updated_at / 1000));
    }
    if has_scope(scope, "email") {
        if let Some(v) = &e.email {
            m.insert("email".into(), json!(v));
            // The directory is authoritative for its addresses; a manual one is unverified.
            m.insert("email_verified".into(), json!(e.source == "directory"));
        }
    }
    if has_scope(scope, "phone") {
        if let Some(v) = &e.phone {
            m.insert("phone_number".into(), json!(v));
            m.insert("phone_number_verified".into(), json!(false));
        }
    }
    m
}

/// A grant's refresh token of one generation: `<grant id>.<generation>.<secret>`, where the
/// secret is a MAC of the first two parts under a key derived from the data key. So the server
/// can check the secret of *any* generation before it trusts anything the token claims: a
/// made-up token that names a real grant is refused without touching the grant, while a genuine
/// older generation coming back is a real reuse (and revokes the family).
pub fn new_refresh_token(cipher: &Cipher, grant_id: &str, generation: i64) -> String {
    let mac = cipher.mac(
        REFRESH_PURPOSE,
        format!("{grant_id}.{generation}").as_bytes(),
    );
    format!("{grant_id}.{generation}.{}", URL_SAFE_NO_PAD.encode(mac))
}

const REFRESH_PURPOSE: &str = "oidc refresh token v1";

/// Whether the token's secret is the one this server made for its grant id and generation.
/// (Tokens issued before secrets were MACs had random secrets: those are checked against the
/// grant's stored hash instead, for the current generation only.)
pub fn refresh_secret_ok(cipher: &Cipher, token: &str) -> bool {
    let mut parts = token.rsplitn(2, '.');
    let (Some(secret), Some(claimed)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(secret) = URL_SAFE_NO_PAD.decode(secret) else {
        return false;
    };
    let expected = cipher.mac(REFRESH_PURPOSE, claimed.as_bytes());
    use subtle::ConstantTimeEq as _;
    secret.len() == expected.len() && bool::from(expected.ct_eq(&secret))
}

/// The grant id and generation a refresh token claims (unverified).
pub fn parse_refresh_token(token: &str) -> Option<(&str, i64)> {
    let mut parts = token.splitn(3, '.');
    let gid = parts.next()?;
    let generation = parts.next()?.parse().ok()?;
    let secret = parts.next()?;
    (uuid::Uuid::parse_str(gid).is_ok() && secret.len() >= 40).then_some((gid, generation))
}

pub struct IssueInput<'a> {
    pub issuer: &'a str,
    pub client: &'a Client,
    pub grant: &'a GrantRow,
    pub employee: Option<&'a EmployeeRow>,
    pub nonce: Option<&'a str>,
    pub refresh_token: Option<String>,
    pub now_ms: i64,
    pub access_ttl_s: i64,
    pub id_ttl_s: i64,
}

pub fn issue(ring: &KeyRing, i: IssueInput<'_>) -> Result<TokenResponse> {
    let now = i.now_ms / 1000;
    let sub = match i.employee {
        Some(e) => e.id.clone(),
        None => i.client.id.clone(),
    };
    let claims = AccessClaims {
        iss: i.issuer.to_owned(),
        sub: sub.clone(),
        aud: i.client.id.clone(),
        client_id: i.client.id.clone(),
        exp: now + i.access_ttl_s,
        iat: now,
        jti: random_token()?,
        scope: i.grant.scope.clone(),
        gid: i.grant.id.clone(),
        sid: i.grant.session_id.clone(),
    };
    let access_token = ring.signer(Alg::ES256)?.sign(ACCESS_TOKEN_TYP, &claims)?;
    let id_token = match i.employee {
        Some(e) if has_scope(&i.grant.scope, "openid") => {
            let mut c = user_claims(e, &i.grant.scope);
            c.insert("iss".into(), json!(i.issuer));
            c.insert("aud".into(), json!(i.client.id));
            c.insert("iat".into(), json!(now));
            c.insert("exp".into(), json!(now + i.id_ttl_s));
            if let Some(t) = i.grant.auth_time {
                c.insert("auth_time".into(), json!(t / 1000));
            }
            if let Some(n) = i.nonce {
                c.insert("nonce".into(), json!(n));
            }
            if let Some(amr) = &i.grant.amr {
                c.insert(
                    "amr".into(),
                    json!(amr.split_whitespace().collect::<Vec<_>>()),
                );
            }
            if let Some(sid) = &i.grant.session_id {
                c.insert("sid".into(), json!(sid));
            }
            c.insert("at_hash".into(), json!(jws::half_hash(&access_token)));
            Some(ring.signer(i.client.id_token_alg)?.sign("JWT", &c)?)
        }
        _ => None,
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: i.access_ttl_s,
        id_token,
        refresh_token: i.refresh_token,
        scope: i.grant.scope.clone(),
    })
}

/// Verifies one of our access tokens: signature, issuer, expiry. The grant is the caller's.
pub fn verify_access_token(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
    now_ms: i64,
) -> Option<AccessClaims> {
    let v = jws::verify(token, ACCESS_TOKEN_TYP, &ring.verifiers)?;
    let c: AccessClaims = serde_json::from_value(v).ok()?;
    (c.iss == issuer && c.exp > now_ms / 1000).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_token_format() {
        let cipher = Cipher::new(&crate::crypto::keyfile::DataKey::generate().unwrap());
        let gid = uuid::Uuid::new_v4().to_string();
        let t = new_refresh_token(&cipher, &gid, 3);
        assert_eq!(parse_refresh_token(&t), Some((gid.as_str(), 3)));
        assert!(refresh_secret_ok(&cipher, &t));
        // Another generation, grant or secret under the same claims: not ours.
        let forged = format!("{gid}.2.{}", t.rsplit('.').next().unwrap());
        assert!(!refresh_secret_ok(&cipher, &forged));
        assert!(!refresh_secret_ok(
            &cipher,
            &format!("{gid}.3.{}", "A".repeat(43))
        ));
        let other = Cipher::new(&crate::crypto::keyfile::DataKey::generate().unwrap());
        assert!(!refresh_secret_ok(&other, &t));
        assert_eq!(parse_refresh_token("x.1.yyyy"), None);
        assert_eq!(
            parse_refresh_token(&format!("{gid}.one.{}", "a".repeat(43))),
            None
        );
    }

    #[test]
    fn claims_follow_the_scopes() {
        let e = EmployeeRow {
            id: "e1".into(),
            given_name: Some("Ada".into()),
            family_name: None,
            display_name: "Ada L".into(),
            email: Some("ada@x.test".into()),
            phone: Some("+1".into()),
            department: None,
            title: None,
            source: "directory".into(),
            state: "active".into(),
            created_at: 0,
            updated_at: 5_000,
        };
        let c = user_claims(&e, "openid");
        assert_eq!(c.len(), 1);
        let c = user_claims(&e, "openid email");
        assert_eq!(c["email_verified"], true);
        assert!(c.get("name").is_none());
        let c = user_claims(&e, "openid profile phone");
        assert_eq!(c["name"], "Ada L");
        assert_eq!(c["phone_number"], "+1");
        assert!(c.get("email").is_none());
    }
}
