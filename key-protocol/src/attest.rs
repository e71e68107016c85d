//! What only a genuine key can say: that an identity is its own (attestation), and that it
//! stored a password (the stored-password proof).
//!
//! ```text
//! identity    = "hideez-key/identity/v1\0" || str(serial) || bytes(identity public key)
//! attestation = ES256(identity)   by the key's factory (attestation) key
//! stored      = HMAC-SHA256(key = password,
//!                   "hideez-key/stored/v1\0" || str(serial) || str(task id) || str(name))
//! ```
//!
//! The factory key is made inside the key at manufacture and certified by the vendor's CA for the
//! key's serial (an X.509 certificate whose subject `serialNumber` is the serial); it survives a
//! wipe, while the identity a wipe makes is new. The server records the certified factory key
//! when the key is imported and accepts an activation only with an identity that this factory
//! key attests: a key made in software by anyone else cannot activate, whatever code it brings.
//!
//! The stored-password proof is computed by the key from the password it just stored, which only
//! the key (and the server, which sealed it) can know: a confirmation that a password was stored
//! without it is refused, so nothing but a key that holds the password can move AD.

use ring::hmac;

use crate::sign::put_bytes;

const IDENTITY_DOMAIN: &[u8] = b"hideez-key/identity/v1\0";
const STORED_DOMAIN: &[u8] = b"hideez-key/stored/v1\0";

/// The statement the factory key signs for an identity of the key `serial`.
pub fn identity_statement(serial: &str, identity_public_key: &[u8]) -> Vec<u8> {
    let mut out = IDENTITY_DOMAIN.to_vec();
    put_bytes(&mut out, serial.as_bytes());
    put_bytes(&mut out, identity_public_key);
    out
}

/// The key's proof that it stored `password` under `name` for the task `task_id`.
fn stored_message(serial: &str, task_id: &str, name: &str) -> Vec<u8> {
    let mut msg = STORED_DOMAIN.to_vec();
    for part in [serial, task_id, name] {
        put_bytes(&mut msg, part.as_bytes());
    }
    msg
}

pub fn stored_proof(password: &[u8], serial: &str, task_id: &str, name: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, password);
    let tag = hmac::sign(&key, &stored_message(serial, task_id, name));
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Checks a stored-password proof in constant time.
pub fn check_stored_proof(
    proof: &[u8],
    password: &[u8],
    serial: &str,
    task_id: &str,
    name: &str,
) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, password);
    hmac::verify(&key, &stored_message(serial, task_id, name), proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify, IdentityKey};

    #[test]
    fn an_attestation_covers_the_serial_and_the_identity() {
        let factory = IdentityKey::generate().unwrap();
        let identity = IdentityKey::generate().unwrap().public_key();
        let sig = factory.sign(&identity_statement("K1", &identity));
        assert!(verify(
            &factory.public_key(),
            &identity_statement("K1", &identity),
            &sig
        ));
        assert!(!verify(
            &factory.public_key(),
            &identity_statement("K2", &identity),
            &sig
        ));
        let other = IdentityKey::generate().unwrap().public_key();
        assert!(!verify(
            &factory.public_key(),
            &identity_statement("K1", &other),
            &sig
        ));
    }

    #[test]
    fn a_stored_proof_needs_the_password_and_names_the_task() {
        let p = stored_proof(b"pw-1", "K1", "t1", "CORP+next");
        assert!(check_stored_proof(&p, b"pw-1", "K1", "t1", "CORP+next"));
        assert!(!check_stored_proof(&p, b"pw-2", "K1", "t1", "CORP+next"));
        assert!(!check_stored_proof(&p, b"pw-1", "K1", "t2", "CORP+next"));
        assert!(!check_stored_proof(&p, b"pw-1", "K1", "t1", "CORP"));
        assert!(!check_stored_proof(
            &p[..31],
            b"pw-1",
            "K1",
            "t1",
            "CORP+next"
        ));
    }
}
