//! Directory sync: employees imported from the members of a group in Active Directory (on
//! premises over LDAP, or Entra ID over Microsoft Graph), one or several domains, merged by
//! e-mail, hourly and on demand.
//!
//! - `source`: the trait a directory implements for the sync engine; `ldap_source` and
//!   `graph_source` implement it.
//! - `ldap`: connecting (DC failover, verified TLS), binding, paged searches (never VLV).
//! - `graph`: Microsoft Graph (client-credentials token, paging, throttling, errors).
//! - `user`, `guid`: a directory account as read, and objectGUID's mixed-endian text form.
//! - `domain`: the domains to sync (configuration, validation, "test connection").
//! - `plan`: what a run changes, computed in memory from the directory and the database, so a dry
//!   run and a real one produce the same report.
//! - `sync`: a run: lease, connect, read, plan, guard rails, apply in one transaction, report.
//! - `report`: the run report.
//! - `schedule`: the hourly schedule.

pub mod domain;
pub mod graph;
pub mod graph_source;
pub mod guid;
pub mod http;
pub mod identities;
pub mod ldap;
pub mod ldap_source;
pub mod plan;
pub mod report;
pub mod run_state;
pub mod schedule;
pub mod source;
pub mod store;
pub mod sync;
pub mod user;

pub use domain::{DomainInput, DomainView, Domains};
pub use report::RunReport;
pub use sync::{RunOptions, SyncMode, Syncer};

/// Why talking to a directory failed. Messages name the DC and never carry the bind password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("invalid domain configuration: {0}")]
    Config(String),

    #[error("cannot reach the domain controller {url}: {reason}")]
    Unreachable { url: String, reason: String },

    #[error("no domain controller could be reached: {}", .0.join("; "))]
    AllUnreachable(Vec<String>),

    #[error("the certificate of {url} is not trusted with the configured CA: {reason}")]
    UntrustedCertificate { url: String, reason: String },

    #[error("the domain controller {url} refused the bind user's credentials (wrong bind DN or password)")]
    BadCredentials { url: String },

    #[error("the sync group {0:?} was not found in the directory")]
    GroupNotFound(String),

    #[error("LDAP {operation} failed: {reason}")]
    Ldap { operation: String, reason: String },

    #[error("Microsoft Graph: {operation} failed: {reason}")]
    Graph { operation: String, reason: String },

    #[error("the authority {authority} refused the app's credentials (check tenant_id, client_id and the client secret or certificate): {reason}")]
    GraphCredentials { authority: String, reason: String },

    #[error("Microsoft Graph denied {operation} ({code}): the app registration needs the application permission {permission} (Microsoft Graph, with admin consent)")]
    MissingPermission {
        operation: String,
        code: String,
        permission: String,
    },

    /// The stored delta link is no longer valid; the source reads in full instead.
    #[error("the stored delta link has expired")]
    DeltaExpired,
}
