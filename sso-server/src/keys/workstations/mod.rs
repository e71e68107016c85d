//! Named workstations. A key-bridge agent enrols its workstation once, with a one-time token the
//! admin created for it, by registering a P-256 public key whose private half stays on the
//! workstation. From then on every request it sends is signed with that key
//! ([`super::signed`]); there is no secret shared by several workstations. The admin sees which
//! workstation serves which key and can revoke a workstation (its requests are refused at once).

pub mod http;
pub(crate) mod store;

use serde::Serialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::clock::Clock;
use crate::crypto::{random_token, token_hash};
use crate::error::{Error, Result};
use crate::store::{Conn, Store};
pub use store::WorkstationRow;

/// How long an enrolment token works.
pub const ENROLMENT_TTL_MS: i64 = 72 * 3600 * 1000;

/// A workstation's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkstationState {
    /// Created by the admin; waiting for the agent to enrol with the token.
    Pending,
    /// Enrolled: its requests are accepted when signed with its key.
    Active,
    /// Revoked by the admin: nothing it sends is accepted.
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkstationAction {
    Enrol,
    Revoke,
}

impl WorkstationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }

    /// Parsed at the store boundary; an unknown text is treated as revoked (fail closed).
    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            _ => Self::Revoked,
        }
    }

    /// The transition table.
    pub fn next(self, action: WorkstationAction) -> Option<Self> {
        use WorkstationAction::*;
        use WorkstationState::*;
        match (self, action) {
            (Pending, Enrol) => Some(Active),
            (Pending | Active, Revoke) => Some(Revoked),
            _ => None,
        }
    }
}

/// A workstation as the admin API shows it (never the token or its hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkstationView {
    pub id: String,
    pub name: String,
    pub state: WorkstationState,
    pub created_at: i64,
    pub enrolled_at: Option<i64>,
    pub last_seen_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// While pending: when the enrolment token stops working.
    pub enrolment_expires_at: Option<i64>,
}

impl From<WorkstationRow> for WorkstationView {
    fn from(w: WorkstationRow) -> Self {
        let state = WorkstationState::parse(&w.state);
        Self {
            enrolment_expires_at: (state == WorkstationState::Pending)
                .then_some(w.token_expires)
                .flatten(),
            id: w.id,
            name: w.name,
            state,
            created_at: w.created_at,
            enrolled_at: w.enrolled_at,
            last_seen_at: w.last_seen_at,
            revoked_at: w.revoked_at,
        }
    }
}

/// A new workstation and its one-time enrolment token (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub workstation: WorkstationView,
    /// `<id>.<secret>`: give it to the agent (`key-bridge enrol`); the server keeps a hash.
    pub enrolment_token: String,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::validation("name", "1 to 64 printable characters"));
    }
    Ok(name.to_owned())
}

/// The admin creates a workstation; the agent enrols with the token returned here.
pub async fn create(
    store: &Store,
    clock: &dyn Clock,
    actor: &Actor,
    name: &str,
) -> Result<Created> {
    let name = check_name(name)?;
    let now = clock.now_ms();
    let id = Uuid::new_v4().to_string();
    let secret = random_token()?;
    let row = WorkstationRow {
        id: id.clone(),
        name,
        state: WorkstationState::Pending.as_str().into(),
        token_hash: Some(token_hash(&secret)),
        token_expires: Some(now + ENROLMENT_TTL_MS),
        public_key: None,
        created_at: now,
        enrolled_at: None,
        last_seen_at: None,
        revoked_at: None,
    };
    let mut tx = store.begin().await?;
    store::insert(&mut tx, &row).await?;
    audit::record(
        &mut tx,
        now,
        actor,
        "workstation.created",
        Some(Target::of("workstation", &id)),
        json!({ "name": row.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(Created {
        enrolment_token: format!("{id}.{secret}"),
        workstation: row.into(),
    })
}

/// The agent's enrolment: the token must belong to a pending workstation and not have expired;
/// it works once. The caller has checked that the request is signed by `public_key`. Every
/// refusal is the same 401, so the answer says nothing about which workstations exist.
pub async fn enrol(
    store: &Store,
    clock: &dyn Clock,
    id: &str,
    secret: &str,
    public_key: &[u8],
) -> Result<WorkstationView> {
    let now = clock.now_ms();
    let mut tx = store.begin().await?;
    let Some(mut w) = store::get(&mut tx, id).await? else {
        return Err(Error::Unauthorized);
    };
    let from = w.state.clone();
    let expected = w.token_hash.clone().unwrap_or_default();
    let valid =
        bool::from(token_hash(secret).ct_eq(&expected)) && w.token_expires.is_some_and(|e| e > now);
    let Some(to) = WorkstationState::parse(&w.state)
        .next(WorkstationAction::Enrol)
        .filter(|_| valid)
    else {
        return Err(Error::Unauthorized);
    };
    w.state = to.as_str().into();
    w.token_hash = None;
    w.token_expires = None;
    w.public_key = Some(public_key.to_vec());
    w.enrolled_at = Some(now);
    if !store::update(&mut tx, &w, &from).await? {
        return Err(Error::Unauthorized);
    }
    audit::record(
        &mut tx,
        now,
        &Actor::System {
            name: format!("key-bridge on {}", w.name),
        },
        "workstation.enrolled",
        Some(Target::of("workstation", &w.id)),
        json!({ "name": w.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(w.into())
}

/// The admin revokes a workstation: its signed requests are refused from now on.
pub async fn revoke(
    store: &Store,
    clock: &dyn Clock,
    actor: &Actor,
    id: &str,
) -> Result<WorkstationView> {
    let now = clock.now_ms();
    let mut tx = store.begin().await?;
    let mut w = store::get(&mut tx, id)
        .await?
        .ok_or(Error::NotFound("workstation"))?;
    let from = w.state.clone();
    let to = WorkstationState::parse(&w.state)
        .next(WorkstationAction::Revoke)
        .ok_or_else(|| Error::conflict(Some("state"), "the workstation is already revoked"))?;
    w.state = to.as_str().into();
    w.token_hash = None;
    w.token_expires = None;
    w.revoked_at = Some(now);
    if !store::update(&mut tx, &w, &from).await? {
        return Err(Error::conflict(
            Some("state"),
            "the workstation changed meanwhile",
        ));
    }
    audit::record(
        &mut tx,
        now,
        actor,
        "workstation.revoked",
        Some(Target::of("workstation", &w.id)),
        json!({ "name": w.name }),
    )
    .await?;
    tx.commit().await?;
    Ok(w.into())
}

pub async fn list(conn: &mut Conn) -> Result<Vec<WorkstationView>> {
    Ok(store::list(conn)
        .await?
        .into_iter()
        .map(WorkstationView::from)
        .collect())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<WorkstationView> {
    store::get(conn, id)
        .await?
        .map(WorkstationView::from)
        .ok_or(Error::NotFound("workstation"))
}

/// Workstations by id (one query), for pages that list keys.
pub async fn names(
    conn: &mut Conn,
    ids: &[String],
) -> Result<std::collections::HashMap<String, WorkstationView>> {
    Ok(store::get_many(conn, ids)
        .await?
        .into_iter()
        .map(|w| (w.id.clone(), WorkstationView::from(w)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::WorkstationAction::*;
    use super::WorkstationState::{self, *};

    #[test]
    fn transition_table() {
        let all = [Pending, Active, Revoked];
        for from in all {
            for action in [Enrol, Revoke] {
                let want = match (from, action) {
                    (Pending, Enrol) => Some(Active),
                    (Pending, Revoke) | (Active, Revoke) => Some(Revoked),
                    _ => None,
                };
                assert_eq!(from.next(action), want, "{from:?} {action:?}");
            }
            assert_eq!(WorkstationState::parse(from.as_str()), from);
        }
        // Unknown text fails closed.
        assert_eq!(WorkstationState::parse("enabled"), Revoked);
    }
}
