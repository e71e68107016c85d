//! Foreign-language bindings of `mobile-core`.
//!
//! **Status:** empty for now. With the phone-authenticator issue this crate gets the
//! `uniffi-bindgen` binary (same uniffi version as `mobile-core`), `generate.sh` producing Kotlin,
//! Swift and Python from the built library, and Python tests that load the real library. Generated
//! code is never committed.
