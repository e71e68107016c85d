//! Relying parties (OIDC clients): registration by admins, validated before storing; the secret
//! is shown once and stored as its SHA-256 (it is a 256-bit random value, so a fast hash is safe
//! and keeps the token endpoint fast).

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::jws::Alg;
use crate::audit::{self, Actor, Target};
use crate::clock::from_ms;
use crate::crypto::{random_token, token_hash};
use crate::error::{Error, Result};
use crate::oidc::store::ClientRow;
use crate::store::Store;

pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "phone", "offline_access"];
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Has a secret (a server-side web app).
    Confidential,
    /// No secret (a single-page or native app): PKCE is required.
    Public,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// A client as an admin sends it (create, or full replacement on edit).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    pub name: String,
    pub kind: ClientKind,
    /// Exact redirect URIs (https, or http on localhost for development).
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `openid profile email phone offline_access`.
    pub allowed_scopes: Option<Vec<String>>,
    /// Default: `authorization_code refresh_token`. `client_credentials` only for confidential
    /// clients.
    pub grant_types: Option<Vec<String>>,
    /// `RS256` (default) or `ES256`.
    pub id_token_signed_response_alg: Option<Alg>,
    /// Authorization requests must carry a PKCE challenge (S256). Default `true` (RFC 9700);
    /// `false` only for a confidential client that cannot send one.
    #[serde(default)]
    pub pkce_required: Option<bool>,
    /// May introspect tokens issued to other clients (an API that checks the tokens apps send
    /// it). Default `false`: a client introspects only its own tokens.
    #[serde(default)]
    pub resource_server: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub id_token_signed_response_alg: Alg,
    pub pkce_required: bool,
    pub resource_server: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A new client with its secret: the only time the secret is shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientCreated {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown once; store it in the relying party now.
    pub client_secret: Option<String>,
}

/// A loaded client, ready for the protocol endpoints.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    pub name: String,
    pub kind: ClientKind,
    pub secret_hash: Option<Vec<u8>>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub id_token_alg: Alg,
    pub created_at: i64,
    /// Authorization requests must carry PKCE (always for a public client).
    pub pkce_required: bool,
    /// May introspect other clients' tokens.
    pub resource_server: bool,
}

impl Client {
    pub fn from_row(r: ClientRow) -> Result<Self> {
        let list = |s: &str| -> Result<Vec<String>> {
            serde_json::from_str(s)
                .map_err(|_| Error::Internal(format!("bad URI list of client {}", r.id)))
        };
        Ok(Self {
            kind: if r.kind == "public" {
                ClientKind::Public
            } else {
                ClientKind::Confidential
            },
            redirect_uris: list(&r.redirect_uris)?,
            post_logout_redirect_uris: list(&r.post_logout_redirect_uris)?,
            allowed_scopes: r
                .allowed_scopes
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            grant_types: r
                .grant_types
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            id_token_alg: Alg::parse(&r.id_token_alg).unwrap_or(Alg::RS256),
            pkce_required: r.pkce_required != 0 || r.kind == "public",
            resource_server: r.resource_server != 0,
            id: r.id,
            name: r.name,
            secret_hash: r.secret_hash,
            created_at: r.created_at,
        })
    }

    pub fn view(&self) -> ClientView {
        ClientView {
            client_id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            allowed_scopes: self.allowed_scopes.clone(),
            grant_types: self.grant_types.clone(),
            id_token_signed_response_alg: self.id_token_alg,
            pkce_required: self.pkce_required,
            resource_server: self.resource_server,
            created_at: from_ms(self.created_at),
        }
    }

    /// Constant-time check of a presented secret.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match &self.secret_hash {
            Some(h) => {
                use subtle::ConstantTimeEq as _;
                bool::from(token_hash(presented).ct_eq(h))
            }
            None => false,
        }
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

fn validate_uri(field: &str, raw: &str) -> Result<String> {
    let u = url::Url::parse(raw.trim())
        .map_err(|e| Error::validation(field, format!("is not an absolute URL: {e}")))?;
    if u.fragment().is_some() {
        return Err(Error::validation(field, "must not have a fragment"));
    }
    let local = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match u.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(Error::validation(
                field,
                "must use https (http is allowed only on localhost)",
            ))
        }
        // Native apps' private-use schemes (RFC 8252), e.g. com.example.app:/callback.
        s if s.contains('.') => {}
        _ => return Err(Error::validation(field, "must use https")),
    }
    Ok(raw.trim().to_owned())
}

struct Valid {
    row: ClientRow,
}

fn validate(input: &ClientInput) -> Result<Valid> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::validation(
            "name",
            "is required, up to 100 characters",
        ));
    }
    if input.redirect_uris.is_empty() {
        return Err(Error::validation(
            "redirect_uris",
            "give at least one redirect URI",
        ));
    }
    if input.redirect_uris.len() > 20 || input.post_logout_redirect_uris.len() > 20 {
        return Err(Error::validation("redirect_uris", "at most 20 URIs"));
    }
    let redirects = input
        .redirect_uris
        .iter()
        .enumerate()
        .map(|(i, u)| validate_uri(&format!("redirect_uris[{i}]"), u))
        .collect::<Result<Vec<_>>>()?;
    let logouts = input
        .post_logout_redirect_uris
        .iter()
        .enumerate()
        .map(|(i, u)| validate_uri(&format!("post_logout_redirect_uris[{i}]"), u))
        .collect::<Result<Vec<_>>>()?;
    let scopes = match &input.allowed_scopes {
        None => SUPPORTED_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        Some(v) => {
            for (i, s) in v.iter().enumerate() {
                if !SUPPORTED_SCOPES.contains(&s.as_str()) {
                    return Err(Error::validation(
                        format!("allowed_scopes[{i}]"),
                        format!("unknown scope; supported: {}", SUPPORTED_SCOPES.join(" ")),
                    ));
                }
            }
            let mut v = v.clone();
            if !v.iter().any(|s| s == "openid") {
                v.insert(0, "openid".into());
            }
            v.dedup();
            v
        }
    };
    let grants = input
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".to_owned(), "refresh_token".to_owned()]);
    for (i, g) in grants.iter().enumerate() {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(Error::validation(
                format!("grant_types[{i}]"),
                format!("unknown grant type; supported: {}", GRANT_TYPES.join(" ")),
            ));
        }
        if g == "client_credentials" && input.kind == ClientKind::Public {
            return Err(Error::validation(
                format!("grant_types[{i}]"),
                "client_credentials needs a confidential client",
            ));
        }
    }
    let pkce_required = input.pkce_required.unwrap_or(true);
    if !pkce_required && input.kind == ClientKind::Public {
        return Err(Error::validation(
            "pkce_required",
            "a public client always uses PKCE",
        ));
    }
    let json =
        |v: &Vec<String>| serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()));
    Ok(Valid {
        row: ClientRow {
            id: String::new(),
            name: name.to_owned(),
            kind: input.kind.as_str().to_owned(),
            secret_hash: None,
            redirect_uris: json(&redirects)?,
            post_logout_redirect_uris: json(&logouts)?,
            allowed_scopes: scopes.join(" "),
            grant_types: grants.join(" "),
            id_token_alg: input
                .id_token_signed_response_alg
                .unwrap_or(Alg::RS256)
                .as_str()
                .to_owned(),
            created_at: 0,
            updated_at: 0,
            pkce_required: i64::from(pkce_required),
            resource_server: i64::from(input.resource_server.unwrap_or(false)),
        },
    })
}

/// Client registry service.
pub struct Clients<'a> {
    pub store: &'a Store,
}

impl Clients<'_> {
    pub async fn list(&self) -> Result<Vec<ClientView>> {
        let mut conn = self.store.conn().await?;
        crate::oidc::store::list_clients(&mut conn)
            .await?
            .into_iter()
            .map(|r| Client::from_row(r).map(|c| c.view()))
            .collect()
    }

    pub async fn get(&self, id: &str) -> Result<Client> {
        let mut conn = self.store.conn().await?;
        Client::from_row(
            crate::oidc::store::get_client(&mut conn, id)
                .await?
                .ok_or(Error::NotFound("client"))?,
        )
    }

    pub async fn create(
        &self,
        actor: &Actor,
        now: i64,
        input: &ClientInput,
    ) -> Result<ClientCreated> {
        let Valid { mut row } = validate(input)?;
        row.id = random_token()?.chars().take(22).collect();
        let secret = match input.kind {
            ClientKind::Confidential => Some(random_token()?),
            ClientKind::Public => None,
        };
        row.secret_hash = secret.as_deref().map(token_hash);
        row.created_at = now;
        row.updated_at = now;
        let mut tx = self.store.begin().await?;
        crate::oidc::store::insert_client(&mut tx, &row).await?;
        audit::record(
            &mut tx,
            now,
            actor,
            "oidc.client_created",
            Some(Target::of("client", &row.id)),
            json!({ "name": row.name, "kind": row.kind }),
        )
        .await?;
        tx.commit().await?;
        Ok(ClientCreated {
            client: Client::from_row(row)?.view(),
            client_secret: secret,
        })
    }

    pub async fn update(
        &self,
        actor: &Actor,
        now: i64,
        id: &str,
        input: &ClientInput,
    ) -> Result<ClientView> {
        let Valid { mut row } = validate(input)?;
        let mut tx = self.store.begin().await?;
        let current = crate::oidc::store::get_client(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("client"))?;
        if current.kind != row.kind {
            return Err(Error::validation(
                "kind",
                "cannot change between confidential and public; register a new client",
            ));
        }
        row.id = id.to_owned();
        row.secret_hash = current.secret_hash;
        row.created_at = current.created_at;
        row.updated_at = now;
        crate::oidc::store::update_client(&mut tx, &row).await?;
        audit::record(
            &mut tx,
            now,
            actor,
            "oidc.client_updated",
            Some(Target::of("client", id)),
            json!({ "name": row.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(Client::from_row(row)?.view())
    }

    /// A new secret for a confidential client; the old one stops working at once.
    pub async fn rotate_secret(&self, actor: &Actor, now: i64, id: &str) -> Result<String> {
        let mut tx = self.store.begin().await?;
        let current = crate::oidc::store::get_client(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("client"))?;
        if current.kind != "confidential" {
            return Err(Error::conflict(None, "a public client has no secret"));
        }
        let secret = random_token()?;
        crate::oidc::store::set_client_secret(&mut tx, id, Some(&token_hash(&secret)), now).await?;
        audit::record(
            &mut tx,
            now,
            actor,
            "oidc.client_secret_rotated",
            Some(Target::of("client", id)),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    pub async fn delete(&self, actor: &Actor, now: i64, id: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let current = crate::oidc::store::get_client(&mut tx, id)
            .await?
            .ok_or(Error::NotFound("client"))?;
        crate::oidc::store::delete_client(&mut tx, id).await?;
        crate::oidc::store::revoke_grants_of_client(&mut tx, id, now).await?;
        audit::record(
            &mut tx,
            now,
            actor,
            "oidc.client_deleted",
            Some(Target::of("client", id)),
            json!({ "name": current.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
