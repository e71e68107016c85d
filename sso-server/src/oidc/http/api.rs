//! `/api/v1/oidc`: relying parties (clients) and signing-key rotation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::admin::session::ApiAdmin;
use crate::app::AppState;
use crate::error::{ErrorBody, Result};
use crate::http::extract::ApiJson;
use crate::oidc::clients::{ClientCreated, ClientInput, ClientView, Clients};
use crate::oidc::jws::Alg;

#[utoipa::path(get, path = "/api/v1/oidc/clients", operation_id = "list_clients", tag = "oidc",
    responses((status = 200, body = Vec<ClientView>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
) -> Result<Json<Vec<ClientView>>> {
    Ok(Json(
        Clients {
            store: &state.store,
        }
        .list()
        .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/oidc/clients", operation_id = "create_client", tag = "oidc",
    request_body = ClientInput,
    responses(
        (status = 201, description = "Created; `client_secret` is shown this once", body = ClientCreated),
        (status = 400, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(input): ApiJson<ClientInput>,
) -> Result<(StatusCode, Json<ClientCreated>)> {
    let c = Clients {
        store: &state.store,
    }
    .create(&admin.actor(), state.clock.now_ms(), &input)
    .await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[utoipa::path(get, path = "/api/v1/oidc/clients/{id}", operation_id = "get_client", tag = "oidc",
    params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<ClientView>> {
    Ok(Json(
        Clients {
            store: &state.store,
        }
        .get(&id)
        .await?
        .view(),
    ))
}

#[utoipa::path(put, path = "/api/v1/oidc/clients/{id}", operation_id = "update_client", tag = "oidc",
    request_body = ClientInput, params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ClientInput>,
) -> Result<Json<ClientView>> {
    Ok(Json(
        Clients {
            store: &state.store,
        }
        .update(&admin.actor(), state.clock.now_ms(), &id, &input)
        .await?,
    ))
}

/// The fields a `PATCH` may send (those of [`ClientInput`]).
const PATCHABLE: &[&str] = &[
    "name",
    "kind",
    "redirect_uris",
    "post_logout_redirect_uris",
    "allowed_scopes",
    "grant_types",
    "id_token_signed_response_alg",
    "pkce_required",
    "resource_server",
];

#[utoipa::path(patch, path = "/api/v1/oidc/clients/{id}", operation_id = "patch_client", tag = "oidc",
    request_body(content = Object, description = "Only the fields to change (those of `ClientInput`); the client secret is never among them"),
    params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Json<ClientView>> {
    let clients = Clients {
        store: &state.store,
    };
    let now = crate::http::patch::current(&clients.get(&id).await?.view(), PATCHABLE)?;
    let input: ClientInput = crate::http::patch::overlay(now, PATCHABLE, changes)?;
    Ok(Json(
        clients
            .update(&admin.actor(), state.clock.now_ms(), &id, &input)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/oidc/clients/{id}", operation_id = "delete_client", tag = "oidc",
    params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    Clients {
        store: &state.store,
    }
    .delete(&admin.actor(), state.clock.now_ms(), &id)
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct NewSecret {
    /// Shown this once.
    pub client_secret: String,
}

#[utoipa::path(post, path = "/api/v1/oidc/clients/{id}/secret", operation_id = "rotate_client_secret", tag = "oidc",
    params(("id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<String>,
) -> Result<Json<NewSecret>> {
    let client_secret = Clients {
        store: &state.store,
    }
    .rotate_secret(&admin.actor(), state.clock.now_ms(), &id)
    .await?;
    Ok(Json(NewSecret { client_secret }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// `RS256` or `ES256`.
    pub alg: Alg,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedKey {
    pub kid: String,
}

#[utoipa::path(post, path = "/api/v1/oidc/keys/rotate", operation_id = "rotate_key", tag = "oidc",
    request_body = RotateKey,
    responses((status = 200, body = RotatedKey), (status = 400, body = ErrorBody)))]
pub async fn rotate_key(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    ApiJson(body): ApiJson<RotateKey>,
) -> Result<Json<RotatedKey>> {
    let kid = state
        .keys
        .rotate(
            &state.key_ctx(),
            &admin.actor(),
            body.alg,
            crate::oidc::keys::publish_for_ms(&state.config.oidc),
        )
        .await?;
    // Every instance signs with the new key from now on (not after its cache's minute).
    state.wake.publish(crate::wake::OIDC_KEYS).await;
    Ok(Json(RotatedKey { kid }))
}
