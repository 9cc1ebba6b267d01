//! Consent to the terms of service and the privacy notice: operators publish versions with the
//! date they take effect (at least `terms.notice_days` ahead, so every account can be mailed
//! and shown the notice first); people accept them, at sign-up and afterwards.

use super::Reply;
use super::actor::Actor;
use super::manage::{json_body, require_admin, store_error};
use crate::AppState;
use crate::mail::Mail;
use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_core::catalog::UnixMillis;
use switchyard_core::error::ErrorCode;
use switchyard_core::retention::DAY_MS;
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::{Consent, TermsVersion};

const KINDS: [&str; 2] = ["terms", "privacy"];

/// Per kind: the version in effect at `now` (the newest whose date has passed) and the ones
/// still to come.
pub(crate) fn standing(
    versions: &[TermsVersion],
    now: UnixMillis,
) -> Vec<(&'static str, Option<&TermsVersion>, Vec<&TermsVersion>)> {
    KINDS
        .iter()
        .map(|kind| {
            let mine: Vec<&TermsVersion> = versions.iter().filter(|v| v.kind == *kind).collect();
            let current = mine
                .iter()
                .filter(|v| v.effective_at <= now)
                .max_by_key(|v| (v.effective_at, v.published_at))
                .copied();
            let upcoming = mine.into_iter().filter(|v| v.effective_at > now).collect();
            (*kind, current, upcoming)
        })
        .collect()
}

fn version_json(v: &TermsVersion) -> Value {
    json!({
        "kind": v.kind,
        "version": v.version,
        "summary": v.summary,
        "url": v.url,
        "published_at": v.published_at / 1000,
        "effective_at": v.effective_at / 1000,
    })
}

async fn versions(state: &AppState) -> Result<Vec<TermsVersion>, Reply> {
    state
        .gateway
        .store()
        .terms_versions()
        .await
        .map_err(store_error)
}

/// `GET /api/terms`: for anyone, the versions in effect and those announced.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, Reply> {
    let all = versions(&state).await?;
    let now = pipeline_now_millis();
    let data: Vec<Value> = standing(&all, now)
        .into_iter()
        .map(|(kind, current, upcoming)| {
            json!({
                "kind": kind,
                "current": current.map(version_json),
                "upcoming": upcoming.into_iter().map(version_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// The versions in effect that `consents` does not cover: what a person must still accept.
pub(crate) fn missing<'a>(
    all: &'a [TermsVersion],
    consents: &[Consent],
    now: UnixMillis,
) -> Vec<&'a TermsVersion> {
    standing(all, now)
        .into_iter()
        .filter_map(|(_, current, _)| current)
        .filter(|v| {
            !consents
                .iter()
                .any(|c| c.kind == v.kind && c.version == v.version)
        })
        .collect()
}

/// `GET /api/account/consents`: what the caller accepted, what is in effect and not yet
/// accepted (`pending`), and what is announced (`upcoming`), for the dashboard's notice.
pub async fn mine(State(state): State<AppState>, caller: Actor) -> Result<Json<Value>, Reply> {
    let all = versions(&state).await?;
    let consents = state
        .gateway
        .store()
        .consents_of(caller.user.id)
        .await
        .map_err(store_error)?;
    let now = pipeline_now_millis();
    let upcoming: Vec<Value> = standing(&all, now)
        .into_iter()
        .flat_map(|(_, _, upcoming)| upcoming)
        .map(version_json)
        .collect();
    Ok(Json(json!({
        "object": "account.consents",
        "accepted": consents.iter().map(|c| json!({"kind": c.kind, "version": c.version, "accepted_at": c.accepted_at / 1000})).collect::<Vec<_>>(),
        "pending": missing(&all, &consents, now).into_iter().map(version_json).collect::<Vec<_>>(),
        "upcoming": upcoming,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    kind: String,
    version: String,
}

/// `POST /api/account/consents` `{kind, version}`: the caller accepts a published version.
pub async fn accept(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let input: Accept = json_body(&body)?;
    let known = state
        .gateway
        .store()
        .accept_terms(
            caller.user.id,
            &input.kind,
            &input.version,
            pipeline_now_millis(),
        )
        .await
        .map_err(store_error)?;
    if !known {
        return Err(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!(
                "No {} version `{}` is published.",
                input.kind, input.version
            ),
        )
        .into());
    }
    mine(State(state), caller).await
}

/// Records the sign-up's acceptance of every version in effect; refuses a sign-up that did
/// not accept them when some are (`accept_terms`).
pub(crate) async fn accept_at_signup(
    state: &AppState,
    accepted: bool,
    user: Option<switchyard_core::UserId>,
) -> Result<(), Reply> {
    let all = versions(state).await?;
    let now = pipeline_now_millis();
    let due = missing(&all, &[], now);
    if due.is_empty() {
        return Ok(());
    }
    if !accepted {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Accept the terms of service and the privacy notice to create an account (`accept_terms`: true).",
        )
        .with_param("accept_terms")
        .into());
    }
    if let Some(user) = user {
        for v in due {
            state
                .gateway
                .store()
                .accept_terms(user, &v.kind, &v.version, now)
                .await
                .map_err(store_error)?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    kind: String,
    version: String,
    summary: String,
    #[serde(default)]
    url: Option<String>,
    /// Unix seconds.
    effective_at: i64,
}

fn invalid(param: &'static str, message: String) -> Reply {
    ApiError::new(ErrorCode::InvalidRequest, message)
        .with_param(param)
        .into()
}

/// `POST /api/admin/terms`: publishes a version. It takes effect at `effective_at`, which must
/// be at least `terms.notice_days` ahead unless it is the first version of its kind; every
/// active account is mailed the notice at once, in the background.
pub async fn publish(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Reply> {
    require_admin(&caller)?;
    let input: Publish = json_body(&body)?;
    if !KINDS.contains(&input.kind.as_str()) {
        return Err(invalid("kind", "`kind` is `terms` or `privacy`.".into()));
    }
    let version = input.version.trim();
    if version.is_empty() || version.len() > 64 {
        return Err(invalid(
            "version",
            "`version` has 1 to 64 characters.".into(),
        ));
    }
    let summary = input.summary.trim();
    if summary.is_empty() || summary.len() > 2_000 {
        return Err(invalid(
            "summary",
            "`summary` says what changed in 1 to 2000 characters.".into(),
        ));
    }
    if let Some(url) = &input.url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid("url", "`url` is an http(s) address.".into()));
    }
    let now = pipeline_now_millis();
    let effective_at = input.effective_at.saturating_mul(1000);
    let all = versions(&state).await?;
    let first = !all.iter().any(|v| v.kind == input.kind);
    let notice = state.terms_notice_days;
    if !first && effective_at < now + notice * DAY_MS {
        return Err(invalid(
            "effective_at",
            format!(
                "A new version takes effect at least {notice} days after it is published, so every account can be told first."
            ),
        ));
    }
    if effective_at < now - DAY_MS {
        return Err(invalid(
            "effective_at",
            "`effective_at` is in the past.".into(),
        ));
    }
    let published = TermsVersion {
        kind: input.kind.clone(),
        version: version.to_owned(),
        summary: summary.to_owned(),
        url: input.url.clone(),
        published_at: now,
        effective_at,
        notified_at: None,
    };
    let store = state.gateway.store();
    store.publish_terms(&published).await.map_err(store_error)?;
    if !first {
        notify_everyone(&state, published.clone());
    }
    Ok((StatusCode::CREATED, Json(version_json(&published))))
}

/// Mails every active account the notice of `v`, then marks it notified. In the background:
/// a platform's accounts are many, and the publishing answer should not wait for SMTP.
fn notify_everyone(state: &AppState, v: TermsVersion) {
    let state = state.clone();
    tokio::spawn(async move {
        let store = state.gateway.store();
        let emails = match store.active_emails().await {
            Ok(emails) => emails,
            Err(e) => {
                tracing::error!(error = %e, "listing accounts for a terms notice failed");
                return;
            }
        };
        let what = if v.kind == "terms" {
            "terms of service"
        } else {
            "privacy notice"
        };
        let date = super::billing::format_day(v.effective_at.div_euclid(DAY_MS));
        let link = v
            .url
            .clone()
            .unwrap_or_else(|| format!("{}/privacy", state.auth.settings.public_url));
        for email in emails {
            super::auth::send(
                &state,
                Mail {
                    to: email,
                    subject: format!("Our {what} change on {date}"),
                    body: format!(
                        "We are updating our {what} (version {}), in effect from {date}.\n\nWhat changes: {}\n\nRead it: {link}\n\nYou will be asked to accept it in the dashboard. If you do not agree, you can export your data and delete your account before then.\n",
                        v.version, v.summary
                    ),
                    link: link.clone(),
                },
            );
        }
        if let Err(e) = store
            .mark_terms_notified(&v.kind, &v.version, pipeline_now_millis())
            .await
        {
            tracing::error!(error = %e, "marking a terms notice as sent failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kind: &str, version: &str, effective_at: i64) -> TermsVersion {
        TermsVersion {
            kind: kind.into(),
            version: version.into(),
            summary: "s".into(),
            url: None,
            published_at: 0,
            effective_at,
            notified_at: None,
        }
    }

    #[test]
    fn the_newest_version_in_effect_is_current_and_later_ones_are_upcoming() {
        let all = [
            v("terms", "1", 10),
            v("terms", "2", 20),
            v("terms", "3", 30),
            v("privacy", "a", 5),
        ];
        let s = standing(&all, 25);
        assert_eq!(s[0].1.unwrap().version, "2");
        assert_eq!(s[0].2.len(), 1);
        assert_eq!(s[1].1.unwrap().version, "a");
        let accepted = [Consent {
            kind: "privacy".into(),
            version: "a".into(),
            accepted_at: 6,
        }];
        let due: Vec<&str> = missing(&all, &accepted, 25)
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(due, ["2"]);
        assert!(missing(&all, &[], 4).is_empty(), "nothing in effect yet");
    }
}
