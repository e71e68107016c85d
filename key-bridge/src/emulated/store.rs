//! The emulated key's file: its state as JSON, sealed with XChaCha20-Poly1305.
//!
//! Layout: `MAGIC (8) | key check (8) | nonce (24) | ciphertext with tag`. The first 16 bytes are
//! the associated data, so they cannot be altered unnoticed. The key check (a domain-separated
//! SHA-256 of the storage key, truncated) tells a wrong key apart from a damaged file; it reveals
//! nothing usable about a random 32-byte key. Every save uses a fresh random nonce and replaces
//! the file atomically (temporary file, fsync, rename, fsync of the folder), with mode 0600.

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::state::State;
use crate::error::StoreError;

const MAGIC: [u8; 8] = *b"KBEMUK\x00\x01";
const CHECK_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC.len() + CHECK_LEN;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Far above any real state (1024 slots of long credentials); guards against reading a wrong,
/// huge file into memory.
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// The workstation identity file uses the same sealing under its own magic.
pub(crate) const WORKSTATION_MAGIC: [u8; 8] = *b"KBWSID\x00\x01";

/// Where the emulated key lives and the key that seals it.
pub(crate) struct Store {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    magic: [u8; 8],
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Store {
    pub(super) fn new(path: &Path, key: &[u8; 32]) -> Self {
        Self::with_magic(path, key, MAGIC)
    }

    /// A sealed file of another kind (its magic tells them apart).
    pub(crate) fn with_magic(path: &Path, key: &[u8; 32], magic: [u8; 8]) -> Self {
        Self {
            path: path.to_path_buf(),
            key: Zeroizing::new(*key),
            magic,
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    fn key_check(&self) -> [u8; CHECK_LEN] {
        let digest = Sha256::new()
            .chain_update(b"key-bridge emulated key: storage key check v1\0")
            .chain_update(self.key.as_slice())
            .finalize();
        let mut check = [0u8; CHECK_LEN];
        check.copy_from_slice(&digest[..CHECK_LEN]);
        check
    }

    fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(&self.magic);
        header[MAGIC.len()..].copy_from_slice(&self.key_check());
        header
    }

    fn corrupt(&self, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// Seals the state: the bytes that go to disk.
    pub(super) fn seal(&self, state: &State) -> Result<Vec<u8>, StoreError> {
        self.seal_bytes(&state.to_json()?)
    }

    pub(crate) fn seal_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| StoreError::Random(e.to_string()))?;
        let header = self.header();
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.key.as_slice()));
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &header,
                },
            )
            // Only fails for a message beyond the cipher's length limit (256 GiB).
            .map_err(|_| self.corrupt("the state is too large to encrypt"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens sealed bytes read from the file.
    pub(super) fn unseal(&self, bytes: &[u8]) -> Result<State, StoreError> {
        let plaintext = self.unseal_bytes(bytes)?;
        State::from_json(&plaintext).map_err(|reason| self.corrupt(reason))
    }

    pub(crate) fn unseal_bytes(&self, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != self.magic {
            return Err(self.corrupt(
                "not an emulated key file, or a format version this build does not read",
            ));
        }
        if bytes.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
            return Err(self.corrupt("the file is truncated"));
        }
        let (header, rest) = bytes.split_at(HEADER_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        if !bool::from(header[MAGIC.len()..].ct_eq(&self.key_check())) {
            return Err(StoreError::WrongKey(self.path.clone()));
        }
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.key.as_slice()));
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: header,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                self.corrupt("authentication failed: the file is truncated, damaged or modified")
            })
    }

    pub(crate) fn exists(&self) -> Result<bool, StoreError> {
        match fs::symlink_metadata(&self.path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(StoreError::Io {
                action: "inspect",
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub(super) fn load(&self) -> Result<State, StoreError> {
        let bytes = self.read()?;
        self.unseal(&bytes)
    }

    /// The file's raw (sealed) bytes.
    pub(crate) fn read(&self) -> Result<Vec<u8>, StoreError> {
        let io = |action, source| StoreError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        let file = File::open(&self.path).map_err(|e| io("open", e))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_LEN + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io("read", e))?;
        if bytes.len() as u64 > MAX_FILE_LEN {
            return Err(self.corrupt("the file is far too large to be an emulated key"));
        }
        Ok(bytes)
    }

    pub(super) fn save(&self, state: &State) -> Result<(), StoreError> {
        let bytes = self.seal(state)?;
        write_atomic(&self.path, &bytes)
    }

    /// Seals `plaintext` and replaces the file with it.
    pub(crate) fn save_bytes(&self, plaintext: &[u8]) -> Result<(), StoreError> {
        let bytes = self.seal_bytes(plaintext)?;
        write_atomic(&self.path, &bytes)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file, never a
/// mix: write a temporary file beside it (mode 0600), fsync it, rename it over, fsync the folder.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let io = |action, path: &Path, source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let file_name = path.file_name().ok_or(StoreError::InvalidConfig(
        "the key file path has no file name",
    ))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| StoreError::Random(e.to_string()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        super::state::hex(&suffix)
    ));

    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(&tmp)
        .map_err(|e| io("create the temporary file", &tmp, e))?;
    let written = write_and_sync(file, bytes)
        .map_err(|e| io("write", &tmp, e))
        .and_then(|()| fs::rename(&tmp, path).map_err(|e| io("replace", path, e)));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the folder", dir, e))?;
    Ok(())
}

fn write_and_sync(mut file: File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulated::EmulatedKeyConfig;

    fn store(key: u8) -> Store {
        Store::new(Path::new("/nonexistent/key.bin"), &[key; 32])
    }

    fn state() -> State {
        State::factory(&EmulatedKeyConfig {
            serial: Some("EMU-TEST".into()),
            ..EmulatedKeyConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn seal_round_trips_and_uses_a_fresh_nonce() {
        let s = store(7);
        let a = s.seal(&state()).unwrap();
        let b = s.seal(&state()).unwrap();
        assert_ne!(
            a, b,
            "two seals of the same state must differ (random nonce)"
        );
        assert_eq!(s.unseal(&a).unwrap().serial, "EMU-TEST");
        assert_eq!(s.unseal(&b).unwrap().serial, "EMU-TEST");
    }

    #[test]
    fn wrong_key_is_told_apart_from_damage() {
        let sealed = store(7).seal(&state()).unwrap();
        assert!(matches!(
            store(8).unseal(&sealed),
            Err(StoreError::WrongKey(_))
        ));

        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        let err = store(7).unseal(&flipped).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("authentication")),
            "{err}"
        );

        let err = store(7).unseal(&sealed[..HEADER_LEN + 10]).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("truncated")),
            "{err}"
        );

        let err = store(7).unseal(b"{\"format\":1}").unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { reason, .. } if reason.contains("not an emulated")),
            "{err}"
        );
    }

    #[test]
    fn the_header_is_authenticated() {
        // Re-sealing with another key and grafting the right key check on the header must not
        // get past decryption.
        let mut sealed = store(8).seal(&state()).unwrap();
        let good_check = store(7).key_check();
        sealed[MAGIC.len()..HEADER_LEN].copy_from_slice(&good_check);
        assert!(matches!(
            store(7).unseal(&sealed),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
