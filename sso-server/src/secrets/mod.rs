//! Secrets at rest: sealed with the data-encryption key before they reach the database, the
//! name used as associated data so a ciphertext cannot be moved to another name.

pub mod store;

use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::store::{meta, Conn};

const KEY_CHECK: &str = "key_check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"sso-server data-encryption key check v1";

pub async fn put(
    conn: &mut Conn,
    cipher: &Cipher,
    name: &str,
    value: &[u8],
    now_ms: i64,
) -> Result<()> {
    let sealed = cipher.seal(value, name.as_bytes())?;
    crate::secrets::store::put(conn, name, &sealed, now_ms).await
}

pub async fn get(conn: &mut Conn, cipher: &Cipher, name: &str) -> Result<Option<Vec<u8>>> {
    match crate::secrets::store::get(conn, name).await? {
        Some(sealed) => Ok(Some(cipher.open(&sealed, name.as_bytes())?)),
        None => Ok(None),
    }
}

/// Makes sure the key opens this database's secrets: stores a sealed check value on first start
/// and opens it on every later one, so a wrong or replaced key stops the server at once instead of
/// surfacing later as undecryptable secrets.
pub async fn verify_key(conn: &mut Conn, cipher: &Cipher) -> Result<()> {
    let sealed = cipher.seal(KEY_CHECK_PLAINTEXT, KEY_CHECK.as_bytes())?;
    if meta::insert_if_absent(conn, KEY_CHECK, &sealed).await? {
        return Ok(());
    }
    let stored = meta::get(conn, KEY_CHECK)
        .await?
        .ok_or_else(|| Error::Internal("key check row vanished".into()))?;
    match cipher.open(&stored, KEY_CHECK.as_bytes()) {
        Ok(p) if p == KEY_CHECK_PLAINTEXT => Ok(()),
        _ => Err(Error::Crypto(
            "the data-encryption key does not match this database: restore the key file (or \
             SSO_MASTER_KEY) that was used when the database was created"
                .into(),
        )),
    }
}
