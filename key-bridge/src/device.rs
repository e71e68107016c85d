//! The `KeyDevice` trait and the types that cross it.
//!
//! The trait is what the key-bridge agent talks to. The real transport to a hardware key (BLE or
//! USB, with the vendor's protocol) stays behind it and lives in its own module when it arrives;
//! nothing above the trait knows which transport it is talking to. [`crate::EmulatedKey`]
//! implements it in software, for tests and for demonstrations without hardware.
//!
//! The trait is synchronous on purpose: device I/O is blocking, and the async agent calls it from
//! `tokio::task::spawn_blocking`.

use key_protocol::SealedPassword;
use zeroize::Zeroize;

use crate::error::KeyError;

/// The key's proof that it stored a password: [`key_protocol::stored_proof`].
pub type StoredProof = [u8; 32];

/// A signature by the key's identity over [`key_protocol::key_message`]`(request,
/// user_verified)`: the key itself sets `user_verified`, and only after checking its PIN for
/// this very signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySignature {
    /// ES256, 64 bytes `r || s`.
    pub signature: Vec<u8>,
    pub user_verified: bool,
}

/// A credential stored on the key: a domain account and its password.
///
/// The password is zeroized when the value is dropped and never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The key's name for the credential (unique on the key), e.g. the domain's NetBIOS name.
    pub name: String,
    /// The login, e.g. `CORP\ada`.
    pub login: String,
    /// The password, in clear: handle with care.
    pub password: String,
}

impl Credential {
    pub fn new(
        name: impl Into<String>,
        login: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            login: login.into(),
            password: password.into(),
        }
    }
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

impl Drop for Credential {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// The device's own view of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatus {
    pub serial: String,
    /// Linked to a server with an activation code (see [`KeyDevice::link`]).
    pub linked: bool,
    /// Total number of credential slots.
    pub slots: u32,
    pub free_slots: u32,
    /// Whether a PIN is set on the key.
    pub pin_set: bool,
    pub pin_attempts_left: u32,
    /// Too many wrong PINs: only status and wipe work until the key is wiped.
    pub locked: bool,
}

/// What the agent needs from a key, whatever the transport.
///
/// Every call may fail with [`KeyError::NotConnected`] or [`KeyError::Transport`]; a failed call
/// must leave the key as it was, except where the transport lost the answer to a call the key did
/// apply (then the caller sees [`KeyError::Transport`] and must read back to know).
pub trait KeyDevice: Send {
    /// The hardware serial number, known from discovery, so it needs no round trip and cannot fail.
    fn serial(&self) -> String;

    /// The key's state. Works on a locked key.
    fn status(&mut self) -> Result<DeviceStatus, KeyError>;

    /// Unlocks the credentials for this session. A wrong PIN costs an attempt
    /// ([`KeyError::WrongPin`]); the last one locks the key ([`KeyError::Locked`]); the right PIN
    /// restores all attempts. A key without a PIN accepts any PIN.
    fn verify_pin(&mut self, pin: &str) -> Result<(), KeyError>;

    /// Links the key to this server with the activation code the employee typed. The key keeps a
    /// binding derived from the code, never the code. A linked key refuses
    /// ([`KeyError::AlreadyLinked`]) until it is wiped.
    fn link(&mut self, activation_code: &str) -> Result<(), KeyError>;

    /// Stores a credential, replacing the one with the same name in its slot (that is how a
    /// password rotation lands) or taking a free slot ([`KeyError::NoFreeSlot`] if none).
    /// Needs a linked key.
    fn write_credential(&mut self, credential: &Credential) -> Result<(), KeyError>;

    /// Reads a credential by name ([`KeyError::NoSuchCredential`] if there is none).
    fn read_credential(&mut self, name: &str) -> Result<Credential, KeyError>;

    /// Deletes a credential by name ([`KeyError::NoSuchCredential`] if there is none).
    fn delete_credential(&mut self, name: &str) -> Result<(), KeyError>;

    /// Returns the key to its factory state: no credentials, no link, no PIN, all attempts, and a
    /// new identity. Works on a locked key (that is the way out of the lock).
    fn wipe(&mut self) -> Result<(), KeyError>;

    /// The key's identity: a P-256 public key (SEC1 uncompressed) whose private half was made
    /// inside the key and never leaves it. A wipe makes a new one.
    fn public_key(&mut self) -> Result<Vec<u8>, KeyError>;

    /// Signs a request to the server (the bytes of [`key_protocol::Request::message`]). With a
    /// `pin`, the key first verifies it as [`KeyDevice::verify_pin`] does (a wrong PIN costs an
    /// attempt and signs nothing) and marks the signature as user-verified.
    fn sign_request(&mut self, request: &[u8], pin: Option<&str>)
        -> Result<KeySignature, KeyError>;

    /// Opens a password sealed to this key (HPKE, see [`key_protocol::seal`]) for the task
    /// `task_id` inside the key and stores it as [`KeyDevice::write_credential`] would. The
    /// password is never handed out in clear on the way in. A password sealed to another key or
    /// for another task is refused ([`KeyError::InvalidInput`]). Returns the key's proof that it
    /// stored it ([`key_protocol::stored_proof`], computed inside the key from the password).
    fn write_sealed_credential(
        &mut self,
        task_id: &str,
        name: &str,
        login: &str,
        sealed: &SealedPassword,
    ) -> Result<StoredProof, KeyError>;

    /// The key's factory certificate (X.509 DER): its attestation key, certified by its vendor's
    /// CA for its serial. [`KeyError::NotProvisioned`] for a key without one.
    fn attestation_certificate(&mut self) -> Result<Vec<u8>, KeyError>;

    /// The factory key's signature over [`key_protocol::identity_statement`]`(serial, current
    /// identity)`: the identity is this key's own. Made inside the key, which attests only its
    /// own identity.
    fn attest_identity(&mut self) -> Result<Vec<u8>, KeyError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_debug_hides_the_password() {
        let c = Credential::new("corp", "CORP\\ada", "hunter2hunter2");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("CORP\\\\ada"), "{shown}");
    }

    #[test]
    fn the_trait_is_object_safe_and_send() {
        fn assert_send<T: Send + ?Sized>() {}
        assert_send::<Box<dyn KeyDevice>>();
    }
}
