//! "Export my data": everything Switchyard keeps about one account, as one ZIP archive written
//! as a stream, for `GET /api/me/export` and `switchyard export --user`.
//!
//! **Shape.** The archive is a list of [`Section`]s ([`SECTIONS`]). Each names its files (one
//! per [`Format`]), documents every field, and says how its rows are read: whole (a profile, a
//! list of keys) or in keyset pages (the usage log, the ledger, the audit log). `README.md` and
//! `schema.json`, the first two entries, are generated from the same list, so the schema
//! cannot forget a file. A new kind of data (consents, say) is one more entry in [`SECTIONS`].
//!
//! **Flat memory.** A ZIP entry normally carries its size and CRC in its header, which a
//! writer that does not know them yet would have to go back and patch. `zip`'s
//! `ZipWriter::new_stream` instead writes each entry with a data descriptor (sizes and CRC
//! after the bytes), so it never seeks. It writes into a small in-memory spill buffer; after
//! each row that pushes the buffer past [`CHUNK_BYTES`], and at the end of every section, the
//! buffer is cut into chunks of at most [`CHUNK_BYTES`] and sent through a channel of
//! [`CHANNEL_CHUNKS`] slots. A reader slower than the database makes `send` wait, which stops
//! the reads; a reader that goes away ends the export. What is held at any time: one page of
//! rows, the compressor's window, the spill buffer and the channel.
//!
//! **Only this user.** Every read is filtered by the user's id in SQL. Where a record names
//! another account (who referred this user, the admin who acted, the other side of a
//! transfer), the export says what kind of party it was and not which one.
//!
//! A table written in two formats (the usage log as CSV and JSON Lines, the ledger as JSON and
//! CSV) is read twice, because a streamed ZIP holds one entry open at a time. Both passes stop
//! at the same bound, fixed when the export starts (requests that arrived before it; transfers
//! up to the newest one then), so the two files hold the same rows.

use crate::api::{csv_field, rfc3339};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use switchyard_core::catalog::User;
use switchyard_core::ledger::{AccountId, Phase};
use switchyard_core::usage::UsageSource;
use switchyard_core::{Nanos, UserId};
use switchyard_store::{AuditFilter, Store, StoreError, UsageCursor, UsageFilter};
use tokio::sync::mpsc;
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

/// The largest chunk the archive is sent in, in bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting in the channel at most: with [`CHUNK_BYTES`], half a MiB in flight.
pub const CHANNEL_CHUNKS: usize = 8;
/// Rows per keyset page of the paged sections.
pub const PAGE_ROWS: u32 = 2_000;
/// The version of the archive's layout, in `schema.json`; raised when a field changes meaning.
pub const LAYOUT_VERSION: u32 = 1;

/// What stops an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("there is no user with id {0}")]
    UnknownUser(UserId),
    #[error("reading the store failed: {0}")]
    Store(#[from] StoreError),
    #[error("writing the archive failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the archive failed: {0}")]
    Io(#[from] io::Error),
    /// The receiver went away (the client disconnected): nothing is wrong, nobody is reading.
    #[error("the reader of the archive went away")]
    Closed,
}

/// One file format of a section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON document: the object, or an array of the rows.
    Json,
    /// One JSON object per line (for the usage log, which can be large).
    JsonLines,
    /// RFC 4180 CSV with a header row and CRLF line ends; one column per field, nested values
    /// as JSON text, `null` as an empty cell.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::JsonLines => "jsonl",
            Format::Csv => "csv",
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::JsonLines => "application/jsonl",
            Format::Csv => "text/csv",
        }
    }
}

/// One documented field of a section's rows.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    /// A JSON type (`string`, `integer`, `boolean`, `object`, `array`), `|null` when it may be
    /// absent.
    pub kind: &'static str,
    /// The unit or format: `nano-USD`, `USD decimal string`, `unix ms`, `RFC 3339 UTC`, ….
    pub unit: &'static str,
    pub meaning: &'static str,
}

const fn field(
    name: &'static str,
    kind: &'static str,
    unit: &'static str,
    meaning: &'static str,
) -> Field {
    Field {
        name,
        kind,
        unit,
        meaning,
    }
}

/// What a section's JSON file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One object (or `null` when there is none, e.g. no billing profile yet).
    Object,
    /// A list of rows, each an object with the fields.
    Rows,
}

/// Where reading a paged section resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Usage(UsageCursor),
    Seq(i64),
    Audit(i64, String),
}

/// One page of a paged section; `next` is `None` after the last page.
#[derive(Debug, Default)]
pub struct Page {
    pub rows: Vec<Value>,
    pub next: Option<Cursor>,
}

/// How a section's data is read.
#[derive(Clone, Copy)]
pub enum Load {
    /// At once: a document small by nature (one profile, a user's keys or payments).
    Whole(for<'a> fn(&'a Source) -> BoxFuture<'a, Result<Value, ExportError>>),
    /// Page by page from a cursor, for tables that grow with use.
    Pages(for<'a> fn(&'a Source, Option<Cursor>) -> BoxFuture<'a, Result<Page, ExportError>>),
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Load::Whole(_) => "Load::Whole",
            Load::Pages(_) => "Load::Pages",
        })
    }
}

/// One kind of data in the archive: its files, its documented fields, and how it is read.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// The file name without extension.
    pub name: &'static str,
    pub meaning: &'static str,
    pub formats: &'static [Format],
    pub shape: Shape,
    pub fields: &'static [Field],
    pub load: Load,
}

impl Section {
    pub fn file_names(&self) -> impl Iterator<Item = String> + '_ {
        self.formats
            .iter()
            .map(|f| format!("{}.{}", self.name, f.extension()))
    }
}

/// What every section reads from: the store, the user, and the bounds fixed at the start so
/// that a table's two files hold the same rows.
#[derive(Debug)]
pub struct Source {
    pub store: Store,
    pub user: User,
    /// When the export started (unix ms).
    pub started_at: i64,
    /// Usage rows of requests that arrived before this (unix ms, exclusive) are exported.
    usage_to: i64,
    /// Ledger transfers with a `seq` below this are exported.
    ledger_before: i64,
}

/// The archive's contents, in order. **Extension point:** a new kind of data (the planned
/// `consents.json`) is one more entry here: its name, formats, documented fields and loader.
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
    // Consents (`consents.json`) go here when they are stored: one more `Section`.
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
        "self | admin | system",
        "Who acted: the account itself, an administrator (not named), or the platform.",
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

// ----- the loaders -----

/// Puts a time as two fields: `name` (RFC 3339 UTC) and `name_ms` (unix ms).
fn put_time(row: &mut Map<String, Value>, name: &str, ms: Option<i64>) {
    row.insert(name.to_owned(), ms.map(rfc3339).into());
    row.insert(format!("{name}_ms"), ms.into());
}

/// Puts money as two fields: `name_nanos` (integer nano-USD) and `name_usd` (exact decimal).
fn put_money(row: &mut Map<String, Value>, name: &str, amount: Option<Nanos>) {
    row.insert(format!("{name}_nanos"), amount.map(|a| a.0).into());
    row.insert(format!("{name}_usd"), amount.map(|a| a.to_string()).into());
}

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
                    switchyard_store::ActorRole::System => "system",
                    _ if entry.actor == Some(me) => "self",
                    switchyard_store::ActorRole::Admin => "admin",
                    switchyard_store::ActorRole::User => "self",
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

// ----- the schema document -----

/// `schema.json`: every file of the archive and every field of its rows.
pub fn schema(user: &User, started_at: i64) -> Value {
    let files: Vec<Value> = SECTIONS
        .iter()
        .flat_map(|section| {
            section.formats.iter().map(move |format| {
                json!({
                    "name": format!("{}.{}", section.name, format.extension()),
                    "section": section.name,
                    "format": format.extension(),
                    "media_type": format.media_type(),
                    "shape": match (section.shape, format) {
                        (_, Format::Csv) => "one row per line after a header row",
                        (_, Format::JsonLines) => "one object per line",
                        (Shape::Object, Format::Json) => "one object (null when there is none)",
                        (Shape::Rows, Format::Json) => "an array of objects",
                    },
                    "meaning": section.meaning,
                    "fields": section.fields.iter().map(|f| json!({
                        "name": f.name,
                        "type": f.kind,
                        "unit": f.unit,
                        "meaning": f.meaning,
                    })).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    json!({
        "layout_version": LAYOUT_VERSION,
        "generated_at": rfc3339(started_at),
        "generated_at_ms": started_at,
        "user_id": user.id.to_string(),
        "conventions": {
            "money": "Two fields per amount: `<name>_nanos`, an integer of nano-USD \
                      (1 USD = 1,000,000,000), and `<name>_usd`, the same amount as an exact \
                      decimal string. No floating point is used for money.",
            "time": "Two fields per time: `<name>`, RFC 3339 in UTC with milliseconds, and \
                     `<name>_ms`, milliseconds since 1970-01-01T00:00:00Z. Both null when \
                     there is no such time.",
            "csv": "RFC 4180: comma-separated, CRLF line ends, a header row of the field names, \
                    quotes around a cell that holds a comma, quote or line break. An empty cell \
                    is null; lists and objects are JSON text.",
            "order": "Lists are newest first unless a file says otherwise.",
        },
        "files": files,
    })
}

/// `README.md`: the same as `schema.json`, for people.
pub fn readme(user: &User, started_at: i64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = write!(
        out,
        "# Your Switchyard data\n\nEverything Switchyard keeps about the account {} ({}), \
         exported at {}. `schema.json` describes the same files for programs.\n\n\
         ## Conventions\n\n\
         - Money: `<name>_nanos` is an integer of nano-USD (1 USD = 1,000,000,000); \
         `<name>_usd` is the same amount as an exact decimal string.\n\
         - Times: `<name>` is RFC 3339 in UTC; `<name>_ms` is milliseconds since the Unix epoch.\n\
         - CSV: RFC 4180, a header row, CRLF line ends; an empty cell is null; lists and \
         objects are JSON text.\n\
         - Lists are newest first.\n\
         - Prompts and answers are not stored by Switchyard, so no file holds them.\n\n\
         ## Files\n",
        user.email,
        user.id,
        rfc3339(started_at)
    );
    for section in SECTIONS {
        let names: Vec<String> = section.file_names().map(|n| format!("`{n}`")).collect();
        let _ = write!(
            out,
            "\n### {}\n\n{}\n\n| field | type | unit | meaning |\n| --- | --- | --- | --- |\n",
            names.join(", "),
            section.meaning
        );
        for f in section.fields {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                f.name,
                f.kind,
                f.unit,
                f.meaning.replace('|', "\\|")
            );
        }
    }
    out
}

// ----- writing the archive -----

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows per file with rows (`usage.csv` → 100000).
    pub rows: Vec<(String, u64)>,
    /// Bytes of the whole archive.
    pub bytes: u64,
    /// The largest chunk sent (never above [`CHUNK_BYTES`]).
    pub largest_chunk: usize,
}

/// The buffer the ZIP writer writes into; drained into the channel by [`Archive::flush`].
/// Shared through a std `Mutex` because the writer owns one handle and the draining side the
/// other; the lock is never held across an await.
#[derive(Clone, Default)]
struct Spill(Arc<Mutex<Vec<u8>>>);

impl Spill {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The ZIP stream being written and the channel it drains into.
struct Archive<'a> {
    zip: ZipWriter<StreamWriter<Spill>>,
    spill: Spill,
    out: &'a mpsc::Sender<Result<Bytes, io::Error>>,
    options: SimpleFileOptions,
    summary: Summary,
}

impl Archive<'_> {
    /// Opens the next entry. `large` entries (the paged tables, of no known bound) carry ZIP64
    /// sizes, so one past 4 GiB is still valid.
    fn start(&mut self, name: &str, large: bool) -> Result<(), ExportError> {
        self.zip.start_file(name, self.options.large_file(large))?;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.zip.write_all(bytes)?;
        Ok(())
    }

    /// Sends what the writer produced so far (see [`drain`]).
    async fn flush(&mut self) -> Result<(), ExportError> {
        drain(&self.spill, self.out, &mut self.summary).await
    }

    /// Flushes only once a chunk's worth is waiting, so rows are sent in full chunks.
    async fn flush_full(&mut self) -> Result<(), ExportError> {
        if self.spill.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Sends what the writer produced, cut into chunks of at most [`CHUNK_BYTES`]. Waits when the
/// channel is full: that is what keeps memory flat under a slow reader.
async fn drain(
    spill: &Spill,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
    summary: &mut Summary,
) -> Result<(), ExportError> {
    let mut pending = Bytes::from(spill.take());
    while !pending.is_empty() {
        let chunk = pending.split_to(pending.len().min(CHUNK_BYTES));
        summary.bytes += chunk.len() as u64;
        summary.largest_chunk = summary.largest_chunk.max(chunk.len());
        out.send(Ok(chunk)).await.map_err(|_| ExportError::Closed)?;
    }
    Ok(())
}

/// One CSV record of `row`, in the order of `fields`.
fn csv_record(out: &mut String, fields: &[Field], row: &Value) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match row.get(f.name).unwrap_or(&Value::Null) {
            Value::Null => {}
            Value::String(text) => csv_field(out, text),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            nested => csv_field(out, &nested.to_string()),
        }
    }
    out.push_str("\r\n");
}

fn csv_header(fields: &[Field]) -> String {
    let mut out = fields.iter().map(|f| f.name).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

/// Writes one row of a paged file in `format`; `first` says whether it opens the file.
fn row_bytes(format: Format, fields: &[Field], row: &Value, first: bool) -> String {
    match format {
        Format::Csv => {
            let mut out = String::new();
            csv_record(&mut out, fields, row);
            out
        }
        Format::JsonLines => format!("{row}\n"),
        Format::Json if first => format!("\n{row}"),
        Format::Json => format!(",\n{row}"),
    }
}

/// Writes the whole archive of `source`'s user into `out`.
async fn write_archive(
    source: &Source,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<Summary, ExportError> {
    let spill = Spill::default();
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip_time(source.started_at));
    let mut archive = Archive {
        zip: ZipWriter::new_stream(spill.clone()),
        spill,
        out,
        options,
        summary: Summary::default(),
    };
    archive.start("README.md", false)?;
    archive.write(readme(&source.user, source.started_at).as_bytes())?;
    archive.start("schema.json", false)?;
    let schema = schema(&source.user, source.started_at);
    archive.write(&serde_json::to_vec_pretty(&schema).map_err(io::Error::from)?)?;
    for section in SECTIONS {
        match section.load {
            Load::Whole(load) => {
                let value = load(source).await?;
                for format in section.formats {
                    let name = format!("{}.{}", section.name, format.extension());
                    archive.start(&name, false)?;
                    match format {
                        Format::Json => {
                            let mut text =
                                serde_json::to_vec_pretty(&value).map_err(io::Error::from)?;
                            text.push(b'\n');
                            archive.write(&text)?;
                        }
                        Format::Csv | Format::JsonLines => {
                            let rows = value.as_array().map(Vec::as_slice).unwrap_or_default();
                            if *format == Format::Csv {
                                archive.write(csv_header(section.fields).as_bytes())?;
                            }
                            for (i, row) in rows.iter().enumerate() {
                                archive.write(
                                    row_bytes(*format, section.fields, row, i == 0).as_bytes(),
                                )?;
                            }
                        }
                    }
                    if let Some(rows) = value.as_array() {
                        archive.summary.rows.push((name, rows.len() as u64));
                    }
                }
            }
            Load::Pages(load) => {
                // One pass per format: a streamed ZIP has one entry open at a time.
                for format in section.formats {
                    let name = format!("{}.{}", section.name, format.extension());
                    archive.start(&name, true)?;
                    match format {
                        Format::Csv => archive.write(csv_header(section.fields).as_bytes())?,
                        Format::Json => archive.write(b"[")?,
                        Format::JsonLines => {}
                    }
                    let mut count = 0u64;
                    let mut cursor = None;
                    loop {
                        let page = load(source, cursor).await?;
                        for row in &page.rows {
                            archive.write(
                                row_bytes(*format, section.fields, row, count == 0).as_bytes(),
                            )?;
                            count += 1;
                            archive.flush_full().await?;
                        }
                        cursor = page.next;
                        if cursor.is_none() {
                            break;
                        }
                    }
                    if *format == Format::Json {
                        archive.write(b"\n]\n")?;
                    }
                    archive.summary.rows.push((name, count));
                }
            }
        }
        archive.flush().await?;
    }
    let Archive {
        zip,
        spill,
        mut summary,
        ..
    } = archive;
    // The central directory: the last bytes of the archive.
    zip.finish()?;
    drain(&spill, out, &mut summary).await?;
    Ok(summary)
}

/// The ZIP entries' modification time (DOS time, local time by convention; UTC is written,
/// which is what the RFC 3339 times inside say too).
fn zip_time(ms: i64) -> zip::DateTime {
    // `rfc3339` writes `YYYY-MM-DDTHH:MM:SS.mmmZ`; its fixed positions are read back.
    let text = rfc3339(ms);
    let part = |from: usize, to: usize| text.get(from..to).and_then(|p| p.parse::<u16>().ok());
    let parts = (
        part(0, 4),
        part(5, 7),
        part(8, 10),
        part(11, 13),
        part(14, 16),
        part(17, 19),
    );
    if let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) = parts {
        let narrow = |v: u16| u8::try_from(v).unwrap_or(0);
        if let Ok(time) = zip::DateTime::from_date_and_time(
            y,
            narrow(mo),
            narrow(d),
            narrow(h),
            narrow(mi),
            narrow(s),
        ) {
            return time;
        }
    }
    zip::DateTime::default()
}

/// Starts exporting `user`'s data: returns the receiving end of the archive's chunks and the
/// task writing them. A failure after the first chunk is sent down the channel as an error
/// (an HTTP body is then cut short) and returned by the task; a failure before it only by the
/// task. `hold` is dropped when the task ends (the per-user slot of the HTTP route).
pub fn spawn<H: Send + 'static>(
    store: Store,
    user: UserId,
    now: i64,
    hold: H,
) -> (
    mpsc::Receiver<Result<Bytes, io::Error>>,
    tokio::task::JoinHandle<Result<Summary, ExportError>>,
) {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let task = tokio::spawn(async move {
        let _hold = hold;
        let result = run(store, user, now, &tx).await;
        if let Err(e) = &result
            && !matches!(e, ExportError::Closed)
        {
            // The reader may already hold part of the archive: an error item makes the HTTP
            // body end abnormally rather than look complete.
            let _ = tx.send(Err(io::Error::other(e.to_string()))).await;
        }
        result
    });
    (rx, task)
}

async fn run(
    store: Store,
    user: UserId,
    now: i64,
    out: &mpsc::Sender<Result<Bytes, io::Error>>,
) -> Result<Summary, ExportError> {
    let user = store
        .user_by_id(user)
        .await?
        .ok_or(ExportError::UnknownUser(user))?;
    let ledger_before = store
        .transfers_of(&AccountId::user(user.id), None, 1)
        .await?
        .first()
        .map_or(0, |newest| newest.seq.saturating_add(1));
    let source = Source {
        store,
        user,
        started_at: now,
        usage_to: now.saturating_add(1),
        ledger_before,
    };
    write_archive(&source, out).await
}

/// The users whose export is running on this node: one at a time per user, since an export
/// reads the user's whole history.
#[derive(Debug, Default)]
pub struct Running(Mutex<HashSet<UserId>>);

/// A user's slot in [`Running`], released when dropped.
#[derive(Debug)]
pub struct Slot {
    running: Arc<Running>,
    user: UserId,
}

impl Running {
    /// Takes `user`'s slot, or `None` while another export of theirs runs.
    pub fn claim(self: &Arc<Self>, user: UserId) -> Option<Slot> {
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(user);
        fresh.then(|| Slot {
            running: Arc::clone(self),
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.user);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;

    #[test]
    fn every_section_has_fields_and_unique_file_names() {
        let mut names = HashSet::new();
        for section in SECTIONS {
            assert!(!section.fields.is_empty(), "{} has no fields", section.name);
            for name in section.file_names() {
                assert!(names.insert(name.clone()), "{name} twice");
            }
            let mut fields = HashSet::new();
            for f in section.fields {
                assert!(fields.insert(f.name), "{}.{} twice", section.name, f.name);
            }
        }
        assert!(!names.contains("README.md") && !names.contains("schema.json"));
    }

    #[test]
    fn csv_cells_quote_what_needs_it_and_nest_json() {
        const FIELDS: &[Field] = &[
            field("a", "string", "", ""),
            field("b", "integer|null", "", ""),
            field("c", "array", "", ""),
            field("d", "boolean", "", ""),
        ];
        let mut out = String::new();
        csv_record(
            &mut out,
            FIELDS,
            &json!({"a": "x,\"y\"", "b": null, "c": [1, "z"], "d": true}),
        );
        assert_eq!(out, "\"x,\"\"y\"\"\",,\"[1,\"\"z\"\"]\",true\r\n");
    }

    #[test]
    fn zip_times_are_the_export_time() {
        let time = zip_time(1_764_436_943_123); // 2025-11-29T17:22:23.123Z
        assert_eq!(
            (
                time.year(),
                time.month(),
                time.day(),
                time.hour(),
                time.minute()
            ),
            (2025, 11, 29, 17, 22)
        );
    }

    #[test]
    fn a_users_second_export_waits_for_the_first() {
        let running = Arc::new(Running::default());
        let user = UserId::new();
        let first = running.claim(user).unwrap();
        assert!(running.claim(user).is_none());
        assert!(running.claim(UserId::new()).is_some());
        drop(first);
        assert!(running.claim(user).is_some());
    }
}
