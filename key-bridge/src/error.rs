//! Errors of key devices and of the emulated key's file.
//!
//! No message here ever carries a password, a PIN or an activation code: credential *names* are
//! the only caller data that appear in them.

use std::path::PathBuf;

/// Errors a key device reports, whatever the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not reachable (unplugged, out of BLE range, switched off).
    #[error("the key is not connected")]
    NotConnected,
    /// The PIN was wrong; at zero attempts left the key wipes itself
    /// ([`KeyError::WipedAfterWrongPins`]).
    #[error("wrong PIN; {attempts_left} attempts left")]
    WrongPin { attempts_left: u32 },
    /// Too many wrong PINs: the key refuses everything but status and wipe.
    #[error("the key is locked; it must be wiped")]
    Locked,
    /// The last PIN attempt was wrong: the key wiped itself (credentials, link and identity are
    /// gone), as real keys do. It must be activated again.
    #[error("too many wrong PINs: the key wiped itself and must be activated again")]
    WipedAfterWrongPins,
    /// The key has a PIN and it has not been verified in this session.
    #[error("the key's PIN must be verified first")]
    PinRequired,
    /// Every credential slot is in use.
    #[error("no free credential slot on the key")]
    NoFreeSlot,
    /// No credential with that name on the key.
    #[error("no credential named {0:?} on the key")]
    NoSuchCredential(String),
    /// The key is already linked; it must be wiped before it can be linked again.
    #[error("the key is already linked; wipe it before linking it again")]
    AlreadyLinked,
    /// The key is not linked to a server yet, so it accepts no credentials.
    #[error("the key is not linked")]
    NotLinked,
    /// The key has no factory identity (an emulated key that was never provisioned).
    #[error("the key has no factory identity (provision it first)")]
    NotProvisioned,
    /// The request was refused by the key as malformed (e.g. an empty credential name).
    #[error("invalid request: {0}")]
    InvalidInput(&'static str),
    /// The link to the key failed (BLE/USB error, lost acknowledgement, injected fault).
    #[error("key transport error: {0}")]
    Transport(String),
    /// The key itself failed (for the emulated key: its file could not be written).
    #[error("key device error: {0}")]
    Device(String),
}

/// Errors opening, creating or saving the emulated key's file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} already exists; open it instead of creating it", .0.display())]
    AlreadyExists(PathBuf),
    /// The storage key given does not match the one the file was written with.
    #[error("wrong storage key for the emulated key file {}", .0.display())]
    WrongKey(PathBuf),
    /// The file is truncated, damaged, modified, or not an emulated key file at all.
    #[error("the emulated key file {} is corrupted: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error("invalid emulated key configuration: {0}")]
    InvalidConfig(&'static str),
}
