//! `[sessions]` (browser sessions and sign-in throttling), `[smtp]` (outgoing mail),
//! `[[oidc]]` (OpenID providers to sign in with) and `server.public_url`, which links in
//! emails and OpenID redirect URIs start with.

use anyhow::bail;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_server::auth::oidc::Provider;
use switchyard_server::auth::{Settings, throttle};
use switchyard_server::mail::{SmtpSettings, SmtpTls};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SessionsSection {
    idle_timeout_s: u64,
    absolute_timeout_s: u64,
    verify_link_ttl_s: u64,
    reset_link_ttl_s: u64,
    signin_window_s: u64,
    signin_failures_per_account: usize,
    signin_failures_per_address: usize,
}

impl Default for SessionsSection {
    fn default() -> Self {
        let defaults = Settings::new("");
        SessionsSection {
            idle_timeout_s: defaults.idle.as_secs(),
            absolute_timeout_s: defaults.absolute.as_secs(),
            verify_link_ttl_s: defaults.verify_ttl.as_secs(),
            reset_link_ttl_s: defaults.reset_ttl.as_secs(),
            signin_window_s: defaults.throttle.window.as_secs(),
            signin_failures_per_account: defaults.throttle.per_account,
            signin_failures_per_address: defaults.throttle.per_address,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SmtpSection {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    tls: Option<String>,
    #[serde(default)]
    username: Option<String>,
    /// The environment variable holding the password; never the password itself.
    #[serde(default)]
    password_env: Option<String>,
    from: String,
}

/// One `[[oidc]]` entry. The client secret comes from the environment, like every secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OidcSection {
    /// The slug in URLs (`google`).
    id: String,
    /// The button label (`Google`).
    name: String,
    /// Exactly as ID tokens carry it in `iss` (`https://accounts.google.com`).
    issuer: String,
    client_id: String,
    /// The environment variable holding the client secret; never the secret itself.
    client_secret_env: String,
}

/// The OpenID providers, checked: unique slugs, an `https` issuer (plain `http` only on
/// loopback, for local and test providers), and each client secret present.
pub(super) fn oidc(
    sections: Vec<OidcSection>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<Provider>> {
    let mut ids = HashSet::new();
    let mut providers = Vec::new();
    for (i, s) in sections.into_iter().enumerate() {
        let at = format!("oidc[{i}]");
        let slug = !s.id.is_empty()
            && s.id.len() <= 32
            && s.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug {
            bail!(
                "`{at}.id`: `{}` is not a slug of a-z, 0-9 and - (at most 32)",
                s.id
            );
        }
        if !ids.insert(s.id.clone()) {
            bail!("`{at}.id`: `{}` is declared twice", s.id);
        }
        if s.name.trim().is_empty() {
            bail!("`{at}.name` must not be empty");
        }
        let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
            .iter()
            .any(|prefix| {
                s.issuer
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
        if !(s.issuer.starts_with("https://") || loopback) {
            bail!(
                "`{at}.issuer` must be an https URL (plain http only on 127.0.0.1, [::1] or localhost)"
            );
        }
        if s.client_id.trim().is_empty() {
            bail!("`{at}.client_id` must not be empty");
        }
        let client_secret = match env.get(&s.client_secret_env) {
            Some(value) if !value.is_empty() => Secret::new(value.clone()),
            _ => bail!(
                "`{at}.client_secret_env`: the environment variable `{}` is not set",
                s.client_secret_env
            ),
        };
        providers.push(Provider {
            id: s.id,
            name: s.name,
            issuer: s.issuer,
            client_id: s.client_id,
            client_secret,
        });
    }
    Ok(providers)
}

/// The session settings, with links pointing at `public_url`. Unset, it stays empty here and
/// the server fills in `http://<the address it listens on>` once bound (`listen` may ask for
/// port 0).
pub(super) fn sessions(
    section: &SessionsSection,
    public_url: Option<&str>,
) -> anyhow::Result<Settings> {
    let public_url = public_url.unwrap_or_default();
    if !(public_url.is_empty()
        || public_url.starts_with("http://")
        || public_url.starts_with("https://"))
    {
        bail!("`server.public_url` must start with http:// or https://");
    }
    for (key, value) in [
        ("sessions.idle_timeout_s", section.idle_timeout_s),
        ("sessions.absolute_timeout_s", section.absolute_timeout_s),
        ("sessions.verify_link_ttl_s", section.verify_link_ttl_s),
        ("sessions.reset_link_ttl_s", section.reset_link_ttl_s),
        ("sessions.signin_window_s", section.signin_window_s),
    ] {
        if value == 0 {
            bail!("`{key}` must be positive");
        }
    }
    if section.signin_failures_per_account == 0 || section.signin_failures_per_address == 0 {
        bail!("`sessions.signin_failures_per_*` must be positive");
    }
    let mut settings = Settings::new(public_url);
    settings.idle = Duration::from_secs(section.idle_timeout_s);
    settings.absolute = Duration::from_secs(section.absolute_timeout_s);
    settings.verify_ttl = Duration::from_secs(section.verify_link_ttl_s);
    settings.reset_ttl = Duration::from_secs(section.reset_link_ttl_s);
    settings.throttle = throttle::Limits {
        window: Duration::from_secs(section.signin_window_s),
        per_account: section.signin_failures_per_account,
        per_address: section.signin_failures_per_address,
    };
    Ok(settings)
}

pub(super) fn smtp(
    section: Option<SmtpSection>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Option<SmtpSettings>> {
    let Some(s) = section else {
        return Ok(None);
    };
    if s.host.trim().is_empty() {
        bail!("`smtp.host` must not be empty");
    }
    let tls = match s.tls.as_deref().unwrap_or("starttls") {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        other => bail!("`smtp.tls`: `{other}` is not one of starttls, tls, none"),
    };
    let port = s.port.unwrap_or(match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    });
    let password = match &s.password_env {
        Some(var) => match env.get(var) {
            Some(value) if !value.is_empty() => Some(Secret::new(value.clone())),
            _ => bail!("`smtp.password_env`: the environment variable `{var}` is not set"),
        },
        None => None,
    };
    if password.is_some() && s.username.is_none() {
        bail!("`smtp.password_env` needs `smtp.username`");
    }
    if let Err(e) = switchyard_server::mail::check_mailbox(&s.from) {
        bail!(
            "`smtp.from`: `{}` is not an address like `Switchyard <noreply@example.com>`: {e}",
            s.from
        );
    }
    Ok(Some(SmtpSettings {
        host: s.host,
        port,
        tls,
        username: s.username,
        password,
        from: s.from,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn public_url_is_checked_and_left_empty_when_unset() {
        let s = sessions(&SessionsSection::default(), None).unwrap();
        assert_eq!(
            s.public_url, "",
            "the server fills in the address it is bound to"
        );
        assert_eq!(s.cookie_name(), "sy_session");
        assert_eq!(s.idle, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(s.absolute, Duration::from_secs(30 * 24 * 3600));
        let s = sessions(&SessionsSection::default(), Some("https://ai.example/")).unwrap();
        assert_eq!(s.public_url, "https://ai.example");
        assert_eq!(s.cookie_name(), "__Host-sy_session");
        assert!(sessions(&SessionsSection::default(), Some("ai.example")).is_err());
    }

    #[test]
    fn oidc_providers_are_checked_and_their_secret_read_from_the_environment() {
        let section = |id: &str, issuer: &str, secret_env: &str| OidcSection {
            id: id.into(),
            name: "Google".into(),
            issuer: issuer.into(),
            client_id: "client".into(),
            client_secret_env: secret_env.into(),
        };
        let env: BTreeMap<String, String> = [("G_SECRET".to_owned(), "s3cret".to_owned())].into();
        let ok = oidc(
            vec![
                section("google", "https://accounts.google.com", "G_SECRET"),
                section("local", "http://127.0.0.1:5556", "G_SECRET"),
            ],
            &env,
        )
        .unwrap();
        assert_eq!(ok[0].issuer, "https://accounts.google.com");
        assert_eq!(ok[0].client_secret.expose(), "s3cret");
        assert!(
            !format!("{ok:?}").contains("s3cret"),
            "the secret never prints"
        );
        for (bad, mentions) in [
            (
                section("Google", "https://a.example", "G_SECRET"),
                "oidc[0].id",
            ),
            (
                section("g", "http://a.example", "G_SECRET"),
                "oidc[0].issuer",
            ),
            (
                section("g", "http://127.0.0.1.evil.example", "G_SECRET"),
                "oidc[0].issuer",
            ),
            (section("g", "https://a.example", "MISSING"), "MISSING"),
        ] {
            let err = oidc(vec![bad], &env).unwrap_err().to_string();
            assert!(err.contains(mentions), "{err}");
        }
        let twice = vec![
            section("g", "https://a.example", "G_SECRET"),
            section("g", "https://b.example", "G_SECRET"),
        ];
        assert!(oidc(twice, &env).unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn smtp_needs_a_from_address_and_its_password_variable() {
        let section = |from: &str, password_env: Option<&str>| SmtpSection {
            host: "smtp.example.com".into(),
            port: None,
            tls: None,
            username: Some("u".into()),
            password_env: password_env.map(str::to_owned),
            from: from.into(),
        };
        let env: BTreeMap<String, String> = [("SMTP_PW".to_owned(), "pw".to_owned())].into();
        let ok = smtp(
            Some(section("Switchyard <no@example.com>", Some("SMTP_PW"))),
            &env,
        )
        .unwrap()
        .unwrap();
        assert_eq!((ok.port, ok.tls), (587, SmtpTls::StartTls));
        let err = smtp(Some(section("nobody", None)), &env).unwrap_err();
        assert!(err.to_string().contains("smtp.from"), "{err}");
        let err = smtp(Some(section("a@b.org", Some("MISSING"))), &env).unwrap_err();
        assert!(err.to_string().contains("MISSING"), "{err}");
    }
}
