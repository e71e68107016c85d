//! Prometheus metrics: request counts and latencies by route, served as text at `/metrics`.
//! Who may read them: a scraper with the bearer token in `metrics.token_file`; without that
//! setting nobody (404), so the public port tells nothing about traffic or failures.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

/// Whether the request carries the scrape token (compared in constant time).
fn authorised(state: &AppState, headers: &axum::http::HeaderMap) -> Option<bool> {
    let path = state.config.metrics.token_file.as_deref()?;
    let token = match std::fs::read_to_string(path) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "metrics.token_file cannot be read");
            return Some(false);
        }
    };
    let token = token.trim();
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Some(!token.is_empty() && crate::crypto::constant_time_eq(sent, token))
}

pub async fn render(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    match authorised(&state, &headers) {
        None => return StatusCode::NOT_FOUND.into_response(),
        Some(false) => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
            )
                .into_response()
        }
        Some(true) => {}
    }
    match &state.metrics {
        Some(h) => {
            h.run_upkeep();
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                h.render(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn track(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", resp.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}
