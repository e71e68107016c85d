//! A phone as the tests use it: the real mobile-core with its software key store and its own
//! accounts file, registering from a link, polling for sign-ins and answering them over HTTP.

use std::sync::Arc;

use mobile_core::authenticator::{Authenticator, RegistrationInfo, RegistrationRequest};
use mobile_core::keystore::SoftwareKeyStore;
use mobile_core::protocol::{Challenge, Decision, Platform};
use reqwest::StatusCode;

/// A plain HTTP client as a phone has (no cookies, no redirects followed).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// A registered phone: its core and the account it holds.
pub struct Phone {
    pub auth: Arc<Authenticator>,
    /// The account (device) id the server gave it.
    pub id: String,
    keys: Arc<SoftwareKeyStore>,
    _dir: tempfile::TempDir,
}

/// A phone that read a registration link and made its request, not sent yet (a test can send
/// it elsewhere, tamper with it, or send it through its own client).
pub struct Registering {
    pub auth: Arc<Authenticator>,
    pub info: Arc<RegistrationInfo>,
    pub request: RegistrationRequest,
    keys: Arc<SoftwareKeyStore>,
    dir: tempfile::TempDir,
}

impl Registering {
    /// A fresh phone reads `link` at `now` (Unix seconds) and builds its request, named `name`,
    /// with a push token and platform when given (otherwise it polls).
    pub async fn start(link: &str, name: &str, push: Option<(&str, Platform)>, now: i64) -> Self {
        let dir = tempfile::tempdir().expect("phone folder");
        let keys = Arc::new(SoftwareKeyStore::new());
        let auth = Authenticator::new(
            keys.clone(),
            dir.path().join("accounts.json").display().to_string(),
            true,
        )
        .expect("phone core");
        let info = auth
            .parse_registration(link.to_owned(), now)
            .unwrap_or_else(|e| panic!("the phone refuses the link {link}: {e}"));
        let (token, platform) = match push {
            Some((t, p)) => (Some(t.to_owned()), p),
            None => (None, Platform::Other),
        };
        let request = auth
            .build_registration_request(info.clone(), name.into(), token, platform)
            .await
            .expect("registration request");
        Self {
            auth,
            info,
            request,
            keys,
            dir,
        }
    }

    /// Sends the request with `http`: the server's status and body, and the phone when the
    /// server accepted it.
    pub async fn send(self, http: &reqwest::Client) -> (StatusCode, String, Option<Phone>) {
        let resp = http
            .post(&self.request.url)
            .header("content-type", "application/json")
            .body(self.request.body.clone())
            .send()
            .await
            .expect("registration sent");
        let status = resp.status();
        let body = resp.text().await.expect("registration answer");
        if !status.is_success() {
            return (status, body, None);
        }
        let phone = self.complete(body.clone()).await;
        (status, body, Some(phone))
    }

    /// Stores the server's answer: the phone is registered.
    pub async fn complete(self, answer: String) -> Phone {
        let account = self
            .auth
            .complete_registration(self.info, answer)
            .await
            .expect("the phone accepts the server's answer");
        Phone {
            auth: self.auth,
            id: account.id,
            keys: self.keys,
            _dir: self.dir,
        }
    }
}

impl Phone {
    /// The phone's key store (another phone core on the same phone shares it).
    pub fn key_store(&self) -> Arc<SoftwareKeyStore> {
        self.keys.clone()
    }

    /// The phone's accounts file.
    pub fn accounts_path(&self) -> String {
        self._dir.path().join("accounts.json").display().to_string()
    }

    /// A phone named `name` registered from `link` at `now`; panics if the server refuses.
    pub async fn register(link: &str, name: &str, now: i64) -> Self {
        let (status, body, phone) = Registering::start(link, name, None, now)
            .await
            .send(&http())
            .await;
        phone.unwrap_or_else(|| panic!("registration refused: {status} {body}"))
    }

    /// Polls once (the server holding the request up to `wait` seconds) and returns the
    /// challenges waiting, as the phone verified them.
    pub async fn poll(&self, wait: Option<u32>, now: i64) -> Vec<Challenge> {
        let req = self
            .auth
            .poll_request(self.id.clone(), now)
            .await
            .expect("poll request");
        let url = match wait {
            Some(w) => format!("{}?wait={w}", req.url),
            None => req.url.clone(),
        };
        let mut r = http().get(url);
        for h in &req.headers {
            r = r.header(&h.name, &h.value);
        }
        let resp = r.send().await.expect("poll");
        assert_eq!(resp.status(), 200, "the poll is accepted");
        let body = resp.text().await.expect("poll body");
        self.auth
            .verify_poll_response(self.id.clone(), body, now)
            .expect("the phone verifies the server's challenges")
    }

    /// Signs an answer to `c` and sends it: the server's status and body, and the body sent.
    pub async fn answer(
        &self,
        c: &Challenge,
        decision: Decision,
        number: Option<u32>,
        now: i64,
    ) -> (StatusCode, String, String) {
        let signed = self
            .auth
            .answer_challenge(self.id.clone(), c.clone(), decision, number, now)
            .await
            .expect("signed answer");
        let resp = http()
            .post(&signed.url)
            .header("content-type", "application/json")
            .body(signed.body.clone())
            .send()
            .await
            .expect("answer sent");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default(), signed.body)
    }

    /// Waits for the one pending sign-in and approves it with the number the page shows;
    /// returns the challenge as the phone verified and showed it.
    pub async fn approve(&self, number: u32, now: i64) -> Challenge {
        let mut pending = self.poll(Some(10), now).await;
        assert_eq!(pending.len(), 1, "one sign-in waits");
        let challenge = pending.remove(0);
        let (status, body, _) = self
            .answer(&challenge, Decision::Approve, Some(number), now)
            .await;
        assert_eq!(status, 200, "the approval is accepted: {body}");
        challenge
    }
}
