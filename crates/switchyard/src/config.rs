//! Configuration: one TOML file, every key overridable by `SWITCHYARD_<SECTION>_<KEY>`
//! (`DATABASE_URL` is honoured too), parsed once into a validated [`Config`].
//!
//! Errors name the key (and the environment variable, when it came from one) and say what is
//! wrong. Secrets never live in the file: providers name the environment variable that holds
//! their key (`api_key_env`).

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use switchyard_core::Secret;
use switchyard_core::catalog::{Model, ModelKind, Provider, ProviderKind, Timeouts};
use switchyard_core::money::{Nanos, Prices};

/// Sections whose keys can be overridden as `SWITCHYARD_<SECTION>_<KEY>`.
const SECTIONS: &[&str] = &[
    "server",
    "timeouts",
    "log",
    "demo",
    "billing",
    "stripe",
    "promotions",
    "invoices",
    "pricing",
];
/// Top-level keys that can be overridden as `SWITCHYARD_<KEY>`. Any other `SWITCHYARD_*`
/// variable that names no section (`SWITCHYARD_BIN` of a benchmark script, say) is not ours and
/// is left alone; a misspelt key inside a known section is still an error.
const TOP_LEVEL: &[&str] = &["listen", "database_url", "data_dir", "redis_url"];
/// `SWITCHYARD_*` variables that are not configuration keys.
const NOT_KEYS: &[&str] = &[
    "SWITCHYARD_CONFIG",
    "SWITCHYARD_SECRET_KEY",
    "SWITCHYARD_LOG",
    "SWITCHYARD_LOG_FORMAT",
];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub redis_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    /// How long SIGTERM waits for in-flight requests before closing them.
    pub shutdown_grace: Duration,
    /// How often the key/user snapshot checks the store for changes made elsewhere.
    pub snapshot_refresh: Duration,
    pub log_batch_size: usize,
    pub log_flush_interval: Duration,
    pub log_queue: usize,
    pub demo_word_delay: Duration,
    /// Stripe top-ups (`[stripe]`); `None` turns the billing endpoints off.
    pub stripe: Option<switchyard_core::stripe::Settings>,
    pub billing: Billing,
    /// Free credit on sign-up and for referrals (`[promotions]`).
    pub promotions: switchyard_server::accounts::Promotions,
    /// Who issues invoices for top-ups, and their numbering (`[invoices]`).
    pub invoices: switchyard_server::invoice_pdf::Settings,
    /// Price groups and their markups over provider prices (`[pricing]`).
    pub pricing: switchyard_core::pricing::PriceGroups,
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
}

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct BillingSection {
    prepaid: bool,
    welcome_credit_usd: Usd,
    hold_ttl_ms: u64,
    default_max_output_tokens: u64,
    sweep_interval_ms: u64,
    refresh_ms: u64,
    cluster_grace_ms: u64,
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
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PromotionsSection {
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
struct PricingSection {
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
struct PriceGroupSection {
    name: String,
    /// Basis points over the provider's price: 2500 is +25 %.
    markup_bps: u32,
}

/// `[invoices]`: optional; the seller printed on every invoice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct InvoicesSection {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default)]
    database_url: Option<String>,
    #[serde(default)]
    data_dir: Option<String>,
    #[serde(default)]
    redis_url: Option<String>,
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    timeouts: TimeoutSection,
    #[serde(default)]
    log: LogSection,
    #[serde(default)]
    demo: DemoSection,
    #[serde(default)]
    stripe: Option<StripeSection>,
    #[serde(default)]
    billing: BillingSection,
    #[serde(default)]
    promotions: PromotionsSection,
    #[serde(default)]
    invoices: InvoicesSection,
    #[serde(default)]
    pricing: PricingSection,
    #[serde(default)]
    providers: Vec<ProviderSection>,
    #[serde(default)]
    models: Vec<ModelSection>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ServerSection {
    max_body_bytes: usize,
    max_response_bytes: usize,
    shutdown_grace_ms: u64,
    snapshot_refresh_ms: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            max_body_bytes: 8 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            shutdown_grace_ms: 30_000,
            snapshot_refresh_ms: 1_000,
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields, default)]
struct TimeoutSection {
    connect_ms: u64,
    first_byte_ms: u64,
    total_ms: u64,
}

impl Default for TimeoutSection {
    fn default() -> Self {
        TimeoutSection {
            connect_ms: 5_000,
            first_byte_ms: 120_000,
            total_ms: 600_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogSection {
    batch_size: usize,
    flush_ms: u64,
    queue: usize,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            batch_size: 512,
            flush_ms: 200,
            queue: 65_536,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct DemoSection {
    word_delay_ms: u64,
}

impl Default for DemoSection {
    fn default() -> Self {
        DemoSection { word_delay_ms: 30 }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSection {
    name: String,
    kind: ProviderKind,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    jurisdiction: Option<String>,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    first_byte_timeout_ms: Option<u64>,
    #[serde(default)]
    total_timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelSection {
    name: String,
    provider: String,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    kind: Option<ModelKind>,
    input_usd_per_mtok: Usd,
    #[serde(default)]
    output_usd_per_mtok: Option<Usd>,
    #[serde(default)]
    cached_input_usd_per_mtok: Option<Usd>,
    /// Reasoning tokens (counted inside the output tokens); unset: the output price.
    #[serde(default)]
    reasoning_usd_per_mtok: Option<Usd>,
    /// Per generated image.
    #[serde(default)]
    image_usd: Option<Usd>,
    /// Per second of audio or video.
    #[serde(default)]
    usd_per_second: Option<Usd>,
}

/// `[stripe]`: optional. Secrets are named by environment variable, never written here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StripeSection {
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
struct Usd(Nanos);

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

/// Where the configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The TOML text of the file, if one was given.
    pub file: Option<(PathBuf, String)>,
    /// The process environment (or a test's stand-in).
    pub env: BTreeMap<String, String>,
}

impl Sources {
    pub fn from_process(path: Option<PathBuf>) -> anyhow::Result<Sources> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("cannot read the configuration file {}", path.display())
                })?;
                Some((path, text))
            }
            None => None,
        };
        Ok(Sources {
            file,
            env: std::env::vars().collect(),
        })
    }
}

/// The embedded default: the offline demo provider with a chat and an embedding model.
pub const EMBEDDED_DEFAULT: &str = r#"
[[providers]]
name = "demo"
kind = "demo"
jurisdiction = "local"

[[models]]
name = "demo-chat"
provider = "demo"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60

[[models]]
name = "demo-embed"
provider = "demo"
kind = "embedding"
input_usd_per_mtok = 0.02
"#;

/// Reads, overrides and validates the configuration.
pub fn load(sources: &Sources) -> anyhow::Result<Config> {
    let (origin, text) = match &sources.file {
        Some((path, text)) => (path.display().to_string(), text.as_str()),
        None => ("the embedded default".to_owned(), EMBEDDED_DEFAULT),
    };
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    let from_env = apply_env(&mut table, &sources.env)?;
    let file: File = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let via = from_env
            .iter()
            .find(|(key, _)| path.starts_with(key.as_str()))
            .map(|(_, var)| format!(" (set by {var})"))
            .unwrap_or_default();
        anyhow::anyhow!("{origin}: configuration key `{path}`{via}: {}", e.inner())
    })?;
    validate(file, &sources.env).map_err(|e| anyhow::anyhow!("{origin}: {e}"))
}

/// Applies `SWITCHYARD_*` overrides; returns which dotted keys came from which variable.
fn apply_env(
    table: &mut toml::Table,
    env: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut applied = Vec::new();
    let mut set = |table: &mut toml::Table,
                   section: Option<&str>,
                   key: String,
                   raw: &str,
                   var: &str|
     -> anyhow::Result<()> {
        let value = parse_env_value(raw);
        let target = match section {
            Some(section) => table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| anyhow::anyhow!("{var}: `{section}` in the file is not a table"))?,
            None => table,
        };
        let dotted = section.map_or_else(|| key.clone(), |s| format!("{s}.{key}"));
        target.insert(key, value);
        applied.push((dotted, var.to_owned()));
        Ok(())
    };
    if let Some(url) = env
        .get("DATABASE_URL")
        .filter(|_| !env.contains_key("SWITCHYARD_DATABASE_URL"))
    {
        set(table, None, "database_url".into(), url, "DATABASE_URL")?;
    }
    if let Some(url) = env
        .get("REDIS_URL")
        .filter(|_| !env.contains_key("SWITCHYARD_REDIS_URL"))
    {
        set(table, None, "redis_url".into(), url, "REDIS_URL")?;
    }
    for (var, raw) in env {
        let Some(rest) = var.strip_prefix("SWITCHYARD_") else {
            continue;
        };
        if NOT_KEYS.contains(&var.as_str()) || rest.starts_with("TEST_") {
            continue;
        }
        let rest = rest.to_ascii_lowercase();
        let section = SECTIONS.iter().find(|s| rest.starts_with(&format!("{s}_")));
        match section {
            Some(section) => set(
                table,
                Some(section),
                rest[section.len() + 1..].to_owned(),
                raw,
                var,
            )?,
            None if TOP_LEVEL.contains(&rest.as_str()) => set(table, None, rest, raw, var)?,
            None => {}
        }
    }
    Ok(applied)
}

/// An environment value as TOML (`5000` → integer, `true` → boolean), else as a string.
fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table() && !v.is_array())
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn validate(file: File, env: &BTreeMap<String, String>) -> anyhow::Result<Config> {
    let listen: SocketAddr = file.listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "`listen`: `{}` is not an address like 127.0.0.1:8080",
            file.listen
        )
    })?;
    let data_dir = PathBuf::from(file.data_dir.unwrap_or_else(|| "switchyard-data".into()));
    let database_url = file
        .database_url
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("switchyard.db").display()));
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        bail!("`database_url`: must start with sqlite:// or postgres://");
    }
    if file.server.max_body_bytes == 0 {
        bail!("`server.max_body_bytes` must be positive");
    }
    for (key, value) in [
        ("timeouts.connect_ms", file.timeouts.connect_ms),
        ("timeouts.first_byte_ms", file.timeouts.first_byte_ms),
        ("timeouts.total_ms", file.timeouts.total_ms),
    ] {
        if value == 0 {
            bail!("`{key}` must be positive");
        }
    }
    if file.providers.is_empty() {
        bail!(
            "`providers`: no provider is configured; add a [[providers]] table (kind = \"openai\", \"anthropic\", \"gemini\" or \"demo\")"
        );
    }
    let mut providers = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in file.providers.into_iter().enumerate() {
        let at = format!("providers[{i}] (`{}`)", p.name);
        if p.name.trim().is_empty() {
            bail!("providers[{i}].name must not be empty");
        }
        if !names.insert(p.name.clone()) {
            bail!("{at}: a provider with this name is already declared");
        }
        let base_url = match (p.kind, p.base_url) {
            (ProviderKind::Openai, None) => bail!(
                "{at}.base_url is required for kind `openai` (e.g. https://api.openai.com/v1)"
            ),
            (ProviderKind::Anthropic, None) => "https://api.anthropic.com/v1".to_owned(),
            (ProviderKind::Gemini, None) => {
                "https://generativelanguage.googleapis.com/v1beta".to_owned()
            }
            (ProviderKind::Openai | ProviderKind::Anthropic | ProviderKind::Gemini, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("{at}.base_url must start with http:// or https://");
                }
                url
            }
            (ProviderKind::Demo, url) => url.unwrap_or_default(),
        };
        let api_key = match p.api_key_env {
            Some(var) => match env.get(&var) {
                Some(value) if !value.is_empty() => Some(Secret::new(value.clone())),
                _ => bail!("{at}.api_key_env: the environment variable `{var}` is not set"),
            },
            None => None,
        };
        let timeouts = Timeouts {
            connect: ms(p.connect_timeout_ms.unwrap_or(file.timeouts.connect_ms)),
            first_byte: ms(p
                .first_byte_timeout_ms
                .unwrap_or(file.timeouts.first_byte_ms)),
            total: ms(p.total_timeout_ms.unwrap_or(file.timeouts.total_ms)),
        };
        providers.push(Provider {
            name: p.name,
            kind: p.kind,
            base_url,
            api_key,
            jurisdiction: p.jurisdiction.unwrap_or_else(|| "unspecified".into()),
            timeouts,
        });
    }
    let mut models = Vec::new();
    let mut model_names = HashSet::new();
    for (i, m) in file.models.into_iter().enumerate() {
        let at = format!("models[{i}] (`{}`)", m.name);
        if m.name.trim().is_empty() {
            bail!("models[{i}].name must not be empty");
        }
        if !model_names.insert(m.name.clone()) {
            bail!("{at}: a model with this name is already declared");
        }
        if !names.contains(&m.provider) {
            bail!("{at}.provider: there is no provider named `{}`", m.provider);
        }
        let kind = m.kind.unwrap_or(ModelKind::Chat);
        let input = m.input_usd_per_mtok.0;
        let output = match (kind, m.output_usd_per_mtok) {
            (_, Some(price)) => price.0,
            (ModelKind::Embedding, None) => Nanos::ZERO,
            (ModelKind::Chat, None) => {
                bail!("{at}.output_usd_per_mtok is required for a chat model")
            }
        };
        models.push(Model {
            upstream_model: m.upstream_model.unwrap_or_else(|| m.name.clone()),
            name: m.name,
            provider: m.provider,
            kind,
            prices: Prices {
                input,
                output,
                cached_input: m.cached_input_usd_per_mtok.map_or(input, |p| p.0),
                reasoning: m.reasoning_usd_per_mtok.map(|p| p.0),
                image: m.image_usd.map_or(Nanos::ZERO, |p| p.0),
                per_second: m.usd_per_second.map_or(Nanos::ZERO, |p| p.0),
            },
            created: 1_735_689_600,
        });
    }
    Ok(Config {
        listen,
        database_url,
        data_dir,
        redis_url: file.redis_url,
        max_body_bytes: file.server.max_body_bytes,
        max_response_bytes: file.server.max_response_bytes,
        shutdown_grace: ms(file.server.shutdown_grace_ms),
        snapshot_refresh: ms(file.server.snapshot_refresh_ms.max(50)),
        log_batch_size: file.log.batch_size.max(1),
        log_flush_interval: ms(file.log.flush_ms),
        log_queue: file.log.queue.max(1),
        demo_word_delay: ms(file.demo.word_delay_ms),
        stripe: stripe(file.stripe, env)?,
        billing: billing(&file.billing, &providers, ms(file.log.flush_ms))?,
        promotions: promotions(&file.promotions)?,
        invoices: invoices(file.invoices)?,
        pricing: pricing(file.pricing)?,
        providers,
        models,
    })
}

fn promotions(
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

fn pricing(section: PricingSection) -> anyhow::Result<switchyard_core::pricing::PriceGroups> {
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

fn invoices(section: InvoicesSection) -> anyhow::Result<switchyard_server::invoice_pdf::Settings> {
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

fn billing(
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
    if cluster_grace <= flush + refresh {
        bail!(
            "`billing.cluster_grace_ms` ({} ms) must be longer than `log.flush_ms` plus `billing.refresh_ms` ({} ms): a reservation must count in Redis until every replica's balance shows it",
            cluster_grace.as_millis(),
            (flush + refresh).as_millis()
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
    })
}

fn stripe(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(toml: Option<&str>, env: &[(&str, &str)]) -> Sources {
        Sources {
            file: toml.map(|t| (PathBuf::from("test.toml"), t.to_owned())),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    const OPENAI: &str = r#"
listen = "127.0.0.1:9000"
database_url = "sqlite://x.db"
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
jurisdiction = "US"
[[models]]
name = "gpt-4o-mini"
provider = "openai"
upstream_model = "gpt-4o-mini-2024-07-18"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
"#;

    #[test]
    fn embedded_default_serves_the_demo_models() {
        let config = load(&sources(None, &[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url,
            "sqlite://switchyard-data/switchyard.db"
        );
        let names: Vec<_> = config.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["demo-chat", "demo-embed"]);
        assert_eq!(config.models[1].kind, ModelKind::Embedding);
    }

    #[test]
    fn reads_the_operators_contract() {
        let config = load(&sources(Some(OPENAI), &[("OPENAI_API_KEY", "sk-x")])).unwrap();
        assert_eq!(config.listen.port(), 9000);
        let model = &config.models[0];
        assert_eq!(model.upstream_model, "gpt-4o-mini-2024-07-18");
        assert_eq!(model.prices.input, Nanos(150_000_000));
        assert_eq!(model.prices.output, Nanos(600_000_000));
        assert_eq!(model.prices.cached_input, Nanos(150_000_000));
        assert_eq!(
            config.providers[0].api_key.as_ref().unwrap().expose(),
            "sk-x"
        );
    }

    #[test]
    fn environment_overrides_keys() {
        let config = load(&sources(
            Some(OPENAI),
            &[
                ("OPENAI_API_KEY", "sk-x"),
                ("SWITCHYARD_LISTEN", "0.0.0.0:7000"),
                ("SWITCHYARD_SERVER_MAX_BODY_BYTES", "1024"),
                ("SWITCHYARD_TIMEOUTS_CONNECT_MS", "250"),
                ("DATABASE_URL", "postgres://u@h/db"),
                ("SWITCHYARD_SECRET_KEY", "not a config key"),
                ("SWITCHYARD_BIN", "/usr/local/bin/switchyard"),
                ("SWITCHYARD_PORT", "9000"),
            ],
        ))
        .unwrap();
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.max_body_bytes, 1024);
        assert_eq!(
            config.providers[0].timeouts.connect,
            Duration::from_millis(250)
        );
        assert_eq!(config.database_url, "postgres://u@h/db");
        let config = load(&sources(
            Some(OPENAI),
            &[
                ("OPENAI_API_KEY", "k"),
                ("DATABASE_URL", "postgres://a"),
                ("SWITCHYARD_DATABASE_URL", "postgres://b"),
            ],
        ))
        .unwrap();
        assert_eq!(
            config.database_url, "postgres://b",
            "the specific variable wins"
        );
    }

    #[test]
    fn the_shipped_example_loads() {
        let example = include_str!("../../../switchyard.example.toml");
        let keys = [
            ("OPENAI_API_KEY", "sk-x"),
            ("ANTHROPIC_API_KEY", "sk-ant-x"),
            ("GEMINI_API_KEY", "g-x"),
        ];
        let config = load(&sources(Some(example), &keys)).unwrap();
        assert_eq!(config.providers.len(), 5);
        assert_eq!(config.models.len(), 6);
        assert_eq!(config.models[0].prices.cached_input, Nanos(75_000_000));
        assert_eq!(
            config.providers[2].base_url, "https://api.anthropic.com/v1",
            "a documented default"
        );
        assert_eq!(config.providers[3].kind, ProviderKind::Gemini);
        assert_eq!(
            config.models[4].upstream_model,
            "meta-llama/Llama-3.1-8B-Instruct"
        );
    }

    #[test]
    fn price_groups_and_the_new_prices_are_read_and_checked() {
        let key = [("OPENAI_API_KEY", "k")];
        let config = load(&sources(Some(OPENAI), &key)).unwrap();
        assert_eq!(
            config.pricing.markup_bps(None),
            0,
            "the built-in default group"
        );
        assert_eq!(config.models[0].prices.reasoning, None);
        let with = OPENAI.replace(
            "output_usd_per_mtok = 0.60",
            "output_usd_per_mtok = 0.60\nreasoning_usd_per_mtok = 2.5\nimage_usd = 0.04\nusd_per_second = 0.0001",
        ) + "\n[pricing]\ndefault_group = \"retail\"\n[[pricing.groups]]\nname = \"retail\"\nmarkup_bps = 2500\n";
        let config = load(&sources(Some(&with), &key)).unwrap();
        let prices = config.models[0].prices;
        assert_eq!(prices.reasoning, Some(Nanos(2_500_000_000)));
        assert_eq!(prices.image, Nanos(40_000_000));
        assert_eq!(prices.per_second, Nanos(100_000));
        assert_eq!(config.pricing.markup_bps(None), 2_500);
        assert_eq!(config.pricing.markup_bps(Some("default")), 0);
        let env = [key[0], ("SWITCHYARD_PRICING_DEFAULT_GROUP", "default")];
        assert_eq!(
            load(&sources(Some(&with), &env))
                .unwrap()
                .pricing
                .markup_bps(None),
            0
        );
        let unknown = format!("{OPENAI}\n[pricing]\ndefault_group = \"vip\"\n");
        let e = error(&unknown, &key);
        assert!(
            e.contains("pricing.default_group") && e.contains("`vip`"),
            "{e}"
        );
        let twice = format!(
            "{OPENAI}\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 1\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 2\n"
        );
        assert!(error(&twice, &key).contains("already declared"));
        let huge = format!("{OPENAI}\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 2000000\n");
        assert!(error(&huge, &key).contains("basis points"));
    }

    #[test]
    fn the_invoices_section_is_optional_and_checks_its_prefix() {
        let key = ("OPENAI_API_KEY", "sk-x");
        let config = load(&sources(Some(OPENAI), &[key])).unwrap();
        assert_eq!(config.invoices.number_prefix, "SY-");
        assert_eq!(config.invoices.seller_name, "");
        let with = format!(
            "{OPENAI}\n[invoices]\nseller_name = \"Acme AI\"\nseller_address = \"1 Main St\\nSpringfield\"\n\
             seller_vat_id = \"DE123456789\"\nnumber_prefix = \"ACME-\"\n"
        );
        let invoices = load(&sources(Some(&with), &[key])).unwrap().invoices;
        assert_eq!(invoices.seller_name, "Acme AI");
        assert_eq!(invoices.seller_address, "1 Main St\nSpringfield");
        assert_eq!(invoices.seller_vat_id, "DE123456789");
        assert_eq!(invoices.invoice_name(7), "ACME-000007");
        let env = [key, ("SWITCHYARD_INVOICES_NUMBER_PREFIX", "INV-")];
        let overridden = load(&sources(Some(OPENAI), &env)).unwrap().invoices;
        assert_eq!(overridden.number_prefix, "INV-");
        let bad = format!("{OPENAI}\n[invoices]\nnumber_prefix = \"a b\"\n");
        let e = load(&sources(Some(&bad), &[key])).unwrap_err().to_string();
        assert!(e.contains("invoices.number_prefix"), "{e}");
    }

    #[test]
    fn the_stripe_section_is_optional_and_names_its_secrets_by_variable() {
        let env = [("OPENAI_API_KEY", "k")];
        assert!(load(&sources(Some(OPENAI), &env)).unwrap().stripe.is_none());
        let with = format!(
            "{OPENAI}\n[stripe]\nsecret_key_env = \"SK\"\nwebhook_secret_env = \"WH, WH_OLD\"\n\
             success_url = \"https://x/ok\"\ncancel_url = \"https://x/no\"\n"
        );
        let env = [
            ("OPENAI_API_KEY", "k"),
            ("SK", "sk_test_1"),
            ("WH", "whsec_new"),
            ("WH_OLD", "whsec_a,whsec_b"),
            ("SWITCHYARD_STRIPE_MAX_TOP_UP_USD", "250.50"),
        ];
        let stripe = load(&sources(Some(&with), &env)).unwrap().stripe.unwrap();
        assert_eq!(stripe.api_base, "https://api.stripe.com");
        assert_eq!(stripe.secret_key.expose(), "sk_test_1");
        let secrets: Vec<_> = stripe.webhook_secrets.iter().map(|s| s.expose()).collect();
        assert_eq!(secrets, ["whsec_new", "whsec_a", "whsec_b"]);
        assert_eq!(stripe.min_top_up, Nanos::from_usd(5));
        assert_eq!(stripe.max_top_up, Nanos(250_500_000_000));
        let e = error(&with, &env[..3]);
        assert!(e.contains("`WH_OLD` is not set"), "{e}");
        let e = error(&with.replace("https://x/ok", "x/ok"), &env);
        assert!(e.contains("stripe.success_url"), "{e}");
        let e = error(&format!("{with}min_top_up_usd = 0.001\n"), &env);
        assert!(e.contains("whole cents"), "{e}");
    }

    fn error(toml: &str, env: &[(&str, &str)]) -> String {
        format!("{:#}", load(&sources(Some(toml), env)).unwrap_err())
    }

    #[test]
    fn the_cluster_grace_outlasts_a_flush_and_a_refresh() {
        let demo = "[[providers]]\nname=\"d\"\nkind=\"demo\"\n";
        let config = load(&sources(Some(demo), &[])).unwrap();
        assert_eq!(config.billing.cluster_grace, Duration::from_secs(10));
        let e = error(&format!("[billing]\ncluster_grace_ms = 1000\n{demo}"), &[]);
        assert!(
            e.contains("cluster_grace_ms") && e.contains("1200 ms"),
            "{e}"
        );
    }

    #[test]
    fn promotions_are_off_by_default_and_read_exactly() {
        let env = [("OPENAI_API_KEY", "sk-x")];
        let config = load(&sources(Some(OPENAI), &env)).unwrap();
        assert_eq!(config.promotions.new_user_credit, Nanos::ZERO);
        assert_eq!(config.promotions.referral_percent, 0);
        let with = format!("{OPENAI}[promotions]\nnew_user_credit_usd = \"2.5\"\n");
        let env = [
            ("OPENAI_API_KEY", "sk-x"),
            ("SWITCHYARD_PROMOTIONS_REFERRAL_PERCENT", "10"),
        ];
        let config = load(&sources(Some(&with), &env)).unwrap();
        assert_eq!(
            config.promotions.new_user_credit,
            Nanos::from_usd_str("2.5").unwrap()
        );
        assert_eq!(config.promotions.referral_percent, 10);
        let too_much = [
            ("OPENAI_API_KEY", "sk-x"),
            ("SWITCHYARD_PROMOTIONS_REFERRAL_PERCENT", "101"),
        ];
        let error = load(&sources(Some(OPENAI), &too_much)).unwrap_err();
        assert!(error.to_string().contains("promotions.referral_percent"));
    }

    #[test]
    fn errors_name_the_key_and_the_problem() {
        assert!(error(OPENAI, &[]).contains("OPENAI_API_KEY` is not set"));
        let e = error(
            &OPENAI.replace("kind = \"openai\"", "kind = \"bogus\""),
            &[("OPENAI_API_KEY", "k")],
        );
        assert!(
            e.contains("providers[0].kind") && e.contains("bogus"),
            "{e}"
        );
        let e = error(
            &OPENAI.replace("provider = \"openai\"", "provider = \"nope\""),
            &[("OPENAI_API_KEY", "k")],
        );
        assert!(e.contains("no provider named `nope`"), "{e}");
        let e = error(
            &OPENAI.replace("input_usd_per_mtok = 0.15", "input_usd_per_mtok = \"abc\""),
            &[("OPENAI_API_KEY", "k")],
        );
        assert!(e.contains("models[0].input_usd_per_mtok"), "{e}");
        let e = error(
            &format!("typo_key = 1\n{OPENAI}"),
            &[("OPENAI_API_KEY", "k")],
        );
        assert!(e.contains("typo_key"), "{e}");
        let e = error(
            OPENAI,
            &[
                ("OPENAI_API_KEY", "k"),
                ("SWITCHYARD_SERVER_MAX_BODY_BYTES", "lots"),
            ],
        );
        assert!(
            e.contains("server.max_body_bytes") && e.contains("SWITCHYARD_SERVER_MAX_BODY_BYTES"),
            "{e}"
        );
        let e = error(
            OPENAI,
            &[
                ("OPENAI_API_KEY", "k"),
                ("SWITCHYARD_SERVER_MAX_BODDY_BYTES", "1"),
            ],
        );
        assert!(
            e.contains("max_boddy_bytes") && e.contains("SWITCHYARD_SERVER_MAX_BODDY_BYTES"),
            "a misspelt key in a known section is an error: {e}"
        );
        let e = error(
            "listen = \"nope\"\n[[providers]]\nname=\"d\"\nkind=\"demo\"",
            &[],
        );
        assert!(e.contains("`listen`"), "{e}");
        let e = error("[[providers]]\nname=\"d\"\nkind=\"openai\"", &[]);
        assert!(e.contains("base_url is required"), "{e}");
        let e = error("listen = ", &[]);
        assert!(e.contains("test.toml"), "{e}");
    }
}
