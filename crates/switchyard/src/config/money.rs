//! The money sections of the configuration: `[billing]`, `[promotions]`, `[pricing]`,
//! `[invoices]` and `[stripe]`, read and validated.

use super::ms;
use anyhow::bail;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::catalog::Provider;
use switchyard_core::money::Nanos;

/// Prepaid balances (`[billing]`).
#[derive(Clone, Debug)]
pub struct Billing {
    /// Refuse requests the balance cannot cover (402). False: charge, but let balances run
    /// negative (postpaid, or an internal deployment that only meters).
    pub prepaid: bool,
    /// Credit given to the first admin on first start, so the first request passes.
    pub welcome_credit: Nanos,
    /// How long a request's hold lives before the sweeper voids it (a crashed node's).
    pub hold_ttl: Duration,
    /// Output tokens reserved when a request sets no `max_tokens`.
    pub default_max_output_tokens: u64,
    /// How often expired holds are swept.
    pub sweep_interval: Duration,
    /// How often balances changed elsewhere (other replicas, the CLI) are picked up.
    pub refresh_interval: Duration,
    /// Cluster mode (`redis_url` set): how long a reservation counts in Redis against other
    /// replicas; longer than a log flush plus a balance refresh.
    pub cluster_grace: Duration,
    /// How long a request's hold stays in memory before the writer records it in the ledger;
    /// a request that settles sooner is written as one posted transfer.
    pub hold_write_delay: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct BillingSection {
    prepaid: bool,
    welcome_credit_usd: Usd,
    hold_ttl_ms: u64,
    default_max_output_tokens: u64,
    sweep_interval_ms: u64,
    refresh_ms: u64,
    cluster_grace_ms: u64,
    hold_write_delay_ms: u64,
}

impl Default for BillingSection {
    fn default() -> Self {
        BillingSection {
            prepaid: true,
            welcome_credit_usd: Usd(Nanos::from_usd(5)),
            hold_ttl_ms: 0,
            default_max_output_tokens: 4_096,
            sweep_interval_ms: 30_000,
            refresh_ms: 1_000,
            cluster_grace_ms: 10_000,
            hold_write_delay_ms: 2_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PromotionsSection {
    new_user_credit_usd: Usd,
    referral_percent: u32,
}

impl Default for PromotionsSection {
    fn default() -> Self {
        PromotionsSection {
            new_user_credit_usd: Usd(Nanos::ZERO),
            referral_percent: 0,
        }
    }
}

/// `[pricing]`: model prices are the provider's cost; users pay them raised by the markup of
/// their price group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct PricingSection {
    default_group: String,
    groups: Vec<PriceGroupSection>,
}

impl Default for PricingSection {
    fn default() -> Self {
        PricingSection {
            default_group: switchyard_core::pricing::DEFAULT_GROUP.to_owned(),
            groups: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceGroupSection {
    name: String,
    /// Basis points over the provider's price: 2500 is +25 %.
    markup_bps: u32,
}

/// `[invoices]`: optional; the seller printed on every invoice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct InvoicesSection {
    seller_name: String,
    seller_address: String,
    seller_vat_id: String,
    number_prefix: String,
}

impl Default for InvoicesSection {
    fn default() -> Self {
        let defaults = switchyard_server::invoice_pdf::Settings::default();
        InvoicesSection {
            seller_name: defaults.seller_name,
            seller_address: defaults.seller_address,
            seller_vat_id: defaults.seller_vat_id,
            number_prefix: defaults.number_prefix,
        }
    }
}

/// `[stripe]`: optional. Secrets are named by environment variable, never written here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StripeSection {
    #[serde(default = "default_stripe_api_base")]
    api_base: String,
    secret_key_env: String,
    /// One or more variable names, comma-separated; each may hold comma-separated secrets.
    webhook_secret_env: String,
    success_url: String,
    cancel_url: String,
    #[serde(default = "default_min_top_up")]
    min_top_up_usd: Usd,
    #[serde(default = "default_max_top_up")]
    max_top_up_usd: Usd,
}

fn default_stripe_api_base() -> String {
    "https://api.stripe.com".into()
}

fn default_min_top_up() -> Usd {
    Usd(Nanos::from_usd(5))
}

fn default_max_top_up() -> Usd {
    Usd(Nanos::from_usd(1_000))
}

/// A USD amount written as a TOML number or string, read exactly (no float arithmetic).
#[derive(Debug, Clone, Copy)]
pub(super) struct Usd(pub(super) Nanos);

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        // A float's shortest round-trip text ("0.15") is exactly what the operator wrote.
        let text = match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => format!("{f}"),
            Raw::Text(s) => s,
        };
        let nanos = Nanos::from_usd_str(&text).map_err(serde::de::Error::custom)?;
        if nanos.0 < 0 {
            return Err(serde::de::Error::custom("a price cannot be negative"));
        }
        Ok(Usd(nanos))
    }
}

pub(super) fn promotions(
    section: &PromotionsSection,
) -> anyhow::Result<switchyard_server::accounts::Promotions> {
    if section.referral_percent > 100 {
        bail!(
            "`promotions.referral_percent` ({}) must be 0 to 100",
            section.referral_percent
        );
    }
    Ok(switchyard_server::accounts::Promotions {
        new_user_credit: section.new_user_credit_usd.0,
        referral_percent: section.referral_percent,
    })
}

/// Markups above this (+10,000 %) are taken for typos.
const MAX_MARKUP_BPS: u32 = 1_000_000;

pub(super) fn pricing(
    section: PricingSection,
) -> anyhow::Result<switchyard_core::pricing::PriceGroups> {
    let mut names = HashSet::new();
    for (i, group) in section.groups.iter().enumerate() {
        let at = format!("pricing.groups[{i}] (`{}`)", group.name);
        if group.name.trim().is_empty() || group.name.trim() != group.name {
            bail!("pricing.groups[{i}].name must not be empty or start or end with spaces");
        }
        if !names.insert(group.name.as_str()) {
            bail!("{at}: a group with this name is already declared");
        }
        if group.markup_bps > MAX_MARKUP_BPS {
            bail!(
                "{at}.markup_bps ({}) is above {MAX_MARKUP_BPS}; it is in basis points: 2500 is +25 %",
                group.markup_bps
            );
        }
    }
    let groups = section.groups.into_iter().map(|g| (g.name, g.markup_bps));
    switchyard_core::pricing::PriceGroups::new(groups, &section.default_group)
        .map_err(|e| anyhow::anyhow!("`pricing.default_group`: {e}"))
}

pub(super) fn invoices(
    section: InvoicesSection,
) -> anyhow::Result<switchyard_server::invoice_pdf::Settings> {
    // The prefix lands in a file name (`Content-Disposition`) and in the URL users read it
    // from, so it is kept to characters that need no quoting anywhere.
    let prefix = &section.number_prefix;
    if prefix.len() > 16
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!(
            "`invoices.number_prefix` (`{prefix}`) must be at most 16 letters, digits, `-`, `_` or `.`"
        );
    }
    for (key, value, max) in [
        ("invoices.seller_name", &section.seller_name, 200),
        ("invoices.seller_address", &section.seller_address, 1_000),
        ("invoices.seller_vat_id", &section.seller_vat_id, 32),
    ] {
        if value.chars().count() > max {
            bail!("`{key}` is longer than {max} characters");
        }
    }
    Ok(switchyard_server::invoice_pdf::Settings {
        seller_name: section.seller_name.trim().to_owned(),
        seller_address: section.seller_address.trim().to_owned(),
        seller_vat_id: section.seller_vat_id.trim().to_owned(),
        number_prefix: section.number_prefix,
    })
}

pub(super) fn billing(
    section: &BillingSection,
    providers: &[Provider],
    flush: Duration,
) -> anyhow::Result<Billing> {
    // A hold must outlive every request, or the sweeper could void a live one.
    let longest = providers
        .iter()
        .map(|p| p.timeouts.total)
        .max()
        .unwrap_or_default();
    let hold_ttl = match section.hold_ttl_ms {
        0 => longest + Duration::from_secs(60),
        n if ms(n) <= longest => bail!(
            "`billing.hold_ttl_ms` ({n}) must be longer than the longest total timeout ({} ms), or a live request's hold could expire",
            longest.as_millis()
        ),
        n => ms(n),
    };
    if section.welcome_credit_usd.0 < Nanos::ZERO {
        bail!("`billing.welcome_credit_usd` must not be negative");
    }
    if section.default_max_output_tokens == 0 {
        bail!("`billing.default_max_output_tokens` must be positive");
    }
    let refresh = ms(section.refresh_ms.max(50));
    let cluster_grace = ms(section.cluster_grace_ms);
    let hold_write_delay = ms(section.hold_write_delay_ms);
    if hold_write_delay >= hold_ttl {
        bail!(
            "`billing.hold_write_delay_ms` ({} ms) must be shorter than `billing.hold_ttl_ms` ({} ms): a hold must be written before the sweeper may void it",
            hold_write_delay.as_millis(),
            hold_ttl.as_millis()
        );
    }
    // Another replica sees a hold once it is written (after the delay and a flush) and its
    // balance refreshed; until then only the hold's Redis reservation counts against it.
    let shown = hold_write_delay + flush + refresh;
    if cluster_grace <= shown {
        bail!(
            "`billing.cluster_grace_ms` ({} ms) must be longer than `billing.hold_write_delay_ms` plus `log.flush_ms` plus `billing.refresh_ms` ({} ms): a reservation must count in Redis until every replica's balance shows it",
            cluster_grace.as_millis(),
            shown.as_millis()
        );
    }
    Ok(Billing {
        prepaid: section.prepaid,
        welcome_credit: section.welcome_credit_usd.0,
        hold_ttl,
        default_max_output_tokens: section.default_max_output_tokens,
        sweep_interval: ms(section.sweep_interval_ms.max(100)),
        refresh_interval: refresh,
        cluster_grace,
        hold_write_delay,
    })
}

pub(super) fn stripe(
    section: Option<StripeSection>,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Option<switchyard_core::stripe::Settings>> {
    let Some(s) = section else {
        return Ok(None);
    };
    for (key, url) in [
        ("stripe.api_base", &s.api_base),
        ("stripe.success_url", &s.success_url),
        ("stripe.cancel_url", &s.cancel_url),
    ] {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("`{key}` must start with http:// or https://");
        }
    }
    let secret_key = match env.get(&s.secret_key_env) {
        Some(value) if !value.is_empty() => Secret::new(value.clone()),
        _ => bail!(
            "`stripe.secret_key_env`: the environment variable `{}` is not set",
            s.secret_key_env
        ),
    };
    let mut webhook_secrets = Vec::new();
    for var in s.webhook_secret_env.split(',').map(str::trim) {
        let values = env.get(var).map(String::as_str).unwrap_or_default();
        let before = webhook_secrets.len();
        webhook_secrets.extend(
            values
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(Secret::new),
        );
        if var.is_empty() || webhook_secrets.len() == before {
            bail!("`stripe.webhook_secret_env`: the environment variable `{var}` is not set");
        }
    }
    let (min, max) = (s.min_top_up_usd.0, s.max_top_up_usd.0);
    if min <= Nanos::ZERO || max < min {
        bail!("`stripe.min_top_up_usd` must be positive and at most `stripe.max_top_up_usd`");
    }
    if switchyard_core::stripe::nanos_to_cents(min).is_none()
        || switchyard_core::stripe::nanos_to_cents(max).is_none()
    {
        bail!("`stripe.min_top_up_usd` and `stripe.max_top_up_usd` must be whole cents");
    }
    Ok(Some(switchyard_core::stripe::Settings {
        api_base: s.api_base.trim_end_matches('/').to_owned(),
        secret_key,
        webhook_secrets,
        success_url: s.success_url,
        cancel_url: s.cancel_url,
        min_top_up: min,
        max_top_up: max,
    }))
}
