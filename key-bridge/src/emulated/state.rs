//! What an emulated key keeps, as saved in its file, and the salted hashes that stand in for its
//! PIN and activation code.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, Zeroizing};

use super::{EmulatedKeyConfig, MAX_PIN_ATTEMPTS, MAX_SLOTS};
use crate::error::StoreError;

const FORMAT_VERSION: u32 = 1;

/// Everything the key keeps, as saved in its file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct State {
    pub(super) format: u32,
    pub(super) serial: String,
    pub(super) max_pin_attempts: u32,
    pub(super) pin: Option<Salted>,
    pub(super) pin_attempts_left: u32,
    pub(super) link: Option<Salted>,
    /// One entry per slot, `None` when free; the length is the key's slot count.
    pub(super) slots: Vec<Option<Slot>>,
    /// The key's P-256 identity (private scalar), made on first use and again after a wipe.
    /// Never leaves the key: only its public half and signatures do.
    #[serde(default)]
    pub(super) identity: Option<Identity>,
    /// The factory identity: the attestation key and its certificate from the vendor's CA.
    /// Made once by `provision`; a wipe keeps it (it is the hardware's, not the user's).
    #[serde(default)]
    pub(super) factory: Option<Factory>,
}

/// The key's factory identity: the attestation key's private scalar (zeroized on drop) and its
/// certificate (X.509 DER).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Factory {
    pub(super) secret: [u8; 32],
    pub(super) certificate: Vec<u8>,
}

impl Drop for Factory {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// The private scalar of the key's identity, zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Identity {
    pub(super) secret: [u8; 32],
}

impl Drop for Identity {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .slots
            .iter()
            .flatten()
            .map(|s| s.name.as_str())
            .collect();
        f.debug_struct("State")
            .field("serial", &self.serial)
            .field("slots", &self.slots.len())
            .field("credentials", &names)
            .field("pin_set", &self.pin.is_some())
            .field("pin_attempts_left", &self.pin_attempts_left)
            .field("linked", &self.link.is_some())
            .finish_non_exhaustive()
    }
}

impl State {
    pub(super) fn factory(config: &EmulatedKeyConfig) -> Result<Self, StoreError> {
        if !(1..=MAX_SLOTS).contains(&config.slots) {
            return Err(StoreError::InvalidConfig("slots must be 1 to 1024"));
        }
        if !(1..=MAX_PIN_ATTEMPTS).contains(&config.max_pin_attempts) {
            return Err(StoreError::InvalidConfig(
                "max_pin_attempts must be 1 to 255",
            ));
        }
        let serial = match &config.serial {
            Some(serial) if serial.is_empty() || serial.len() > 64 => {
                return Err(StoreError::InvalidConfig("a serial has 1 to 64 bytes"));
            }
            Some(serial) => serial.clone(),
            None => {
                let mut bytes = [0u8; 6];
                getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
                format!("EMU-{}", hex(&bytes).to_uppercase())
            }
        };
        Ok(Self {
            format: FORMAT_VERSION,
            serial,
            max_pin_attempts: config.max_pin_attempts,
            pin: None,
            pin_attempts_left: config.max_pin_attempts,
            link: None,
            slots: (0..config.slots).map(|_| None).collect(),
            identity: None,
            factory: None,
        })
    }

    /// Factory state, keeping what is hardware: serial, slot count, attempt limit, factory
    /// identity.
    pub(super) fn wiped(&self) -> Self {
        Self {
            format: FORMAT_VERSION,
            serial: self.serial.clone(),
            max_pin_attempts: self.max_pin_attempts,
            pin: None,
            pin_attempts_left: self.max_pin_attempts,
            link: None,
            slots: self.slots.iter().map(|_| None).collect(),
            identity: None,
            factory: self.factory.clone(),
        }
    }

    pub(super) fn is_locked(&self) -> bool {
        self.pin_attempts_left == 0
    }

    pub(super) fn used_slots(&self) -> usize {
        self.slots.iter().filter(|slot| slot.is_some()).count()
    }

    pub(super) fn find(&self, name: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|slot| slot.as_ref().is_some_and(|s| s.name == name))
    }

    /// The JSON form, in a buffer zeroized on drop. The buffer is sized up front so that it does
    /// not reallocate (which would leave copies of the passwords behind) in all but odd cases.
    pub(super) fn to_json(&self) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let secrets: usize = self
            .slots
            .iter()
            .flatten()
            .map(|s| s.name.len() + s.login.len() + s.password.len())
            .sum();
        // Escaping can grow a byte to six (`\u001f`); the rest is small and bounded per slot.
        let capacity = 1280 + self.serial.len() * 6 + self.slots.len() * 128 + secrets * 6;
        let mut buf = Zeroizing::new(Vec::with_capacity(capacity));
        serde_json::to_writer(&mut *buf, self)
            // Serializing these plain types cannot fail; never include the error's text.
            .map_err(|_| StoreError::InvalidConfig("the key's state could not be serialized"))?;
        Ok(buf)
    }

    /// Parses and checks the JSON form. The error never quotes the contents (serde_json's
    /// messages can include the offending value, which could be a password).
    pub(super) fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let state: Self = serde_json::from_slice(bytes).map_err(|e| {
            format!(
                "unreadable contents ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        state.check().map_err(str::to_owned)?;
        Ok(state)
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.format != FORMAT_VERSION {
            return Err("unsupported format version");
        }
        let slots = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
        if !(1..=MAX_SLOTS).contains(&slots) {
            return Err("slot count out of range");
        }
        if !(1..=MAX_PIN_ATTEMPTS).contains(&self.max_pin_attempts)
            || self.pin_attempts_left > self.max_pin_attempts
        {
            return Err("PIN attempt counter out of range");
        }
        let mut names: Vec<&str> = self
            .slots
            .iter()
            .flatten()
            .map(|s| s.name.as_str())
            .collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        if names.len() != count || names.iter().any(|n| n.is_empty()) {
            return Err("credential names are empty or not unique");
        }
        Ok(())
    }
}

/// One occupied credential slot. The password is zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Slot {
    pub(super) name: String,
    pub(super) login: String,
    pub(super) password: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// A salted, domain-separated SHA-256 of secret parts: what the key keeps instead of a PIN or an
/// activation code. (A real key enforces its attempt counter in hardware; here the file is sealed,
/// so the hash of a short PIN or code is never exposed to offline guessing.)
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Salted {
    salt: [u8; 16],
    hash: [u8; 32],
}

impl Salted {
    pub(super) fn new(domain: &[u8], parts: &[&[u8]]) -> Result<Self, StoreError> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| StoreError::Random(e.to_string()))?;
        let hash = Self::digest(domain, &salt, parts);
        Ok(Self { salt, hash })
    }

    fn digest(domain: &[u8], salt: &[u8; 16], parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        for part in [domain, salt.as_slice()].iter().chain(parts) {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    pub(super) fn matches(&self, domain: &[u8], parts: &[&[u8]]) -> bool {
        Self::digest(domain, &self.salt, parts)
            .ct_eq(&self.hash)
            .into()
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::factory(&EmulatedKeyConfig::default()).unwrap()
    }

    #[test]
    fn json_round_trips() {
        let mut s = state();
        if let Some(slot) = s.slots.get_mut(3) {
            *slot = Some(Slot {
                name: "corp".into(),
                login: "CORP\\ada".into(),
                password: "pw \u{1f} \"quoted\"".into(),
            });
        }
        let back = State::from_json(&s.to_json().unwrap()).unwrap();
        assert_eq!(back.serial, s.serial);
        assert_eq!(back.slots.len(), 16);
        let slot = back.slots[3].as_ref().unwrap();
        assert_eq!(slot.password, "pw \u{1f} \"quoted\"");
    }

    #[test]
    fn unreadable_state_errors_do_not_quote_the_contents() {
        // A password where a number is expected: serde_json's own message would quote it.
        let json = br#"{"format":"hunter2-secret"}"#;
        let err = State::from_json(json).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn inconsistent_state_is_rejected() {
        let mut s = state();
        s.pin_attempts_left = s.max_pin_attempts + 1;
        let err = State::from_json(&s.to_json().unwrap()).unwrap_err();
        assert_eq!(err, "PIN attempt counter out of range");

        let mut s = state();
        for i in [0, 1] {
            s.slots[i] = Some(Slot {
                name: "dup".into(),
                login: String::new(),
                password: String::new(),
            });
        }
        let err = State::from_json(&s.to_json().unwrap()).unwrap_err();
        assert_eq!(err, "credential names are empty or not unique");

        let mut s = state();
        s.format = 2;
        let err = State::from_json(&s.to_json().unwrap()).unwrap_err();
        assert_eq!(err, "unsupported format version");
    }

    #[test]
    fn salted_hashes_match_only_the_same_parts() {
        let a = Salted::new(b"d", &[b"ab", b"c"]).unwrap();
        assert!(a.matches(b"d", &[b"ab", b"c"]));
        assert!(!a.matches(b"d", &[b"a", b"bc"]));
        assert!(!a.matches(b"e", &[b"ab", b"c"]));
        let b = Salted::new(b"d", &[b"ab", b"c"]).unwrap();
        assert_ne!(a.hash, b.hash, "each hash has its own salt");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
    }
}
