//! The in-memory snapshot the hot path reads instead of the database.
//!
//! Two halves, each swapped whole through an `ArcSwap` so a request never sees half a change:
//! the [`Catalog`] (providers, models and their channels, from configuration) and the [`Access`] index (users
//! and keys, from the store). Readers pay one atomic load; writers build a new value aside.

use crate::routing::{Health, RetryBudget, RoutingConfig};
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{Channel, KeyRecord, Model, Provider, User};
use switchyard_core::key::KeyHash;
use switchyard_core::money::Prices;
use switchyard_core::pricing::PriceGroups;
use switchyard_store::Access as StoredAccess;

/// A provider with its ready client.
#[derive(Debug)]
pub struct ProviderEntry {
    pub provider: Provider,
    pub upstream: Upstream,
}

/// One channel of a model: the provider that serves it, under which name, at which prices,
/// and how it has been doing.
#[derive(Debug)]
pub struct ChannelEntry {
    pub channel: Channel,
    pub provider: Arc<ProviderEntry>,
    /// The provider's prices through this channel.
    pub prices: Prices,
    /// Kept across catalogue rebuilds (by model and channel name).
    pub health: Arc<Health>,
}

impl ChannelEntry {
    pub fn name(&self) -> &str {
        &self.channel.name
    }

    pub fn jurisdiction(&self) -> &str {
        &self.provider.provider.jurisdiction
    }
}

/// A model and where it is served.
#[derive(Debug)]
pub struct Route {
    pub model: Model,
    /// Never empty.
    pub channels: Vec<ChannelEntry>,
    /// The price groups this model is sold under (the catalog's, shared).
    pub groups: Arc<PriceGroups>,
    /// How many retries this model's requests may still make.
    pub retries: RetryBudget,
}

impl Route {
    /// The markup `user` pays on this model, in basis points.
    pub fn markup_bps(&self, user: &User) -> u32 {
        self.groups.markup_of(user)
    }

    /// The distinct jurisdictions this model is served in, in channel order.
    pub fn jurisdictions(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for entry in &self.channels {
            if !out.contains(&entry.jurisdiction()) {
                out.push(entry.jurisdiction());
            }
        }
        out
    }
}

/// Providers, models and their channels.
#[derive(Debug, Default)]
pub struct Catalog {
    /// By model name and by alias.
    routes: HashMap<String, Arc<Route>>,
    /// Model names in configuration order, for `/v1/models`.
    order: Vec<String>,
    providers: HashMap<String, Arc<ProviderEntry>>,
    groups: Arc<PriceGroups>,
    config: RoutingConfig,
}

impl Catalog {
    /// Builds clients for every provider. Fails with a message naming the provider.
    pub fn build(
        providers: Vec<Provider>,
        models: Vec<Model>,
        groups: PriceGroups,
        demo_word_delay: Duration,
        config: RoutingConfig,
    ) -> Result<Catalog, String> {
        let mut entries: HashMap<String, Arc<ProviderEntry>> = HashMap::new();
        for provider in providers {
            let upstream = Upstream::new(&provider, demo_word_delay)
                .map_err(|e| format!("provider `{}`: {e}", provider.name))?;
            entries.insert(
                provider.name.clone(),
                Arc::new(ProviderEntry { provider, upstream }),
            );
        }
        let mut catalog = Catalog {
            groups: Arc::new(groups),
            config,
            ..Catalog::default()
        };
        for model in models {
            if model.channels.is_empty() {
                return Err(format!("model `{}` has no channel", model.name));
            }
            let mut channels = Vec::with_capacity(model.channels.len());
            for channel in &model.channels {
                let provider = entries
                    .get(&channel.provider)
                    .ok_or_else(|| {
                        format!(
                            "model `{}`: no provider named `{}`",
                            model.name, channel.provider
                        )
                    })?
                    .clone();
                channels.push(ChannelEntry {
                    prices: model.prices_of(channel),
                    channel: channel.clone(),
                    provider,
                    health: Arc::new(Health::default()),
                });
            }
            let route = Arc::new(Route {
                channels,
                groups: catalog.groups.clone(),
                retries: RetryBudget::new(config.retry_percent, config.retry_floor),
                model,
            });
            catalog.order.push(route.model.name.clone());
            for name in std::iter::once(&route.model.name).chain(&route.model.aliases) {
                if catalog.routes.insert(name.clone(), route.clone()).is_some() {
                    return Err(format!("the model name or alias `{name}` is used twice"));
                }
            }
        }
        catalog.providers = entries;
        Ok(catalog)
    }

    /// The price groups users may be put in.
    pub fn price_groups(&self) -> &PriceGroups {
        &self.groups
    }

    pub fn routing(&self) -> &RoutingConfig {
        &self.config
    }

    /// A model by its name or an alias.
    pub fn route(&self, model: &str) -> Option<&Arc<Route>> {
        self.routes.get(model)
    }

    pub fn provider(&self, name: &str) -> Option<&Arc<ProviderEntry>> {
        self.providers.get(name)
    }

    /// Every route in configuration order.
    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.order.iter().filter_map(|name| self.routes.get(name))
    }
}

/// A key with its owner, as the hot path needs them together.
#[derive(Debug)]
pub struct Caller {
    pub key: KeyRecord,
    pub user: User,
}

/// Keys by keyed hash.
#[derive(Debug, Default)]
pub struct Access {
    by_hash: HashMap<KeyHash, Arc<Caller>>,
    /// The store's generation this index was built from.
    pub generation: i64,
}

impl Access {
    pub fn build(stored: StoredAccess, generation: i64) -> Access {
        let users: HashMap<_, _> = stored.users.into_iter().map(|u| (u.id, u)).collect();
        let by_hash = stored
            .keys
            .into_iter()
            .filter_map(|key| {
                let user = users.get(&key.user_id)?.clone();
                Some((key.hash, Arc::new(Caller { key, user })))
            })
            .collect();
        Access {
            by_hash,
            generation,
        }
    }

    pub fn lookup(&self, hash: &KeyHash) -> Option<&Arc<Caller>> {
        self.by_hash.get(hash)
    }
}
