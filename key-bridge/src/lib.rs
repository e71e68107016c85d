//! The workstation side of hardware keys: the `KeyDevice` trait that a real transport (BLE/USB)
//! or the emulated key implements, and (with the hardware-keys issue) the `key-bridge` agent that
//! activates keys and applies the server's password tasks.
//!
//! **Status:** public types only for now; the emulated key and the agent arrive with the
//! hardware-keys issue. See `../shared/DESIGN.md` (Hardware keys and domain passwords).
#![deny(clippy::unwrap_used)]

/// Errors a key device reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not connected")]
    NotConnected,
    #[error("wrong PIN; {attempts_left} attempts left")]
    WrongPin { attempts_left: u32 },
    #[error("the key is locked")]
    Locked,
    #[error("no free credential slot on the key")]
    NoFreeSlot,
    #[error("no credential named {0:?} on the key")]
    NoSuchCredential(String),
    #[error("key transport error: {0}")]
    Transport(String),
}

/// A credential stored on the key (a domain account and its password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: String,
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("name", &self.name)
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The device's own view of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub serial: String,
    pub linked: bool,
    pub free_slots: u32,
    pub pin_attempts_left: u32,
}

/// What the agent needs from a key, whatever the transport.
pub trait KeyDevice: Send {
    fn serial(&self) -> String;
    fn status(&mut self) -> Result<DeviceStatus, KeyError>;
    /// Links the key to this server with the activation code the employee typed.
    fn link(&mut self, activation_code: &str) -> Result<(), KeyError>;
    fn write_credential(&mut self, credential: &Credential) -> Result<(), KeyError>;
    fn read_credential(&mut self, name: &str) -> Result<Credential, KeyError>;
    fn delete_credential(&mut self, name: &str) -> Result<(), KeyError>;
    fn wipe(&mut self) -> Result<(), KeyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_debug_hides_the_password() {
        let c = Credential {
            name: "corp".into(),
            login: "CORP\\ada".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
