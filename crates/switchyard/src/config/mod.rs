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
use switchyard_core::catalog::{Model, Provider, ProviderKind, Timeouts};
use switchyard_core::routing::{DataPractice, parse_jurisdiction};

mod accounts;
mod money;
mod privacy;
mod retention;
mod routing;
#[cfg(test)]
mod tests;

pub use money::Billing;
use money::{
    BillingSection, InvoicesSection, PricingSection, PromotionsSection, StripeSection, billing,
    invoices, pricing, promotions, stripe,
};
pub use retention::Retention;
use retention::{RetentionSection, TermsSection};
use routing::{ModelSection, RoutingSection};

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
    "routing",
    "sessions",
    "smtp",
    "retention",
    "terms",
    "privacy",
];
/// Top-level keys that can be overridden as `SWITCHYARD_<KEY>`. Any other `SWITCHYARD_*`
/// variable that names no section (`SWITCHYARD_BIN` of a benchmark script, say) is not ours and
/// is left alone; a misspelt key inside a known section is still an error.
const TOP_LEVEL: &[&str] = &[
    "listen",
    "database_url",
    "data_dir",
    "redis_url",
    "master_keys_file",
];
/// `SWITCHYARD_*` variables that are not configuration keys.
const NOT_KEYS: &[&str] = &[
    "SWITCHYARD_CONFIG",
    "SWITCHYARD_SECRET_KEY",
    "SWITCHYARD_MASTER_KEYS",
    "SWITCHYARD_LOG",
    "SWITCHYARD_LOG_FORMAT",
];

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// The master keys that seal provider credentials, when `SWITCHYARD_MASTER_KEYS` is unset
    /// (default `<data_dir>/master.keys`; see `crate::secrets`).
    pub master_keys_file: PathBuf,
    pub redis_url: Option<String>,
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    /// How long SIGTERM waits for in-flight requests before closing them.
    pub shutdown_grace: Duration,
    /// How long SIGTERM keeps accepting requests with `/readyz` already failing, so load
    /// balancers take the node out before it stops listening.
    pub shutdown_delay: Duration,
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
    /// Retries, circuit breaking and the retry budget (`[routing]`).
    pub routing: switchyard_gateway::routing::RoutingConfig,
    pub providers: Vec<Provider>,
    pub models: Vec<Model>,
    /// `[timeouts]`: the deadlines of providers that set none, including those an operator
    /// adds through the management API.
    pub timeouts: Timeouts,
    /// Browser sessions, sign-in throttling and where links point (`[sessions]`,
    /// `server.public_url`).
    pub sessions: switchyard_server::auth::Settings,
    /// Outgoing mail (`[smtp]`); `None` writes links to the log instead.
    pub smtp: Option<switchyard_server::mail::SmtpSettings>,
    /// OpenID Connect providers people may sign in with (`[[oidc]]`).
    pub oidc: Vec<switchyard_server::auth::oidc::Provider>,
    /// How long each class of data is kept, and how often the purge runs (`[retention]`).
    pub retention: Retention,
    /// Days a new terms or privacy version is announced before it takes effect (`[terms]`).
    pub terms_notice_days: i64,
    /// Whether any key may capture prompts and completions (`privacy.content_logging`).
    pub content_logging: switchyard_core::content::ContentLogging,
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
    master_keys_file: Option<String>,
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
    routing: RoutingSection,
    #[serde(default)]
    retention: RetentionSection,
    #[serde(default)]
    terms: TermsSection,
    #[serde(default)]
    models: Vec<ModelSection>,
    #[serde(default)]
    sessions: accounts::SessionsSection,
    #[serde(default)]
    smtp: Option<accounts::SmtpSection>,
    #[serde(default)]
    oidc: Vec<accounts::OidcSection>,
    #[serde(default)]
    privacy: privacy::PrivacySection,
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
    shutdown_delay_ms: u64,
    snapshot_refresh_ms: u64,
    /// Where people reach this server (links in emails; `https` makes the cookie `Secure`).
    public_url: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            max_body_bytes: 8 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            shutdown_grace_ms: 30_000,
            shutdown_delay_ms: 0,
            snapshot_refresh_ms: 1_000,
            public_url: None,
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
            batch_size: 2_048,
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
    /// Whether the provider keeps prompts after answering; unset: not declared.
    #[serde(default)]
    retains_prompts: Option<bool>,
    /// Whether the provider may train on prompts; unset: not declared.
    #[serde(default)]
    trains_on_prompts: Option<bool>,
    /// A zero-data-retention agreement covers this provider.
    #[serde(default)]
    zdr: bool,
    #[serde(default)]
    connect_timeout_ms: Option<u64>,
    #[serde(default)]
    first_byte_timeout_ms: Option<u64>,
    #[serde(default)]
    total_timeout_ms: Option<u64>,
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
        let jurisdiction = match p.jurisdiction.as_deref() {
            None => "unspecified".to_owned(),
            Some("local") => "local".to_owned(),
            Some(text) => parse_jurisdiction(text).map_err(|e| {
                anyhow::anyhow!("{at}.jurisdiction: {e}, or `local` for an in-process provider")
            })?,
        };
        if p.zdr && p.retains_prompts == Some(true) {
            bail!("{at}: `zdr = true` contradicts `retains_prompts = true`");
        }
        providers.push(Provider {
            name: p.name,
            kind: p.kind,
            base_url,
            api_key,
            jurisdiction,
            data: DataPractice {
                retains_prompts: if p.zdr {
                    Some(false)
                } else {
                    p.retains_prompts
                },
                trains_on_prompts: p.trains_on_prompts,
                zdr: p.zdr,
            },
            timeouts,
        });
    }
    let models = routing::models(file.models, &names)?;
    Ok(Config {
        listen,
        database_url,
        master_keys_file: file
            .master_keys_file
            .map_or_else(|| data_dir.join("master.keys"), PathBuf::from),
        data_dir,
        redis_url: file.redis_url,
        max_body_bytes: file.server.max_body_bytes,
        max_response_bytes: file.server.max_response_bytes,
        shutdown_grace: ms(file.server.shutdown_grace_ms),
        shutdown_delay: ms(file.server.shutdown_delay_ms),
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
        routing: routing::routing(&file.routing)?,
        sessions: accounts::sessions(&file.sessions, file.server.public_url.as_deref())?,
        smtp: accounts::smtp(file.smtp, env)?,
        oidc: accounts::oidc(file.oidc, env)?,
        retention: retention::retention(&file.retention)?,
        terms_notice_days: retention::notice_days(&file.terms)?,
        content_logging: file.privacy.content_logging(),
        timeouts: Timeouts {
            connect: ms(file.timeouts.connect_ms),
            first_byte: ms(file.timeouts.first_byte_ms),
            total: ms(file.timeouts.total_ms),
        },
        providers,
        models,
    })
}
