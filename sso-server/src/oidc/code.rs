//! Authorization codes are sealed, self-contained values: everything the token endpoint needs,
//! encrypted and authenticated with the data-encryption key (XChaCha20-Poly1305), so issuing a
//! code writes nothing. Single use comes from the grant an exchange creates, which records the
//! code's hash under a unique index: a second exchange finds it, and revokes it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::crypto::{random_token, Cipher};
use crate::error::{Error, Result};

const AAD: &[u8] = b"sso-server authorization code v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeData {
    pub client_id: String,
    pub employee_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
    /// Makes every code unique even for identical requests in the same millisecond.
    pub jti: String,
}

pub fn seal(cipher: &Cipher, mut data: CodeData) -> Result<String> {
    data.jti = random_token()?;
    let json = serde_json::to_vec(&data).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(cipher.seal(&json, AAD)?))
}

/// None for anything that is not a code we sealed.
pub fn open(cipher: &Cipher, code: &str) -> Option<CodeData> {
    if code.len() > 4096 {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(code).ok()?;
    let json = cipher.open(&sealed, AAD).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        use crate::crypto::keyfile::DataKey;
        let cipher = Cipher::new(&DataKey::generate().unwrap());
        let data = CodeData {
            client_id: "c".into(),
            employee_id: "e".into(),
            session_id: "s".into(),
            redirect_uri: "https://x/cb".into(),
            scope: "openid".into(),
            nonce: None,
            code_challenge: None,
            auth_time: 1,
            amr: "pwd".into(),
            expires_at: 2,
            jti: String::new(),
        };
        let a = seal(&cipher, data.clone()).unwrap();
        let b = seal(&cipher, data.clone()).unwrap();
        assert_ne!(a, b, "codes are unique");
        let opened = open(&cipher, &a).unwrap();
        assert_eq!((opened.client_id.as_str(), opened.expires_at), ("c", 2));
        let mut bad = a.clone().into_bytes();
        let i = bad.len() / 2;
        bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
        assert!(open(&cipher, &String::from_utf8(bad).unwrap()).is_none());
        let other = Cipher::new(&DataKey::generate().unwrap());
        assert!(open(&other, &a).is_none(), "another key opens nothing");
    }
}
