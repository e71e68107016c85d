//! Enrolment of employees: invitations (e-mail or outbox) and the invitation page where the
//! employee sets up a passkey or the phone authenticator (whose QR registration is `push::enrol`).

pub mod http;
pub mod invitations;
pub mod pages;
pub mod state;
pub mod store;
