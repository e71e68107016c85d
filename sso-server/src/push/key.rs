//! The server's challenge-signing key: P-256, created on first use, sealed in the database
//! (`secret` "push_signing_key", PKCS#8), cached. It does not rotate: phones pin its public key
//! at registration.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::crypto::Cipher;
use crate::error::{Error, Result};
use crate::store::Store;

const SECRET: &str = "push_signing_key";

#[derive(Default)]
pub struct PushKey {
    pair: OnceCell<(EcdsaKeyPair, SystemRandom)>,
}

impl PushKey {
    async fn pair(
        &self,
        store: &Store,
        cipher: &Cipher,
        now: i64,
    ) -> Result<&(EcdsaKeyPair, SystemRandom)> {
        self.pair
            .get_or_try_init(|| async {
                let rng = SystemRandom::new();
                let mut conn = store.conn().await?;
                let der = match crate::secrets::get(&mut conn, cipher, SECRET).await? {
                    Some(d) => Zeroizing::new(d),
                    None => {
                        let doc =
                            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                                .map_err(|_| Error::Crypto("push key generation failed".into()))?;
                        // Two instances racing: the first write wins, both use what is stored.
                        if crate::secrets::store::get(&mut conn, SECRET)
                            .await?
                            .is_none()
                        {
                            crate::secrets::put(&mut conn, cipher, SECRET, doc.as_ref(), now)
                                .await?;
                        }
                        Zeroizing::new(
                            crate::secrets::get(&mut conn, cipher, SECRET)
                                .await?
                                .ok_or_else(|| Error::Internal("push key vanished".into()))?,
                        )
                    }
                };
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
                    .map_err(|_| Error::Crypto("the stored push key is unusable".into()))?;
                Ok::<_, Error>((pair, rng))
            })
            .await
    }

    /// The public key (SEC1 uncompressed) phones verify challenges with.
    pub async fn public_key(&self, store: &Store, cipher: &Cipher, now: i64) -> Result<Vec<u8>> {
        Ok(self
            .pair(store, cipher, now)
            .await?
            .0
            .public_key()
            .as_ref()
            .to_vec())
    }

    /// ES256 (fixed r||s) over `message`.
    pub async fn sign(
        &self,
        store: &Store,
        cipher: &Cipher,
        now: i64,
        message: &[u8],
    ) -> Result<Vec<u8>> {
        let (pair, rng) = self.pair(store, cipher, now).await?;
        Ok(pair
            .sign(rng, message)
            .map_err(|_| Error::Crypto("push signing failed".into()))?
            .as_ref()
            .to_vec())
    }
}
