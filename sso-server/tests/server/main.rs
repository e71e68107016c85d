//! The sso-server integration tests: one binary that starts the real server on free ports, on
//! SQLite and on PostgreSQL (when `E2E_POSTGRES_URL` is set, as `scripts/test.sh` does).

mod ad;
mod agent_process;
mod api;
mod auth;
mod cluster;
mod console;
mod directory;
mod encryption;
mod entra;
mod graph_mock;
mod invitations;
mod key_attacks;
mod keys;
mod leavers;
mod oidc;
mod process;
mod push;
mod push_services;
mod roles;
mod rotation_faults;
mod store;
mod support;
