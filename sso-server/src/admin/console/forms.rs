//! Form fields as sent, and form fields as shown: an error from a service names its field (the
//! same `field` the API returns), and the form is shown again with the message next to that
//! field, keeping what the admin typed.

use crate::error::Error;

/// The fields of a posted form, in order (repeated names kept).
#[derive(Debug, Default, Clone)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value, `None` when blank.
    pub fn opt(&self, name: &str) -> Option<String> {
        let v = self.get(name).trim();
        (!v.is_empty()).then(|| v.to_owned())
    }

    /// A checkbox: present means ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A textarea of one entry per line, blank lines dropped.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Space- or comma-separated words; `None` when blank.
    pub fn words(&self, name: &str) -> Option<Vec<String>> {
        let w: Vec<String> = self
            .get(name)
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!w.is_empty()).then_some(w)
    }

    /// A whole number, or an error naming the field.
    pub fn number(&self, name: &str) -> Result<Option<u32>, Error> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::validation(name, "must be a whole number")),
        }
    }
}

/// One input as the form template shows it.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `email`, `tel`, `password`, `number`, `url`, `textarea`, `checkbox`, `select`.
    pub kind: &'static str,
    pub value: String,
    pub required: bool,
    pub hint: Option<&'static str>,
    pub error: Option<String>,
    /// For `select`: (value, label).
    pub options: Vec<(&'static str, &'static str)>,
    pub autocomplete: &'static str,
    /// A textarea that a chosen file can fill (read in the browser; the form stays urlencoded).
    pub upload: bool,
    /// Shown only while the form's kind selector has this value (the script hides the others;
    /// without it every field shows and the server reads those of the chosen kind).
    pub only_for: Option<&'static str>,
}

impl Field {
    pub fn new(name: &'static str, label: &'static str, kind: &'static str) -> Self {
        Self {
            name,
            label,
            kind,
            value: String::new(),
            required: false,
            hint: None,
            error: None,
            options: Vec::new(),
            autocomplete: "off",
            upload: false,
            only_for: None,
        }
    }

    pub fn upload(mut self) -> Self {
        self.upload = true;
        self
    }

    pub fn only_for(mut self, kind: &'static str) -> Self {
        self.only_for = Some(kind);
        self
    }

    pub fn value(mut self, v: impl Into<String>) -> Self {
        self.value = v.into();
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn hint(mut self, h: &'static str) -> Self {
        self.hint = Some(h);
        self
    }

    pub fn options(mut self, o: &[(&'static str, &'static str)]) -> Self {
        self.options = o.to_vec();
        self
    }

    pub fn autocomplete(mut self, a: &'static str) -> Self {
        self.autocomplete = a;
        self
    }

    pub fn is_checked(&self) -> bool {
        !self.value.is_empty()
    }

    /// The ids the input is described by: its hint and its error.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.hint.is_some() {
            ids.push(format!("f-{}-hint", self.name));
        }
        if self.error.is_some() {
            ids.push(format!("f-{}-error", self.name));
        }
        ids.join(" ")
    }
}

/// What went wrong with a posted form.
pub enum FormError {
    /// Show the form again with this message next to the field.
    Field { field: String, message: String },
    /// Show the form again with this message above it.
    Form(String),
}

impl FormError {
    /// Sorts a service error: input errors go back to the form, anything else is an error page.
    pub fn from_error(e: Error) -> Result<Self, Error> {
        match e {
            Error::Validation { field, message } => Ok(Self::field(&field, message)),
            Error::Conflict {
                field: Some(field),
                message,
            } => Ok(Self::field(&field, message)),
            Error::Conflict {
                field: None,
                message,
            } => Ok(Self::Form(message)),
            other => Err(other),
        }
    }

    /// `urls[2]` is line 3 of the `urls` textarea.
    fn field(field: &str, message: String) -> Self {
        match field.split_once('[') {
            Some((base, rest)) => {
                let line = rest
                    .trim_end_matches(']')
                    .parse::<usize>()
                    .map_or(String::new(), |i| format!("line {}: ", i + 1));
                Self::Field {
                    field: base.to_owned(),
                    message: format!("{line}{message}"),
                }
            }
            None => Self::Field {
                field: field.to_owned(),
                message,
            },
        }
    }

    /// Puts the message on its field; returns the form-level message if no field took it.
    pub fn apply(self, fields: &mut [Field]) -> Option<String> {
        match self {
            Self::Field { field, message } => match fields.iter_mut().find(|f| f.name == field) {
                Some(f) => {
                    f.error = Some(message);
                    None
                }
                None => Some(format!("{field}: {message}")),
            },
            Self::Form(m) => Some(m),
        }
    }
}

/// The page of any console form: employees, domains, clients.
#[derive(askama::Template)]
#[template(path = "console/form.html")]
pub struct FormPage {
    pub nav: super::shell::Nav,
    pub title: String,
    pub intro: Option<String>,
    pub form_error: Option<String>,
    pub action: String,
    pub submit: &'static str,
    pub cancel: String,
    pub fields: Vec<Field>,
}

impl FormPage {
    /// The form again after an error, answered 400 (422 would suit too; 400 matches the API).
    pub fn rejected(mut self, e: FormError) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        self.form_error = e.apply(&mut self.fields);
        match super::shell::render(&self) {
            Ok(html) => (axum::http::StatusCode::BAD_REQUEST, html).into_response(),
            Err(e) => super::shell::page_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_name_the_line() {
        let mut fields = vec![Field::new("urls", "URLs", "textarea")];
        let e = FormError::from_error(Error::validation("urls[1]", "must start with ldaps://"))
            .unwrap_or_else(|_| panic!("an input error"));
        assert!(e.apply(&mut fields).is_none());
        assert_eq!(
            fields[0].error.as_deref(),
            Some("line 2: must start with ldaps://")
        );
        assert_eq!(fields[0].described_by(), "f-urls-error");
    }

    #[test]
    fn form_data_reads_fields() {
        let f = FormData(vec![
            ("a".into(), " x ".into()),
            ("b".into(), "".into()),
            ("c".into(), "one\n\n two \n".into()),
            ("n".into(), "x1".into()),
        ]);
        assert_eq!(f.opt("a").as_deref(), Some("x"));
        assert_eq!(f.opt("b"), None);
        assert!(f.checked("b") && !f.checked("z"));
        assert_eq!(f.lines("c"), vec!["one", "two"]);
        assert!(f.number("n").is_err());
    }
}
