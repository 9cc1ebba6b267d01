//! Outgoing mail (address verification, password reset) behind one small trait, so the
//! server does not care whether it goes over SMTP, into the log, or into a test's outbox.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One plain-text message with the one link it exists to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The link inside `body`, kept apart so a mailer without a way to send can still log it.
    pub link: String,
}

/// Why a message was not handed over.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(pub String);

pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;

/// Sends mail. Object-safe, so [`crate::AppState`] holds whichever one the configuration (or
/// a test) chose.
pub trait Mailer: Send + Sync + Debug {
    fn send(&self, mail: Mail) -> Sending<'_>;
}

/// Without `[smtp]`: writes the link to the log, so a local operator can still verify an
/// address or reset a password. Never for a public deployment: anyone who reads the log can
/// take over accounts.
#[derive(Debug, Default)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn send(&self, mail: Mail) -> Sending<'_> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            link = %mail.link,
            "mail not sent ([smtp] is not configured); the link is logged instead"
        );
        Box::pin(async { Ok(()) })
    }
}

/// Keeps every message in memory: what tests read links from.
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    sent: Arc<Mutex<Vec<Mail>>>,
}

impl Outbox {
    /// Every message so far, oldest first.
    pub fn sent(&self) -> Vec<Mail> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The newest message to `to`, if any.
    pub fn last_to(&self, to: &str) -> Option<Mail> {
        self.sent().into_iter().rev().find(|m| m.to == to)
    }
}

impl Mailer for Outbox {
    fn send(&self, mail: Mail) -> Sending<'_> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(mail);
        Box::pin(async { Ok(()) })
    }
}

/// How `[smtp]` reaches its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587), required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

/// The validated `[smtp]` section.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<switchyard_core::Secret>,
    /// `Name <address>` or an address.
    pub from: String,
}

/// Whether `text` is a mailbox (`Name <address>` or an address), as `[smtp] from` must be.
pub fn check_mailbox(text: &str) -> Result<(), String> {
    text.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Sends over SMTP with lettre (tokio, rustls).
#[derive(Debug)]
pub struct SmtpMailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, MailError> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::{AsyncSmtpTransport, Tokio1Executor};
        let from = settings
            .from
            .parse()
            .map_err(|e| MailError(format!("`smtp.from`: {e}")))?;
        let builder = match settings.tls {
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                &settings.host,
            )),
        }
        .map_err(|e| MailError(format!("`smtp.host`: {e}")))?;
        let mut builder = builder.port(settings.port);
        if let Some(username) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, mail: Mail) -> Sending<'_> {
        Box::pin(async move {
            use lettre::AsyncTransport;
            let to = mail
                .to
                .parse()
                .map_err(|e| MailError(format!("`{}` is not a mailbox: {e}", mail.to)))?;
            let message = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(mail.subject)
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(mail.body)
                .map_err(|e| MailError(format!("cannot build the message: {e}")))?;
            self.transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| MailError(format!("SMTP: {e}")))
        })
    }
}
