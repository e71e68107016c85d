//! A test's own corner of the real Samba AD DC that `scripts/test.sh` starts: each test makes an
//! OU with a unique name, its sync group and users inside it, so tests run side by side without
//! seeing each other's accounts.

use ldap3::{Ldap, Mod, Scope, SearchEntry};
use serde_json::{json, Value};
use std::collections::HashSet;

/// A DC from the environment and its LDAPS connection: the workspace's shared helper.
pub use test_support::dc::Dc;

/// Quoted UTF-16LE, as AD wants `unicodePwd`.
pub fn unicode_pwd(p: &str) -> Vec<u8> {
    format!("\"{p}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

pub const USER_PASSWORD: &str = "Us3r-Passw0rd!";

#[derive(Default, Clone)]
pub struct NewUser<'a> {
    pub sam: &'a str,
    pub given: Option<&'a str>,
    pub sn: Option<&'a str>,
    pub mail: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub department: Option<&'a str>,
    pub title: Option<&'a str>,
    /// Created without a password (AD then keeps it disabled).
    pub disabled: bool,
}

/// A test's OU with its sync group.
pub struct Corner {
    pub dc: Dc,
    pub ldap: Ldap,
    pub ou: String,
    pub group: String,
    pub tag: String,
}

impl Corner {
    pub async fn new(dc: &Dc) -> Self {
        let mut ldap = dc.connect().await;
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let ou = format!("OU=t{tag},{}", dc.base_dn);
        ldap.add(
            &ou,
            vec![("objectClass", HashSet::from(["top", "organizationalUnit"]))],
        )
        .await
        .expect("add OU")
        .success()
        .expect("add OU");
        let mut c = Self {
            dc: dc.clone(),
            ldap,
            group: String::new(),
            ou,
            tag,
        };
        c.group = c.add_group("Sync").await;
        c
    }

    /// A group in the corner; its sAMAccountName is unique per test.
    pub async fn add_group(&mut self, cn: &str) -> String {
        let dn = format!("CN={cn},{}", self.ou);
        let sam = format!("{cn}-{}", self.tag);
        self.ldap
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["top", "group"])),
                    ("sAMAccountName", HashSet::from([sam.as_str()])),
                ],
            )
            .await
            .expect("add group")
            .success()
            .expect("add group");
        dn
    }

    pub async fn add_ou(&mut self, name: &str) -> String {
        let dn = format!("OU={name},{}", self.ou);
        self.ldap
            .add(
                &dn,
                vec![("objectClass", HashSet::from(["top", "organizationalUnit"]))],
            )
            .await
            .expect("add OU")
            .success()
            .expect("add OU");
        dn
    }

    /// Creates a user in the corner (or in `ou`) and returns its DN.
    pub async fn add_user_in(&mut self, ou: &str, u: &NewUser<'_>) -> String {
        let cn = match (u.given, u.sn) {
            (Some(g), Some(s)) => format!("{g} {s}"),
            _ => u.sam.to_owned(),
        };
        let dn = format!("CN={cn},{ou}");
        let sam = u.sam.as_bytes().to_vec();
        let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
            (
                b"objectClass".to_vec(),
                HashSet::from([
                    b"top".to_vec(),
                    b"person".to_vec(),
                    b"organizationalPerson".to_vec(),
                    b"user".to_vec(),
                ]),
            ),
            (b"sAMAccountName".to_vec(), HashSet::from([sam])),
        ];
        let mut opt = |name: &str, v: Option<&str>| {
            if let Some(v) = v {
                attrs.push((
                    name.as_bytes().to_vec(),
                    HashSet::from([v.as_bytes().to_vec()]),
                ));
            }
        };
        opt("givenName", u.given);
        opt("sn", u.sn);
        opt("mail", u.mail);
        opt("telephoneNumber", u.phone);
        opt("department", u.department);
        opt("title", u.title);
        if !u.disabled {
            attrs.push((
                b"unicodePwd".to_vec(),
                HashSet::from([unicode_pwd(USER_PASSWORD)]),
            ));
            attrs.push((
                b"userAccountControl".to_vec(),
                HashSet::from([b"512".to_vec()]),
            ));
        }
        self.ldap
            .add(&dn, attrs)
            .await
            .expect("add user")
            .success()
            .unwrap_or_else(|e| panic!("add user {dn}: {e}"));
        dn
    }

    pub async fn add_user(&mut self, u: &NewUser<'_>) -> String {
        let ou = self.ou.clone();
        self.add_user_in(&ou, u).await
    }

    pub async fn add_member(&mut self, group: &str, member: &str) {
        self.ldap
            .modify(group, vec![Mod::Add("member", HashSet::from([member]))])
            .await
            .expect("add member")
            .success()
            .expect("add member");
    }

    pub async fn remove_member(&mut self, group: &str, member: &str) {
        self.ldap
            .modify(group, vec![Mod::Delete("member", HashSet::from([member]))])
            .await
            .expect("remove member")
            .success()
            .expect("remove member");
    }

    pub async fn set(&mut self, dn: &str, attr: &str, value: &str) {
        self.ldap
            .modify(dn, vec![Mod::Replace(attr, HashSet::from([value]))])
            .await
            .expect("modify")
            .success()
            .unwrap_or_else(|e| panic!("set {attr} on {dn}: {e}"));
    }

    pub async fn delete(&mut self, dn: &str) {
        self.ldap
            .delete(dn)
            .await
            .expect("delete")
            .success()
            .expect("delete");
    }

    /// Renames (new RDN) and/or moves (new parent) an entry; returns the new DN.
    pub async fn rename(&mut self, dn: &str, new_rdn: &str, new_parent: Option<&str>) -> String {
        self.ldap
            .modifydn(dn, new_rdn, true, new_parent)
            .await
            .expect("modrdn")
            .success()
            .expect("modrdn");
        let parent = new_parent.map(str::to_owned).unwrap_or_else(|| {
            dn.split_once(',')
                .map(|x| x.1.to_owned())
                .unwrap_or_default()
        });
        format!("{new_rdn},{parent}")
    }

    pub async fn guid_of(&mut self, dn: &str) -> uuid::Uuid {
        let (entries, _) = self
            .ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec!["objectGUID"])
            .await
            .expect("search")
            .success()
            .expect("search");
        let e = SearchEntry::construct(entries.into_iter().next().expect("entry"));
        let bytes = e
            .bin_attrs
            .get("objectGUID")
            .and_then(|v| v.first().cloned())
            .or_else(|| {
                e.attrs
                    .get("objectGUID")
                    .and_then(|v| v.first())
                    .map(|s| s.as_bytes().to_vec())
            })
            .expect("objectGUID");
        uuid::Uuid::from_bytes_le(bytes.try_into().expect("16 bytes"))
    }

    /// The JSON an admin posts to add this corner as a domain.
    pub fn domain_json(&self, name: &str) -> Value {
        json!({
            "name": name,
            "urls": [self.dc.url],
            "ca_pem": self.dc.ca_pem(),
            "bind_dn": self.dc.admin,
            "bind_password": self.dc.password,
            "base_dn": self.ou,
            "netbios_name": self.dc.netbios,
            "sync_group": self.group,
            "max_removal_percent": 50,
        })
    }
}
