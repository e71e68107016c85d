//! Passwords sealed to a key: HPKE (RFC 9180) base mode with DHKEM(P-256, HKDF-SHA256),
//! HKDF-SHA256 and AES-128-GCM, the suite a P-256 secure element can open (its ECDH plus HKDF).
//! The associated data binds a ciphertext to one key and one task, so it cannot be replayed
//! into another.

use hpke::aead::AesGcm128;
use hpke::kdf::HkdfSha256;
use hpke::kem::DhP256HkdfSha256;
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{b64, unb64, IdentityKey, ProtocolError};

type Kem = DhP256HkdfSha256;

const INFO: &[u8] = b"hideez-key/password/v1";

/// A password encrypted to one key: the encapsulated key and the ciphertext, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPassword {
    pub enc: String,
    pub ciphertext: String,
}

/// The associated data of a task's password.
pub fn password_aad(serial: &str, task_id: &str) -> Vec<u8> {
    let mut out = b"hideez-key/task/v1\0".to_vec();
    for s in [serial, task_id] {
        out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// Encrypts `plaintext` to the key whose public key (SEC1 uncompressed) is `recipient`.
pub fn seal(
    recipient: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<SealedPassword, ProtocolError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient).map_err(|_| {
        ProtocolError::PublicKey {
            field: "public_key",
        }
    })?;
    let (enc, ciphertext) = hpke::single_shot_seal::<AesGcm128, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        INFO,
        plaintext,
        aad,
        &mut rand_core::UnwrapErr(rand_core::OsRng),
    )
    .map_err(|e| ProtocolError::Seal(e.to_string()))?;
    Ok(SealedPassword {
        enc: b64(&enc.to_bytes()),
        ciphertext: b64(&ciphertext),
    })
}

/// Opens a sealed password with the key's private key: what only the key does.
pub fn open(
    key: &IdentityKey,
    sealed: &SealedPassword,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let enc = unb64(&sealed.enc, "enc")?;
    let ciphertext = unb64(&sealed.ciphertext, "ciphertext")?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc).map_err(|_| ProtocolError::Open)?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&key.to_bytes()[..]).map_err(|_| {
        ProtocolError::PrivateKey {
            field: "private_key",
        }
    })?;
    hpke::single_shot_open::<AesGcm128, HkdfSha256, Kem>(
        &OpModeR::Base,
        &sk,
        &enc,
        INFO,
        &ciphertext,
        aad,
    )
    .map(Zeroizing::new)
    .map_err(|_| ProtocolError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_opens_and_only_for_its_task() {
        let key = IdentityKey::generate().unwrap();
        let aad = password_aad("K1", "t1");
        let sealed = seal(&key.public_key(), b"Correct-Horse-7", &aad).unwrap();
        assert!(!sealed.ciphertext.contains("Correct"));
        assert_eq!(&open(&key, &sealed, &aad).unwrap()[..], b"Correct-Horse-7");
        // Another task, another key, or a changed ciphertext: refused.
        assert_eq!(
            open(&key, &sealed, &password_aad("K1", "t2")),
            Err(ProtocolError::Open)
        );
        let other = IdentityKey::generate().unwrap();
        assert_eq!(open(&other, &sealed, &aad), Err(ProtocolError::Open));
        let mut bad = sealed.clone();
        bad.ciphertext = b64(b"garbage-garbage-garbage");
        assert_eq!(open(&key, &bad, &aad), Err(ProtocolError::Open));
        // Two seals of one password differ (fresh encapsulation each time).
        let again = seal(&key.public_key(), b"Correct-Horse-7", &aad).unwrap();
        assert_ne!(again, sealed);
    }
}
