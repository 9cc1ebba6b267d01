//! What the export archive holds: [`SECTIONS`], each section's documented fields, and the
//! loaders that read them, every one filtered by the user's id.
//!
//! **Extension point:** a new kind of data is one more entry of [`SECTIONS`] with its fields
//! and its loader (a `Whole` document, or `Pages` for a table that grows with use). The
//! README, `schema.json` and the tests follow the list by themselves.

use super::{Cursor, ExportError, Field, Format, Load, Page, Section, Shape, Source, field};
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

const CONSENT_FIELDS: &[Field] = &[
    field(
        "kind",
        "string",
        "",
        "`terms` (of service) or `privacy` (notice).",
    ),
    field("version", "string", "", "The version accepted."),
    field(
        "accepted_at",
        "string",
        "RFC 3339 UTC",
        "When it was accepted.",
    ),
    field("accepted_at_ms", "integer", "unix ms", "The same time."),
];

const PROFILE_FIELDS: &[Field] = &[
    field("id", "string", "UUID", "The account's id."),
    field("email", "string", "", "The sign-in email address."),
    field(
        "display_name",
        "string|null",
        "",
        "The name the account chose to be shown.",
    ),
    field(
        "language",
        "string|null",
        "language code",
        "The dashboard's language.",
    ),
    field("role", "string", "user | admin", "What the account may do."),
    field(
        "created_at",
        "string",
        "RFC 3339 UTC",
        "When the account was made.",
    ),
    field("created_at_ms", "integer", "unix ms", "The same time."),
    field(
        "email_verified_at",
        "string|null",
        "RFC 3339 UTC",
        "When the address was proven by a link sent to it.",
    ),
    field(
        "email_verified_at_ms",
        "integer|null",
        "unix ms",
        "The same time.",
    ),
    field(
        "data_policy",
        "object",
        "",
        "Where the account's prompts may be processed: `jurisdictions` (list, absent = any), \
         `no_training`, `no_retention`, `zdr` (booleans, absent = false).",
    ),
    field(
        "price_group",
        "string|null",
        "",
        "The price group whose markup the account pays; null is the default group.",
    ),
    field(
        "disabled",
        "boolean",
        "",
        "Whether an operator disabled the account.",
    ),
    field(
        "deletion_requested_at",
        "string|null",
        "RFC 3339 UTC",
        "When deletion of the account was requested, if it was.",
    ),
    field(
        "deletion_requested_at_ms",
        "integer|null",
        "unix ms",
        "The same time.",
    ),
    field(
        "usage_log_days",
        "integer|null",
        "days",
        "The account's own retention window for its usage log; null is the platform's.",
    ),
    field(
        "client_ip_days",
        "integer|null",
        "days",
        "The account's own retention window for client IP addresses; null is the platform's.",
    ),
];

const IDENTITY_FIELDS: &[Field] = &[
    field("id", "string", "UUID", "The link's id."),
    field(
        "issuer",
        "string",
        "URL",
        "The OpenID provider's issuer identifier.",
    ),
    field(
        "subject",
        "string",
        "",
        "The account's id at that provider (`sub`).",
    ),
    field(
        "email",
        "string|null",
        "",
        "The address the provider last reported.",
    ),
    field(
        "created_at",
        "string",
        "RFC 3339 UTC",
        "When it was linked.",
    ),
    field("created_at_ms", "integer", "unix ms", "The same time."),
];

const KEY_FIELDS: &[Field] = &[
    field("id", "string", "UUID", "The key's id."),
    field("name", "string", "", "The key's name."),
    field(
        "visible_prefix",
        "string",
        "",
        "The first characters of the secret, which identify the key in lists.",
    ),
    field(
        "kind",
        "string",
        "standard | playground",
        "A playground key is the dashboard's own short-lived key.",
    ),
    field("created_at", "string", "RFC 3339 UTC", "When it was made."),
    field("created_at_ms", "integer", "unix ms", "The same time."),
    field(
        "expires_at",
        "string|null",
        "RFC 3339 UTC",
        "When it stops working by itself.",
    ),
    field("expires_at_ms", "integer|null", "unix ms", "The same time."),
    field(
        "revoked_at",
        "string|null",
        "RFC 3339 UTC",
        "When it was revoked.",
    ),
    field("revoked_at_ms", "integer|null", "unix ms", "The same time."),
    field(
        "allowed_models",
        "array|null",
        "model names",
        "The models the key may use; null is every model.",
    ),
    field(
        "data_policy",
        "object",
        "",
        "The key's data policy, narrowing the account's (same fields as the profile's).",
    ),
];

const BILLING_FIELDS: &[Field] = &[
    field(
        "name",
        "string",
        "",
        "The buyer's name (empty if not given).",
    ),
    field("company", "string", "", "The company (empty if not given)."),
    field(
        "vat_id",
        "string",
        "",
        "The VAT or GST number (empty if not given).",
    ),
    field(
        "address",
        "string",
        "",
        "The postal address (empty if not given).",
    ),
    field(
        "country",
        "string",
        "ISO 3166-1 alpha-2",
        "The country (empty if not given).",
    ),
    field(
        "updated_at",
        "string",
        "RFC 3339 UTC",
        "When it was last saved.",
    ),
    field("updated_at_ms", "integer", "unix ms", "The same time."),
];

const PAYMENT_FIELDS: &[Field] = &[
    field("id", "string", "", "The payment's id."),
    field(
        "processor_ref",
        "string",
        "",
        "The payment processor's checkout session id.",
    ),
    field(
        "payment_intent",
        "string|null",
        "",
        "The processor's payment id, once paid.",
    ),
    field(
        "amount_nanos",
        "integer",
        "nano-USD",
        "The amount credited (1 USD = 1,000,000,000).",
    ),
    field(
        "amount_usd",
        "string",
        "USD decimal string",
        "The same amount.",
    ),
    field("currency", "string", "ISO 4217", "The currency charged."),
    field(
        "status",
        "string",
        "pending | paid | partially_refunded | refunded",
        "Where the payment stands.",
    ),
    field(
        "refunded_nanos",
        "integer",
        "nano-USD",
        "How much was refunded.",
    ),
    field(
        "refunded_usd",
        "string",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "created_at",
        "string",
        "RFC 3339 UTC",
        "When checkout started.",
    ),
    field("created_at_ms", "integer", "unix ms", "The same time."),
    field(
        "paid_at",
        "string|null",
        "RFC 3339 UTC",
        "When it was paid.",
    ),
    field("paid_at_ms", "integer|null", "unix ms", "The same time."),
];

const INVOICE_FIELDS: &[Field] = &[
    field(
        "number",
        "integer",
        "",
        "The invoice number (gapless, from 1).",
    ),
    field("id", "string", "", "The invoice's id."),
    field(
        "payment_id",
        "string",
        "",
        "The payment it was issued for (`payments.id`).",
    ),
    field("issued_at", "string", "RFC 3339 UTC", "When it was issued."),
    field("issued_at_ms", "integer", "unix ms", "The same time."),
    field("buyer_name", "string", "", "The buyer as issued."),
    field(
        "buyer_company",
        "string",
        "",
        "The buyer's company as issued.",
    ),
    field(
        "buyer_vat_id",
        "string",
        "",
        "The buyer's VAT or GST number as issued.",
    ),
    field(
        "buyer_address",
        "string",
        "",
        "The buyer's address as issued.",
    ),
    field(
        "buyer_country",
        "string",
        "ISO 3166-1 alpha-2",
        "The buyer's country as issued.",
    ),
    field("amount_nanos", "integer", "nano-USD", "The invoice total."),
    field(
        "amount_usd",
        "string",
        "USD decimal string",
        "The same amount.",
    ),
    field("currency", "string", "ISO 4217", "The invoice's currency."),
    field(
        "lines",
        "array",
        "",
        "The lines: objects of `description`, `quantity`, `amount_nanos`, `amount_usd` (in \
         the CSV, this list as JSON text).",
    ),
];

const LEDGER_FIELDS: &[Field] = &[
    field(
        "id",
        "string",
        "",
        "The transfer's idempotency key (e.g. `settle:<request id>`).",
    ),
    field(
        "seq",
        "integer",
        "",
        "The transfer's position in the whole ledger.",
    ),
    field("created_at", "string", "RFC 3339 UTC", "When it was made."),
    field("created_at_ms", "integer", "unix ms", "The same time."),
    field(
        "kind",
        "string",
        "request | late_charge | top_up | refund | promotion | referral | redemption | adjustment",
        "Why money moved.",
    ),
    field(
        "status",
        "string",
        "posted | pending | post | void",
        "`posted`: moved for good; `pending`: a hold reserving the amount; `post`: a hold \
         settled (the amount moved); `void`: a hold released (nothing moved).",
    ),
    field(
        "amount_nanos",
        "integer",
        "nano-USD",
        "Signed from the account's side: positive adds to the balance, negative takes from it.",
    ),
    field(
        "amount_usd",
        "string",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "counterparty",
        "string",
        "",
        "The other side: a platform account (`revenue`, `promotions`, `adjustments`, `codes`, \
         `processor:<name>`, …), or `another user` (never which one).",
    ),
    field(
        "reference",
        "string|null",
        "",
        "What caused it: a request id, a payment id, a code batch.",
    ),
    field(
        "memo",
        "string|null",
        "",
        "The reason an operator gave for an adjustment.",
    ),
];

const USAGE_FIELDS: &[Field] = &[
    field(
        "id",
        "string",
        "UUID",
        "The request id (also sent as `x-request-id`).",
    ),
    field(
        "created_at",
        "string",
        "RFC 3339 UTC",
        "When the request arrived.",
    ),
    field("created_at_ms", "integer", "unix ms", "The same time."),
    field(
        "key_id",
        "string|null",
        "UUID",
        "The API key used (`keys.id`).",
    ),
    field(
        "key_name",
        "string|null",
        "",
        "That key's name now (null if it was deleted).",
    ),
    field(
        "endpoint",
        "string",
        "",
        "The API endpoint, e.g. `chat.completions`.",
    ),
    field("model", "string", "", "The model asked for."),
    field(
        "provider",
        "string|null",
        "",
        "The provider that served it.",
    ),
    field(
        "upstream_model",
        "string|null",
        "",
        "The provider's name for the model.",
    ),
    field(
        "channel",
        "string|null",
        "",
        "The upstream channel that served it (the last tried when none did).",
    ),
    field(
        "jurisdiction",
        "string|null",
        "country or region code",
        "Where the provider processed the request.",
    ),
    field("stream", "boolean", "", "Whether the answer was streamed."),
    field(
        "status",
        "integer",
        "HTTP status",
        "The status sent back; 400 and above is a failure.",
    ),
    field(
        "error_code",
        "string|null",
        "",
        "The error code when the request failed.",
    ),
    field("prompt_tokens", "integer", "tokens", "Input tokens."),
    field("completion_tokens", "integer", "tokens", "Output tokens."),
    field(
        "cached_tokens",
        "integer",
        "tokens",
        "Input tokens served from the provider's cache.",
    ),
    field(
        "reasoning_tokens",
        "integer",
        "tokens",
        "Output tokens spent on reasoning.",
    ),
    field(
        "usage_source",
        "string",
        "upstream | estimated",
        "Whether the provider reported the token counts or Switchyard counted them.",
    ),
    field(
        "cost_nanos",
        "integer",
        "nano-USD",
        "What the request was charged.",
    ),
    field(
        "cost_usd",
        "string",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "latency_us",
        "integer",
        "microseconds",
        "Time to the answer's last byte.",
    ),
    field(
        "ttft_us",
        "integer|null",
        "microseconds",
        "Time to the first byte of a streamed answer.",
    ),
    field(
        "client_ip",
        "string|null",
        "IP address",
        "The address the request came from (kept for a limited window).",
    ),
];

const REFERRAL_FIELDS: &[Field] = &[
    field(
        "code",
        "string|null",
        "",
        "The account's own referral code, if it ever asked for one.",
    ),
    field(
        "code_created_at",
        "string|null",
        "RFC 3339 UTC",
        "When the code was made.",
    ),
    field(
        "code_created_at_ms",
        "integer|null",
        "unix ms",
        "The same time.",
    ),
    field(
        "referred",
        "boolean",
        "",
        "Whether the account signed up with someone's code.",
    ),
    field("referred_at", "string|null", "RFC 3339 UTC", "When it did."),
    field(
        "referred_at_ms",
        "integer|null",
        "unix ms",
        "The same time.",
    ),
    field(
        "first_payment_counted",
        "boolean",
        "",
        "Whether the account's first paid top-up was counted for its referrer.",
    ),
    field(
        "referees",
        "array",
        "",
        "The accounts this one referred, without their ids: objects of `signed_up_at`, \
         `signed_up_at_ms`, `first_payment_counted`.",
    ),
];

const LIMIT_FIELDS: &[Field] = &[
    field(
        "scope",
        "string",
        "user | key",
        "Whether the limit is the account's or one key's.",
    ),
    field(
        "owner_id",
        "string",
        "UUID",
        "The account's id (`user`) or the key's (`key`).",
    ),
    field(
        "total_nanos",
        "integer|null",
        "nano-USD",
        "The limit over all time; null is none.",
    ),
    field(
        "total_usd",
        "string|null",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "day_nanos",
        "integer|null",
        "nano-USD",
        "The limit per UTC day.",
    ),
    field(
        "day_usd",
        "string|null",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "month_nanos",
        "integer|null",
        "nano-USD",
        "The limit per UTC month.",
    ),
    field(
        "month_usd",
        "string|null",
        "USD decimal string",
        "The same amount.",
    ),
    field(
        "updated_at",
        "string",
        "RFC 3339 UTC",
        "When it was last set.",
    ),
    field("updated_at_ms", "integer", "unix ms", "The same time."),
];

const AUDIT_FIELDS: &[Field] = &[
    field("id", "string", "UUID", "The entry's id."),
    field("at", "string", "RFC 3339 UTC", "When it happened."),
    field("at_ms", "integer", "unix ms", "The same time."),
    field(
        "by",
        "string",
        "self | admin | system | another user",
        "Who acted: the account itself, an administrator, the platform, or another account \
         (the other two are not named).",
    ),
    field(
        "action",
        "string",
        "noun.verb",
        "What was done, e.g. `key.revoke`.",
    ),
    field(
        "target",
        "string",
        "",
        "The kind of thing acted on (`user`, `key`, `balance`, …).",
    ),
    field(
        "target_id",
        "string|null",
        "",
        "The id of the thing acted on.",
    ),
    field(
        "detail",
        "object|string",
        "",
        "What changed, as recorded (JSON).",
    ),
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
