//! `/api/billing/profile` and `/api/billing/invoices`: the buyer details a user wants on their
//! invoices, the invoices issued for their paid top-ups (with the payment each one is for), and
//! each invoice as a PDF. Authenticated by API key like the rest of `/api`; a user sees only
//! their own invoices, an admin sees anyone's.
//!
//! Invoices are issued by the Stripe webhook when a top-up is paid (see
//! [`issue_for_checkout`]); nothing here creates one.

use super::Reply;
use super::actor::Actor;
use super::manage::{json_body, store_error};
use crate::AppState;
use crate::invoice_pdf;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use switchyard_core::catalog::Role;
use switchyard_core::error::ErrorCode;
use switchyard_core::{Nanos, UserId};
use switchyard_gateway::{ApiError, pipeline_now_millis};
use switchyard_store::payments::Payment;
use switchyard_store::{Buyer, Invoice, Store, StoreError};

/// Issues the invoice of the paid Checkout Session `session`, if it has none yet. Called by
/// the webhook after the top-up is credited; idempotent, so replays and retries are harmless.
pub(super) async fn issue_for_checkout(
    store: &Store,
    session: &str,
    now: i64,
) -> Result<(), StoreError> {
    if let Some(payment) = store.payment_by_ref(session).await? {
        store.issue_invoice_for_payment(&payment.id, now).await?;
    }
    Ok(())
}

fn money(nanos: Nanos) -> Value {
    json!({"usd": nanos.to_string(), "nanos": nanos.0})
}

fn invalid(field: &'static str, message: String) -> Reply {
    Reply::from(ApiError::new(ErrorCode::InvalidRequest, message).with_param(field))
}

fn buyer_json(buyer: &Buyer) -> Value {
    json!({
        "name": buyer.name, "company": buyer.company, "vat_id": buyer.vat_id,
        "address": buyer.address, "country": buyer.country,
    })
}

/// `GET /api/billing/profile`: the caller's billing profile (empty fields when never set).
pub async fn get_profile(
    State(state): State<AppState>,
    caller: Actor,
) -> Result<Json<Value>, Reply> {
    let profile = state
        .gateway
        .store()
        .billing_profile(caller.user.id)
        .await
        .map_err(store_error)?;
    let (buyer, updated_at) = match profile {
        Some(p) => (p.buyer, Some(p.updated_at / 1000)),
        None => (Buyer::default(), None),
    };
    Ok(Json(profile_json(caller.user.id, &buyer, updated_at)))
}

fn profile_json(user: UserId, buyer: &Buyer, updated_at: Option<i64>) -> Value {
    let mut body = buyer_json(buyer);
    body["object"] = json!("billing_profile");
    body["user_id"] = json!(user);
    body["updated_at"] = json!(updated_at);
    body
}

/// The body of `PUT /api/billing/profile`: the whole profile; a field left out is cleared.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    vat_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    country: String,
}

/// `PUT /api/billing/profile`: replaces the caller's billing profile. Invoices already issued
/// keep the details they were issued with.
pub async fn put_profile(
    State(state): State<AppState>,
    caller: Actor,
    body: Bytes,
) -> Result<Json<Value>, Reply> {
    let input: ProfileInput = json_body(&body)?;
    let buyer = validate(input)?;
    let now = pipeline_now_millis();
    state
        .gateway
        .store()
        .set_billing_profile(caller.user.id, &buyer, now)
        .await
        .map_err(store_error)?;
    Ok(Json(profile_json(caller.user.id, &buyer, Some(now / 1000))))
}

/// Checks lengths and characters, and normalises the VAT id (upper case, no spaces, dots or
/// dashes).
fn validate(input: ProfileInput) -> Result<Buyer, Reply> {
    let line = |field: &'static str, value: String, max: usize, multiline: bool| {
        let value = value.trim().to_owned();
        if value.chars().count() > max {
            return Err(invalid(
                field,
                format!("`{field}` must be at most {max} characters."),
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !(multiline && c == '\n'))
        {
            return Err(invalid(
                field,
                format!("`{field}` must not contain control characters."),
            ));
        }
        Ok(value)
    };
    let vat_id: String = input
        .vat_id
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    if !vat_id_is_plausible(&vat_id) {
        return Err(invalid(
            "vat_id",
            format!(
                "`vat_id` must be a two-letter country prefix and 2 to 13 letters or digits, \
                 such as \"DE123456789\", or empty; got \"{}\".",
                input.vat_id
            ),
        ));
    }
    Ok(Buyer {
        name: line("name", input.name, 200, false)?,
        company: line("company", input.company, 200, false)?,
        vat_id,
        address: line("address", input.address, 500, true)?,
        country: line("country", input.country, 64, false)?,
    })
}

/// A VAT/GST id is checked loosely: a two-letter country prefix and 2 to 13 letters or digits
/// (every EU format, and GB, CH, NO, AU … written with their prefix). Empty means none.
fn vat_id_is_plausible(vat_id: &str) -> bool {
    let bytes = vat_id.as_bytes();
    vat_id.is_empty()
        || (bytes.len() >= 4
            && bytes.len() <= 15
            && bytes[..2].iter().all(u8::is_ascii_uppercase)
            && bytes[2..]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

#[derive(Deserialize)]
pub struct InvoiceQuery {
    /// Admins only: whose invoices to list (default: the caller's own).
    #[serde(default)]
    user_id: Option<UserId>,
}

/// `GET /api/billing/invoices`: the caller's invoices, newest first, each with its payment.
pub async fn list_invoices(
    State(state): State<AppState>,
    caller: Actor,
    Query(query): Query<InvoiceQuery>,
) -> Result<Json<Value>, Reply> {
    let user = match query.user_id {
        Some(user) if user != caller.user.id => {
            if caller.user.role != Role::Admin {
                return Err(ApiError::new(
                    ErrorCode::AdminRequired,
                    "Only an admin may list another user's invoices.",
                )
                .into());
            }
            user
        }
        _ => caller.user.id,
    };
    let store = state.gateway.store();
    let invoices = store.invoices_of(user).await.map_err(store_error)?;
    let payments: HashMap<String, Payment> = store
        .payments_of(user)
        .await
        .map_err(store_error)?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let data: Vec<Value> = invoices
        .iter()
        .map(|invoice| invoice_json(&state.invoices, invoice, payments.get(&invoice.payment_id)))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

fn invoice_json(
    settings: &invoice_pdf::Settings,
    invoice: &Invoice,
    payment: Option<&Payment>,
) -> Value {
    let name = settings.invoice_name(invoice.number);
    json!({
        "object": "invoice",
        "number": name,
        "sequence": invoice.number,
        "id": invoice.id,
        "user_id": invoice.user_id,
        "issued_at": invoice.issued_at / 1000,
        "issue_date": invoice_pdf::utc_date(invoice.issued_at),
        "amount": money(invoice.amount),
        "currency": invoice.currency,
        "buyer": buyer_json(&invoice.buyer),
        "lines": invoice.lines.iter().map(|l| json!({
            "description": l.description, "quantity": l.quantity, "amount": money(l.amount),
        })).collect::<Vec<_>>(),
        "pdf_url": format!("/api/billing/invoices/{name}"),
        "payment": payment.map(|p| json!({
            "id": p.id,
            "status": p.status.as_str(),
            "amount": money(p.amount),
            "refunded": money(p.refunded),
            "currency": p.currency,
            "created_at": p.created_at / 1000,
            "paid_at": p.paid_at.map(|t| t / 1000),
        })),
    })
}

/// `GET /api/billing/invoices/{number}` → the invoice as `application/pdf`. `{number}` is the
/// printed number (`SY-000001`, optionally with `.pdf`) or the bare sequence number (`1`).
/// Another user's invoice is reported as not found, so its existence does not leak.
pub async fn download_invoice(
    State(state): State<AppState>,
    caller: Actor,
    Path(number): Path<String>,
) -> Result<Response, Reply> {
    let invoice = visible_invoice(&state, &caller, &number).await?;
    let name = state.invoices.invoice_name(invoice.number);
    let pdf = invoice_pdf::render(&state.invoices, &invoice);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.pdf\""))
        .map_err(|_| {
            // The prefix is checked at start-up to be letters, digits, `-`, `_` and `.`.
            ApiError::new(
                ErrorCode::Internal,
                "The invoice number cannot be a file name.",
            )
        })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        pdf,
    )
        .into_response())
}

async fn visible_invoice(state: &AppState, caller: &Actor, text: &str) -> Result<Invoice, Reply> {
    let not_found = || {
        Reply::from(ApiError::new(
            ErrorCode::ResourceNotFound,
            format!("There is no invoice `{text}`."),
        ))
    };
    let bare = text.strip_suffix(".pdf").unwrap_or(text);
    let digits = bare
        .strip_prefix(state.invoices.number_prefix.as_str())
        .filter(|d| !d.is_empty())
        .unwrap_or(bare);
    let number: i64 = digits.parse().map_err(|_| not_found())?;
    let invoice = state
        .gateway
        .store()
        .invoice_by_number(number)
        .await
        .map_err(store_error)?
        .ok_or_else(not_found)?;
    if caller.user.role != Role::Admin && invoice.user_id != caller.user.id {
        return Err(not_found());
    }
    Ok(invoice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vat_ids_are_checked_loosely() {
        for ok in [
            "",
            "DE123456789",
            "GB123456789",
            "ATU12345678",
            "FR12",
            "NL123456789B01",
        ] {
            assert!(vat_id_is_plausible(ok), "{ok}");
        }
        for bad in [
            "D1234",
            "123456789",
            "DE1",
            "DE1234567890123X",
            "de123",
            "DE12_34",
        ] {
            assert!(!vat_id_is_plausible(bad), "{bad}");
        }
    }
}
