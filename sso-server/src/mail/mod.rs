//! Outgoing e-mail over SMTP (lettre): TLS or STARTTLS as configured (STARTTLS is required, not
//! opportunistic), plain only when configured so. Without an SMTP server nothing is sent and
//! invitations wait in the outbox.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTls};
use crate::error::{Error, Result};

pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_config(c: &MailConfig) -> Result<Self> {
        let from: Mailbox = c.from.parse().map_err(|_| {
            Error::Config("invalid configuration: key `mail.from` is not an address".into())
        })?;
        let transport = match &c.smtp_host {
            None => None,
            Some(host) => {
                let builder = match c.tls {
                    MailTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
                    MailTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
                    MailTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        host,
                    )),
                }
                .map_err(|e| {
                    Error::Config(format!("invalid configuration: key `mail.smtp_host`: {e}"))
                })?;
                let mut builder = builder
                    .port(c.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(20)));
                if let Some(user) = &c.username {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        c.password.clone().unwrap_or_default(),
                    ));
                }
                Some(builder.build())
            }
        };
        Ok(Self { transport, from })
    }

    /// Whether an SMTP server is configured.
    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a message with a plain-text and an HTML part. The error is for the outbox, without
    /// credentials.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> std::result::Result<(), String> {
        let Some(transport) = &self.transport else {
            return Err("no SMTP server is configured".into());
        };
        let to: Mailbox = to
            .parse()
            .map_err(|_| format!("not a valid recipient address: {to}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("building the message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}
