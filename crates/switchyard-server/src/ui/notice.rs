//! The privacy notice, generated from the running configuration: `GET /api/privacy` (JSON) and
//! `GET /privacy` (the same facts as a page). Which data is kept and for how long comes from
//! `[retention]` as the purge enforces it; which provider processes which model where, and
//! what it does with prompts, from the catalogue snapshot the gateway routes with; the cookie
//! from the session settings. Both answers are built from one [`facts`] value, so the page
//! cannot say something the software does not do.

use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write;
use switchyard_core::content::ContentLogging;
use switchyard_core::routing::DataPractice;

/// What the platform keeps, for how long, and what people can do about it.
pub(crate) fn facts(state: &AppState) -> Value {
    let w = &state.retention;
    let catalog = state.gateway.catalog();
    let settings = &state.auth.settings;
    let mut models: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for route in catalog.routes() {
        for entry in &route.channels {
            models
                .entry(entry.channel.provider.clone())
                .or_default()
                .push(route.model.name.clone());
        }
    }
    let providers: Vec<Value> = catalog
        .providers()
        .map(|p| {
            let mut served = models.remove(&p.provider.name).unwrap_or_default();
            served.dedup();
            json!({
                "name": p.provider.name,
                "jurisdiction": p.provider.jurisdiction,
                "retains_prompts": p.provider.data.retains_prompts,
                "trains_on_prompts": p.provider.data.trains_on_prompts,
                "zero_data_retention": p.provider.data.zdr,
                "practice": practice_text(&p.provider.data),
                "models": served,
            })
        })
        .collect();
    let content = match state.gateway.content_logging() {
        ContentLogging::Never => (
            "prompts and answers: never stored; this deployment makes storing them impossible",
            None,
        ),
        ContentLogging::PerKey => (
            "prompts and answers: not stored, unless an operator turns content logging on for a specific key",
            Some(w.content_log_days),
        ),
    };
    json!({
        "object": "privacy",
        "content_logging": state.gateway.content_logging(),
        "data": [
            class("account", "email address, display name, language, billing name and address, a hash of the password (argon2id)", Some(w.deleted_account_days), "while the account exists; erased {} after it is deleted"),
            class("usage_log", "per request: time, request id, key, model, provider, channel, jurisdiction, token counts, cost, latency, status; never the prompt or the answer", Some(w.usage_log_days), "{}, or less if the account chooses"),
            class("client_ip", "the address a request came from, on its usage-log row", Some(w.client_ip_days), "{}, or less if the account chooses"),
            class("payment_records", "payments, refunds and invoices, as tax law requires; kept after an account is erased, without name, email or address", Some(w.payment_record_days), "{}"),
            class("audit_log", "who changed which account, key, provider, model, price or balance, and when; an erased account's entries lose their details", Some(w.audit_log_days), "{}"),
            class("content", content.0, content.1, "{}, when enabled"),
            class("email_hash", "a keyed hash (HMAC-SHA-256) of a deleted account's email, so new-user credit is granted once per person", None, "indefinitely"),
        ],
        "cookies": [{
            "name": settings.cookie_name(),
            "purpose": "keeps you signed in to the dashboard; strictly necessary",
            "max_age_s": settings.absolute.as_secs(),
        }],
        "trackers": [],
        "providers": providers,
        "rights": {
            "see_and_correct": "the dashboard's Settings and Billing pages (PATCH /api/auth/profile, PUT /api/billing/profile)",
            "export": "the Your data page (GET /api/me/export): one archive, JSON and CSV",
            "shorten_retention": "the Your data page (PUT /api/account/retention)",
            "delete": format!("the Your data page (DELETE /api/account); sign-in and keys stop at once, the data is erased after {} days, until when signing in can cancel it", w.deleted_account_days),
            "refuse_jurisdictions": "a data policy on the account or a key (jurisdictions, no training, no retention) routes only to providers that meet it, and refuses a request otherwise",
        },
    })
}

/// A period in words: days, or years and days for the long windows.
fn period(days: i64) -> String {
    if days >= 365 {
        let years = days / 365;
        format!(
            "{years} year{} ({days} days)",
            if years == 1 { "" } else { "s" }
        )
    } else {
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    }
}

/// One data class: `kept` has `{}` where the window goes (none: said as is).
fn class(name: &str, what: &str, days: Option<i64>, kept: &str) -> Value {
    let kept = match days {
        Some(d) => kept.replacen("{}", &period(d), 1),
        None => kept.replace("{}", "not kept"),
    };
    json!({"class": name, "what": what, "days": days, "kept": kept})
}

fn practice_text(data: &DataPractice) -> String {
    if data.zdr {
        return "zero data retention: keeps nothing".to_owned();
    }
    let retains = match data.retains_prompts {
        Some(true) => "keeps prompts",
        Some(false) => "keeps no prompts",
        None => "has not declared whether it keeps prompts",
    };
    let trains = match data.trains_on_prompts {
        Some(true) => "may train on them",
        Some(false) => "never trains on them",
        None => "has not declared whether it trains on them",
    };
    format!("{retains}; {trains}")
}

/// `GET /api/privacy`: the notice's facts, for anyone.
pub(crate) async fn json_notice(State(state): State<AppState>) -> Json<Value> {
    Json(facts(&state))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => escape(s),
        Value::Null => "—".to_owned(),
        other => escape(&other.to_string()),
    }
}

/// Renders the facts as a page (English; the dashboard's languages are a later step).
fn render(f: &Value) -> String {
    let mut page = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Privacy notice</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><main class=\"notice-page stack\"><h1>Privacy notice</h1>\
         <p>This page is generated from this server's running configuration: the windows below \
         are the ones its retention job enforces, and the providers are the ones it routes to.</p>\
         <h2>What we keep, and for how long</h2><table id=\"data\"><thead><tr><th>Data</th>\
         <th>What</th><th>Kept</th></tr></thead><tbody>",
    );
    for class in f["data"].as_array().into_iter().flatten() {
        let kept = text(&class["kept"]);
        let _ = write!(
            page,
            "<tr data-class=\"{}\"><td>{}</td><td>{}</td><td>{kept}</td></tr>",
            text(&class["class"]),
            text(&class["class"]).replace('_', " "),
            text(&class["what"]),
        );
    }
    page.push_str("</tbody></table><h2>Cookies</h2><ul id=\"cookies\">");
    for cookie in f["cookies"].as_array().into_iter().flatten() {
        let _ = write!(
            page,
            "<li><code>{}</code>: {} (at most {} s). No other cookie, and no tracker of any kind.</li>",
            text(&cookie["name"]),
            text(&cookie["purpose"]),
            text(&cookie["max_age_s"]),
        );
    }
    page.push_str(
        "</ul><h2>Who processes your requests, and where</h2><table id=\"providers\"><thead><tr>\
         <th>Provider</th><th>Jurisdiction</th><th>What it does with prompts</th><th>Models</th>\
         </tr></thead><tbody>",
    );
    for p in f["providers"].as_array().into_iter().flatten() {
        let models: Vec<String> = p["models"]
            .as_array()
            .into_iter()
            .flatten()
            .map(text)
            .collect();
        let _ = write!(
            page,
            "<tr data-provider=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&p["name"]),
            text(&p["name"]),
            text(&p["jurisdiction"]),
            text(&p["practice"]),
            models.join(", "),
        );
    }
    page.push_str("</tbody></table><h2>Your rights</h2><ul id=\"rights\">");
    if let Some(rights) = f["rights"].as_object() {
        for (right, how) in rights {
            let _ = write!(
                page,
                "<li><strong>{}</strong>: {}</li>",
                escape(&right.replace('_', " ")),
                text(how)
            );
        }
    }
    page.push_str("</ul><p><a href=\"/app/data\">Your data</a> · <a href=\"/api/privacy\">This notice as JSON</a></p></main></body></html>");
    page
}

/// `GET /privacy`: the notice as a page.
pub(crate) async fn page(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(super::CSP),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        render(&facts(&state)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{escape, period, render};

    #[test]
    fn periods_read_as_words() {
        assert_eq!(period(1), "1 day");
        assert_eq!(period(90), "90 days");
        assert_eq!(period(365), "1 year (365 days)");
        assert_eq!(period(2557), "7 years (2557 days)");
    }
    use serde_json::json;

    #[test]
    fn the_page_escapes_what_it_shows() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let page = render(&json!({
            "data": [], "cookies": [], "rights": {},
            "providers": [{"name": "<script>", "jurisdiction": "US", "practice": "x", "models": ["m&m"]}],
        }));
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("m&amp;m"));
    }
}
