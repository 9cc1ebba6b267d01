//! `[[models]]` with their channels and aliases, and `[routing]`: how requests find a channel.
//!
//! A model is served by one channel (`provider` and `upstream_model` on the model itself) or by
//! several (`[[models.channels]]`), each with a weight and a priority, and optionally its own
//! prices when the provider charges differently through it.

use super::money::Usd;
use anyhow::bail;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::Duration;
use switchyard_core::catalog::{Channel, Model, ModelKind};
use switchyard_core::money::{Nanos, Prices};
use switchyard_gateway::routing::RoutingConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelSection {
    name: String,
    /// The single channel's provider (when `channels` is not given).
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    channels: Vec<ChannelSection>,
    #[serde(default)]
    kind: Option<ModelKind>,
    #[serde(default)]
    input_usd_per_mtok: Option<Usd>,
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

/// The price keys a model or a channel may set.
#[derive(Debug, Default)]
struct PriceFields {
    input_usd_per_mtok: Option<Usd>,
    output_usd_per_mtok: Option<Usd>,
    cached_input_usd_per_mtok: Option<Usd>,
    reasoning_usd_per_mtok: Option<Usd>,
    image_usd: Option<Usd>,
    usd_per_second: Option<Usd>,
}

macro_rules! price_fields {
    ($section:expr) => {
        PriceFields {
            input_usd_per_mtok: $section.input_usd_per_mtok,
            output_usd_per_mtok: $section.output_usd_per_mtok,
            cached_input_usd_per_mtok: $section.cached_input_usd_per_mtok,
            reasoning_usd_per_mtok: $section.reasoning_usd_per_mtok,
            image_usd: $section.image_usd,
            usd_per_second: $section.usd_per_second,
        }
    };
}

impl PriceFields {
    fn is_empty(&self) -> bool {
        self.input_usd_per_mtok.is_none()
            && self.output_usd_per_mtok.is_none()
            && self.cached_input_usd_per_mtok.is_none()
            && self.reasoning_usd_per_mtok.is_none()
            && self.image_usd.is_none()
            && self.usd_per_second.is_none()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSection {
    /// Unique within the model; defaults to the provider's name.
    #[serde(default)]
    name: Option<String>,
    provider: String,
    /// Defaults to the model's `upstream_model`, else its name.
    #[serde(default)]
    upstream_model: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    priority: i32,
    /// This channel's deadlines, when they differ from its provider's.
    #[serde(default)]
    first_byte_timeout_ms: Option<u64>,
    #[serde(default)]
    total_timeout_ms: Option<u64>,
    // Prices through this channel, each defaulting to the model's.
    #[serde(default)]
    input_usd_per_mtok: Option<Usd>,
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

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RoutingSection {
    max_attempts: u32,
    failure_threshold: u32,
    eject_ms: u64,
    eject_max_ms: u64,
    retry_budget_percent: u32,
    retry_budget_floor: u32,
    max_retry_after_ms: u64,
}

impl Default for RoutingSection {
    fn default() -> Self {
        let d = RoutingConfig::default();
        RoutingSection {
            max_attempts: d.max_attempts,
            failure_threshold: d.failure_threshold,
            eject_ms: d.eject_base.as_millis() as u64,
            eject_max_ms: d.eject_max.as_millis() as u64,
            retry_budget_percent: d.retry_percent,
            retry_budget_floor: d.retry_floor,
            max_retry_after_ms: d.max_cooling.as_millis() as u64,
        }
    }
}

pub(super) fn routing(section: &RoutingSection) -> anyhow::Result<RoutingConfig> {
    if section.max_attempts == 0 {
        bail!("`routing.max_attempts` must be at least 1 (the first attempt)");
    }
    if section.failure_threshold == 0 {
        bail!("`routing.failure_threshold` must be at least 1");
    }
    if section.eject_ms == 0 || section.eject_max_ms < section.eject_ms {
        bail!("`routing.eject_ms` must be positive and at most `routing.eject_max_ms`");
    }
    if section.retry_budget_percent > 100 {
        bail!("`routing.retry_budget_percent` is a percentage of requests: 0 to 100");
    }
    Ok(RoutingConfig {
        max_attempts: section.max_attempts,
        failure_threshold: section.failure_threshold,
        eject_base: Duration::from_millis(section.eject_ms),
        eject_max: Duration::from_millis(section.eject_max_ms),
        retry_percent: section.retry_budget_percent,
        retry_floor: section.retry_budget_floor,
        max_cooling: Duration::from_millis(section.max_retry_after_ms),
    })
}

/// Validates the models: unique names and aliases, known providers, prices, channels.
pub(super) fn models(
    sections: Vec<ModelSection>,
    providers: &HashSet<String>,
) -> anyhow::Result<Vec<Model>> {
    let mut models = Vec::new();
    let mut taken = HashSet::new();
    for (i, m) in sections.into_iter().enumerate() {
        let at = format!("models[{i}] (`{}`)", m.name);
        if m.name.trim().is_empty() {
            bail!("models[{i}].name must not be empty");
        }
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            if name.trim().is_empty() {
                bail!("{at}.aliases must not contain an empty name");
            }
            if !taken.insert(name.clone()) {
                bail!("{at}: the name `{name}` is already used by a model or an alias");
            }
        }
        let kind = m.kind.unwrap_or(ModelKind::Chat);
        let model_prices = price_fields!(m);
        let input = model_prices
            .input_usd_per_mtok
            .ok_or_else(|| anyhow::anyhow!("{at}.input_usd_per_mtok is required"))?
            .0;
        let output = match (kind, model_prices.output_usd_per_mtok) {
            (_, Some(price)) => price.0,
            (ModelKind::Embedding, None) => Nanos::ZERO,
            (ModelKind::Chat, None) => {
                bail!("{at}.output_usd_per_mtok is required for a chat model")
            }
        };
        let prices = Prices {
            input,
            output,
            cached_input: model_prices
                .cached_input_usd_per_mtok
                .map_or(input, |p| p.0),
            reasoning: model_prices.reasoning_usd_per_mtok.map(|p| p.0),
            image: model_prices.image_usd.map_or(Nanos::ZERO, |p| p.0),
            per_second: model_prices.usd_per_second.map_or(Nanos::ZERO, |p| p.0),
        };
        let default_upstream = m.upstream_model.clone().unwrap_or_else(|| m.name.clone());
        let channels = match (m.provider, m.channels.is_empty()) {
            (Some(_), false) => {
                bail!(
                    "{at}: give either `provider` (one channel) or `[[models.channels]]`, not both"
                )
            }
            (None, true) => bail!(
                "{at}: no provider; set `provider`, or list channels in `[[models.channels]]`"
            ),
            (Some(provider), true) => {
                if !providers.contains(&provider) {
                    bail!("{at}.provider: there is no provider named `{provider}`");
                }
                vec![Channel {
                    name: provider.clone(),
                    provider,
                    upstream_model: default_upstream,
                    weight: 1,
                    priority: 0,
                    prices: None,
                    first_byte_timeout: None,
                    total_timeout: None,
                }]
            }
            (None, false) => channels(&at, m.channels, providers, &default_upstream, &prices)?,
        };
        models.push(Model {
            name: m.name,
            aliases: m.aliases,
            channels,
            kind,
            prices,
            created: 1_735_689_600,
        });
    }
    Ok(models)
}

fn channels(
    at: &str,
    sections: Vec<ChannelSection>,
    providers: &HashSet<String>,
    default_upstream: &str,
    model_prices: &Prices,
) -> anyhow::Result<Vec<Channel>> {
    let mut out: Vec<Channel> = Vec::new();
    for (j, c) in sections.into_iter().enumerate() {
        let at = format!("{at}.channels[{j}]");
        if !providers.contains(&c.provider) {
            bail!("{at}.provider: there is no provider named `{}`", c.provider);
        }
        if c.first_byte_timeout_ms == Some(0) || c.total_timeout_ms == Some(0) {
            bail!("{at}: a timeout must be positive");
        }
        if c.weight == 0 {
            bail!("{at}.weight must be at least 1 (remove the channel to stop using it)");
        }
        let name = match c.name {
            Some(name) if name.trim().is_empty() => bail!("{at}.name must not be empty"),
            Some(name) => name,
            // A provider serving the model twice gets `provider-2`, `provider-3`…
            None => {
                let mut name = c.provider.clone();
                let mut n = 1;
                while out.iter().any(|o| o.name == name) {
                    n += 1;
                    name = format!("{}-{n}", c.provider);
                }
                name
            }
        };
        if out.iter().any(|o| o.name == name) {
            bail!("{at}.name: the model already has a channel named `{name}`");
        }
        let p = price_fields!(c);
        let prices = (!p.is_empty()).then(|| {
            let input = p.input_usd_per_mtok.map_or(model_prices.input, |u| u.0);
            Prices {
                input,
                output: p.output_usd_per_mtok.map_or(model_prices.output, |u| u.0),
                cached_input: p.cached_input_usd_per_mtok.map_or(
                    if p.input_usd_per_mtok.is_some() {
                        input
                    } else {
                        model_prices.cached_input
                    },
                    |u| u.0,
                ),
                reasoning: p
                    .reasoning_usd_per_mtok
                    .map(|u| u.0)
                    .or(model_prices.reasoning),
                image: p.image_usd.map_or(model_prices.image, |u| u.0),
                per_second: p.usd_per_second.map_or(model_prices.per_second, |u| u.0),
            }
        });
        out.push(Channel {
            name,
            upstream_model: c
                .upstream_model
                .unwrap_or_else(|| default_upstream.to_owned()),
            provider: c.provider,
            weight: c.weight,
            priority: c.priority,
            prices,
            first_byte_timeout: c.first_byte_timeout_ms.map(Duration::from_millis),
            total_timeout: c.total_timeout_ms.map(Duration::from_millis),
        });
    }
    Ok(out)
}
