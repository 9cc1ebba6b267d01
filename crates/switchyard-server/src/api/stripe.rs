//! Stripe top-ups: `POST /api/billing/checkout` starts a Checkout Session for the caller, and
//! `POST /api/webhooks/stripe` receives Stripe's events and moves the money.
//!
//! The webhook trusts nothing before the signature over the raw body checks out. It then
//! answers 2xx for every authentic event, handled or not, and 5xx only when the store failed,
//! so that Stripe retries exactly the events that still need work. Every effect is idempotent
//! by Stripe's ids (see `switchyard_store::payments`), so retries, replays, duplicates and
//! reordering settle to one result; the `webhook_events` table only saves repeated work.

use super::{Reply, body_rejection};
use crate::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::time::Duration;
use switchyard_core::error::ErrorCode;
use switchyard_core::stripe::{self, Settings, SignatureError};
use switchyard_core::{Nanos, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::StoreError;
use switchyard_store::payments::PaidCheckout;

/// Stripe counts our only currency in cents.
const CURRENCY: &str = "usd";

/// How long one call to Stripe may take, connect to last byte.
const STRIPE_DEADLINE: Duration = Duration::from_secs(30);

type Https = HyperClient<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One connection pool for every call to Stripe: the same rustls stack the upstream adapters
/// use (HTTPS to Stripe; plain HTTP only when `api_base` says so, as a test double does).
fn client() -> &'static Https {
    static CLIENT: OnceLock<Https> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        HyperClient::builder(TokioExecutor::new()).build(https)
    })
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes its parameters.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn push(out: &mut String, text: &str) {
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(b))
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push(&mut out, key);
        out.push('=');
        push(&mut out, value);
    }
    out
}

/// POSTs `form` to Stripe's `path`; returns the status and the JSON answer (`Null` if none).
async fn post_form(
    settings: &Settings,
    path: &str,
    idempotency_key: &str,
    form: &[(&str, &str)],
) -> Result<(http::StatusCode, Value), String> {
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", settings.secret_key.expose()))
        .map_err(|_| "the Stripe secret key is not a valid header value".to_owned())?;
    auth.set_sensitive(true);
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{}{path}", settings.api_base))
        .header(http::header::AUTHORIZATION, auth)
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        // A retried call (by us or a proxy) then creates one session, not two.
        .header("Idempotency-Key", idempotency_key)
        .body(Full::new(Bytes::from(form_encode(form))))
        .map_err(|e| format!("bad request to Stripe: {e}"))?;
    let exchange = async {
        let response = client().request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    };
    tokio::time::timeout(STRIPE_DEADLINE, exchange)
        .await
        .map_err(|_| format!("no answer within {} s", STRIPE_DEADLINE.as_secs()))?
}

fn settings(state: &AppState) -> Result<&Settings, Reply> {
    state.stripe.as_deref().ok_or_else(|| {
        Reply::from(ApiError::new(
            ErrorCode::NotFound,
            "Billing is not enabled on this server: the operator has not configured a [stripe] section.",
        ))
    })
}

/// Store failures in billing are never the client's fault, whatever the store calls them.
fn store_error(e: StoreError) -> Reply {
    tracing::error!(error = %e, "billing store error");
    let code = match e.error_code() {
        ErrorCode::Unavailable => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    };
    Reply::from(ApiError::new(code, "The store failed; try again."))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkout {
    /// Decimal USD, e.g. `"10.00"` (a JSON number is read by its text too).
    usd: Value,
}

/// `POST /api/billing/checkout` `{"usd": "10.00"}` → `{id, url, payment_id}`: the Checkout
/// Session to send the user to. The payment is recorded as pending; the webhook credits it.
pub async fn checkout(
    State(state): State<AppState>,
    caller: super::actor::Actor,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Reply> {
    let settings = settings(&state)?;
    let body = body.map_err(|r| body_rejection(r, state.max_body_bytes))?;
    let input: Checkout = serde_json::from_slice(&body).map_err(|e| {
        let code = if e.is_data() {
            ErrorCode::InvalidRequest
        } else {
            ErrorCode::InvalidJson
        };
        ApiError::new(code, format!("The request body is not valid: {e}"))
    })?;
    let amount = top_up_amount(&input.usd, settings)?;
    let cents = stripe::nanos_to_cents(amount).unwrap_or_default();
    let user = caller.user.id;
    let payment_id = format!("pay_{}", uuid::Uuid::now_v7().simple());
    let user_text = user.to_string();
    let cents_text = cents.to_string();
    let form: [(&str, &str); 12] = [
        ("mode", "payment"),
        ("success_url", &settings.success_url),
        ("cancel_url", &settings.cancel_url),
        ("client_reference_id", &user_text),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", CURRENCY),
        ("line_items[0][price_data][unit_amount]", &cents_text),
        (
            "line_items[0][price_data][product_data][name]",
            "Switchyard credit",
        ),
        ("metadata[user_id]", &user_text),
        ("metadata[payment_id]", &payment_id),
        // Copied onto the PaymentIntent too, so that its charges can be traced from Stripe's
        // dashboard; refunds themselves are matched by PaymentIntent id.
        ("payment_intent_data[metadata][user_id]", &user_text),
        ("payment_intent_data[metadata][payment_id]", &payment_id),
    ];
    let (status, answer) = post_form(settings, "/v1/checkout/sessions", &payment_id, &form)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "calling Stripe failed");
            ApiError::new(
                ErrorCode::UpstreamFailed,
                "Stripe could not be reached to start the checkout; try again.",
            )
        })?;
    let session = answer["id"].as_str().filter(|_| status.is_success());
    let url = answer["url"].as_str();
    let (Some(session), Some(url)) = (session, url) else {
        let reason = answer["error"]["message"]
            .as_str()
            .unwrap_or("an unexpected answer");
        tracing::error!(%status, reason, "Stripe refused a checkout session");
        return Err(ApiError::new(
            ErrorCode::UpstreamFailed,
            format!("Stripe did not create the checkout session ({status}): {reason}"),
        )
        .into());
    };
    state
        .gateway
        .store()
        .create_payment(
            &payment_id,
            user,
            session,
            amount,
            CURRENCY,
            pipeline_now_millis(),
        )
        .await
        .map_err(store_error)?;
    Ok(Json(
        json!({"id": session, "url": url, "payment_id": payment_id}),
    ))
}

/// The top-up amount asked for: exact decimal USD, whole cents, within the configured range.
fn top_up_amount(usd: &Value, settings: &Settings) -> Result<Nanos, Reply> {
    let text = match usd {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let invalid =
        |why: String| Reply::from(ApiError::new(ErrorCode::InvalidRequest, why).with_param("usd"));
    let amount = Nanos::from_usd_str(&text)
        .ok()
        .filter(|a| stripe::nanos_to_cents(*a).is_some())
        .ok_or_else(|| {
            invalid(format!(
                "`usd` must be a USD amount in whole cents, such as \"10.00\"; got {usd}."
            ))
        })?;
    if amount < settings.min_top_up || amount > settings.max_top_up {
        return Err(invalid(format!(
            "A top-up must be between {} and {} USD.",
            settings.min_top_up, settings.max_top_up
        )));
    }
    Ok(amount)
}

/// The parts of a Stripe event this server reads.
#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

/// `POST /api/webhooks/stripe`: Stripe's events, signed.
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Reply> {
    let settings = settings(&state)?;
    let body = body.map_err(|r| body_rejection(r, state.max_body_bytes))?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSignature,
                "The Stripe-Signature header is missing.",
            )
        })?;
    let now_ms = pipeline_now_millis();
    stripe::verify(&body, header, &settings.webhook_secrets, now_ms / 1000).map_err(|e| {
        let code = match e {
            SignatureError::NoTimestamp | SignatureError::NoSignature => ErrorCode::InvalidRequest,
            SignatureError::OutsideTolerance(_) | SignatureError::Mismatch => {
                ErrorCode::InvalidSignature
            }
        };
        tracing::warn!(error = %e, "rejected a Stripe webhook");
        ApiError::new(code, e.to_string()).with_param("Stripe-Signature")
    })?;
    let event: Event = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("The event is not a Stripe event: {e}"),
        )
    })?;
    let store = state.gateway.store();
    if store.webhook_seen(&event.id).await.map_err(store_error)? {
        return Ok(Json(json!({"received": true, "duplicate": true})));
    }
    let object = &event.data.object;
    let settled = match event.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            match paid_checkout(object, now_ms) {
                Some(paid) => {
                    let settled = store
                        .record_paid_checkout(&paid)
                        .await
                        .map_err(store_error)?;
                    // After the credit, so an invoice always has its money; idempotent, and a
                    // failure answers 5xx so that Stripe's retry issues it.
                    super::invoices::issue_for_checkout(store, &paid.session, now_ms)
                        .await
                        .map_err(store_error)?;
                    Some(settled)
                }
                None => None,
            }
        }
        "charge.refunded" => match refund(object) {
            Some((charge, intent, refunded)) => Some(
                store
                    .record_refund(charge, intent, refunded, now_ms)
                    .await
                    .map_err(store_error)?,
            ),
            None => None,
        },
        _ => None,
    };
    if let Some(top_up) = settled.as_ref().and_then(|s| s.top_up.as_ref()) {
        // On every delivery, not only the first: it rewards once per referee (its own
        // idempotency), and a retry then completes what a failure here left undone.
        switchyard_store::after_paid_top_up(
            store,
            top_up.user,
            top_up.amount,
            &top_up.payment_id,
            state.promotions.referral_percent,
        )
        .await
        .map_err(store_error)?;
    }
    if settled
        .as_ref()
        .is_some_and(|s| !s.users.is_empty() || s.top_up.is_some())
    {
        state.gateway.balances_changed();
    }
    store
        .record_webhook(&event.id, &event.kind, now_ms)
        .await
        .map_err(store_error)?;
    Ok(Json(
        json!({"received": true, "handled": settled.is_some()}),
    ))
}

/// A Checkout Session that is paid, in USD, and names its user; `None` for anything else
/// (another mode, an asynchronous payment still pending, a session not made by Switchyard).
fn paid_checkout(session: &Value, now: i64) -> Option<PaidCheckout> {
    let id = session["id"].as_str()?;
    if session["payment_status"] != "paid" || session["mode"] != "payment" {
        return None;
    }
    let currency = session["currency"].as_str()?;
    if !currency.eq_ignore_ascii_case(CURRENCY) {
        tracing::warn!(
            session = id,
            currency,
            "ignored a checkout in another currency"
        );
        return None;
    }
    let metadata = &session["metadata"];
    let user: UserId = metadata["user_id"]
        .as_str()
        .or_else(|| session["client_reference_id"].as_str())?
        .parse()
        .ok()?;
    let amount = stripe::cents_to_nanos(session["amount_total"].as_i64()?)?;
    if amount <= Nanos::ZERO {
        return None;
    }
    Some(PaidCheckout {
        payment_id: metadata["payment_id"]
            .as_str()
            .map_or_else(|| format!("pay_{id}"), str::to_owned),
        user_id: user,
        session: id.to_owned(),
        payment_intent: id_of(&session["payment_intent"]).map(str::to_owned),
        amount,
        currency: CURRENCY.to_owned(),
        now,
    })
}

/// A refunded charge: its id, its PaymentIntent and the cumulative amount refunded.
fn refund(charge: &Value) -> Option<(&str, &str, Nanos)> {
    let currency = charge["currency"].as_str()?;
    if !currency.eq_ignore_ascii_case(CURRENCY) {
        return None;
    }
    Some((
        charge["id"].as_str()?,
        id_of(&charge["payment_intent"])?,
        stripe::cents_to_nanos(charge["amount_refunded"].as_i64()?)?,
    ))
}

/// An id field, whether Stripe sent it as a string or as an expanded object.
fn id_of(field: &Value) -> Option<&str> {
    field.as_str().or_else(|| field["id"].as_str())
}

#[cfg(test)]
mod tests {
    use super::form_encode;

    #[test]
    fn form_encoding_escapes_everything_but_unreserved_characters() {
        assert_eq!(
            form_encode(&[
                ("line_items[0][quantity]", "1"),
                ("name", "Switchyard credit & more")
            ]),
            "line_items%5B0%5D%5Bquantity%5D=1&name=Switchyard%20credit%20%26%20more"
        );
    }
}
