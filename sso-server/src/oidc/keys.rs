//! Signing keys: one active RS256 key (ID tokens, what the OpenID conformance suite expects) and
//! one active ES256 key (access tokens, and ID tokens for clients that ask for ES256). Private keys
//! are sealed in the database under the data-encryption key; a rotation retires the active key,
//! which stays in the JWKS until every token it signed has expired.
//!
//! Keys are created when first needed, not at start (an RSA key takes a moment to generate), and
//! the parsed key ring is cached; other instances pick up a rotation within `RELOAD_AFTER_MS`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::jws::{Alg, Signer, Verifier};
use crate::audit::{self, Actor, Target};
use crate::clock::SharedClock;
use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::oidc::store::SigningKeyRow;
use crate::store::{Conn, Store};

const RELOAD_AFTER_MS: i64 = 60_000;

fn secret_name(kid: &str) -> String {
    format!("signing_key:{kid}")
}

/// A new private key: PKCS#1 DER (RS256, 2048 bits) or PKCS#8 DER (ES256).
pub fn generate(alg: Alg) -> Result<(Zeroizing<Vec<u8>>, ())> {
    match alg {
        Alg::RS256 => {
            let mut rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .map_err(|e| Error::Crypto(format!("RSA key generation failed: {e}")))?;
            let der = key
                .to_pkcs1_der()
                .map_err(|e| Error::Crypto(format!("RSA key encoding failed: {e}")))?;
            Ok((Zeroizing::new(der.as_bytes().to_vec()), ()))
        }
        Alg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| Error::Crypto("EC key generation failed".into()))?;
            Ok((Zeroizing::new(doc.as_ref().to_vec()), ()))
        }
    }
}

/// The loaded keys: the active signer per algorithm, and every published public key.
pub struct KeyRing {
    signers: HashMap<Alg, Arc<Signer>>,
    pub verifiers: Vec<Verifier>,
    pub jwks: Value,
    loaded_at: i64,
}

impl KeyRing {
    pub fn signer(&self, alg: Alg) -> Result<&Signer> {
        self.signers
            .get(&alg)
            .map(Arc::as_ref)
            .ok_or_else(|| Error::Internal(format!("no active {} key", alg.as_str())))
    }
}

/// How long a retired key stays published: longer than any token it signed lives (plus an hour
/// for caches at the relying parties).
pub fn publish_for_ms(o: &crate::config::OidcConfig) -> i64 {
    i64::from(o.access_token_ttl_seconds.max(o.id_token_ttl_seconds)) * 1000 + 3_600_000
}

/// The cache of the key ring, shared by every request.
#[derive(Default)]
pub struct Keys {
    cache: RwLock<Option<Arc<KeyRing>>>,
    generating: tokio::sync::Mutex<()>,
}

pub struct KeyCtx<'a> {
    pub store: &'a Store,
    pub cipher: &'a Cipher,
    pub clock: &'a SharedClock,
}

impl Keys {
    /// The current key ring, loading (and creating missing keys) when needed.
    pub async fn ring(&self, ctx: &KeyCtx<'_>) -> Result<Arc<KeyRing>> {
        let now = ctx.clock.now_ms();
        if let Ok(guard) = self.cache.read() {
            if let Some(r) = guard.as_ref() {
                if now - r.loaded_at < RELOAD_AFTER_MS && now >= r.loaded_at {
                    return Ok(r.clone());
                }
            }
        }
        self.reload(ctx).await
    }

    /// Drops the cached ring: the next use reloads it (another instance rotated the keys).
    pub fn invalidate(&self) {
        if let Ok(mut guard) = self.cache.write() {
            *guard = None;
        }
    }

    /// Reloads from the database, creating an active key for an algorithm that has none.
    pub async fn reload(&self, ctx: &KeyCtx<'_>) -> Result<Arc<KeyRing>> {
        let now = ctx.clock.now_ms();
        let mut rows = {
            let mut conn = ctx.store.conn().await?;
            crate::oidc::store::published_keys(&mut conn, now).await?
        };
        for alg in [Alg::RS256, Alg::ES256] {
            if !rows.iter().any(|r| r.active == 1 && r.alg == alg.as_str()) {
                let _one = self.generating.lock().await;
                rows = {
                    let mut conn = ctx.store.conn().await?;
                    crate::oidc::store::published_keys(&mut conn, now).await?
                };
                if !rows.iter().any(|r| r.active == 1 && r.alg == alg.as_str()) {
                    create_key(ctx, alg, now).await?;
                    let mut conn = ctx.store.conn().await?;
                    rows = crate::oidc::store::published_keys(&mut conn, now).await?;
                }
            }
        }
        let ring = Arc::new(build_ring(ctx, &rows, now).await?);
        if let Ok(mut guard) = self.cache.write() {
            *guard = Some(ring.clone());
        }
        Ok(ring)
    }

    /// Retires the active key of `alg` (published until `publish_for_ms` from now) and makes a new
    /// one active. Returns the new key id.
    pub async fn rotate(
        &self,
        ctx: &KeyCtx<'_>,
        actor: &Actor,
        alg: Alg,
        publish_for_ms: i64,
    ) -> Result<String> {
        let now = ctx.clock.now_ms();
        let key = NewKey::generate(alg).await?;
        let kid = key.kid.clone();
        let mut tx = ctx.store.begin().await?;
        let retired =
            crate::oidc::store::retire_keys(&mut tx, alg.as_str(), now, now + publish_for_ms)
                .await?;
        key.save(&mut tx, ctx.cipher, now).await?;
        audit::record(
            &mut tx,
            now,
            actor,
            "oidc.key_rotated",
            Some(Target::of("signing_key", &kid)),
            json!({ "alg": alg.as_str(), "retired": retired }),
        )
        .await?;
        tx.commit().await?;
        self.reload(ctx).await?;
        Ok(kid)
    }
}

fn new_kid(alg: Alg) -> Result<String> {
    let bytes = crate::crypto::random_bytes::<9>()?;
    Ok(format!(
        "{}-{}",
        alg.as_str().to_lowercase(),
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    ))
}

async fn spawn_generate(alg: Alg) -> Result<(Zeroizing<Vec<u8>>, ())> {
    tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(|e| Error::Internal(format!("key generation task: {e}")))?
}

async fn create_key(ctx: &KeyCtx<'_>, alg: Alg, now: i64) -> Result<()> {
    let key = NewKey::generate(alg).await?;
    let mut tx = ctx.store.begin().await?;
    key.save(&mut tx, ctx.cipher, now).await?;
    tx.commit().await?;
    tracing::info!(kid = %key.kid, alg = alg.as_str(), "created a signing key");
    Ok(())
}

/// A freshly generated signing key, not yet stored.
struct NewKey {
    kid: String,
    alg: Alg,
    der: Zeroizing<Vec<u8>>,
    public_jwk: String,
}

impl NewKey {
    async fn generate(alg: Alg) -> Result<Self> {
        let (der, ()) = spawn_generate(alg).await?;
        let kid = new_kid(alg)?;
        let public_jwk = Signer::from_der(&kid, alg, &der)?.public_jwk().to_string();
        Ok(Self {
            kid,
            alg,
            der,
            public_jwk,
        })
    }

    /// Seals the private key with the data key and records the key as active, in the caller's
    /// transaction.
    async fn save(&self, conn: &mut Conn, cipher: &Cipher, now: i64) -> Result<()> {
        crate::secrets::put(conn, cipher, &secret_name(&self.kid), &self.der, now).await?;
        crate::oidc::store::insert_key(
            conn,
            &SigningKeyRow {
                kid: self.kid.clone(),
                alg: self.alg.as_str().into(),
                public_jwk: self.public_jwk.clone(),
                active: 1,
                created_at: now,
                retired_at: None,
                publish_until: None,
            },
        )
        .await
    }
}

async fn build_ring(ctx: &KeyCtx<'_>, rows: &[SigningKeyRow], now: i64) -> Result<KeyRing> {
    let mut signers = HashMap::new();
    let mut verifiers = Vec::new();
    let mut jwks = Vec::new();
    let mut conn = ctx.store.conn().await?;
    // Newest first: with two active keys of one algorithm (two instances created one at once),
    // the newest signs; both are published.
    for r in rows {
        let jwk: Value = serde_json::from_str(&r.public_jwk)
            .map_err(|_| Error::Internal(format!("bad JWK of key {}", r.kid)))?;
        if let Some(v) = Verifier::from_jwk(&jwk) {
            verifiers.push(v);
        }
        jwks.push(jwk);
        let Some(alg) = Alg::parse(&r.alg) else {
            continue;
        };
        if r.active == 1 && !signers.contains_key(&alg) {
            let der = crate::secrets::get(&mut conn, ctx.cipher, &secret_name(&r.kid))
                .await?
                .ok_or_else(|| Error::Internal(format!("private key {} is missing", r.kid)))?;
            let der = Zeroizing::new(der);
            signers.insert(alg, Arc::new(Signer::from_der(&r.kid, alg, &der)?));
        }
    }
    Ok(KeyRing {
        signers,
        verifiers,
        jwks: json!({ "keys": jwks }),
        loaded_at: now,
    })
}
