//! Where the device keys live. The apps implement [`KeyStore`] over the platform's secure key
//! storage (iOS Keychain / Secure Enclave, Android Keystore / StrongBox); the core never sees a
//! private key. [`SoftwareKeyStore`] is a Rust implementation for tests and development.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use zeroize::Zeroizing;

use crate::crypto::{encode_public_key, random_bytes};
use crate::error::AuthError;

/// The platform's key storage, implemented by the app (Swift, Kotlin) or by
/// [`SoftwareKeyStore`]. All keys are ECDSA P-256; the private key should never leave the store.
///
/// Methods are `async` so an implementation may show a biometric or passcode prompt before
/// signing. Errors should be raised as `AuthError.KeyStore(reason)`; any other exception also
/// arrives as `AuthError::KeyStore`.
#[uniffi::export(rust, foreign)]
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates a new P-256 key under `alias` (replacing any key of that alias) and returns its
    /// public key, SEC1 uncompressed: 65 bytes, `0x04 || X || Y` (iOS:
    /// `SecKeyCopyExternalRepresentation`; Android: the `ECPoint` of the public key).
    async fn generate_key(&self, alias: String) -> Result<Vec<u8>, AuthError>;

    /// Signs `message` with the key under `alias`: ECDSA over SHA-256 of `message` (the store
    /// hashes), returned **DER-encoded** (X9.62 `ECDSA-Sig-Value`), which is what iOS
    /// (`.ecdsaSignatureMessageX962SHA256`) and Android (`SHA256withECDSA`) produce.
    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, AuthError>;

    /// Deletes the key under `alias`. Deleting a key that does not exist is not an error.
    async fn delete_key(&self, alias: String) -> Result<(), AuthError>;
}

/// A [`KeyStore`] holding its keys in process memory, generated from the OS CSPRNG. For tests
/// and development only: the keys are gone when the process ends and are not hardware-protected.
#[derive(Default)]
pub struct SoftwareKeyStore {
    keys: Mutex<HashMap<String, SigningKey>>,
}

impl fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aliases: Vec<String> = self
            .keys
            .lock()
            .map(|k| k.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("SoftwareKeyStore")
            .field("aliases", &aliases)
            .finish_non_exhaustive()
    }
}

impl SoftwareKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, SigningKey>>, AuthError> {
        self.keys
            .lock()
            .map_err(|_| AuthError::key_store("software key store lock poisoned"))
    }

    /// The aliases of the keys held, sorted (tests check that removed accounts delete their key).
    pub fn aliases(&self) -> Result<Vec<String>, AuthError> {
        let mut v: Vec<String> = self.lock()?.keys().cloned().collect();
        v.sort();
        Ok(v)
    }
}

/// A new P-256 signing key from the OS CSPRNG.
pub fn random_signing_key() -> Result<SigningKey, AuthError> {
    // A random 32-byte string is a valid scalar except with probability ~2^-32; retry then.
    for _ in 0..8 {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut())?;
        if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
            return Ok(key);
        }
    }
    Err(AuthError::Internal {
        reason: "could not draw a valid P-256 scalar".into(),
    })
}

#[async_trait::async_trait]
impl KeyStore for SoftwareKeyStore {
    async fn generate_key(&self, alias: String) -> Result<Vec<u8>, AuthError> {
        let key = random_signing_key()?;
        let public = encode_public_key(key.verifying_key());
        self.lock()?.insert(alias, key);
        Ok(public)
    }

    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, AuthError> {
        let keys = self.lock()?;
        let key = keys
            .get(&alias)
            .ok_or_else(|| AuthError::key_store(format!("no key `{alias}`")))?;
        let sig: Signature = key.sign(&message);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    async fn delete_key(&self, alias: String) -> Result<(), AuthError> {
        self.lock()?.remove(&alias);
        Ok(())
    }
}

/// A new, empty [`SoftwareKeyStore`] as a `KeyStore` to hand to `Authenticator` (tests and
/// development only).
#[uniffi::export]
pub fn new_software_key_store() -> Arc<dyn KeyStore> {
    Arc::new(SoftwareKeyStore::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{der_to_fixed, parse_public_key, verify_fixed};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        crate::test_util::block_on(f)
    }

    #[test]
    fn software_key_store_round_trip() {
        let ks = SoftwareKeyStore::new();
        let pk = block_on(ks.generate_key("a".into())).unwrap();
        let key = parse_public_key(&pk).unwrap();
        let der = block_on(ks.sign("a".into(), b"hello".to_vec())).unwrap();
        assert_eq!(der[0], 0x30, "DER SEQUENCE");
        let fixed = der_to_fixed(&der).unwrap();
        assert!(verify_fixed(&key, b"hello", &fixed));
        assert!(!verify_fixed(&key, b"hellp", &fixed));
        // Keys are random: a second alias has another key.
        let pk2 = block_on(ks.generate_key("b".into())).unwrap();
        assert_ne!(pk, pk2);
        assert_eq!(ks.aliases().unwrap(), vec!["a", "b"]);
        block_on(ks.delete_key("a".into())).unwrap();
        block_on(ks.delete_key("a".into())).unwrap();
        assert!(matches!(
            block_on(ks.sign("a".into(), vec![])),
            Err(AuthError::KeyStore { .. })
        ));
        assert!(!format!("{ks:?}").contains("SigningKey"));
    }
}
