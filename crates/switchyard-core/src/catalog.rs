//! What the platform serves and to whom: users, keys, providers and models.
//!
//! These records are loaded into the gateway's in-memory snapshot; the hot path reads only that.

use crate::key::KeyHash;
use crate::money::Prices;
use crate::routing::{DataPolicy, DataPractice};
use crate::secret::Secret;
use crate::{KeyId, UserId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Unix time in milliseconds. One integer type for time in every store keeps SQLite and
/// PostgreSQL identical and avoids time-zone bugs.
pub type UnixMillis = i64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: UnixMillis,
    /// The price group whose markup this user pays; `None` is the configured default group.
    pub price_group: Option<String>,
    /// Where this account's prompts may be processed (every key of it narrows further).
    pub data_policy: DataPolicy,
}

/// An API key as stored: never the secret, only its keyed hash and visible prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub user_id: UserId,
    pub name: String,
    pub visible_prefix: String,
    pub hash: KeyHash,
    pub created_at: UnixMillis,
    pub expires_at: Option<UnixMillis>,
    pub revoked_at: Option<UnixMillis>,
    /// Model names the key may use; `None` means every model.
    pub allowed_models: Option<Vec<String>>,
    /// Where this key's prompts may be processed, on top of its account's policy.
    pub data_policy: DataPolicy,
    /// The operator turned content logging on for this key. It captures only while the
    /// deployment allows it ([`crate::content::ContentLogging::captures`]).
    pub log_content: bool,
}

/// The wire protocol an upstream speaks. Closed: code branches on this, never on a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenAI-compatible HTTP API (OpenAI, DeepSeek, Mistral, OpenRouter, vLLM, Ollama…).
    Openai,
    /// Anthropic's Messages API (`x-api-key` and `anthropic-version`).
    Anthropic,
    /// Google's Gemini API (`generateContent`, `x-goog-api-key`).
    Gemini,
    /// The built-in offline provider: deterministic answers, no network.
    Demo,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
            ProviderKind::Demo => "demo",
        }
    }
}

/// Deadlines for one upstream exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to receiving the response head.
    pub first_byte: Duration,
    /// The whole exchange, including a streamed body.
    pub total: Duration,
}

#[derive(Clone, Debug)]
pub struct Provider {
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL including the version path, e.g. `https://api.openai.com/v1`,
    /// `https://api.anthropic.com/v1` or `https://generativelanguage.googleapis.com/v1beta`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Where the provider processes data: an ISO 3166 country code or `EU` (`unspecified` when
    /// the operator did not say, which no jurisdiction list admits).
    pub jurisdiction: String,
    /// What it declares about retaining and training on prompts.
    pub data: DataPractice,
    pub timeouts: Timeouts,
}

/// What a model does; decides which endpoints may call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Chat,
    Embedding,
}

/// One way of serving a model: a provider, the name it knows the model by, and how the
/// channel ranks among the model's others.
#[derive(Clone, Debug, PartialEq)]
pub struct Channel {
    /// Unique within the model; the provider's name unless the operator names it (or the
    /// provider serves the model twice).
    pub name: String,
    /// The name of the provider that serves it.
    pub provider: String,
    /// The name the provider knows the model by.
    pub upstream_model: String,
    /// Share of traffic among channels of the same priority (at equal latency).
    pub weight: u32,
    /// Higher goes first; lower priorities are fallbacks.
    pub priority: i32,
    /// What the provider charges through this channel, when it differs from the model's.
    pub prices: Option<Prices>,
    /// Deadlines of this channel when they differ from its provider's (the connect deadline
    /// belongs to the provider's connection pool).
    pub first_byte_timeout: Option<Duration>,
    pub total_timeout: Option<Duration>,
}

#[derive(Clone, Debug)]
pub struct Model {
    /// The name clients ask for.
    pub name: String,
    /// Other names clients may use (`fast` for a model, say).
    pub aliases: Vec<String>,
    /// Where it is served; never empty.
    pub channels: Vec<Channel>,
    pub kind: ModelKind,
    /// The provider's prices, unless a channel has its own.
    pub prices: Prices,
    /// Unix seconds, reported in `/v1/models`.
    pub created: i64,
}

impl Model {
    /// The prices charged through `channel`.
    pub fn prices_of(&self, channel: &Channel) -> Prices {
        channel.prices.unwrap_or(self.prices)
    }
}

/// An operator's override of one configured channel, set through the management API and kept
/// in the store: `None` keeps the configured weight or priority; a disabled channel serves
/// nothing until it is enabled again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSetting {
    /// The model's configured name (not an alias).
    pub model: String,
    pub channel: String,
    pub weight: Option<u32>,
    pub priority: Option<i32>,
    pub enabled: bool,
}

impl ChannelSetting {
    /// The setting that changes nothing.
    pub fn unchanged(model: &str, channel: &str) -> ChannelSetting {
        ChannelSetting {
            model: model.to_owned(),
            channel: channel.to_owned(),
            weight: None,
            priority: None,
            enabled: true,
        }
    }
}

/// A provider an operator added through the management API, as stored. Its credential stays
/// sealed (see [`crate::credential`]) until the gateway builds its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredProvider {
    pub name: String,
    /// Never [`ProviderKind::Demo`]: the API offers only remote kinds.
    pub kind: ProviderKind,
    pub base_url: String,
    /// The API key sealed under the credential key; `None` sends no key.
    pub api_key_sealed: Option<Vec<u8>>,
    /// The key's last four characters, for telling keys apart in lists.
    pub api_key_hint: Option<String>,
    /// An ISO 3166 code or `EU` (`unspecified` when the operator did not say).
    pub jurisdiction: String,
    pub data: DataPractice,
    /// Deadlines in milliseconds; `None` is the server's `[timeouts]` default.
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

/// One channel of a [`StoredModel`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChannel {
    /// Unique within the model.
    pub name: String,
    /// A configured or a stored provider.
    pub provider: String,
    pub upstream_model: String,
    pub weight: u32,
    pub priority: i32,
}

/// A model an operator added through the management API, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredModel {
    pub name: String,
    pub kind: ModelKind,
    pub aliases: Vec<String>,
    /// Never empty.
    pub channels: Vec<StoredChannel>,
    pub prices: Prices,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
}

impl StoredModel {
    /// The model as the gateway routes it.
    pub fn to_model(&self) -> Model {
        Model {
            name: self.name.clone(),
            aliases: self.aliases.clone(),
            channels: self
                .channels
                .iter()
                .map(|c| Channel {
                    name: c.name.clone(),
                    provider: c.provider.clone(),
                    upstream_model: c.upstream_model.clone(),
                    weight: c.weight,
                    priority: c.priority,
                    prices: None,
                    first_byte_timeout: None,
                    total_timeout: None,
                })
                .collect(),
            kind: self.kind,
            prices: self.prices,
            // `/v1/models` reports seconds.
            created: self.created_at.div_euclid(1000),
        }
    }
}

/// Everything the operator changed in the catalogue through the management API, read from the
/// store as one consistent set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredCatalog {
    /// Overrides of configured channels.
    pub settings: Vec<ChannelSetting>,
    /// Providers in creation order.
    pub providers: Vec<StoredProvider>,
    /// Models in creation order.
    pub models: Vec<StoredModel>,
}
