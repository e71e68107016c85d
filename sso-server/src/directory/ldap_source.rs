//! On-premises AD as a [`DirectorySource`]: a bound LDAP connection to the first DC that answers.
//! A delta read uses the uSNChanged cursor only against the DC (and database instance, by its
//! invocationId) it was taken on; anywhere else the read is full.

use std::collections::HashSet;

use async_trait::async_trait;
use uuid::Uuid;

use super::ldap::{self, ConnectSettings, DirectoryConn};
use super::source::{Cursor, DirectorySource, GroupCheck, Read, ReadRequest};
use super::user::DirUser;
use super::DirectoryError;
use crate::directory::store::DomainRow;

pub struct LdapSource {
    conn: Option<DirectoryConn>,
    url: String,
    base_dn: String,
    sync_group: String,
}

impl LdapSource {
    pub async fn connect(s: &ConnectSettings, row: &DomainRow) -> Result<Self, DirectoryError> {
        let conn = ldap::connect(s).await?;
        Ok(Self {
            url: conn.url.clone(),
            conn: Some(conn),
            base_dn: row.base_dn.clone(),
            sync_group: row.sync_group.clone(),
        })
    }

    fn conn(&mut self) -> Result<&mut DirectoryConn, DirectoryError> {
        self.conn.as_mut().ok_or_else(|| DirectoryError::Ldap {
            operation: "read".into(),
            reason: "the connection is closed".into(),
        })
    }
}

#[async_trait]
impl DirectorySource for LdapSource {
    fn location(&self) -> &str {
        &self.url
    }

    async fn read(&mut self, req: ReadRequest<'_>) -> Result<Read, DirectoryError> {
        let base = self.base_dn.clone();
        let sync_group = self.sync_group.clone();
        let url = self.url.clone();
        let conn = self.conn()?;
        // Anchors first: whatever changes during the read is after them, so the next delta sees it.
        let anchors = conn.anchors().await?;
        let group = conn.resolve_group(&base, &sync_group).await?;
        let row = req.row;
        let usable = match (&row.cursor_dc, &row.cursor_invocation_id, row.cursor_usn) {
            (Some(dc), Some(inv), Some(usn)) if dc == &url && inv == &anchors.invocation_id => {
                Some(usn)
            }
            _ => None,
        };
        let cursor = Cursor::Ldap {
            dc: url,
            invocation_id: anchors.invocation_id.clone(),
            usn: anchors.highest_usn,
        };
        let Some(usn) = usable.filter(|_| req.delta) else {
            let users = conn
                .members(&base, &group, |n| (req.progress)(n as u64))
                .await?;
            let members = users.iter().map(|u| u.guid).collect();
            return Ok(Read {
                delta: false,
                fetched: users,
                members,
                cursor,
            });
        };
        let in_scope = req.in_scope;
        // Membership: read in full only when a group in the chain changed; otherwise it is what
        // we hold, less members deleted since (deletion does not touch groups).
        let members: HashSet<Uuid> = if conn.groups_changed(&base, &group, usn).await? {
            conn.member_guids(&base, &group)
                .await?
                .into_iter()
                .collect()
        } else {
            let deleted: HashSet<Uuid> =
                conn.deleted_since(&base, usn).await?.into_iter().collect();
            in_scope.difference(&deleted).copied().collect()
        };
        let mut users: Vec<DirUser> = conn
            .changed_users(&base, usn)
            .await?
            .into_iter()
            .filter(|u| members.contains(&u.guid))
            .collect();
        // Members we do not hold as in scope: new ones, and ones added back to the group (a
        // membership change does not bump the user's own uSNChanged).
        let have: HashSet<Uuid> = users.iter().map(|u| u.guid).collect();
        let missing: Vec<Uuid> = members
            .iter()
            .filter(|g| !in_scope.contains(g) && !have.contains(g))
            .copied()
            .collect();
        if !missing.is_empty() {
            users.extend(conn.users_by_guid(&base, &missing).await?);
        }
        (req.progress)(users.len() as u64);
        Ok(Read {
            delta: true,
            fetched: users,
            members,
            cursor,
        })
    }

    async fn check_group(&mut self) -> Result<GroupCheck, DirectoryError> {
        let (base, sync_group) = (self.base_dn.clone(), self.sync_group.clone());
        let conn = self.conn()?;
        let group = conn.resolve_group(&base, &sync_group).await?;
        let count = conn.count_members(&base, &group).await?;
        Ok(GroupCheck {
            group,
            members: count as u64,
        })
    }

    async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
    }
}
