//! Hardware keys' HTTP surfaces: the admin REST API and console pages, and the key-bridge's
//! API (`bridge`, `/api/keys/*`).

pub mod api;
pub mod bridge;
pub mod console;
