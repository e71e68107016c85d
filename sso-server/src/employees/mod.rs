//! Employees: the people the server signs in. Manual ones are edited by admins; imported ones
//! belong to the directory and are read-only here.

pub mod http;
pub mod lifecycle;
pub mod store;
pub mod validate;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{self, Actor, Target};
use crate::clock::{from_ms, to_ms};
use crate::employees::store::EmployeeRow;
use crate::error::{Error, Result};
use crate::store::Store;

pub use validate::{EmployeeFields, ValidEmployee};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Manual,
    Directory,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum State {
    #[serde(rename = "active")]
    Active,
    #[serde(rename = "removed-from-sync")]
    RemovedFromSync,
    #[serde(rename = "disabled")]
    Disabled,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Directory => "directory",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "manual" => Ok(Self::Manual),
            "directory" => Ok(Self::Directory),
            other => Err(Error::Internal(format!(
                "unknown employee source {other:?} in database"
            ))),
        }
    }
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::RemovedFromSync => "removed-from-sync",
            Self::Disabled => "disabled",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Self::Active),
            "removed-from-sync" => Ok(Self::RemovedFromSync),
            "disabled" => Ok(Self::Disabled),
            other => Err(Error::Internal(format!(
                "unknown employee state {other:?} in database"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub id: Uuid,
    pub fields: ValidEmployee,
    pub source: Source,
    pub state: State,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl TryFrom<EmployeeRow> for Employee {
    type Error = Error;

    fn try_from(r: EmployeeRow) -> Result<Self> {
        Ok(Self {
            id: Uuid::parse_str(&r.id)
                .map_err(|_| Error::Internal(format!("bad employee id {:?}", r.id)))?,
            fields: ValidEmployee {
                given_name: r.given_name,
                family_name: r.family_name,
                display_name: r.display_name,
                email: r.email,
                phone: r.phone,
                department: r.department,
                title: r.title,
            },
            source: Source::parse(&r.source)?,
            state: State::parse(&r.state)?,
            created_at: from_ms(r.created_at),
            updated_at: from_ms(r.updated_at),
        })
    }
}

fn to_row(
    id: &str,
    f: &ValidEmployee,
    source: Source,
    state: State,
    created: i64,
    updated: i64,
) -> EmployeeRow {
    EmployeeRow {
        id: id.to_owned(),
        given_name: f.given_name.clone(),
        family_name: f.family_name.clone(),
        display_name: f.display_name.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        department: f.department.clone(),
        title: f.title.clone(),
        source: source.as_str().into(),
        state: state.as_str().into(),
        created_at: created,
        updated_at: updated,
    }
}

const EMAIL_TAKEN: &str = "another employee already has this e-mail address";

pub struct Page {
    pub items: Vec<Employee>,
    pub total: i64,
}

/// Read and write employees. Reads come from our database only, never from a directory.
pub struct Employees<'a> {
    pub store: &'a Store,
}

impl Employees<'_> {
    pub async fn list(&self, search: Option<&str>, limit: i64, offset: i64) -> Result<Page> {
        let mut conn = self.store.conn().await?;
        let (rows, total) = crate::employees::store::list(&mut conn, search, limit, offset).await?;
        let items = rows
            .into_iter()
            .map(Employee::try_from)
            .collect::<Result<_>>()?;
        Ok(Page { items, total })
    }

    pub async fn get(&self, id: Uuid) -> Result<Employee> {
        let mut conn = self.store.conn().await?;
        crate::employees::store::get(&mut conn, &id.to_string())
            .await?
            .ok_or(Error::NotFound("employee"))?
            .try_into()
    }

    pub async fn create_manual(
        &self,
        actor: &Actor,
        now_ms: i64,
        fields: ValidEmployee,
    ) -> Result<Employee> {
        let id = Uuid::new_v4().to_string();
        let row = to_row(&id, &fields, Source::Manual, State::Active, now_ms, now_ms);
        let mut tx = self.store.begin().await?;
        if let Some(email) = &fields.email {
            if crate::employees::store::find_by_email(&mut tx, email)
                .await?
                .is_some()
            {
                return Err(Error::conflict(Some("email"), EMAIL_TAKEN));
            }
        }
        crate::employees::store::insert(&mut tx, &row)
            .await
            .map_err(Error::on_unique_violation("email", EMAIL_TAKEN))?;
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "employee.created",
            Some(Target::of("employee", &id)),
            json!({ "display_name": fields.display_name, "email": fields.email }),
        )
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    /// Replaces a manual employee's fields. Directory employees are refused with 409.
    pub async fn update_manual(
        &self,
        actor: &Actor,
        now_ms: i64,
        id: Uuid,
        fields: ValidEmployee,
    ) -> Result<Employee> {
        let id = id.to_string();
        let mut tx = self.store.begin().await?;
        let current: Employee = crate::employees::store::get(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound("employee"))?
            .try_into()?;
        refuse_directory(&current, "edited")?;
        if let Some(email) = &fields.email {
            if let Some(other) = crate::employees::store::find_by_email(&mut tx, email).await? {
                if other.id != id {
                    return Err(Error::conflict(Some("email"), EMAIL_TAKEN));
                }
            }
        }
        let created = to_ms(current.created_at);
        let row = to_row(&id, &fields, current.source, current.state, created, now_ms);
        crate::employees::store::update(&mut tx, &row)
            .await
            .map_err(Error::on_unique_violation("email", EMAIL_TAKEN))?;
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "employee.updated",
            Some(Target::of("employee", &id)),
            json!({ "changed": changed_fields(&current.fields, &fields) }),
        )
        .await?;
        tx.commit().await?;
        row.try_into()
    }

    pub async fn delete_manual(&self, actor: &Actor, now_ms: i64, id: Uuid) -> Result<()> {
        let id = id.to_string();
        let mut tx = self.store.begin().await?;
        let current: Employee = crate::employees::store::get(&mut tx, &id)
            .await?
            .ok_or(Error::NotFound("employee"))?
            .try_into()?;
        refuse_directory(&current, "deleted")?;
        crate::employees::store::delete(&mut tx, &id).await?;
        audit::record(
            &mut tx,
            now_ms,
            actor,
            "employee.deleted",
            Some(Target::of("employee", &id)),
            json!({ "display_name": current.fields.display_name, "email": current.fields.email }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn refuse_directory(e: &Employee, verb: &str) -> Result<()> {
    if e.source == Source::Directory {
        return Err(Error::conflict(
            None,
            format!(
                "this employee is imported from a directory and cannot be {verb} here; change it \
                 in Active Directory and it follows at the next sync"
            ),
        ));
    }
    Ok(())
}

fn changed_fields(a: &ValidEmployee, b: &ValidEmployee) -> Vec<&'static str> {
    let mut out = Vec::new();
    let pairs: [(&'static str, &Option<String>, &Option<String>); 6] = [
        ("given_name", &a.given_name, &b.given_name),
        ("family_name", &a.family_name, &b.family_name),
        ("email", &a.email, &b.email),
        ("phone", &a.phone, &b.phone),
        ("department", &a.department, &b.department),
        ("title", &a.title, &b.title),
    ];
    if a.display_name != b.display_name {
        out.push("display_name");
    }
    for (name, x, y) in pairs {
        if x != y {
            out.push(name);
        }
    }
    out
}
