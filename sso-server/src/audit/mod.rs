//! Who did what: every admin action, sign-in and system change is recorded in the same
//! transaction as the change itself.

pub mod http;
pub mod store;

use serde_json::Value;

use crate::audit::store::AuditRow;
use crate::error::Result;
use crate::store::Conn;

/// Who acted.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin {
        id: String,
        username: String,
        ip: Option<String>,
    },
    /// The server itself (sync, schedules) or its command line.
    System { name: String },
    /// Someone not signed in (e.g. a failed sign-in).
    Anonymous { ip: Option<String> },
}

impl Actor {
    pub fn cli() -> Self {
        Self::System {
            name: "command line".into(),
        }
    }

    fn parts(&self) -> (&'static str, Option<String>, String, Option<String>) {
        match self {
            Self::Admin { id, username, ip } => {
                ("admin", Some(id.clone()), username.clone(), ip.clone())
            }
            Self::System { name } => ("system", None, name.clone(), None),
            Self::Anonymous { ip } => ("anonymous", None, "anonymous".into(), ip.clone()),
        }
    }
}

/// What was acted on.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: &'a str,
}

impl<'a> Target<'a> {
    pub fn of(kind: &'a str, id: &'a str) -> Self {
        Self { kind, id }
    }
}

pub async fn record(
    conn: &mut Conn,
    at_ms: i64,
    actor: &Actor,
    action: &str,
    target: Option<Target<'_>>,
    detail: Value,
) -> Result<()> {
    let (actor_kind, actor_id, actor_name, ip) = actor.parts();
    let row = AuditRow {
        id: 0,
        at: at_ms,
        actor_kind: actor_kind.into(),
        actor_id,
        actor_name,
        action: action.into(),
        target_kind: target.map(|t| t.kind.to_owned()),
        target_id: target.map(|t| t.id.to_owned()),
        detail: detail.to_string(),
        ip,
    };
    crate::audit::store::insert(conn, &row).await
}
