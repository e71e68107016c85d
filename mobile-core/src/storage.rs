//! The accounts file: one JSON document, replaced atomically (write a temporary file beside it,
//! flush it to disk, rename it over the old one). It holds no secrets — the device keys stay in
//! the key store — so it needs no encryption, but it is created readable by its owner only.
//!
//! Several processes may share the file (iOS answers notifications in an extension, Android in
//! background services): every change is read-modify-write under an advisory lock on a lock file
//! beside it (`<file>.lock`, `flock`), starting from what is on disk, so no process overwrites
//! another's change. Readers need no lock: the file is only ever replaced whole by a rename.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AuthError;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    pub version: u32,
    pub accounts: Vec<StoredAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAccount {
    /// Server-assigned; also the account id on the phone.
    pub device_id: String,
    /// The server base URL (path ends with `/`).
    pub server_url: String,
    /// The server's challenge-signing key, SEC1 uncompressed, base64url.
    pub server_public_key: String,
    /// The device key's alias in the key store.
    pub key_alias: String,
    /// The device key's public half, SEC1 uncompressed, base64url (to check the store's
    /// signatures before they are sent).
    pub device_public_key: String,
    #[serde(default)]
    pub account_name: Option<String>,
    /// Challenges answered and not yet expired: challenge id -> `expires` (Unix seconds).
    #[serde(default)]
    pub answered: BTreeMap<String, i64>,
    /// Offline codes, if the server offered them (the secret is in the key store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<crate::offline::StoredTotp>,
}

pub(crate) fn storage_err(what: &str, path: &Path, e: impl std::fmt::Display) -> AuthError {
    AuthError::Storage {
        reason: format!("{what} {}: {e}", path.display()),
    }
}

/// Reads the file; a missing file is an empty state. A corrupt file is an error, never silently
/// replaced (that would lose the user's accounts).
pub fn load(path: &Path) -> Result<StoredState, AuthError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(StoredState {
                version: FORMAT_VERSION,
                accounts: Vec::new(),
            })
        }
        Err(e) => return Err(storage_err("cannot read", path, e)),
    };
    let state: StoredState =
        serde_json::from_str(&text).map_err(|e| storage_err("cannot parse", path, e))?;
    if state.version != FORMAT_VERSION {
        return Err(storage_err(
            "cannot read",
            path,
            format!("unknown format version {}", state.version),
        ));
    }
    Ok(state)
}

/// Holds the exclusive advisory lock on `<path>.lock` until dropped (the OS also drops it if
/// the process dies, so a crash never leaves the file locked).
#[derive(Debug)]
pub struct WriteLock(fs::File);

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Waits for the exclusive lock of the accounts file at `path`.
pub fn lock(path: &Path) -> Result<WriteLock, AuthError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let mut options = fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(&lock_path)
        .map_err(|e| storage_err("cannot open", &lock_path, e))?;
    file.lock()
        .map_err(|e| storage_err("cannot lock", &lock_path, e))?;
    Ok(WriteLock(file))
}

/// Writes the state atomically.
pub fn save(path: &Path, state: &StoredState) -> Result<(), AuthError> {
    let json =
        serde_json::to_vec_pretty(state).map_err(|e| storage_err("cannot encode", path, e))?;
    write_atomic(path, &json)
}

/// Replaces the file at `path` with `bytes` atomically, readable by its owner only.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let tmp = tmp_path(path);
    let result = write_and_rename(&tmp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_and_rename(tmp: &Path, path: &Path, json: &[u8]) -> Result<(), AuthError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(tmp)
        .map_err(|e| storage_err("cannot create", tmp, e))?;
    file.write_all(json)
        .and_then(|()| file.sync_all())
        .map_err(|e| storage_err("cannot write", tmp, e))?;
    drop(file);
    fs::rename(tmp, path).map_err(|e| storage_err("cannot replace", path, e))?;
    // Make the rename itself durable. Directories cannot be opened for syncing everywhere
    // (Windows), so this one is best effort.
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str) -> StoredAccount {
        StoredAccount {
            device_id: id.into(),
            server_url: "https://a/".into(),
            server_public_key: "pk".into(),
            key_alias: format!("alias-{id}"),
            device_public_key: "dpk".into(),
            account_name: None,
            answered: BTreeMap::from([("c1".to_string(), 5)]),
            totp: None,
        }
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        assert!(load(&path).unwrap().accounts.is_empty());
        let state = StoredState {
            version: FORMAT_VERSION,
            accounts: vec![account("d1"), account("d2")],
        };
        save(&path, &state).unwrap();
        assert_eq!(load(&path).unwrap(), state);
        assert!(!tmp_path(&path).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn corrupt_file_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(AuthError::Storage { .. })));
        fs::write(&path, r#"{"version":2,"accounts":[]}"#).unwrap();
        assert!(matches!(load(&path), Err(AuthError::Storage { .. })));
    }

    #[test]
    fn failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let state = StoredState {
            version: FORMAT_VERSION,
            accounts: vec![account("d1")],
        };
        save(&path, &state).unwrap();
        // A directory where the temporary file should go makes the write fail.
        fs::create_dir(tmp_path(&path)).unwrap();
        assert!(save(&path, &StoredState::default()).is_err());
        assert_eq!(load(&path).unwrap(), state);
    }
}
