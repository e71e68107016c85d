//! Where the device keys and secrets live. The apps implement [`PlatformKeyStore`] over the platform's
//! secure storage (iOS Keychain / Secure Enclave, Android Keystore / StrongBox); the core never
//! sees a private key. [`SoftwareKeyStore`] is a Rust implementation for tests and desktop use:
//! in memory, or in a file encrypted with a key the app supplies.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{b64url, encode_public_key, from_b64url, random_bytes};
use crate::error::AuthError;
use crate::storage;

/// The platform's key storage, implemented by the app (Swift, Kotlin) or by
/// [`SoftwareKeyStore`]. All keys are ECDSA P-256; the private key should never leave the store.
/// It also keeps small secrets (the offline-code secret) that must be as well protected as keys.
///
/// Methods are `async` so an implementation may show a biometric or passcode prompt before
/// signing. Errors should be raised as `AuthError.PlatformKeyStore(reason)`; any other exception also
/// arrives as `AuthError::KeyStore`.
#[uniffi::export(rust, foreign)]
#[async_trait::async_trait]
pub trait PlatformKeyStore: Send + Sync {
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

    /// Stores `secret` (at most 64 bytes) under `alias`, replacing any secret of that alias. iOS:
    /// a Keychain generic password, `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`;
    /// Android: encrypted with a non-exportable Keystore AES key.
    async fn save_secret(&self, alias: String, secret: Vec<u8>) -> Result<(), AuthError>;

    /// The secret under `alias`; `AuthError::KeyStore` if there is none.
    async fn load_secret(&self, alias: String) -> Result<Vec<u8>, AuthError>;

    /// Deletes the secret under `alias`. Deleting a secret that does not exist is not an error.
    async fn delete_secret(&self, alias: String) -> Result<(), AuthError>;
}

#[derive(Default)]
struct Contents {
    keys: BTreeMap<String, SigningKey>,
    secrets: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

/// The file form of [`Contents`], before encryption.
#[derive(Serialize, Deserialize)]
struct ContentsFile {
    version: u32,
    /// alias -> P-256 scalar, base64url.
    keys: BTreeMap<String, String>,
    /// alias -> secret, base64url.
    secrets: BTreeMap<String, String>,
}

const FILE_VERSION: u32 = 1;
const FILE_MAGIC: &[u8] = b"hideez-auth-keystore-v1";
const NONCE_LEN: usize = 24;

/// Where a file-backed store keeps its contents, and the key that encrypts them.
struct Backing {
    path: PathBuf,
    aead: XChaCha20Poly1305,
}

/// A [`PlatformKeyStore`] in Rust, with keys from the OS CSPRNG. In memory ([`SoftwareKeyStore::new`],
/// for tests), or in a file encrypted with XChaCha20-Poly1305 under a 32-byte key the app keeps
/// in the OS keyring ([`SoftwareKeyStore::open`], for desktop use). Not hardware-protected.
#[derive(Default)]
pub struct SoftwareKeyStore {
    contents: Mutex<Contents>,
    backing: Option<Backing>,
}

impl fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let aliases: Vec<String> = self
            .contents
            .lock()
            .map(|c| c.keys.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("SoftwareKeyStore")
            .field("aliases", &aliases)
            .field("file", &self.backing.as_ref().map(|b| b.path.clone()))
            .finish_non_exhaustive()
    }
}

impl SoftwareKeyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens (or starts) the encrypted store at `path` with `file_key` (32 bytes). A file that
    /// does not decrypt with this key is an error, never replaced.
    pub fn open(path: &Path, file_key: &[u8]) -> Result<Self, AuthError> {
        if file_key.len() != 32 {
            return Err(AuthError::InvalidField {
                field: "file_key".into(),
                reason: "must be 32 bytes".into(),
            });
        }
        let aead =
            XChaCha20Poly1305::new_from_slice(file_key).map_err(|_| AuthError::InvalidField {
                field: "file_key".into(),
                reason: "must be 32 bytes".into(),
            })?;
        let backing = Backing {
            path: path.to_path_buf(),
            aead,
        };
        let contents = match std::fs::read(path) {
            Ok(bytes) => backing.decrypt(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Contents::default(),
            Err(e) => return Err(storage::storage_err("cannot read", path, e)),
        };
        Ok(Self {
            contents: Mutex::new(contents),
            backing: Some(backing),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Contents>, AuthError> {
        self.contents
            .lock()
            .map_err(|_| AuthError::key_store("software key store lock poisoned"))
    }

    /// Applies `change` and, for a file-backed store, writes the file; on a failed write the
    /// change is undone, so memory and file never disagree.
    fn change<T>(&self, change: impl FnOnce(&mut Contents) -> T) -> Result<T, AuthError> {
        let mut contents = self.lock()?;
        let Some(backing) = &self.backing else {
            return Ok(change(&mut contents));
        };
        let before = contents.snapshot();
        let out = change(&mut contents);
        if let Err(e) = backing.write(&contents) {
            *contents = before;
            return Err(e);
        }
        Ok(out)
    }

    /// The aliases of the keys held, sorted (tests check that removed accounts delete their key).
    pub fn aliases(&self) -> Result<Vec<String>, AuthError> {
        Ok(self.lock()?.keys.keys().cloned().collect())
    }

    /// The aliases of the secrets held, sorted.
    pub fn secret_aliases(&self) -> Result<Vec<String>, AuthError> {
        Ok(self.lock()?.secrets.keys().cloned().collect())
    }
}

impl Contents {
    fn snapshot(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

impl Backing {
    fn corrupt(&self, why: &str) -> AuthError {
        AuthError::key_store(format!("the key store file {} {why}", self.path.display()))
    }

    fn decrypt(&self, bytes: &[u8]) -> Result<Contents, AuthError> {
        let rest = bytes
            .strip_prefix(FILE_MAGIC)
            .filter(|r| r.len() > NONCE_LEN)
            .ok_or_else(|| self.corrupt("is not a key store file"))?;
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let plain = Zeroizing::new(
            self.aead
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: ct,
                        aad: FILE_MAGIC,
                    },
                )
                .map_err(|_| self.corrupt("does not decrypt: wrong file key or damaged file"))?,
        );
        let file: ContentsFile =
            serde_json::from_slice(&plain).map_err(|_| self.corrupt("holds malformed contents"))?;
        if file.version != FILE_VERSION {
            return Err(self.corrupt("has an unknown format version"));
        }
        let mut contents = Contents::default();
        for (alias, scalar) in file.keys {
            let bytes = Zeroizing::new(from_b64url(&scalar).unwrap_or_default());
            let key = SigningKey::from_slice(&bytes)
                .map_err(|_| self.corrupt("holds a malformed key"))?;
            contents.keys.insert(alias, key);
        }
        for (alias, secret) in file.secrets {
            let bytes =
                from_b64url(&secret).ok_or_else(|| self.corrupt("holds a malformed secret"))?;
            contents.secrets.insert(alias, Zeroizing::new(bytes));
        }
        Ok(contents)
    }

    fn write(&self, contents: &Contents) -> Result<(), AuthError> {
        let file = ContentsFile {
            version: FILE_VERSION,
            keys: contents
                .keys
                .iter()
                .map(|(a, k)| (a.clone(), b64url(&k.to_bytes())))
                .collect(),
            secrets: contents
                .secrets
                .iter()
                .map(|(a, s)| (a.clone(), b64url(s)))
                .collect(),
        };
        let plain = Zeroizing::new(serde_json::to_vec(&file).map_err(|e| AuthError::Internal {
            reason: format!("cannot encode the key store: {e}"),
        })?);
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let ct = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: FILE_MAGIC,
                },
            )
            .map_err(|_| AuthError::Internal {
                reason: "cannot encrypt the key store".into(),
            })?;
        let mut out = Vec::with_capacity(FILE_MAGIC.len() + NONCE_LEN + ct.len());
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        storage::write_atomic(&self.path, &out)
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

/// The most a secret may hold (an offline-code secret is 32 bytes).
pub const MAX_SECRET_LEN: usize = 64;

#[async_trait::async_trait]
impl PlatformKeyStore for SoftwareKeyStore {
    async fn generate_key(&self, alias: String) -> Result<Vec<u8>, AuthError> {
        let key = random_signing_key()?;
        let public = encode_public_key(key.verifying_key());
        self.change(|c| c.keys.insert(alias, key))?;
        Ok(public)
    }

    async fn sign(&self, alias: String, message: Vec<u8>) -> Result<Vec<u8>, AuthError> {
        let contents = self.lock()?;
        let key = contents
            .keys
            .get(&alias)
            .ok_or_else(|| AuthError::key_store(format!("no key `{alias}`")))?;
        let sig: Signature = key.sign(&message);
        Ok(sig.to_der().as_bytes().to_vec())
    }

    async fn delete_key(&self, alias: String) -> Result<(), AuthError> {
        self.change(|c| c.keys.remove(&alias)).map(drop)
    }

    async fn save_secret(&self, alias: String, secret: Vec<u8>) -> Result<(), AuthError> {
        if secret.len() > MAX_SECRET_LEN {
            return Err(AuthError::InvalidField {
                field: "secret".into(),
                reason: format!("at most {MAX_SECRET_LEN} bytes"),
            });
        }
        self.change(|c| c.secrets.insert(alias, Zeroizing::new(secret)))
            .map(drop)
    }

    async fn load_secret(&self, alias: String) -> Result<Vec<u8>, AuthError> {
        self.lock()?
            .secrets
            .get(&alias)
            .map(|s| s.to_vec())
            .ok_or_else(|| AuthError::key_store(format!("no secret `{alias}`")))
    }

    async fn delete_secret(&self, alias: String) -> Result<(), AuthError> {
        self.change(|c| c.secrets.remove(&alias)).map(drop)
    }
}

/// A new, empty in-memory [`SoftwareKeyStore`] as a `PlatformKeyStore` to hand to `Authenticator`
/// (tests and development only).
#[uniffi::export]
pub fn new_software_key_store() -> Arc<dyn PlatformKeyStore> {
    Arc::new(SoftwareKeyStore::new())
}

/// A [`SoftwareKeyStore`] kept in the file at `path`, encrypted with `file_key` (32 bytes from
/// the OS keyring), for desktop use. Its folder must exist.
#[uniffi::export]
pub fn open_software_key_store(
    path: String,
    file_key: Vec<u8>,
) -> Result<Arc<dyn PlatformKeyStore>, AuthError> {
    let file_key = Zeroizing::new(file_key);
    Ok(Arc::new(SoftwareKeyStore::open(
        Path::new(&path),
        &file_key,
    )?))
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

    #[test]
    fn secrets_round_trip() {
        let ks = SoftwareKeyStore::new();
        block_on(ks.save_secret("s".into(), vec![1, 2, 3])).unwrap();
        assert_eq!(block_on(ks.load_secret("s".into())).unwrap(), vec![1, 2, 3]);
        assert!(matches!(
            block_on(ks.save_secret("big".into(), vec![0; 65])),
            Err(AuthError::InvalidField { field, .. }) if field == "secret"
        ));
        block_on(ks.delete_secret("s".into())).unwrap();
        block_on(ks.delete_secret("s".into())).unwrap();
        assert!(matches!(
            block_on(ks.load_secret("s".into())),
            Err(AuthError::KeyStore { .. })
        ));
    }

    #[test]
    fn file_store_is_encrypted_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.bin");
        let file_key = [9u8; 32];
        let ks = SoftwareKeyStore::open(&path, &file_key).unwrap();
        let pk = block_on(ks.generate_key("a".into())).unwrap();
        block_on(ks.save_secret("a.totp".into(), b"totp-secret-bytes".to_vec())).unwrap();
        drop(ks);

        let raw = std::fs::read(&path).unwrap();
        assert!(raw.starts_with(FILE_MAGIC));
        let text = String::from_utf8_lossy(&raw);
        assert!(
            !text.contains("totp-secret") && !text.contains("\"a\""),
            "contents are encrypted"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }

        let ks = SoftwareKeyStore::open(&path, &file_key).unwrap();
        let der = block_on(ks.sign("a".into(), b"m".to_vec())).unwrap();
        let key = parse_public_key(&pk).unwrap();
        assert!(verify_fixed(&key, b"m", &der_to_fixed(&der).unwrap()));
        assert_eq!(
            block_on(ks.load_secret("a.totp".into())).unwrap(),
            b"totp-secret-bytes"
        );
        block_on(ks.delete_key("a".into())).unwrap();
        drop(ks);
        let ks = SoftwareKeyStore::open(&path, &file_key).unwrap();
        assert!(ks.aliases().unwrap().is_empty());
        assert_eq!(ks.secret_aliases().unwrap(), vec!["a.totp"]);

        // The wrong key, a damaged file, a short key: errors, and the file is left alone.
        assert!(matches!(
            SoftwareKeyStore::open(&path, &[8u8; 32]),
            Err(AuthError::KeyStore { .. })
        ));
        let mut damaged = std::fs::read(&path).unwrap();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        assert!(matches!(
            SoftwareKeyStore::open(&path, &file_key),
            Err(AuthError::KeyStore { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), damaged);
        assert!(matches!(
            SoftwareKeyStore::open(&path, &[1u8; 16]),
            Err(AuthError::InvalidField { field, .. }) if field == "file_key"
        ));
    }
}
