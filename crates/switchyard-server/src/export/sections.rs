//! What the export archive holds: [`SECTIONS`] and the loaders that read them, every one
//! filtered by the user's id. Each section's documented fields are in `fields.rs`.
//!
//! **Extension point:** a new kind of data is one more entry of [`SECTIONS`] with its fields
//! (a table in `fields.rs`) and its loader (a `Whole` document, or `Pages` for a table that
//! grows with use). The README, `schema.json` and the tests follow the list by themselves.

use super::fields::{
    AUDIT_FIELDS, BILLING_FIELDS, CONSENT_FIELDS, IDENTITY_FIELDS, INVOICE_FIELDS, KEY_FIELDS,
    LEDGER_FIELDS, LIMIT_FIELDS, PAYMENT_FIELDS, PROFILE_FIELDS, REFERRAL_FIELDS, USAGE_FIELDS,
};
use super::{Cursor, ExportError, Format, Load, Page, Section, Shape, Source};
use super::{PAGE_ROWS, put_money, put_time};
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use switchyard_core::Nanos;
use switchyard_core::ledger::{AccountId, Phase};
use switchyard_core::usage::UsageSource;
use switchyard_store::{ActorRole, AuditFilter, UsageCursor, UsageFilter};

/// The archive's contents, in order. **Extension point:** a new kind of data is one more
/// entry here: its name, formats, documented fields and loader.
/// `README.md` and `schema.json` list it from this entry, and the archive test checks every
/// file the schema lists.
pub const SECTIONS: &[Section] = &[
    Section {
        name: "profile",
        meaning: "The account: who it is, its settings and where it stands on privacy.",
        formats: &[Format::Json],
        shape: Shape::Object,
        fields: PROFILE_FIELDS,
        load: Load::Whole(profile),
    },
    Section {
        name: "identities",
        meaning: "Sign-in accounts at OpenID Connect providers linked to this account.",
        formats: &[Format::Json],
        shape: Shape::Rows,
        fields: IDENTITY_FIELDS,
        load: Load::Whole(identities),
    },
    Section {
        name: "keys",
        meaning: "API keys, revoked ones included. Metadata only: a key's secret is shown once \
                  when it is made and stored only as a keyed hash, which is not exported.",
        formats: &[Format::Json],
        shape: Shape::Rows,
        fields: KEY_FIELDS,
        load: Load::Whole(keys),
    },
    Section {
        name: "billing_profile",
        meaning: "The buyer details that invoices are issued to; null if never saved.",
        formats: &[Format::Json],
        shape: Shape::Object,
        fields: BILLING_FIELDS,
        load: Load::Whole(billing_profile),
    },
    Section {
        name: "payments",
        meaning: "Top-ups paid through the payment processor, newest first.",
        formats: &[Format::Json, Format::Csv],
        shape: Shape::Rows,
        fields: PAYMENT_FIELDS,
        load: Load::Whole(payments),
    },
    Section {
        name: "invoices",
        meaning: "Invoices issued for paid top-ups, newest first, as issued (later edits of \
                  the billing profile do not change them).",
        formats: &[Format::Json, Format::Csv],
        shape: Shape::Rows,
        fields: INVOICE_FIELDS,
        load: Load::Whole(invoices),
    },
    Section {
        name: "ledger",
        meaning: "Every movement of the account's balance (double-entry transfers), newest \
                  first, amounts signed from the account's side.",
        formats: &[Format::Json, Format::Csv],
        shape: Shape::Rows,
        fields: LEDGER_FIELDS,
        load: Load::Pages(ledger_page),
    },
    Section {
        name: "usage",
        meaning: "The request log: one metadata row per API request, newest first. Prompts and \
                  answers are not logged, so they are not here.",
        formats: &[Format::Csv, Format::JsonLines],
        shape: Shape::Rows,
        fields: USAGE_FIELDS,
        load: Load::Pages(usage_page),
    },
    Section {
        name: "referrals",
        meaning: "The account's part in the referral programme. The other accounts involved \
                  are not named: they are their owners' data.",
        formats: &[Format::Json],
        shape: Shape::Object,
        fields: REFERRAL_FIELDS,
        load: Load::Whole(referrals),
    },
    Section {
        name: "spend_limits",
        meaning: "Spend limits set on the account or on its keys.",
        formats: &[Format::Json],
        shape: Shape::Rows,
        fields: LIMIT_FIELDS,
        load: Load::Whole(spend_limits),
    },
    Section {
        name: "audit",
        meaning: "Entries of the audit log about this account: what was done to it, by whom \
                  (the account itself, an administrator, or the platform), and when.",
        formats: &[Format::Json],
        shape: Shape::Rows,
        fields: AUDIT_FIELDS,
        load: Load::Pages(audit_page),
    },
    Section {
        name: "consents",
        meaning: "The versions of the terms of service and of the privacy notice this account \
                  accepted, and when.",
        formats: &[Format::Json],
        shape: Shape::Rows,
        fields: CONSENT_FIELDS,
        load: Load::Whole(consents),
    },
];

fn profile(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let user = &source.user;
        let profile = source.store.profile(user.id).await?.unwrap_or_default();
        let privacy = source
            .store
            .privacy_state(user.id)
            .await?
            .unwrap_or_default();
        let mut row = Map::new();
        row.insert("id".into(), user.id.to_string().into());
        row.insert("email".into(), user.email.clone().into());
        row.insert("display_name".into(), profile.display_name.into());
        row.insert("language".into(), profile.language.into());
        row.insert("role".into(), user.role.as_str().into());
        put_time(&mut row, "created_at", Some(user.created_at));
        put_time(&mut row, "email_verified_at", profile.email_verified_at);
        row.insert("data_policy".into(), json!(user.data_policy));
        row.insert("price_group".into(), user.price_group.clone().into());
        row.insert("disabled".into(), user.disabled.into());
        put_time(
            &mut row,
            "deletion_requested_at",
            privacy.deletion_requested_at,
        );
        row.insert(
            "usage_log_days".into(),
            privacy.windows.usage_log_days.into(),
        );
        row.insert(
            "client_ip_days".into(),
            privacy.windows.client_ip_days.into(),
        );
        Ok(Value::Object(row))
    })
}

fn consents(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let rows = source.store.consents_of(source.user.id).await?;
        Ok(rows
            .into_iter()
            .map(|consent| {
                let mut row = Map::new();
                row.insert("kind".into(), consent.kind.into());
                row.insert("version".into(), consent.version.into());
                put_time(&mut row, "accepted_at", Some(consent.accepted_at));
                Value::Object(row)
            })
            .collect())
    })
}

fn identities(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let rows = source.store.identities_of(source.user.id).await?;
        Ok(rows
            .into_iter()
            .map(|identity| {
                let mut row = Map::new();
                row.insert("id".into(), identity.id.to_string().into());
                row.insert("issuer".into(), identity.issuer.into());
                row.insert("subject".into(), identity.subject.into());
                row.insert("email".into(), identity.email.into());
                put_time(&mut row, "created_at", Some(identity.created_at));
                Value::Object(row)
            })
            .collect())
    })
}

fn keys(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let user = source.user.id;
        let keys = source.store.list_keys(Some(user)).await?;
        let playground: HashSet<_> = source
            .store
            .playground_key_ids(Some(user))
            .await?
            .into_iter()
            .collect();
        Ok(keys
            .into_iter()
            .map(|key| {
                // Built field by field, never from the record as a whole, so the keyed hash
                // cannot slip in when `KeyRecord` grows.
                let mut row = Map::new();
                row.insert("id".into(), key.id.to_string().into());
                row.insert("name".into(), key.name.into());
                row.insert("visible_prefix".into(), key.visible_prefix.into());
                let kind = if playground.contains(&key.id) {
                    "playground"
                } else {
                    "standard"
                };
                row.insert("kind".into(), kind.into());
                put_time(&mut row, "created_at", Some(key.created_at));
                put_time(&mut row, "expires_at", key.expires_at);
                put_time(&mut row, "revoked_at", key.revoked_at);
                row.insert("allowed_models".into(), key.allowed_models.into());
                row.insert("data_policy".into(), json!(key.data_policy));
                Value::Object(row)
            })
            .collect())
    })
}

fn billing_profile(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let Some(profile) = source.store.billing_profile(source.user.id).await? else {
            return Ok(Value::Null);
        };
        let buyer = profile.buyer;
        let mut row = Map::new();
        row.insert("name".into(), buyer.name.into());
        row.insert("company".into(), buyer.company.into());
        row.insert("vat_id".into(), buyer.vat_id.into());
        row.insert("address".into(), buyer.address.into());
        row.insert("country".into(), buyer.country.into());
        put_time(&mut row, "updated_at", Some(profile.updated_at));
        Ok(Value::Object(row))
    })
}

fn payments(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let rows = source.store.payments_of(source.user.id).await?;
        Ok(rows
            .into_iter()
            .map(|payment| {
                let mut row = Map::new();
                row.insert("id".into(), payment.id.into());
                row.insert("processor_ref".into(), payment.processor_ref.into());
                row.insert("payment_intent".into(), payment.payment_intent.into());
                put_money(&mut row, "amount", Some(payment.amount));
                row.insert("currency".into(), payment.currency.into());
                row.insert("status".into(), payment.status.as_str().into());
                put_money(&mut row, "refunded", Some(payment.refunded));
                put_time(&mut row, "created_at", Some(payment.created_at));
                put_time(&mut row, "paid_at", payment.paid_at);
                Value::Object(row)
            })
            .collect())
    })
}

fn invoices(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let rows = source.store.invoices_of(source.user.id).await?;
        Ok(rows
            .into_iter()
            .map(|invoice| {
                let mut row = Map::new();
                row.insert("number".into(), invoice.number.into());
                row.insert("id".into(), invoice.id.into());
                row.insert("payment_id".into(), invoice.payment_id.into());
                put_time(&mut row, "issued_at", Some(invoice.issued_at));
                row.insert("buyer_name".into(), invoice.buyer.name.into());
                row.insert("buyer_company".into(), invoice.buyer.company.into());
                row.insert("buyer_vat_id".into(), invoice.buyer.vat_id.into());
                row.insert("buyer_address".into(), invoice.buyer.address.into());
                row.insert("buyer_country".into(), invoice.buyer.country.into());
                put_money(&mut row, "amount", Some(invoice.amount));
                row.insert("currency".into(), invoice.currency.into());
                let lines: Vec<Value> = invoice
                    .lines
                    .iter()
                    .map(|line| {
                        json!({
                            "description": line.description,
                            "quantity": line.quantity,
                            "amount_nanos": line.amount.0,
                            "amount_usd": line.amount.to_string(),
                        })
                    })
                    .collect();
                row.insert("lines".into(), lines.into());
                Value::Object(row)
            })
            .collect())
    })
}

fn ledger_page(source: &Source, after: Option<Cursor>) -> BoxFuture<'_, Result<Page, ExportError>> {
    Box::pin(async move {
        let me = AccountId::user(source.user.id);
        let before = match after {
            Some(Cursor::Seq(seq)) => seq,
            _ => source.ledger_before,
        };
        let entries = source
            .store
            .transfers_of(&me, Some(before), PAGE_ROWS)
            .await?;
        let next = match entries.last() {
            Some(last) if entries.len() == PAGE_ROWS as usize => Some(Cursor::Seq(last.seq)),
            _ => None,
        };
        let rows = entries
            .into_iter()
            .map(|entry| {
                let t = entry.transfer;
                let (amount, other) = if t.credit == me {
                    (t.amount, &t.debit)
                } else {
                    (Nanos(t.amount.0.saturating_neg()), &t.credit)
                };
                // Another user's account is another person's data: say only what it is.
                let counterparty = if other.user_id().is_some() {
                    "another user".to_owned()
                } else {
                    other.as_str().to_owned()
                };
                let status = match t.phase {
                    Phase::Posted => "posted",
                    Phase::Pending { .. } => "pending",
                    Phase::Post { .. } => "post",
                    Phase::Void { .. } => "void",
                };
                let mut row = Map::new();
                row.insert("id".into(), t.id.into());
                row.insert("seq".into(), entry.seq.into());
                put_time(&mut row, "created_at", Some(t.created_at));
                row.insert("kind".into(), t.kind.as_str().into());
                row.insert("status".into(), status.into());
                put_money(&mut row, "amount", Some(amount));
                row.insert("counterparty".into(), counterparty.into());
                row.insert("reference".into(), t.reference.into());
                row.insert("memo".into(), t.memo.into());
                Value::Object(row)
            })
            .collect();
        Ok(Page { rows, next })
    })
}

fn usage_page(source: &Source, after: Option<Cursor>) -> BoxFuture<'_, Result<Page, ExportError>> {
    Box::pin(async move {
        let filter = UsageFilter {
            user: source.user.id,
            key: None,
            model: None,
            status: None,
            from: None,
            to: Some(source.usage_to),
        };
        let after = match after {
            Some(Cursor::Usage(cursor)) => Some(cursor),
            _ => None,
        };
        let entries = source.store.usage_page(&filter, after, PAGE_ROWS).await?;
        let next = match entries.last() {
            Some(last) if entries.len() == PAGE_ROWS as usize => Some(Cursor::Usage(UsageCursor {
                created_at: last.log.created_at,
                id: last.log.id,
            })),
            _ => None,
        };
        let rows = entries
            .into_iter()
            .map(|entry| {
                let log = entry.log;
                let mut row = Map::new();
                row.insert("id".into(), log.id.to_string().into());
                put_time(&mut row, "created_at", Some(log.created_at));
                row.insert("key_id".into(), log.key_id.map(|k| k.to_string()).into());
                row.insert("key_name".into(), entry.key_name.into());
                row.insert("endpoint".into(), log.endpoint.into());
                row.insert("model".into(), log.model.into());
                row.insert("provider".into(), log.provider.into());
                row.insert("upstream_model".into(), log.upstream_model.into());
                row.insert("channel".into(), log.channel.into());
                row.insert("jurisdiction".into(), log.jurisdiction.into());
                row.insert("stream".into(), log.stream.into());
                row.insert("status".into(), log.status.into());
                row.insert("error_code".into(), log.error_code.into());
                row.insert("prompt_tokens".into(), log.prompt_tokens.into());
                row.insert("completion_tokens".into(), log.completion_tokens.into());
                row.insert("cached_tokens".into(), log.cached_tokens.into());
                row.insert("reasoning_tokens".into(), log.reasoning_tokens.into());
                let source = match log.usage_source {
                    UsageSource::Upstream => "upstream",
                    UsageSource::Estimated => "estimated",
                };
                row.insert("usage_source".into(), source.into());
                put_money(&mut row, "cost", Some(log.cost));
                row.insert("latency_us".into(), log.latency_us.into());
                row.insert("ttft_us".into(), log.ttft_us.into());
                row.insert("client_ip".into(), log.client_ip.into());
                Value::Object(row)
            })
            .collect();
        Ok(Page { rows, next })
    })
}

fn referrals(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let record = source.store.referral_record(source.user.id).await?;
        let mut row = Map::new();
        row.insert(
            "code".into(),
            record.code.as_ref().map(|(code, _)| code.clone()).into(),
        );
        put_time(
            &mut row,
            "code_created_at",
            record.code.as_ref().map(|(_, at)| *at),
        );
        row.insert("referred".into(), record.referred_at.is_some().into());
        put_time(&mut row, "referred_at", record.referred_at);
        row.insert(
            "first_payment_counted".into(),
            record.first_payment_counted.into(),
        );
        let referees: Vec<Value> = record
            .referees
            .iter()
            .map(|(at, counted)| {
                let mut referee = Map::new();
                put_time(&mut referee, "signed_up_at", Some(*at));
                referee.insert("first_payment_counted".into(), (*counted).into());
                Value::Object(referee)
            })
            .collect();
        row.insert("referees".into(), referees.into());
        Ok(Value::Object(row))
    })
}

fn spend_limits(source: &Source) -> BoxFuture<'_, Result<Value, ExportError>> {
    Box::pin(async move {
        let limits = source.store.own_spend_limits(source.user.id).await?;
        Ok(limits
            .into_iter()
            .map(|limit| {
                let mut row = Map::new();
                row.insert("scope".into(), limit.scope.as_str().into());
                row.insert("owner_id".into(), limit.owner.into());
                put_money(&mut row, "total", limit.limits.total);
                put_money(&mut row, "day", limit.limits.day);
                put_money(&mut row, "month", limit.limits.month);
                put_time(&mut row, "updated_at", Some(limit.updated_at));
                Value::Object(row)
            })
            .collect())
    })
}

fn audit_page(source: &Source, after: Option<Cursor>) -> BoxFuture<'_, Result<Page, ExportError>> {
    Box::pin(async move {
        let filter = AuditFilter {
            subject: Some(source.user.id),
            before: match after {
                Some(Cursor::Audit(at, id)) => Some((at, id)),
                _ => None,
            },
            limit: PAGE_ROWS.min(1_000),
        };
        let entries = source.store.list_audit(&filter).await?;
        let next = match entries.last() {
            Some(last) if entries.len() == filter.limit as usize => {
                Some(Cursor::Audit(last.at, last.id.clone()))
            }
            _ => None,
        };
        let me = source.user.id;
        let rows = entries
            .into_iter()
            .map(|entry| {
                // An administrator's id is theirs, not this account's: only the role is told.
                let by = match entry.actor_role {
                    ActorRole::System => "system",
                    _ if entry.actor == Some(me) => "self",
                    ActorRole::Admin => "admin",
                    ActorRole::User => "another user",
                };
                let detail = serde_json::from_str::<Value>(&entry.detail)
                    .unwrap_or(Value::String(entry.detail));
                let mut row = Map::new();
                row.insert("id".into(), entry.id.into());
                put_time(&mut row, "at", Some(entry.at));
                row.insert("by".into(), by.into());
                row.insert("action".into(), entry.action.into());
                row.insert("target".into(), entry.target.into());
                row.insert("target_id".into(), entry.target_id.into());
                row.insert("detail".into(), detail);
                Value::Object(row)
            })
            .collect();
        Ok(Page { rows, next })
    })
}
