//! The workstation side of hardware keys: the [`KeyDevice`] trait that a real transport (BLE/USB)
//! or the emulated key implements, and (with the hardware-keys issue) the `key-bridge` agent that
//! activates keys and applies the server's password tasks.
//!
//! - [`device`]: the [`KeyDevice`] trait and the types that cross it. The real BLE/USB transport
//!   stays behind the trait; nothing above it knows which transport it talks to.
//! - [`emulated`]: [`EmulatedKey`], a key in software (slots, PIN with attempts, link, wipe),
//!   saved in an encrypted file, with injectable faults for tests.
//! - [`error`]: [`KeyError`] (what a device reports) and [`StoreError`] (the emulated key's file).
//!
//! - [`agent`]: the agent the `key-bridge` binary runs: activation, fetching and applying the
//!   server's tasks, confirmations, the employee's own password change.
//!
//! The device API is synchronous (device I/O blocks); the emulated key answers at once, a real
//! transport would be driven from `spawn_blocking`. See
//! `../shared/DESIGN.md` (Hardware keys and domain passwords).
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod agent;
pub mod cli;
pub mod device;
pub mod emulated;
pub mod error;
pub mod factory;
pub mod secrets;
pub mod workstation_file;

pub use agent::{
    system_clock, Agent, AgentConfig, AgentError, Clock, KeySigner, Round, Workstation,
};
pub use device::{Credential, DeviceStatus, KeyDevice, KeySignature, StoredProof};
pub use emulated::{
    EmulatedKey, EmulatedKeyConfig, Fault, FaultHandle, DEFAULT_PIN_ATTEMPTS, DEFAULT_SLOTS,
};
pub use error::{KeyError, StoreError};
pub use factory::{FactoryError, VendorCa};
