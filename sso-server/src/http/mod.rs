//! HTTP plumbing shared by every area: the router, JSON extraction with field-named errors,
//! health and metrics, security headers and request tracing.

pub mod extract;
pub mod health;
pub mod language;
pub mod metrics;
pub mod patch;

use axum::http::{header, HeaderValue, Request};
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

pub fn router(state: AppState) -> Router {
    // Behind https, browsers must keep to https (a year); over plain http the header means
    // nothing and is left out (an empty value is not sent).
    let hsts = if state.config.secure_cookies() {
        Some(HeaderValue::from_static("max-age=31536000"))
    } else {
        None
    };
    // The balancer's probes stay out of the request traces (they are counted in the metrics):
    // several a second, and a draining instance's 503 is expected, not a failure to log.
    let probes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route_layer(axum::middleware::from_fn(metrics::track));
    let traced = Router::new()
        .route("/", get(|| async { Redirect::to("/admin") }))
        .route("/metrics", get(metrics::render))
        .merge(crate::admin::router())
        .merge(crate::oidc::router())
        .merge(crate::login::router())
        .merge(crate::push::http::router())
        .merge(crate::keys::http::bridge::router())
        .merge(crate::enrol::pages::router())
        .route_layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            language::layer,
        ))
        .layer(
            // Spans carry the method and path only: never headers (cookies) or query strings.
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        );
    probes
        .merge(traced)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // Scripts and styles only from our own files (no inline script or style, no eval), no
        // plugins, no framing, no <base> tricks. No form-action: the sign-in forms end in
        // redirects to the relying parties, which browsers check against it.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
        .with_state(state)
}

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
