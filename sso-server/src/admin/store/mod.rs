//! Storage of admin accounts and their console sessions.

pub mod accounts;
pub mod passkeys;
pub mod sessions;
