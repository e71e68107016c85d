//! What each administrator may do: a role, checked on every request of the console and the
//! REST API (one place, [`allows`], called where the admin's session is resolved), so a route
//! added later is covered without a line of its own.
//!
//! | role | may |
//! |---|---|
//! | `owner` | everything |
//! | `helpdesk` | employees, invitations, phones, keys and workstations, unlocks, the audit log; not domains and sync, OIDC clients and signing keys, administrators or settings |
//! | `auditor` | read everything (the audit log included), change nothing |
//!
//! Every role may see and end its own session.

use axum::http::Method;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Helpdesk,
    Auditor,
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Owner, Self::Helpdesk, Self::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Helpdesk => "helpdesk",
            Self::Auditor => "auditor",
        }
    }

    /// The stored word; anything else reads as `auditor` (fail closed: read-only).
    pub fn parse(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .unwrap_or(Self::Auditor)
    }

    /// A typed role (the command line), or `None`.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The areas only an owner reaches, by path prefix (console and API).
const OWNER_ONLY: &[&str] = &[
    "/api/v1/directory",
    "/api/v1/oidc",
    "/api/v1/admins",
    "/api/v1/settings",
    "/api/v1/keys/rotation-scan",
    "/admin/domains",
    "/admin/sync",
    "/admin/clients",
    "/admin/admins",
    "/admin/settings",
];

/// Every role's own session: signing in and out, reading who is signed in, and its own passkeys.
pub fn own_session(method: &Method, path: &str) -> bool {
    (matches!(
        path,
        "/api/v1/session" | "/admin/login" | "/admin/logout" | "/admin/passkeys"
    ) || path.starts_with("/api/v1/session/"))
        && matches!(
            *method,
            Method::GET | Method::HEAD | Method::POST | Method::DELETE
        )
}

fn read_only(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `role` may make this request.
pub fn allows(role: Role, method: &Method, path: &str) -> bool {
    if own_session(method, path) {
        return true;
    }
    match role {
        Role::Owner => true,
        Role::Auditor => read_only(method),
        Role::Helpdesk => !OWNER_ONLY
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        let get = Method::GET;
        let post = Method::POST;
        assert!(allows(Role::Owner, &post, "/api/v1/directory/domains"));
        assert!(!allows(Role::Helpdesk, &get, "/api/v1/directory/domains"));
        assert!(!allows(Role::Helpdesk, &post, "/admin/clients/new"));
        assert!(allows(
            Role::Helpdesk,
            &post,
            "/api/v1/employees/x/invitations"
        ));
        assert!(allows(Role::Helpdesk, &post, "/api/v1/keys/x/assign"));
        assert!(!allows(Role::Helpdesk, &post, "/api/v1/keys/rotation-scan"));
        assert!(allows(Role::Auditor, &get, "/api/v1/audit"));
        assert!(allows(Role::Auditor, &get, "/admin/domains"));
        assert!(!allows(Role::Auditor, &post, "/api/v1/employees"));
        assert!(!allows(
            Role::Auditor,
            &Method::DELETE,
            "/api/v1/employees/x/sessions"
        ));
        for r in Role::ALL {
            assert!(allows(r, &Method::DELETE, "/api/v1/session"));
            assert!(allows(r, &post, "/admin/logout"));
            assert_eq!(Role::parse(r.as_str()), r);
        }
        assert_eq!(Role::parse("root"), Role::Auditor);
        // A prefix is a whole path segment: /admin/clientsx is not /admin/clients.
        assert!(allows(Role::Helpdesk, &get, "/admin/clientsx"));
    }
}
