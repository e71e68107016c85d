//! The SSO server: directory sync, OpenID Connect provider, phone and hardware-key enrolment,
//! admin console and REST API.
//!
//! Layout: one module per capability. What exists today is the foundation: configuration,
//! storage (`store`), encryption at rest (`crypto`), employees, audit log, admin authentication
//! and REST API (`admin`), health and metrics (`http`). Directory sync, OIDC, enrolment, push
//! and hardware keys arrive with their issues, each in its own folder.
#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod clock;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod directory;
pub mod employees;
pub mod enrol;
pub mod error;
pub mod http;
pub mod i18n;
pub mod instance;
pub mod keys;
pub mod login;
pub mod mail;
pub mod oidc;
pub mod push;
pub mod secrets;
pub mod server;
pub mod store;
pub mod throttle;
pub mod wake;

pub use error::{Error, Result};
