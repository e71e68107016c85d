//! Validation of employee input: trims, turns blanks into "not set", and names the field at fault.

use serde::Deserialize;

use crate::error::{Error, Result};

/// Employee fields as they arrive (API, console form, CLI).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmployeeFields {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Defaults to "given family" when not set.
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
}

/// Fields that passed validation (the API shows them as they are).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ValidEmployee {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
}

const NAME_MAX: usize = 100;
const TEXT_MAX: usize = 128;

impl EmployeeFields {
    pub fn validate(self) -> Result<ValidEmployee> {
        let given_name = text("given_name", self.given_name, NAME_MAX)?;
        let family_name = text("family_name", self.family_name, NAME_MAX)?;
        let display_name = match text("display_name", self.display_name, NAME_MAX * 2)? {
            Some(d) => d,
            None => {
                let joined = [given_name.as_deref(), family_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                if joined.is_empty() {
                    return Err(Error::validation(
                        "display_name",
                        "give a display name, or a given or family name",
                    ));
                }
                joined
            }
        };
        let email = text("email", self.email, 254)?;
        if let Some(e) = &email {
            check_email(e)?;
        }
        let phone = text("phone", self.phone, 32)?;
        if let Some(p) = &phone {
            check_phone(p)?;
        }
        Ok(ValidEmployee {
            given_name,
            family_name,
            display_name,
            email,
            phone,
            department: text("department", self.department, TEXT_MAX)?,
            title: text("title", self.title, TEXT_MAX)?,
        })
    }
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max {
        return Err(Error::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(v.to_owned()))
}

/// A pragmatic address check: one `@`, a plausible local part and a dotted domain, no spaces.
/// Deliverability is proven by the invitation e-mail, not here.
fn check_email(e: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::validation("email", why.to_owned()));
    let Some((local, domain)) = e.split_once('@') else {
        return bad("must be an e-mail address like name@example.com");
    };
    if local.is_empty() || local.len() > 64 || domain.contains('@') {
        return bad("must be an e-mail address like name@example.com");
    }
    if e.chars().any(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '<' | '>' | '(' | ')' | ',' | ';' | ':' | '"' | '[' | ']' | '\\'
            )
    }) {
        return bad("must not contain spaces or any of <>()[],;:\"\\");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2
        || labels
            .iter()
            .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
    {
        return bad("must have a domain like example.com after the @");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return bad("must not start or end with a dot, or have two dots in a row");
    }
    Ok(())
}

fn check_phone(p: &str) -> Result<()> {
    if !p
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().#x/".contains(c))
    {
        return Err(Error::validation(
            "phone",
            "may contain only digits, spaces and + - ( ) . # x /",
        ));
    }
    if p.chars().filter(char::is_ascii_digit).count() < 3 {
        return Err(Error::validation("phone", "must contain at least 3 digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<ValidEmployee>) -> String {
        match r {
            Err(Error::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn trims_and_derives_display_name() {
        let v = EmployeeFields {
            given_name: Some("  Ada ".into()),
            family_name: Some("Lovelace".into()),
            email: Some(" ".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(v.display_name, "Ada Lovelace");
        assert_eq!(v.email, None);
    }

    #[test]
    fn names_the_bad_field() {
        assert_eq!(
            field_of(EmployeeFields::default().validate()),
            "display_name"
        );
        let base = EmployeeFields {
            given_name: Some("A".into()),
            ..Default::default()
        };
        for (email, ok) in [
            ("a@b.co", true),
            ("first.last+tag@sub.example.com", true),
            ("no-at", false),
            ("a@b", false),
            ("a b@c.com", false),
            ("a@@c.com", false),
            (".a@c.com", false),
            ("a@-c.com", false),
        ] {
            let r = EmployeeFields {
                email: Some(email.into()),
                ..base.clone()
            }
            .validate();
            if ok {
                assert!(r.is_ok(), "{email} should pass");
            } else {
                assert_eq!(field_of(r), "email", "{email}");
            }
        }
        let r = EmployeeFields {
            phone: Some("call me".into()),
            ..base.clone()
        }
        .validate();
        assert_eq!(field_of(r), "phone");
        let r = EmployeeFields {
            title: Some("x".repeat(129)),
            ..base.clone()
        }
        .validate();
        assert_eq!(field_of(r), "title");
        let r = EmployeeFields {
            family_name: Some("a\u{0}b".into()),
            ..base
        }
        .validate();
        assert_eq!(field_of(r), "family_name");
    }
}
