//! The crate's one error type. Each case maps to an HTTP status; database and internal details are
//! logged, never sent to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid configuration; the message names the source, the key and the problem.
    #[error("{0}")]
    Config(String),

    /// The database cannot be reached; `url` has its password removed.
    #[error("cannot connect to the database at {url}: {reason}")]
    DatabaseUnavailable { url: String, reason: String },

    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// Key handling and encryption failures. Never carries secret material.
    #[error("{0}")]
    Crypto(String),

    #[error("{field}: {message}")]
    Validation { field: String, message: String },

    #[error("{0} not found")]
    NotFound(&'static str),

    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },

    #[error("authentication required")]
    Unauthorized,

    #[error("wrong username or password")]
    BadCredentials,

    /// A signed request (key-bridge) that does not prove who sent it; the message says which
    /// check failed, never anything secret.
    #[error("{0}")]
    BadSignature(&'static str),

    #[error("{0}")]
    Forbidden(String),

    #[error("too many failed attempts; try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },

    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    /// Talking to a directory failed; the message names the DC, never the bind password.
    #[error("{0}")]
    Directory(#[from] crate::directory::DirectoryError),

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: Option<&str>, message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            field: field.map(str::to_owned),
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Turns a unique-constraint violation into a 409 naming the field; other errors pass through.
    pub fn on_unique_violation(field: &str, message: &str) -> impl FnOnce(sqlx::Error) -> Self {
        let (field, message) = (field.to_owned(), message.to_owned());
        move |e| match e.as_database_error() {
            Some(db) if db.is_unique_violation() => Self::Conflict {
                message,
                field: Some(field),
            },
            _ => Self::Database(e),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Unauthorized | Self::BadCredentials | Self::BadSignature(_) => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::DatabaseUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Directory(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::BadCredentials => "bad_credentials",
            Self::BadSignature(_) => "bad_signature",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::DatabaseUnavailable { .. } => "unavailable",
            Self::Directory(_) => "directory_error",
            _ => "internal",
        }
    }
}

/// The JSON body of every API error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Machine-readable error code, e.g. `invalid_input`, `not_found`, `conflict`.
    pub error: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The input field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, field) = match &self {
            Self::Validation { field, message } => (message.clone(), Some(field.clone())),
            Self::Conflict { message, field } => (message.clone(), field.clone()),
            Self::Directory(e) => (e.to_string(), None),
            _ if status.is_server_error() => {
                tracing::error!(error = %self, "request failed");
                ("internal error; see the server log".to_owned(), None)
            }
            _ => (self.to_string(), None),
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let body = ErrorBody {
            error: self.code(),
            message,
            field,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
