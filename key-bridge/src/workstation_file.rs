//! The workstation's identity on disk: its id and private key, sealed with XChaCha20-Poly1305
//! under the agent's storage key (the same sealed, atomically replaced, mode-0600 file format as
//! the emulated key, under its own magic).

use std::path::Path;

use key_protocol::IdentityKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::agent::Workstation;
use crate::emulated::store::{Store, WORKSTATION_MAGIC};
use crate::error::StoreError;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    id: String,
    /// The 32-byte private scalar, base64url.
    private_key: String,
}

/// Reads the workstation identity; `None` when the file does not exist (not enrolled yet).
pub fn load(path: &Path, storage_key: &[u8; 32]) -> Result<Option<Workstation>, StoreError> {
    let store = Store::with_magic(path, storage_key, WORKSTATION_MAGIC);
    if !store.exists()? {
        return Ok(None);
    }
    let corrupt = |reason: &str| StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    };
    let plain = store.unseal_bytes(&store.read()?)?;
    let saved: Saved =
        serde_json::from_slice(&plain).map_err(|_| corrupt("unreadable contents"))?;
    let secret = Zeroizing::new(
        key_protocol::unb64(&saved.private_key, "private_key")
            .map_err(|_| corrupt("unreadable private key"))?,
    );
    let key = IdentityKey::from_bytes(&secret).map_err(|_| corrupt("invalid private key"))?;
    Ok(Some(Workstation { id: saved.id, key }))
}

/// Saves the workstation identity (replacing the file atomically).
pub fn save(path: &Path, storage_key: &[u8; 32], ws: &Workstation) -> Result<(), StoreError> {
    let saved = Saved {
        id: ws.id.clone(),
        private_key: key_protocol::b64(&ws.key.to_bytes()[..]),
    };
    let plain = Zeroizing::new(
        serde_json::to_vec(&saved)
            .map_err(|_| StoreError::InvalidConfig("the identity could not be serialized"))?,
    );
    Store::with_magic(path, storage_key, WORKSTATION_MAGIC).save_bytes(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_needs_the_storage_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workstation.bin");
        assert!(load(&path, &[7; 32]).unwrap().is_none());
        let ws = Workstation {
            id: "ws-1".into(),
            key: IdentityKey::generate().unwrap(),
        };
        save(&path, &[7; 32], &ws).unwrap();
        let back = load(&path, &[7; 32]).unwrap().unwrap();
        assert_eq!(back.id, "ws-1");
        assert_eq!(back.key.public_key(), ws.key.public_key());
        assert!(matches!(
            load(&path, &[8; 32]),
            Err(StoreError::WrongKey(_))
        ));
        let raw = std::fs::read(&path).unwrap();
        let secret = key_protocol::b64(&ws.key.to_bytes()[..]);
        assert!(!String::from_utf8_lossy(&raw).contains(&secret));
    }
}
