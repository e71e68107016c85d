//! Outside parties of the end-to-end tests, one helper per flow: a relying party (the
//! `openidconnect` crate) and a phone (the real mobile-core with its software key store).

use mobile_core::protocol::Challenge;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use sso_server::app::AppState;
use sso_server::audit::Actor;
use sso_server::clock::{Clock as _, SystemClock};
use sso_server::oidc::clients::{ClientInput, ClientKind, Clients};

pub const REDIRECT: &str = "http://localhost:9/callback";

use test_support::phone::http;

type Oidc = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

pub struct Rp {
    client: Oidc,
}

/// What the app keeps between sending the browser off and getting it back.
pub struct Flow {
    state: CsrfToken,
    verifier: PkceCodeVerifier,
    nonce: Nonce,
}

/// What the app learns from a finished flow (the ID token verified, with its nonce).
pub struct SignedIn {
    pub refresh: RefreshToken,
    pub email: Option<String>,
    pub amr: Vec<String>,
}

impl Rp {
    /// Registers a confidential client named `name` and discovers the server.
    pub async fn create(state: &AppState, base: &str, name: &str) -> Self {
        let created = Clients {
            store: &state.store,
        }
        .create(
            &Actor::cli(),
            SystemClock.now_ms(),
            &ClientInput {
                name: name.into(),
                kind: ClientKind::Confidential,
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![],
                allowed_scopes: None,
                grant_types: None,
                id_token_signed_response_alg: None,
                pkce_required: None,
                resource_server: None,
            },
        )
        .await
        .expect("client");
        let meta = CoreProviderMetadata::discover_async(
            IssuerUrl::new(base.to_owned()).expect("issuer"),
            &http(),
        )
        .await
        .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            meta,
            ClientId::new(created.client.client_id.clone()),
            created.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
        Self { client }
    }

    pub fn authorize_url(&self) -> (String, Flow) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("offline_access".into()))
            .set_pkce_challenge(challenge)
            .url();
        (
            url.to_string(),
            Flow {
                state,
                verifier,
                nonce,
            },
        )
    }

    /// Checks `state`, exchanges the code, verifies the ID token.
    pub async fn exchange(&self, back: &str, flow: Flow) -> SignedIn {
        let back = url::Url::parse(back).expect("url");
        let q = |k: &str| {
            back.query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_string())
        };
        assert_eq!(q("state").as_deref(), Some(flow.state.secret().as_str()));
        let code = q("code").expect("code");
        let tokens = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .expect("token endpoint")
            .set_pkce_verifier(flow.verifier)
            .request_async(&http())
            .await
            .expect("tokens");
        let claims = tokens
            .id_token()
            .expect("ID token")
            .claims(&self.client.id_token_verifier(), &flow.nonce)
            .expect("the ID token verifies");
        SignedIn {
            refresh: tokens.refresh_token().expect("refresh token").clone(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
        }
    }

    pub async fn refresh(&self, rt: &RefreshToken) -> Result<(), String> {
        self.client
            .exchange_refresh_token(rt)
            .expect("token endpoint")
            .request_async(&http())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A phone: the workspace's shared one (the real mobile-core), with the server's clock.
pub struct Phone(test_support::phone::Phone);

impl Phone {
    /// Registers a phone for the employee with `email` from a fresh enrolment link.
    pub async fn register(state: &AppState, email: &str) -> Self {
        let mut conn = state.store.conn().await.expect("conn");
        let employee = sso_server::employees::store::find_by_email(&mut conn, email)
            .await
            .expect("find")
            .expect("imported");
        drop(conn);
        let link =
            sso_server::push::enrol::create(&state.phones(), &Actor::cli(), &employee.id, None)
                .await
                .expect("enrolment")
                .link;
        Self::register_with_link(&link, "Ada's phone").await
    }

    /// Registers a phone named `name` from a registration link (an invitation's QR code).
    pub async fn register_with_link(link: &str, name: &str) -> Self {
        Self(test_support::phone::Phone::register(link, name, now()).await)
    }

    /// Polls for the pending challenge and approves it with the number the page shows; returns
    /// the challenge as the phone verified and showed it.
    pub async fn approve(&self, number: u32) -> Challenge {
        self.0.approve(number, now()).await
    }
}

fn now() -> i64 {
    SystemClock.now_ms() / 1000
}
