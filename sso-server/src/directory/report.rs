//! The report of a sync run: its counts, the change of every object that changed, and the errors
//! with the DN concerned. Stored with the run (JSON) and shown by the API and the command line.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What happened to the members of the sync group. Counted per employee outcome:
/// `added + updated + unchanged + merged + taken_over + reactivated` covers every member read,
/// `removed` counts employees that stopped being active (left the group or disabled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Counts {
    /// New employees created from directory accounts.
    pub added: u64,
    /// Members whose data changed.
    pub updated: u64,
    /// Members with no change.
    pub unchanged: u64,
    /// Employees no longer active: removed from the group, deleted, or disabled/expired in AD.
    pub removed: u64,
    /// Employees active again (back in the group, or enabled again).
    pub reactivated: u64,
    /// Accounts joined to an existing imported employee with the same e-mail (another domain, or
    /// an account re-created with a new objectGUID).
    pub merged: u64,
    /// Manual employees taken over by the directory (same e-mail, or same full name).
    pub taken_over: u64,
    /// Objects skipped because of an error.
    pub errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Updated,
    Removed,
    Disabled,
    Reactivated,
    Merged,
    TakenOver,
}

/// One object's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    pub kind: ChangeKind,
    pub employee_id: String,
    pub display_name: String,
    /// The account's objectGUID (text form), when the change concerns one account.
    pub object_guid: Option<String>,
    pub dn: Option<String>,
    /// The fields that changed (for `updated`), or why (for `removed`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// An object that could not be synced; the rest of the run went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObjectError {
    pub dn: Option<String>,
    pub object_guid: Option<String>,
    pub message: String,
}

/// Something the run did not do for one person, and why (e.g. not invited: the account is
/// disabled); the person was synced and the rest of the run went on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonNote {
    pub employee_id: String,
    pub display_name: String,
    pub dn: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunReport {
    pub counts: Counts,
    /// Members of the sync group read from the directory (full runs), or in the group now (delta).
    pub members: u64,
    pub changes: Vec<Change>,
    pub errors: Vec<ObjectError>,
    /// Removals the removal guard held back (a refused run): the employees stay active until a
    /// forced run applies them or they are back in the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Change>,
    /// What the run did not do for some people it synced, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<PersonNote>,
}

impl RunReport {
    pub fn change(&mut self, change: Change) {
        match change.kind {
            ChangeKind::Added => self.counts.added += 1,
            ChangeKind::Updated => self.counts.updated += 1,
            ChangeKind::Removed | ChangeKind::Disabled => self.counts.removed += 1,
            ChangeKind::Reactivated => self.counts.reactivated += 1,
            ChangeKind::Merged => self.counts.merged += 1,
            ChangeKind::TakenOver => self.counts.taken_over += 1,
        }
        self.changes.push(change);
    }

    pub fn error(&mut self, dn: Option<&str>, guid: Option<String>, message: impl Into<String>) {
        self.counts.errors += 1;
        self.errors.push(ObjectError {
            dn: dn.map(str::to_owned),
            object_guid: guid,
            message: message.into(),
        });
    }

    /// Total number of changes (what a no-change run reports as 0).
    pub fn changed(&self) -> u64 {
        let c = &self.counts;
        c.added + c.updated + c.removed + c.reactivated + c.merged + c.taken_over
    }
}
