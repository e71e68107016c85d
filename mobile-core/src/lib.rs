//! The phone authenticator's Rust core, shared by the iOS and Android apps.
//!
//! **Status:** this crate holds the public types of the registration protocol for now; the
//! `Authenticator` object, the `KeyStore` foreign trait and the uniffi export arrive with the
//! phone-authenticator issue. See `../shared/DESIGN.md` (Phone registration and push approval).
#![deny(clippy::unwrap_used)]

pub mod registration;

pub use registration::{RegistrationError, RegistrationLink};
