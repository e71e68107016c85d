//! The directories a sync reads from, behind one trait: on-premises AD over LDAP
//! (`ldap_source`) and Entra ID over Microsoft Graph (`graph_source`). A source only reads; the
//! engine (`sync`) owns everything else — the merge by e-mail, takeovers, removals, the guard
//! rails, the run report and the schedule — so they behave the same for every kind of directory.

use std::collections::HashSet;

use async_trait::async_trait;
use uuid::Uuid;

use super::domain::{Domain, SourceSettings};
use super::graph_source::GraphSource;
use super::ldap_source::LdapSource;
use super::user::DirUser;
use super::DirectoryError;
use crate::clock::SharedClock;
use crate::directory::store::DomainRow;

/// What the engine asks a source to read.
pub struct ReadRequest<'a> {
    /// Read only what changed since the domain's stored cursor, if the source can use it;
    /// otherwise read everything (and say so in [`Read::delta`]).
    pub delta: bool,
    /// The domain row, with the cursor of the last run.
    pub row: &'a DomainRow,
    /// Accounts of this domain that the database holds as members (used by delta reads to find
    /// members that still have to be read in full).
    pub in_scope: &'a HashSet<Uuid>,
    /// Told how many accounts were read so far.
    pub progress: &'a (dyn Fn(u64) + Send + Sync),
}

/// What a source read.
pub struct Read {
    /// True when this was a delta read.
    pub delta: bool,
    /// Accounts to examine: every member (full) or the changed and new ones (delta).
    pub fetched: Vec<DirUser>,
    /// Every member of the sync group now, nested groups included.
    pub members: HashSet<Uuid>,
    /// Where the next delta starts from, stored with the run's changes.
    pub cursor: Cursor,
}

/// A source's delta cursor, as stored on the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// highestCommittedUSN and invocationId of the DC read (`dc`), taken before the search.
    Ldap {
        dc: String,
        invocation_id: String,
        usn: i64,
    },
    /// The Graph delta link for users, taken before the members were read.
    Graph {
        graph_url: String,
        delta_link: String,
    },
}

/// The outcome of "test connection": the sync group found and its member count.
#[derive(Debug, Clone)]
pub struct GroupCheck {
    pub group: String,
    pub members: u64,
}

#[async_trait]
pub trait DirectorySource: Send {
    /// Where this source reads from (the DC's URL, the Graph endpoint): recorded with the run.
    fn location(&self) -> &str;

    /// Reads the members of the sync group (all of them, or what changed).
    async fn read(&mut self, request: ReadRequest<'_>) -> Result<Read, DirectoryError>;

    /// Finds the sync group and counts its members. Changes nothing.
    async fn check_group(&mut self) -> Result<GroupCheck, DirectoryError>;

    /// Ends the session (LDAP unbind); reading after this is an error.
    async fn close(&mut self);
}

/// Connects to the domain's directory. Fails (and the run with it) when it cannot be reached or
/// refuses the credentials.
pub async fn open(
    domain: &Domain,
    clock: &SharedClock,
) -> Result<Box<dyn DirectorySource>, DirectoryError> {
    Ok(match &domain.source {
        SourceSettings::Ldap(settings) => {
            Box::new(LdapSource::connect(settings, &domain.row).await?)
        }
        SourceSettings::Graph(settings) => {
            Box::new(GraphSource::connect(settings.clone(), clock.clone()).await?)
        }
    })
}
