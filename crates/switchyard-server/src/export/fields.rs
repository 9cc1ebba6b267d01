//! The documented fields of every export section: name, JSON type, unit or format, and what
//! it means. `README.md` and `schema.json` in the archive are generated from these tables,
//! and the archive test checks that every exported record has exactly these fields.

use super::{Field, field};

pub(super) const CONSENT_FIELDS: &[Field] = &[
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

pub(super) const PROFILE_FIELDS: &[Field] = &[
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

pub(super) const IDENTITY_FIELDS: &[Field] = &[
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

pub(super) const KEY_FIELDS: &[Field] = &[
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

pub(super) const BILLING_FIELDS: &[Field] = &[
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

pub(super) const PAYMENT_FIELDS: &[Field] = &[
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

pub(super) const INVOICE_FIELDS: &[Field] = &[
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

pub(super) const LEDGER_FIELDS: &[Field] = &[
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

pub(super) const USAGE_FIELDS: &[Field] = &[
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

pub(super) const REFERRAL_FIELDS: &[Field] = &[
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

pub(super) const LIMIT_FIELDS: &[Field] = &[
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

pub(super) const AUDIT_FIELDS: &[Field] = &[
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
