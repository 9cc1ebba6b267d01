//! The in-memory snapshot the hot path reads instead of the database.
//!
//! Two halves, each swapped whole through an `ArcSwap` so a request never sees half a change:
//! the [`Catalog`] (providers and models, from configuration) and the [`Access`] index (users
//! and keys, from the store). Readers pay one atomic load; writers build a new value aside.

use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{KeyRecord, Model, Provider, User};
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

/// A model and where it is served.
#[derive(Debug)]
pub struct Route {
    pub model: Model,
    pub provider: Arc<ProviderEntry>,
    /// The price groups this model is sold under (the catalog's, shared).
    pub groups: Arc<PriceGroups>,
}

impl Route {
    /// The markup `user` pays on this model, in basis points.
    pub fn markup_bps(&self, user: &User) -> u32 {
        self.groups.markup_of(user)
    }

    /// The prices to reserve a worst case for `user` at: the provider's prices raised by the
    /// user's markup (each rounded up), with every completion token at the dearer of the
    /// output and reasoning prices. A hold at these prices covers any charge.
    pub fn hold_prices(&self, user: &User) -> Prices {
        self.model
            .prices
            .with_markup(self.markup_bps(user))
            .for_worst_case()
    }
}

/// Providers and models.
#[derive(Debug, Default)]
pub struct Catalog {
    routes: HashMap<String, Arc<Route>>,
    /// Model names in configuration order, for `/v1/models`.
    order: Vec<String>,
    groups: Arc<PriceGroups>,
}

impl Catalog {
    /// Builds clients for every provider. Fails with a message naming the provider.
    pub fn build(
        providers: Vec<Provider>,
        models: Vec<Model>,
        groups: PriceGroups,
        demo_word_delay: Duration,
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
            ..Catalog::default()
        };
        for model in models {
            let provider = entries
                .get(&model.provider)
                .ok_or_else(|| {
                    format!(
                        "model `{}`: no provider named `{}`",
                        model.name, model.provider
                    )
                })?
                .clone();
            catalog.order.push(model.name.clone());
            catalog.routes.insert(
                model.name.clone(),
                Arc::new(Route {
                    model,
                    provider,
                    groups: catalog.groups.clone(),
                }),
            );
        }
        Ok(catalog)
    }

    /// The price groups users may be put in.
    pub fn price_groups(&self) -> &PriceGroups {
        &self.groups
    }

    pub fn route(&self, model: &str) -> Option<&Arc<Route>> {
        self.routes.get(model)
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
