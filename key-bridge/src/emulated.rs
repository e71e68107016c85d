//! A hardware key emulated in software, for tests and for demonstrations without hardware.
//!
//! It behaves like a device: a fixed number of credential slots, a PIN with a limited number of
//! attempts (the last wrong one wipes the key, as real keys do), a linked/unlinked state, a
//! factory reset, and a P-256 identity made inside the key that signs requests and opens
//! passwords sealed to it (the private half is only ever in the sealed file). Its state can live in a file sealed with XChaCha20-Poly1305 under a 32-byte key
//! the caller provides (see [`EmulatedKey::create`] and [`EmulatedKey::open`]), or only in memory
//! ([`EmulatedKey::in_memory`]).
//!
//! Faults can be injected through a [`FaultHandle`], which stays usable after the key has been
//! handed to the agent as a `Box<dyn KeyDevice>`: take the key offline, fail the next call of a
//! kind, or apply the next write but lose its acknowledgement.
//!
//! Every change is saved before it takes effect in memory: if the file cannot be written, the call
//! fails with [`KeyError::Device`] and the key is unchanged. The wrong-PIN counter is saved too, so
//! reopening the file does not restore attempts.
//!
//! Two `EmulatedKey`s opened on the same file do not see each other's changes (the last save
//! wins); open a file once.

mod faults;
mod state;
pub(crate) mod store;

use std::path::Path;

use key_protocol::{IdentityKey, SealedPassword};

use crate::device::{Credential, DeviceStatus, KeyDevice, KeySignature, StoredProof};
use crate::error::{KeyError, StoreError};
use crate::factory::{inventory_line, VendorCa};
use faults::injected;
pub use faults::{Fault, FaultHandle};
use state::{Factory, Identity, Salted, Slot, State};
use store::Store;

/// Credential slots of an emulated key unless configured otherwise.
pub const DEFAULT_SLOTS: u32 = 16;
/// PIN attempts of an emulated key unless configured otherwise.
pub const DEFAULT_PIN_ATTEMPTS: u32 = 5;
const MAX_SLOTS: u32 = 1024;
const MAX_PIN_ATTEMPTS: u32 = 255;
const MIN_PIN_LEN: usize = 4;
const MAX_PIN_LEN: usize = 64;
/// Longest credential name, login, password or activation code the key accepts, in bytes.
const MAX_FIELD_LEN: usize = 1024;

const PIN_DOMAIN: &[u8] = b"key-bridge emulated key: PIN v1";
const LINK_DOMAIN: &[u8] = b"key-bridge emulated key: link binding v1";

/// How to build a new emulated key. Ignored when an existing file is opened: the file's own
/// settings win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatedKeyConfig {
    /// The serial number; a random `EMU-…` serial when `None`.
    pub serial: Option<String>,
    /// Number of credential slots (1 to 1024).
    pub slots: u32,
    /// Wrong PINs allowed before the key locks (1 to 255).
    pub max_pin_attempts: u32,
}

impl Default for EmulatedKeyConfig {
    fn default() -> Self {
        Self {
            serial: None,
            slots: DEFAULT_SLOTS,
            max_pin_attempts: DEFAULT_PIN_ATTEMPTS,
        }
    }
}

/// A key emulated in software. See the [module documentation](self).
pub struct EmulatedKey {
    state: State,
    store: Option<Store>,
    faults: FaultHandle,
    /// The PIN was verified (or set) in this session. Not saved: reopening needs the PIN again.
    unlocked: bool,
}

impl std::fmt::Debug for EmulatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedKey")
            .field("serial", &self.state.serial)
            .field("file", &self.store.as_ref().map(Store::path))
            .field("linked", &self.state.link.is_some())
            .field("used_slots", &self.state.used_slots())
            .field("slots", &self.state.slots.len())
            .field("pin_set", &self.state.pin.is_some())
            .field("locked", &self.state.is_locked())
            .field("unlocked", &self.unlocked)
            .finish_non_exhaustive()
    }
}

impl EmulatedKey {
    /// A factory-fresh key that lives only in memory.
    pub fn in_memory(config: EmulatedKeyConfig) -> Result<Self, StoreError> {
        Ok(Self::from_parts(State::factory(&config)?, None))
    }

    /// Creates a factory-fresh key in a new file at `path`, sealed under `storage_key` (32 random
    /// bytes the caller keeps). Fails if the file exists.
    pub fn create(
        path: &Path,
        storage_key: &[u8; 32],
        config: EmulatedKeyConfig,
    ) -> Result<Self, StoreError> {
        let store = Store::new(path, storage_key);
        if store.exists()? {
            return Err(StoreError::AlreadyExists(path.to_path_buf()));
        }
        let state = State::factory(&config)?;
        store.save(&state)?;
        Ok(Self::from_parts(state, Some(store)))
    }

    /// Opens the key saved at `path`. A wrong `storage_key` gives [`StoreError::WrongKey`]; a
    /// damaged or truncated file gives [`StoreError::Corrupt`].
    pub fn open(path: &Path, storage_key: &[u8; 32]) -> Result<Self, StoreError> {
        let store = Store::new(path, storage_key);
        let state = store.load()?;
        Ok(Self::from_parts(state, Some(store)))
    }

    /// Opens the key at `path`, or creates it with `config` if there is no file yet.
    pub fn open_or_create(
        path: &Path,
        storage_key: &[u8; 32],
        config: EmulatedKeyConfig,
    ) -> Result<Self, StoreError> {
        if Store::new(path, storage_key).exists()? {
            Self::open(path, storage_key)
        } else {
            Self::create(path, storage_key, config)
        }
    }

    fn from_parts(state: State, store: Option<Store>) -> Self {
        Self {
            state,
            store,
            faults: FaultHandle::default(),
            unlocked: false,
        }
    }

    /// The file the key is saved in, if any.
    pub fn path(&self) -> Option<&Path> {
        self.store.as_ref().map(Store::path)
    }

    /// A handle to inject faults, still usable after the key is boxed and handed over.
    pub fn faults(&self) -> FaultHandle {
        self.faults.clone()
    }

    /// See [`FaultHandle::set_offline`].
    pub fn set_offline(&self, offline: bool) {
        self.faults.set_offline(offline);
    }

    /// See [`FaultHandle::fail_next_write`].
    pub fn fail_next_write(&self) {
        self.faults.fail_next_write();
    }

    /// See [`FaultHandle::inject`].
    pub fn inject(&self, fault: Fault) {
        self.faults.inject(fault);
    }

    /// Sets or changes the PIN: what a real key does on its own during set-up, so it is not part
    /// of [`KeyDevice`]. Changing an existing PIN needs it verified first in this session. The
    /// attempts are restored and the session stays unlocked.
    pub fn set_pin(&mut self, pin: &str) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        self.ensure_not_locked()?;
        if self.state.pin.is_some() && !self.unlocked {
            return Err(KeyError::PinRequired);
        }
        if !(MIN_PIN_LEN..=MAX_PIN_LEN).contains(&pin.chars().count()) {
            return Err(KeyError::InvalidInput("a PIN has 4 to 64 characters"));
        }
        let mut next = self.state.clone();
        next.pin = Some(
            Salted::new(PIN_DOMAIN, &[pin.as_bytes()])
                .map_err(|e| KeyError::Device(e.to_string()))?,
        );
        next.pin_attempts_left = next.max_pin_attempts;
        self.commit(next)?;
        self.unlocked = true;
        Ok(())
    }

    /// The key is unplugged and plugged in again (or taken to another computer): the session's
    /// PIN verification is gone, as on a real key, and the credentials need the PIN again.
    pub fn replug(&mut self) {
        self.unlocked = false;
    }

    /// The factory's step, done once per key: makes the key's attestation key inside it, has
    /// `vendor` certify it for this serial and `model`, and returns the key's line for the
    /// vendor's inventory (`serial,model,certificate`). A provisioned key refuses.
    pub fn provision(&mut self, vendor: &VendorCa, model: &str) -> Result<String, KeyError> {
        self.faults.ensure_online()?;
        if self.state.factory.is_some() {
            return Err(KeyError::InvalidInput("the key is already provisioned"));
        }
        if model.is_empty() || model.len() > 64 || model.contains(',') {
            return Err(KeyError::InvalidInput(
                "a model has 1 to 64 characters and no comma",
            ));
        }
        let key = IdentityKey::generate().map_err(|e| KeyError::Device(e.to_string()))?;
        let certificate = vendor
            .certify(&self.state.serial, model, &key.public_key())
            .map_err(|e| KeyError::Device(e.to_string()))?;
        let mut next = self.state.clone();
        next.factory = Some(Factory {
            secret: *key.to_bytes(),
            certificate: certificate.clone(),
        });
        self.commit(next)?;
        Ok(inventory_line(&self.state.serial, model, &certificate))
    }

    fn factory(&self) -> Result<(IdentityKey, Vec<u8>), KeyError> {
        let f = self
            .state
            .factory
            .as_ref()
            .ok_or(KeyError::NotProvisioned)?;
        let key =
            IdentityKey::from_bytes(&f.secret).map_err(|e| KeyError::Device(e.to_string()))?;
        Ok((key, f.certificate.clone()))
    }

    /// Whether the key is linked with exactly this activation code (checks the stored binding).
    pub fn is_linked_with(&self, activation_code: &str) -> bool {
        self.state.link.as_ref().is_some_and(|binding| {
            binding.matches(
                LINK_DOMAIN,
                &[self.state.serial.as_bytes(), activation_code.as_bytes()],
            )
        })
    }

    /// Saves `next` (if the key has a file), then makes it the current state. On failure the key
    /// is unchanged.
    fn commit(&mut self, next: State) -> Result<(), KeyError> {
        if let Some(store) = &self.store {
            store
                .save(&next)
                .map_err(|e| KeyError::Device(format!("could not save the key's state: {e}")))?;
        }
        self.state = next;
        Ok(())
    }

    fn ensure_not_locked(&self) -> Result<(), KeyError> {
        if self.state.is_locked() {
            Err(KeyError::Locked)
        } else {
            Ok(())
        }
    }

    /// The credentials need the PIN, if there is one, verified in this session.
    fn ensure_credentials_open(&self) -> Result<(), KeyError> {
        self.ensure_not_locked()?;
        if self.state.pin.is_some() && !self.unlocked {
            return Err(KeyError::PinRequired);
        }
        Ok(())
    }

    fn apply_write(&mut self, credential: &Credential) -> Result<(), KeyError> {
        self.ensure_credentials_open()?;
        if self.state.link.is_none() {
            return Err(KeyError::NotLinked);
        }
        if credential.name.is_empty() {
            return Err(KeyError::InvalidInput("a credential needs a name"));
        }
        if [&credential.name, &credential.login, &credential.password]
            .iter()
            .any(|field| field.len() > MAX_FIELD_LEN)
        {
            return Err(KeyError::InvalidInput(
                "credential fields are limited to 1024 bytes",
            ));
        }
        let index = match self.state.find(&credential.name) {
            Some(index) => index,
            None => self
                .state
                .slots
                .iter()
                .position(Option::is_none)
                .ok_or(KeyError::NoFreeSlot)?,
        };
        let mut next = self.state.clone();
        if let Some(slot) = next.slots.get_mut(index) {
            *slot = Some(Slot {
                name: credential.name.clone(),
                login: credential.login.clone(),
                password: credential.password.clone(),
            });
        }
        self.commit(next)
    }
}

impl EmulatedKey {
    /// The identity, made (and saved) on first use.
    fn identity(&mut self) -> Result<IdentityKey, KeyError> {
        if let Some(id) = &self.state.identity {
            return IdentityKey::from_bytes(&id.secret)
                .map_err(|e| KeyError::Device(e.to_string()));
        }
        let key = IdentityKey::generate().map_err(|e| KeyError::Device(e.to_string()))?;
        let mut next = self.state.clone();
        next.identity = Some(Identity {
            secret: *key.to_bytes(),
        });
        self.commit(next)?;
        Ok(key)
    }
}

impl KeyDevice for EmulatedKey {
    /// Known without a round trip, so it answers even while the key is offline.
    fn serial(&self) -> String {
        self.state.serial.clone()
    }

    fn status(&mut self) -> Result<DeviceStatus, KeyError> {
        self.faults.ensure_online()?;
        let slots = self.state.slots.len();
        Ok(DeviceStatus {
            serial: self.state.serial.clone(),
            linked: self.state.link.is_some(),
            slots: u32::try_from(slots).unwrap_or(u32::MAX),
            free_slots: u32::try_from(slots - self.state.used_slots()).unwrap_or(u32::MAX),
            pin_set: self.state.pin.is_some(),
            pin_attempts_left: self.state.pin_attempts_left,
            locked: self.state.is_locked(),
        })
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        self.ensure_not_locked()?;
        let Some(stored) = &self.state.pin else {
            self.unlocked = true;
            return Ok(());
        };
        if stored.matches(PIN_DOMAIN, &[pin.as_bytes()]) {
            if self.state.pin_attempts_left != self.state.max_pin_attempts {
                let mut next = self.state.clone();
                next.pin_attempts_left = next.max_pin_attempts;
                self.commit(next)?;
            }
            self.unlocked = true;
            return Ok(());
        }
        self.unlocked = false;
        let mut next = self.state.clone();
        next.pin_attempts_left = next.pin_attempts_left.saturating_sub(1);
        let attempts_left = next.pin_attempts_left;
        if attempts_left == 0 {
            // The last wrong PIN: the key forgets everything, identity included.
            self.commit(self.state.wiped())?;
            return Err(KeyError::WipedAfterWrongPins);
        }
        self.commit(next)?;
        Err(KeyError::WrongPin { attempts_left })
    }

    fn link(&mut self, activation_code: &str) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextLink) {
            return Err(injected("link"));
        }
        self.ensure_not_locked()?;
        if self.state.link.is_some() {
            return Err(KeyError::AlreadyLinked);
        }
        if activation_code.is_empty() || activation_code.len() > MAX_FIELD_LEN {
            return Err(KeyError::InvalidInput(
                "an activation code has 1 to 1024 bytes",
            ));
        }
        let binding = Salted::new(
            LINK_DOMAIN,
            &[self.state.serial.as_bytes(), activation_code.as_bytes()],
        )
        .map_err(|e| KeyError::Device(e.to_string()))?;
        let mut next = self.state.clone();
        next.link = Some(binding);
        self.commit(next)
    }

    fn write_credential(&mut self, credential: &Credential) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextWrite) {
            return Err(injected("write"));
        }
        let lose_ack = self.faults.take(Fault::LoseNextWriteAck);
        let result = self.apply_write(credential);
        if lose_ack {
            return Err(injected("the write's acknowledgement was lost"));
        }
        result
    }

    fn read_credential(&mut self, name: &str) -> Result<Credential, KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextRead) {
            return Err(injected("read"));
        }
        self.ensure_credentials_open()?;
        self.state
            .find(name)
            .and_then(|index| self.state.slots.get(index))
            .and_then(Option::as_ref)
            .map(|slot| Credential::new(&slot.name, &slot.login, &slot.password))
            .ok_or_else(|| KeyError::NoSuchCredential(name.to_owned()))
    }

    fn delete_credential(&mut self, name: &str) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextDelete) {
            return Err(injected("delete"));
        }
        self.ensure_credentials_open()?;
        let index = self
            .state
            .find(name)
            .ok_or_else(|| KeyError::NoSuchCredential(name.to_owned()))?;
        let mut next = self.state.clone();
        if let Some(slot) = next.slots.get_mut(index) {
            *slot = None;
        }
        self.commit(next)
    }

    fn wipe(&mut self) -> Result<(), KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextWipe) {
            return Err(injected("wipe"));
        }
        let next = self.state.wiped();
        self.commit(next)?;
        self.unlocked = false;
        Ok(())
    }

    fn public_key(&mut self) -> Result<Vec<u8>, KeyError> {
        self.faults.ensure_online()?;
        self.ensure_not_locked()?;
        Ok(self.identity()?.public_key())
    }

    fn sign_request(
        &mut self,
        request: &[u8],
        pin: Option<&str>,
    ) -> Result<KeySignature, KeyError> {
        self.faults.ensure_online()?;
        self.ensure_not_locked()?;
        let user_verified = match pin {
            Some(pin) => {
                if self.state.pin.is_none() {
                    // A key without a PIN cannot vouch for its user.
                    return Err(KeyError::InvalidInput("the key has no PIN set"));
                }
                self.verify_pin(pin)?;
                true
            }
            None => false,
        };
        let identity = self.identity()?;
        Ok(KeySignature {
            signature: identity.sign(&key_protocol::key_message(request, user_verified)),
            user_verified,
        })
    }

    fn write_sealed_credential(
        &mut self,
        task_id: &str,
        name: &str,
        login: &str,
        sealed: &SealedPassword,
    ) -> Result<StoredProof, KeyError> {
        self.faults.ensure_online()?;
        if self.faults.take(Fault::FailNextWrite) {
            return Err(injected("write"));
        }
        let lose_ack = self.faults.take(Fault::LoseNextWriteAck);
        let serial = self.state.serial.clone();
        let aad = key_protocol::password_aad(&serial, task_id);
        let result = self.identity().and_then(|identity| {
            let plain = key_protocol::open(&identity, sealed, &aad).map_err(|_| {
                KeyError::InvalidInput("the password is not sealed to this key for this task")
            })?;
            let password = std::str::from_utf8(&plain)
                .map_err(|_| KeyError::InvalidInput("the sealed password is not UTF-8"))?;
            self.apply_write(&Credential::new(name, login, password))?;
            // Computed from the password just stored, after the store succeeded.
            Ok(key_protocol::stored_proof(&plain, &serial, task_id, name))
        });
        if lose_ack {
            return Err(injected("the write's acknowledgement was lost"));
        }
        result
    }

    fn attestation_certificate(&mut self) -> Result<Vec<u8>, KeyError> {
        self.faults.ensure_online()?;
        Ok(self.factory()?.1)
    }

    fn attest_identity(&mut self) -> Result<Vec<u8>, KeyError> {
        self.faults.ensure_online()?;
        self.ensure_not_locked()?;
        let (factory, _) = self.factory()?;
        let identity = self.identity()?.public_key();
        Ok(factory.sign(&key_protocol::identity_statement(
            &self.state.serial,
            &identity,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linked_key() -> EmulatedKey {
        let mut key = EmulatedKey::in_memory(EmulatedKeyConfig::default()).unwrap();
        key.link("483920").unwrap();
        key
    }

    #[test]
    fn saved_state_holds_neither_the_activation_code_nor_the_pin() {
        let mut key = linked_key();
        key.set_pin("73914").unwrap();
        let json = key.state.to_json().unwrap();
        let text = String::from_utf8(json.to_vec()).unwrap();
        assert!(text.contains("\"link\":{"), "{text}");
        assert!(!text.contains("483920"), "{text}");
        assert!(!text.contains("73914"), "{text}");
        assert!(key.is_linked_with("483920"));
        assert!(!key.is_linked_with("483921"));
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut key = linked_key();
        key.write_credential(&Credential::new("corp", "CORP\\ada", "Sup3r-Secret-Pw"))
            .unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("Sup3r-Secret-Pw"), "{shown}");
        assert!(shown.contains("used_slots: 1"), "{shown}");
    }

    #[test]
    fn a_lost_ack_after_a_refused_write_still_reports_transport() {
        let mut key = EmulatedKey::in_memory(EmulatedKeyConfig::default()).unwrap();
        key.inject(Fault::LoseNextWriteAck);
        let err = key
            .write_credential(&Credential::new("corp", "CORP\\ada", "pw"))
            .unwrap_err();
        assert!(matches!(err, KeyError::Transport(_)), "{err:?}");
        // The fault is spent: the next write gets the key's real answer.
        let err = key
            .write_credential(&Credential::new("corp", "CORP\\ada", "pw"))
            .unwrap_err();
        assert_eq!(err, KeyError::NotLinked);
    }
}
