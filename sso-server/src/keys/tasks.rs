//! The per-key task queue. The server queues work for a key; the key-bridge on the employee's
//! workstation fetches the pending tasks in order, applies them to the key and confirms each
//! once. Passwords travel only inside a task's sealed payload, which is dropped as soon as the
//! task ends.
//!
//! Credentials on the key: a domain account's current password is stored under the domain's
//! name (its NetBIOS name); a rotation first writes the new one beside it under `<name>+next`
//! and only promotes it once the directory has it. So at every moment the key holds the
//! password the directory has.

use super::rotation_state::Step;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::keys::store::TaskRow;
use crate::store::Conn;

/// The operations, shared with the agent through the wire crate.
pub use key_protocol::Operation;

/// What a task carries (sealed at rest).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Payload {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("name", &self.name)
            .field("login", &self.login)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        if let Some(p) = self.password.as_mut() {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

fn aad(task_id: &str) -> Vec<u8> {
    format!("key_task:{task_id}").into_bytes()
}

/// The name of the pending (not yet confirmed by the directory) credential beside `name`.
pub fn next_name(name: &str) -> String {
    format!("{name}+next")
}

/// Queues a task; returns its id.
pub async fn queue(
    conn: &mut Conn,
    cipher: &Cipher,
    key_id: &str,
    operation: Operation,
    rotation_id: Option<&str>,
    payload: &Payload,
    now: i64,
) -> Result<String> {
    let id = Uuid::new_v4().to_string();
    let plain = Zeroizing::new(
        serde_json::to_vec(payload).map_err(|e| Error::Internal(format!("task payload: {e}")))?,
    );
    let sealed = cipher.seal(&plain, &aad(&id))?;
    insert(conn, id, key_id, operation, rotation_id, Some(sealed), now).await
}

/// Queues a wipe (no payload).
pub async fn queue_wipe(conn: &mut Conn, key_id: &str, now: i64) -> Result<String> {
    let id = Uuid::new_v4().to_string();
    insert(conn, id, key_id, Operation::Wipe, None, None, now).await
}

/// A new pending task; its place in the key's queue is given by the store.
async fn insert(
    conn: &mut Conn,
    id: String,
    key_id: &str,
    operation: Operation,
    rotation_id: Option<&str>,
    payload: Option<Vec<u8>>,
    now: i64,
) -> Result<String> {
    crate::keys::store::insert_task(
        conn,
        &TaskRow {
            id: id.clone(),
            key_id: key_id.to_owned(),
            seq: 0,
            operation: operation.as_str().into(),
            rotation_id: rotation_id.map(str::to_owned),
            payload,
            state: super::task_state::TaskState::Pending.as_str().into(),
            error: None,
            created_at: now,
            finished_at: None,
        },
    )
    .await?;
    Ok(id)
}

/// A task as the key-bridge receives it: the password, if any, is opened from the data key's
/// seal only to be sealed again to the key's own public key (HPKE, associated data: serial and
/// task id). Nothing on the way (agent, proxies, logs) sees it in clear, and the answer is
/// useless to anyone but that key.
pub fn view(
    cipher: &Cipher,
    t: &TaskRow,
    serial: &str,
    key_public: &[u8],
) -> Result<key_protocol::Task> {
    let payload: Payload = match &t.payload {
        Some(sealed) => {
            let plain = Zeroizing::new(cipher.open(sealed, &aad(&t.id))?);
            serde_json::from_slice(&plain)
                .map_err(|e| Error::Internal(format!("task payload: {e}")))?
        }
        None => Payload::default(),
    };
    let sealed_password = match payload.password.as_deref() {
        Some(p) => Some(
            key_protocol::seal(
                key_public,
                p.as_bytes(),
                &key_protocol::password_aad(serial, &t.id),
            )
            .map_err(|e| Error::Crypto(format!("sealing a password to the key: {e}")))?,
        ),
        None => None,
    };
    Ok(key_protocol::Task {
        id: t.id.clone(),
        operation: Operation::parse(&t.operation).unwrap_or(Operation::Unknown),
        name: Some(payload.name.clone()).filter(|n| !n.is_empty()),
        login: payload.login.clone(),
        sealed_password,
        from: payload.from.clone(),
    })
}

/// Whether `proof` is the key's proof ([`key_protocol::stored_proof`]) that it stored the
/// password of the write task `t` (of the key `serial`): the server recomputes it from the
/// password it sealed, which nothing but the key could open.
pub fn proves_stored(cipher: &Cipher, t: &TaskRow, serial: &str, proof: &[u8]) -> Result<bool> {
    let Some(sealed) = &t.payload else {
        return Ok(false);
    };
    let plain = Zeroizing::new(cipher.open(sealed, &aad(&t.id))?);
    let payload: Payload = serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(format!("task payload: {e}")))?;
    Ok(payload.password.as_deref().is_some_and(|password| {
        key_protocol::check_stored_proof(proof, password.as_bytes(), serial, &t.id, &payload.name)
    }))
}

/// Cancels the key's pending password tasks and fails the rotations they belonged to (and any
/// other open rotation on this key): the directory keeps the password the key last confirmed.
pub async fn cancel_password_work(
    conn: &mut Conn,
    key_id: &str,
    why: &str,
    now: i64,
) -> Result<()> {
    crate::keys::store::cancel_password_tasks(conn, key_id, now).await?;
    for r in crate::keys::store::open_rotations_of_key(conn, key_id).await? {
        let Some(from) = r.state() else { continue };
        if super::rotation::advance(conn, &r.id, from, Step::Cancelled, Some(why), now).await? {
            super::rotation::failed(conn, &r, why, now).await?;
        }
    }
    Ok(())
}
