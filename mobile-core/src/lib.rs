//! The phone authenticator's Rust core, shared by the iOS and Android apps and exported to them
//! (and to Python, for tests) with uniffi proc-macros.
//!
//! - [`Authenticator`]: registration from a scanned QR code, the accounts on the phone,
//!   verifying the server's challenges and signing the user's answers.
//! - [`PlatformKeyStore`]: implemented by the app over Keychain / Android Keystore; the device keys
//!   never leave it, nor does the offline-code secret. [`SoftwareKeyStore`] (in memory via
//!   `new_software_key_store()`, or in an encrypted file via `open_software_key_store()`) is for
//!   tests and desktop use.
//! - offline codes (RFC 6238) for when the phone has no network: `Authenticator::offline_code`.
//! - [`protocol`]: the wire format (JSON bodies, endpoints, canonical signed byte strings), also
//!   usable by the server as the reference implementation; `docs/phone-protocol.md` documents it.
//! - `TestServerSigner` (feature `test-support`): the server's side, for end-to-end tests.
//!
//! The core does no networking and reads no clock: the app sends the requests the core builds
//! and passes the time in. See `../shared/DESIGN.md` (Phone registration and push approval).
#![deny(clippy::unwrap_used, clippy::expect_used)]

uniffi::setup_scaffolding!();

pub mod authenticator;
pub mod crypto;
pub mod error;
pub mod keystore;
pub mod offline;
pub mod protocol;
pub mod registration;
pub mod storage;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

pub use authenticator::{
    Account, Authenticator, HttpHeader, PollRequest, RegistrationInfo, RegistrationRequest,
    SignedAnswer, SignedRequest,
};
pub use error::AuthError;
pub use keystore::{
    new_software_key_store, open_software_key_store, PlatformKeyStore, SoftwareKeyStore,
};
pub use offline::OfflineCode;
pub use protocol::{Challenge, Decision, Platform, VerifiedAnswer};
pub use registration::RegistrationLink;

#[cfg(test)]
pub(crate) mod test_util {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    struct ThreadWaker(Thread);

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Runs a future to completion on this thread (the core's futures only await key stores).
    pub fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            thread::park();
        }
    }
}
