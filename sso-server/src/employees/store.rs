//! Employee rows.

use crate::error::Result;
use crate::store::{like_escape, Conn};

/// An employee as stored. Enums are kept as their text form here; `crate::employees` parses them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EmployeeRow {
    pub id: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub source: String,
    pub state: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, given_name, family_name, display_name, email, phone, department, title, \
                       source, state, created_at, updated_at";

impl EmployeeRow {
    fn email_norm(&self) -> Option<String> {
        self.email.as_deref().map(str::to_lowercase)
    }

    fn sort_key(&self) -> String {
        self.display_name.to_lowercase()
    }

    /// Everything searchable, lower-cased, in one column (a portable substring search).
    fn search_text(&self) -> String {
        [
            Some(self.display_name.as_str()),
            self.given_name.as_deref(),
            self.family_name.as_deref(),
            self.email.as_deref(),
            self.phone.as_deref(),
            self.department.as_deref(),
            self.title.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\u{1f}")
        .to_lowercase()
    }
}

/// Binds id, the fields, and the derived columns (email_norm, sort_key, search_text), in the
/// order both the insert and the update list them.
fn bind_fields<'q>(q: crate::store::Query<'q>, e: &'q EmployeeRow) -> crate::store::Query<'q> {
    q.bind(&e.id)
        .bind(&e.given_name)
        .bind(&e.family_name)
        .bind(&e.display_name)
        .bind(&e.email)
        .bind(e.email_norm())
        .bind(&e.phone)
        .bind(&e.department)
        .bind(&e.title)
        .bind(&e.source)
        .bind(&e.state)
        .bind(e.sort_key())
        .bind(e.search_text())
}

pub async fn insert(conn: &mut Conn, e: &EmployeeRow) -> Result<(), sqlx::Error> {
    insert_many(conn, std::slice::from_ref(e)).await
}

/// Writes every field but `id` and `created_at`. Returns false if the row does not exist.
pub async fn update(conn: &mut Conn, e: &EmployeeRow) -> Result<bool, sqlx::Error> {
    let done = bind_fields(
        sqlx::query(
            "UPDATE employee SET given_name = $2, family_name = $3, display_name = $4, email = $5, \
         email_norm = $6, phone = $7, department = $8, title = $9, source = $10, state = $11, \
         sort_key = $12, search_text = $13, updated_at = $14 WHERE id = $1",
        ),
        e,
    )
    .bind(e.updated_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM employee WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<EmployeeRow>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM employee WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<EmployeeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM employee WHERE email_norm = $1"
    ))
    .bind(email.to_lowercase())
    .fetch_optional(conn)
    .await?)
}

/// Possible duplicates of employee `id`: employees of the other source (manual for an imported
/// one, imported for a manual one) with the same display name, in any letter case (ASCII case on
/// SQLite). A flag for the admin; nothing is merged by name.
pub async fn same_name_other_source(conn: &mut Conn, id: &str) -> Result<Vec<EmployeeRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM employee WHERE id <> $1 \
         AND lower(display_name) = (SELECT lower(display_name) FROM employee WHERE id = $1) \
         AND (source = 'manual') <> (SELECT source = 'manual' FROM employee WHERE id = $1) \
         ORDER BY display_name, id LIMIT 20"
    ))
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// One page, ordered by display name, and the total matching `search` (a case-insensitive
/// substring of any name, e-mail, phone, department or title).
pub async fn list(
    conn: &mut Conn,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<EmployeeRow>, i64)> {
    let pattern = format!("%{}%", like_escape(&search.unwrap_or("").to_lowercase()));
    let total: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM employee WHERE search_text LIKE $1 ESCAPE '\\'")
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM employee WHERE search_text LIKE $1 ESCAPE '\\' \
         ORDER BY sort_key, id LIMIT $2 OFFSET $3"
    ))
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

pub async fn count(conn: &mut Conn) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM employee")
        .fetch_one(conn)
        .await?)
}

/// Every employee (what a directory sync plans against).
pub async fn all(conn: &mut Conn) -> Result<Vec<EmployeeRow>> {
    Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM employee"))
        .fetch_all(conn)
        .await?)
}

/// Inserts many employees with multi-row statements (a directory import), leaving out those
/// whose e-mail another employee has meanwhile (a concurrent run imported the same person);
/// returns the ids it inserted.
pub async fn insert_many_new(
    conn: &mut Conn,
    rows: &[EmployeeRow],
) -> Result<std::collections::HashSet<String>, sqlx::Error> {
    let mut inserted = std::collections::HashSet::new();
    for chunk in rows.chunks(crate::store::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO employee (id, given_name, family_name, display_name, email, email_norm, \
             phone, department, title, source, state, sort_key, search_text, created_at, \
             updated_at) VALUES {} ON CONFLICT (email_norm) DO NOTHING RETURNING id",
            crate::store::values_placeholders(chunk.len(), 15)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = bind_fields(q, e).bind(e.created_at).bind(e.updated_at);
        }
        for row in q.fetch_all(&mut *conn).await? {
            inserted.insert(sqlx::Row::try_get::<String, _>(&row, 0)?);
        }
    }
    Ok(inserted)
}

/// Inserts many employees with multi-row statements (a directory import).
pub async fn insert_many(conn: &mut Conn, rows: &[EmployeeRow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(crate::store::BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO employee (id, given_name, family_name, display_name, email, email_norm, \
             phone, department, title, source, state, sort_key, search_text, created_at, \
             updated_at) VALUES {}",
            crate::store::values_placeholders(chunk.len(), 15)
        );
        let mut q = sqlx::query(&sql);
        for e in chunk {
            q = bind_fields(q, e).bind(e.created_at).bind(e.updated_at);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
