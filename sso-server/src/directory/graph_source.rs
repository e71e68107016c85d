//! Entra ID as a [`DirectorySource`], over Microsoft Graph.
//!
//! - Members: `/groups/{id}/transitiveMembers/microsoft.graph.user` (nested groups included),
//!   paged with `@odata.nextLink`.
//! - Delta: `/users/delta` with a stored delta link. A full run takes a fresh link first
//!   (`$deltatoken=latest`), so nothing changed during the read is missed. Group delta does not
//!   follow nested groups, so a delta run reads the membership as ids only, the changed users
//!   from the delta link, and in full only the members we do not hold yet — the same shape as
//!   the LDAP delta. A user `@removed` from the tenant is no member.
//! - The object id is the stable key (stored where AD's objectGUID goes); `accountEnabled: false`
//!   is recorded as AD's ACCOUNTDISABLE bit, so the engine treats it exactly like a disabled AD
//!   account.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::graph::{
    GraphClient, GraphSettings, OP_GROUP, OP_MEMBERS, PERMISSION_MEMBERS, PERMISSION_USERS,
};
use super::source::{Cursor, DirectorySource, GroupCheck, Read, ReadRequest};
use super::user::DirUser;
use super::DirectoryError;
use crate::clock::SharedClock;

/// The user properties read (`$select`).
pub const SELECT: &str = "id,userPrincipalName,givenName,surname,displayName,mail,\
businessPhones,mobilePhone,department,jobTitle,accountEnabled";

/// userAccountControl values for an enabled and a disabled account (NORMAL_ACCOUNT, plus
/// ACCOUNTDISABLE).
const UAC_ENABLED: i64 = 0x200;
const UAC_DISABLED: i64 = 0x202;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    user_principal_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    display_name: Option<String>,
    mail: Option<String>,
    #[serde(default)]
    business_phones: Vec<String>,
    mobile_phone: Option<String>,
    department: Option<String>,
    job_title: Option<String>,
    account_enabled: Option<bool>,
    #[serde(rename = "@removed")]
    removed: Option<Value>,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A Graph user as a directory account. None for an object without a GUID id (not trackable).
fn to_dir_user(u: GraphUser) -> Option<DirUser> {
    let guid = Uuid::parse_str(&u.id).ok()?;
    let upn = clean(u.user_principal_name);
    Some(DirUser {
        guid,
        // Reports name the account by its UPN, as admins know it.
        dn: upn.clone().unwrap_or_else(|| u.id.clone()),
        sam_account_name: None,
        upn,
        given_name: clean(u.given_name),
        family_name: clean(u.surname),
        display_name: clean(u.display_name),
        email: clean(u.mail),
        phone: clean(u.business_phones.into_iter().next()).or(clean(u.mobile_phone)),
        department: clean(u.department),
        title: clean(u.job_title),
        user_account_control: if u.account_enabled == Some(false) {
            UAC_DISABLED
        } else {
            UAC_ENABLED
        },
        account_expires: None,
        lockout_time: None,
        pwd_last_set: None,
        usn_changed: None,
        when_changed: None,
    })
}

fn parse(v: Value) -> Option<GraphUser> {
    serde_json::from_value(v).ok()
}

pub struct GraphSource {
    client: GraphClient,
    location: String,
}

impl GraphSource {
    /// Gets a token at once, so wrong credentials fail the run before anything is read.
    pub async fn connect(s: GraphSettings, clock: SharedClock) -> Result<Self, DirectoryError> {
        let location = s.graph_url.clone();
        let mut client = GraphClient::new(s, clock)?;
        client.token().await?;
        Ok(Self { client, location })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.client.settings.graph_url)
    }

    fn members_url(&self, select: &str) -> String {
        self.url(&format!(
            "/groups/{}/transitiveMembers/microsoft.graph.user?$select={select}&$top=999&$count=true",
            self.client.settings.group_id
        ))
    }

    /// A delta link for "now", without enumerating the tenant.
    async fn latest_delta_link(&mut self) -> Result<String, DirectoryError> {
        let url = self.url(&format!("/users/delta?$select={SELECT}&$deltatoken=latest"));
        let (_, link) = self
            .client
            .all_pages(&url, "starting the user delta", PERMISSION_USERS, &|_| {})
            .await?;
        link.ok_or_else(|| DirectoryError::Graph {
            operation: "starting the user delta".into(),
            reason: "the response has no @odata.deltaLink".into(),
        })
    }

    async fn full(&mut self, req: &ReadRequest<'_>) -> Result<Read, DirectoryError> {
        let delta_link = self.latest_delta_link().await?;
        let url = self.members_url(SELECT);
        let (items, _) = self
            .client
            .all_pages(&url, OP_MEMBERS, PERMISSION_MEMBERS, req.progress)
            .await?;
        let fetched: Vec<DirUser> = items
            .into_iter()
            .filter_map(parse)
            .filter_map(to_dir_user)
            .collect();
        Ok(Read {
            delta: false,
            members: fetched.iter().map(|u| u.guid).collect(),
            fetched,
            cursor: Cursor::Graph {
                graph_url: self.location.clone(),
                delta_link,
            },
        })
    }

    async fn delta(
        &mut self,
        req: &ReadRequest<'_>,
        link: &str,
    ) -> Result<Option<Read>, DirectoryError> {
        let (changes, next_link) = match self
            .client
            .all_pages(link, "reading user changes", PERMISSION_USERS, &|_| {})
            .await
        {
            Ok(r) => r,
            // The link expired (Graph keeps delta state for a limited time): read in full.
            Err(DirectoryError::DeltaExpired) => return Ok(None),
            Err(e) => return Err(e),
        };
        let delta_link = next_link.ok_or_else(|| DirectoryError::Graph {
            operation: "reading user changes".into(),
            reason: "the last page has no @odata.deltaLink".into(),
        })?;
        let mut removed = HashSet::new();
        let mut changed = Vec::new();
        for u in changes.into_iter().filter_map(parse) {
            if u.removed.is_some() {
                if let Ok(g) = Uuid::parse_str(&u.id) {
                    removed.insert(g);
                }
            } else if let Some(d) = to_dir_user(u) {
                changed.push(d);
            }
        }
        let url = self.members_url("id");
        let (ids, _) = self
            .client
            .all_pages(&url, OP_MEMBERS, PERMISSION_MEMBERS, &|_| {})
            .await?;
        let members: HashSet<Uuid> = ids
            .iter()
            .filter_map(|v| v.get("id").and_then(Value::as_str))
            .filter_map(|s| Uuid::parse_str(s).ok())
            .filter(|g| !removed.contains(g))
            .collect();
        let mut fetched: Vec<DirUser> = changed
            .into_iter()
            .filter(|u| members.contains(&u.guid))
            .collect();
        let have: HashSet<Uuid> = fetched.iter().map(|u| u.guid).collect();
        let missing: Vec<Uuid> = members
            .iter()
            .filter(|g| !req.in_scope.contains(g) && !have.contains(g))
            .copied()
            .collect();
        for g in missing {
            let url = self.url(&format!("/users/{g}?$select={SELECT}"));
            let v = self
                .client
                .get(&url, "reading a new member", PERMISSION_USERS)
                .await?;
            if let Some(u) = parse(v).and_then(to_dir_user) {
                fetched.push(u);
            }
        }
        (req.progress)(fetched.len() as u64);
        Ok(Some(Read {
            delta: true,
            fetched,
            members,
            cursor: Cursor::Graph {
                graph_url: self.location.clone(),
                delta_link,
            },
        }))
    }
}

#[async_trait]
impl DirectorySource for GraphSource {
    fn location(&self) -> &str {
        &self.location
    }

    async fn read(&mut self, req: ReadRequest<'_>) -> Result<Read, DirectoryError> {
        // A link from another Graph endpoint (the domain was edited) is not used.
        let link =
            req.row.cursor_delta_link.clone().filter(|_| {
                req.delta && req.row.cursor_dc.as_deref() == Some(self.location.as_str())
            });
        if let Some(link) = link {
            if let Some(read) = self.delta(&req, &link).await? {
                return Ok(read);
            }
        }
        self.full(&req).await
    }

    async fn check_group(&mut self) -> Result<GroupCheck, DirectoryError> {
        let url = self.url(&format!(
            "/groups/{}?$select=id,displayName",
            self.client.settings.group_id
        ));
        let group = self.client.get(&url, OP_GROUP, PERMISSION_MEMBERS).await?;
        let name = group
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let url = self.members_url("id");
        let (ids, _) = self
            .client
            .all_pages(&url, OP_MEMBERS, PERMISSION_MEMBERS, &|_| {})
            .await?;
        Ok(GroupCheck {
            group: format!("{name} ({})", self.client.settings.group_id),
            members: ids.len() as u64,
        })
    }

    async fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_user_maps_to_the_ad_disable_bit() {
        let v = serde_json::json!({
            "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "userPrincipalName": "AdeleV@contoso.com",
            "givenName": "Adele", "surname": "Vance", "displayName": "Adele Vance",
            "mail": "AdeleV@contoso.com", "businessPhones": ["+1 425 555 0109"],
            "mobilePhone": null, "department": "Retail", "jobTitle": "Retail Manager",
            "accountEnabled": false
        });
        let u = to_dir_user(parse(v).unwrap()).unwrap();
        assert!(super::super::user::is_disabled(
            u.user_account_control,
            None,
            0
        ));
        assert_eq!(u.phone.as_deref(), Some("+1 425 555 0109"));
        assert_eq!(u.dn, "AdeleV@contoso.com");
        assert!(
            parse(serde_json::json!({"id": "x", "@removed": {"reason": "deleted"}}))
                .is_some_and(|u| u.removed.is_some())
        );
        assert!(to_dir_user(parse(serde_json::json!({"id": "not-a-guid"})).unwrap()).is_none());
    }
}
