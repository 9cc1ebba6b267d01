//! The operator's stored changes applied to the configured catalogue: channel overrides, and
//! providers and models of their own ([`Catalog::with_stored`]).

use super::{Catalog, ChannelEntry, DEFAULT_TIMEOUTS, ProviderEntry, Route};
use crate::routing::{Health, RetryBudget};
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{
    ChannelSetting, Model, Provider, StoredCatalog, StoredModel, StoredProvider, Timeouts,
};
use switchyard_core::credential::Keyring;

impl Catalog {
    /// The configured catalogue with `stored` (read at store `generation`) applied in place of
    /// anything applied before: channel overrides, then stored providers and models.
    ///
    /// Overrides: overridden weights and priorities, and without disabled channels. Every
    /// channel keeps its `Arc<Health>` and `Arc<ProviderEntry>`. A route whose channels come
    /// out as they are in `self` is reused whole, so models the change does not touch keep
    /// their retry budgets; a changed route starts with a fresh budget. Settings of models or
    /// channels that are not configured are ignored. If the settings disable every channel of
    /// a model (the management API refuses to, but two replicas may each disable one of the
    /// last two at once), its disables are ignored: a model keeps serving rather than failing
    /// every request while it is still configured.
    ///
    /// Stored providers and models are added beside the configured ones; a name the
    /// configuration also uses is skipped (the configuration wins: the API refuses such names,
    /// but the configuration may gain one later). An unchanged stored provider keeps its client
    /// and connection pool; a stored model keeps its route while neither it nor its providers
    /// changed, and each channel's health otherwise. A stored provider whose key cannot be
    /// opened (an unknown master key, an altered row) is kept but marked unusable, so its
    /// channels fail with an error naming it while other channels serve; a stored model naming
    /// an unknown provider is skipped. Both are logged.
    pub fn with_stored(
        self: &Arc<Catalog>,
        stored: StoredCatalog,
        generation: i64,
        key: &Keyring,
    ) -> Catalog {
        let base = self.base.clone().unwrap_or_else(|| self.clone());
        let mut catalog = Catalog {
            routes: HashMap::with_capacity(base.routes.len() + stored.models.len() * 2),
            order: base.order.clone(),
            providers: base.providers.clone(),
            provider_order: base.provider_order.clone(),
            provider_defaults: base.provider_defaults,
            groups: base.groups.clone(),
            config: base.config,
            base: None,
            stored: StoredCatalog::default(),
            generation,
        };
        let settings = &stored.settings;
        for configured in base.routes() {
            let model = configured.model.name.as_str();
            let setting = |channel: &ChannelEntry| {
                settings
                    .iter()
                    .find(|s| s.model == model && s.channel == channel.name())
            };
            let mut channels: Vec<ChannelEntry> = configured
                .channels
                .iter()
                .filter(|entry| setting(entry).is_none_or(|s| s.enabled))
                .map(|entry| entry.overridden(setting(entry)))
                .collect();
            if channels.is_empty() {
                tracing::warn!(
                    model,
                    "the channel settings disable every channel of the model; serving it on all of them"
                );
                channels = configured
                    .channels
                    .iter()
                    .map(|entry| entry.overridden(setting(entry)))
                    .collect();
            }
            let route = match self.routes.get(model) {
                Some(current) if same_channels(&current.channels, &channels) => current.clone(),
                _ => Arc::new(Route {
                    model: Model {
                        channels: channels.iter().map(|e| e.channel.clone()).collect(),
                        ..configured.model.clone()
                    },
                    channels,
                    groups: base.groups.clone(),
                    retries: RetryBudget::new(base.config.retry_percent, base.config.retry_floor),
                }),
            };
            for name in std::iter::once(&route.model.name).chain(&route.model.aliases) {
                catalog.routes.insert(name.clone(), route.clone());
            }
        }
        for record in &stored.providers {
            if let Some(entry) = self.stored_provider(record, &base, key) {
                catalog.provider_order.push(record.name.clone());
                catalog.providers.insert(record.name.clone(), entry);
            }
        }
        for record in &stored.models {
            if let Some(route) = self.stored_route(record, &catalog) {
                catalog.order.push(record.name.clone());
                for name in std::iter::once(&route.model.name).chain(&route.model.aliases) {
                    catalog.routes.insert(name.clone(), route.clone());
                }
            }
        }
        catalog.stored = stored;
        catalog.base = Some(base);
        catalog
    }

    /// The entry of a stored provider: this catalogue's own while its record is unchanged, else
    /// a new client. `None` when the configuration has the name or the client cannot be made.
    fn stored_provider(
        &self,
        record: &StoredProvider,
        base: &Catalog,
        key: &Keyring,
    ) -> Option<Arc<ProviderEntry>> {
        if base.providers.contains_key(&record.name) {
            tracing::warn!(
                provider = %record.name,
                "a stored provider has the name of a configured one; serving the configured one"
            );
            return None;
        }
        if self.stored.providers.iter().any(|p| p == record)
            && let Some(entry) = self.providers.get(&record.name)
        {
            return Some(entry.clone());
        }
        // Logged here, once per change of the record: an unchanged record reuses its entry.
        let opened = record
            .api_key_sealed
            .as_ref()
            .map(|sealed| key.open(&record.name, sealed))
            .transpose();
        let (api_key, unusable) = match opened {
            Ok(api_key) => (api_key, None),
            Err(e) => {
                tracing::error!(
                    provider = %record.name,
                    error = %e,
                    "the stored provider is unusable: its credential cannot be opened"
                );
                (None, Some(e.to_string()))
            }
        };
        let defaults = self.provider_defaults.unwrap_or(DEFAULT_TIMEOUTS);
        let ms = |v: Option<u64>, default| v.map_or(default, Duration::from_millis);
        let provider = Provider {
            name: record.name.clone(),
            kind: record.kind,
            base_url: record.base_url.clone(),
            api_key,
            jurisdiction: record.jurisdiction.clone(),
            data: record.data,
            timeouts: Timeouts {
                connect: ms(record.connect_timeout_ms, defaults.connect),
                first_byte: ms(record.first_byte_timeout_ms, defaults.first_byte),
                total: ms(record.total_timeout_ms, defaults.total),
            },
        };
        // Stored providers are remote kinds, which never use the demo's word delay.
        match Upstream::new(&provider, Duration::ZERO) {
            Ok(upstream) => Some(Arc::new(ProviderEntry {
                provider,
                upstream,
                unusable,
            })),
            Err(e) => {
                tracing::error!(provider = %record.name, error = %e, "skipping the stored provider");
                None
            }
        }
    }

    /// The route of a stored model in `catalog` (whose providers are final): this catalogue's
    /// own while neither the model nor its providers changed. `None` when a name or alias is
    /// taken, or a channel's provider is unknown.
    fn stored_route(&self, record: &StoredModel, catalog: &Catalog) -> Option<Arc<Route>> {
        let model = record.name.as_str();
        if let Some(taken) = std::iter::once(&record.name)
            .chain(&record.aliases)
            .find(|name| catalog.routes.contains_key(*name))
        {
            tracing::warn!(model, name = %taken, "skipping the stored model: its name is taken");
            return None;
        }
        let mut providers = Vec::with_capacity(record.channels.len());
        for channel in &record.channels {
            let Some(entry) = catalog.providers.get(&channel.provider) else {
                tracing::warn!(
                    model,
                    provider = %channel.provider,
                    "skipping the stored model: no such provider"
                );
                return None;
            };
            providers.push(entry.clone());
        }
        let current = self.routes.get(model);
        if let Some(current) = current {
            let unchanged = self.stored.models.iter().any(|m| m == record)
                && current.channels.len() == providers.len()
                && current
                    .channels
                    .iter()
                    .zip(&providers)
                    .all(|(c, p)| Arc::ptr_eq(&c.provider, p));
            if unchanged {
                return Some(current.clone());
            }
        }
        let model = record.to_model();
        let channels = model
            .channels
            .iter()
            .zip(providers)
            .map(|(channel, provider)| ChannelEntry {
                prices: model.prices_of(channel),
                // A channel keeps its health while it goes to the same provider client: a new
                // key or URL deserves a fresh start rather than the old key's ejection.
                health: current
                    .and_then(|r| {
                        r.channels.iter().find(|e| {
                            e.name() == channel.name && Arc::ptr_eq(&e.provider, &provider)
                        })
                    })
                    .map_or_else(|| Arc::new(Health::default()), |e| e.health.clone()),
                channel: channel.clone(),
                provider,
            })
            .collect();
        Some(Arc::new(Route {
            channels,
            groups: catalog.groups.clone(),
            retries: RetryBudget::new(catalog.config.retry_percent, catalog.config.retry_floor),
            model,
        }))
    }
}

impl ChannelEntry {
    /// This channel with `setting`'s weight and priority, sharing its provider and health.
    fn overridden(&self, setting: Option<&ChannelSetting>) -> ChannelEntry {
        let mut channel = self.channel.clone();
        if let Some(setting) = setting {
            channel.weight = setting.weight.unwrap_or(channel.weight);
            channel.priority = setting.priority.unwrap_or(channel.priority);
        }
        ChannelEntry {
            channel,
            provider: self.provider.clone(),
            prices: self.prices,
            health: self.health.clone(),
        }
    }
}

/// Whether two channel lists route alike: the same channels, in order, with the same weights
/// and priorities.
fn same_channels(a: &[ChannelEntry], b: &[ChannelEntry]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.name() == b.name()
                && a.channel.weight == b.channel.weight
                && a.channel.priority == b.channel.priority
        })
}
