//! The in-memory snapshot the hot path reads instead of the database.
//!
//! Two halves, each swapped whole through an `ArcSwap` so a request never sees half a change:
//! the [`Catalog`] (providers, models and their channels, from configuration) and the [`Access`] index (users
//! and keys, from the store). Readers pay one atomic load; writers build a new value aside.
//!
//! The catalogue the hot path reads is the configured one with what the operator stored through
//! the management API applied ([`Catalog::with_stored`]): overrides of configured channels, and
//! providers and models of their own. It keeps the configured catalogue it was made from, so
//! each stored set applies to the configuration rather than on top of the previous set, and it
//! shares every channel's [`Health`] and provider client with the catalogue it replaces:
//! changing a weight, a price or a key neither forgets a circuit breaker nor (unless the
//! provider itself changed) drops a connection pool.

use crate::routing::{Health, RetryBudget, RoutingConfig};
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{
    Channel, ChannelSetting, KeyRecord, Model, Provider, StoredCatalog, Timeouts, User,
};
use switchyard_core::key::KeyHash;
use switchyard_core::money::Prices;
use switchyard_core::pricing::PriceGroups;
use switchyard_store::Access as StoredAccess;

mod stored;

/// A provider with its ready client.
#[derive(Debug)]
pub struct ProviderEntry {
    pub provider: Provider,
    pub upstream: Upstream,
    /// Why the provider cannot be used: its stored credential did not open. Requests never
    /// reach such a provider (sending them without the key would fail upstream with a
    /// misleading 401, or worse, succeed against an open endpoint), and the operator sees the
    /// reason in `GET /api/admin/providers` and in the log.
    pub unusable: Option<String>,
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

/// A configured channel as the operator sees it: its configuration with the overrides applied.
#[derive(Debug)]
pub struct ChannelStatus<'a> {
    /// The model's configured name.
    pub model: &'a str,
    /// The configured channel (its provider, upstream name and health).
    pub entry: &'a ChannelEntry,
    pub weight: u32,
    pub priority: i32,
    /// Whether requests may use it.
    pub enabled: bool,
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
    /// Model names in configuration order, then stored models oldest first, for `/v1/models`.
    order: Vec<String>,
    providers: HashMap<String, Arc<ProviderEntry>>,
    /// Configured provider names in configuration order, then stored ones oldest first.
    provider_order: Vec<String>,
    /// The `[timeouts]` of stored providers that set none of their own.
    provider_defaults: Option<Timeouts>,
    groups: Arc<PriceGroups>,
    config: RoutingConfig,
    /// The configured catalogue this one applies `settings` to; `None` when this is it.
    base: Option<Arc<Catalog>>,
    /// What the operator stored and this catalogue applies (empty for a configured one).
    stored: StoredCatalog,
    /// The store generation `stored` was read at (0 for a configured catalogue).
    generation: i64,
}

/// The deadlines of `[timeouts]` when the wiring did not pass its own (tests).
const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(5),
    first_byte: Duration::from_secs(120),
    total: Duration::from_secs(600),
};

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
        let provider_order = providers.iter().map(|p| p.name.clone()).collect();
        for provider in providers {
            let upstream = Upstream::new(&provider, demo_word_delay)
                .map_err(|e| format!("provider `{}`: {e}", provider.name))?;
            entries.insert(
                provider.name.clone(),
                Arc::new(ProviderEntry {
                    provider,
                    upstream,
                    unusable: None,
                }),
            );
        }
        let mut catalog = Catalog {
            groups: Arc::new(groups),
            config,
            provider_order,
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

    /// Sets the deadlines of stored providers that set none (the server's `[timeouts]`).
    pub fn with_provider_defaults(mut self, timeouts: Timeouts) -> Catalog {
        self.provider_defaults = Some(timeouts);
        self
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

    /// The catalogue as configured, before the operator's overrides.
    pub fn configured(&self) -> &Catalog {
        self.base.as_deref().unwrap_or(self)
    }

    /// The store generation the applied stored catalogue was read at.
    pub fn settings_generation(&self) -> i64 {
        self.generation
    }

    /// What the operator stored through the management API, as applied here.
    pub fn stored(&self) -> &StoredCatalog {
        &self.stored
    }

    /// Every serving provider: configured ones in configuration order, then stored ones.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<ProviderEntry>> {
        self.provider_order
            .iter()
            .filter_map(|name| self.providers.get(name))
    }

    /// Every configured channel of every model, in configuration order, with the overrides
    /// applied and whether it is enabled (disabled channels included, so they can be
    /// re-enabled).
    pub fn channel_statuses(&self) -> Vec<ChannelStatus<'_>> {
        let mut out = Vec::new();
        for configured in self.configured().routes() {
            let model = configured.model.name.as_str();
            let serving = self.routes.get(model);
            for entry in &configured.channels {
                let status = match serving
                    .and_then(|r| r.channels.iter().find(|e| e.name() == entry.name()))
                {
                    Some(live) => ChannelStatus {
                        model,
                        entry,
                        weight: live.channel.weight,
                        priority: live.channel.priority,
                        enabled: true,
                    },
                    None => {
                        let setting = self
                            .stored
                            .settings
                            .iter()
                            .find(|s| s.model == model && s.channel == entry.name());
                        ChannelStatus {
                            model,
                            entry,
                            weight: setting
                                .and_then(|s| s.weight)
                                .unwrap_or(entry.channel.weight),
                            priority: setting
                                .and_then(|s| s.priority)
                                .unwrap_or(entry.channel.priority),
                            enabled: false,
                        }
                    }
                };
                out.push(status);
            }
        }
        out
    }

    /// The applied override of a channel, if any.
    pub fn channel_setting(&self, model: &str, channel: &str) -> Option<&ChannelSetting> {
        self.stored
            .settings
            .iter()
            .find(|s| s.model == model && s.channel == channel)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use switchyard_core::catalog::{ModelKind, ProviderKind, StoredModel, StoredProvider};
    use switchyard_core::credential::Keyring;
    use switchyard_core::routing::DataPractice;

    fn provider(name: &str) -> Provider {
        Provider {
            name: name.into(),
            kind: ProviderKind::Demo,
            base_url: String::new(),
            api_key: None,
            jurisdiction: "US".into(),
            data: DataPractice {
                retains_prompts: None,
                trains_on_prompts: None,
                zdr: false,
            },
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                first_byte: Duration::from_secs(1),
                total: Duration::from_secs(1),
            },
        }
    }

    fn model(name: &str, aliases: &[&str], channels: &[(&str, u32, i32)]) -> Model {
        Model {
            name: name.into(),
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            channels: channels
                .iter()
                .map(|&(provider, weight, priority)| Channel {
                    name: provider.into(),
                    provider: provider.into(),
                    upstream_model: "up".into(),
                    weight,
                    priority,
                    prices: None,
                    first_byte_timeout: None,
                    total_timeout: None,
                })
                .collect(),
            kind: ModelKind::Chat,
            prices: Prices::default(),
            created: 0,
        }
    }

    fn configured() -> Arc<Catalog> {
        Arc::new(configured_catalog())
    }

    fn configured_catalog() -> Catalog {
        Catalog::build(
            vec![provider("a"), provider("b")],
            vec![
                model("m", &["fast"], &[("a", 1, 0), ("b", 2, -1)]),
                model("other", &[], &[("a", 1, 0)]),
            ],
            PriceGroups::default(),
            Duration::ZERO,
            RoutingConfig::default(),
        )
        .unwrap()
    }

    /// (name, weight, priority) of a model's serving channels.
    fn serving(catalog: &Catalog, model: &str) -> Vec<(String, u32, i32)> {
        catalog
            .route(model)
            .unwrap()
            .channels
            .iter()
            .map(|e| (e.name().to_owned(), e.channel.weight, e.channel.priority))
            .collect()
    }

    /// Applies channel overrides alone, as a store without stored providers or models would.
    fn apply(catalog: &Arc<Catalog>, settings: Vec<ChannelSetting>, generation: i64) -> Catalog {
        let stored = StoredCatalog {
            settings,
            ..StoredCatalog::default()
        };
        catalog.with_stored(stored, generation, &key())
    }

    fn key() -> Keyring {
        keyring("k1", 1)
    }

    fn keyring(id: &str, byte: u8) -> Keyring {
        let master = switchyard_core::credential::MasterKey::new(id, &[byte; 32]).unwrap();
        Keyring::new(vec![master])
            .unwrap()
            .with_legacy(&switchyard_core::Secret::new("k".repeat(64)))
    }

    fn setting(model: &str, channel: &str) -> ChannelSetting {
        ChannelSetting::unchanged(model, channel)
    }

    #[test]
    fn overrides_apply_to_the_configuration_and_share_health_and_clients() {
        let base = configured();
        let b_health = base.route("m").unwrap().channels[1].health.clone();
        let settings = vec![ChannelSetting {
            weight: Some(9),
            priority: Some(5),
            ..setting("m", "b")
        }];
        let applied = Arc::new(apply(&base, settings, 3));
        assert_eq!(applied.settings_generation(), 3);
        assert_eq!(
            serving(&applied, "m"),
            [("a".into(), 1, 0), ("b".into(), 9, 5)]
        );
        // The alias serves the same route; the route's model lists the same channels.
        let route = applied.route("fast").unwrap();
        assert!(Arc::ptr_eq(route, applied.route("m").unwrap()));
        assert_eq!(route.model.channels[1].weight, 9);
        assert!(Arc::ptr_eq(&route.channels[1].health, &b_health));
        assert!(Arc::ptr_eq(
            &route.channels[1].provider,
            &base.route("m").unwrap().channels[1].provider
        ));
        // An untouched model keeps its route, retry budget included.
        assert!(Arc::ptr_eq(
            applied.route("other").unwrap(),
            base.route("other").unwrap()
        ));

        // The next settings replace these rather than stacking on them.
        let disabled = vec![ChannelSetting {
            enabled: false,
            ..setting("m", "a")
        }];
        let again = apply(&applied, disabled, 4);
        assert_eq!(serving(&again, "m"), [("b".into(), 2, -1)]);
        assert!(Arc::ptr_eq(
            &again.route("m").unwrap().channels[0].health,
            &b_health
        ));
        assert!(std::ptr::eq(again.configured(), &*base));
        let statuses: Vec<_> = again
            .channel_statuses()
            .iter()
            .map(|s| (s.model, s.entry.name().to_owned(), s.weight, s.enabled))
            .collect();
        assert_eq!(
            statuses,
            [
                ("m", "a".into(), 1, false),
                ("m", "b".into(), 2, true),
                ("other", "a".into(), 1, true),
            ]
        );
    }

    #[test]
    fn a_disabled_channel_shows_its_overridden_weight() {
        let settings = vec![ChannelSetting {
            weight: Some(4),
            priority: Some(-3),
            enabled: false,
            ..setting("m", "b")
        }];
        let applied = apply(&configured(), settings, 1);
        assert_eq!(serving(&applied, "m"), [("a".into(), 1, 0)]);
        let b = applied
            .channel_statuses()
            .into_iter()
            .find(|s| s.model == "m" && s.entry.name() == "b")
            .unwrap();
        assert_eq!((b.weight, b.priority, b.enabled), (4, -3, false));
    }

    #[test]
    fn unknown_settings_are_ignored_and_a_model_is_never_left_without_channels() {
        let settings = vec![
            ChannelSetting {
                enabled: false,
                ..setting("gone", "a")
            },
            ChannelSetting {
                enabled: false,
                ..setting("m", "gone")
            },
            ChannelSetting {
                enabled: false,
                ..setting("other", "a")
            },
        ];
        let applied = apply(&configured(), settings, 1);
        assert_eq!(
            serving(&applied, "m"),
            [("a".into(), 1, 0), ("b".into(), 2, -1)]
        );
        assert_eq!(serving(&applied, "other"), [("a".into(), 1, 0)]);
        assert_eq!(applied.routes().count(), 2);
    }

    fn stored_provider(name: &str, key: &Keyring) -> StoredProvider {
        StoredProvider {
            name: name.into(),
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:9/v1".into(),
            api_key_sealed: Some(
                key.seal(name, &switchyard_core::Secret::new("sk-stored"))
                    .unwrap(),
            ),
            api_key_hint: None,
            jurisdiction: "DE".into(),
            data: DataPractice::default(),
            connect_timeout_ms: Some(250),
            first_byte_timeout_ms: None,
            total_timeout_ms: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn stored_model(name: &str, aliases: &[&str], provider: &str) -> StoredModel {
        StoredModel {
            name: name.into(),
            kind: ModelKind::Chat,
            aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
            channels: vec![switchyard_core::catalog::StoredChannel {
                name: provider.into(),
                provider: provider.into(),
                upstream_model: "up".into(),
                weight: 1,
                priority: 0,
            }],
            prices: Prices {
                input: switchyard_core::Nanos(7),
                ..Prices::default()
            },
            created_at: 1_000,
            updated_at: 1_000,
        }
    }

    #[test]
    fn stored_providers_and_models_serve_beside_the_configuration() {
        let key = key();
        let base = configured_catalog().with_provider_defaults(Timeouts {
            connect: Duration::from_secs(2),
            first_byte: Duration::from_secs(3),
            total: Duration::from_secs(4),
        });
        let base = Arc::new(base);
        let stored = StoredCatalog {
            settings: Vec::new(),
            providers: vec![stored_provider("s", &key), stored_provider("a", &key)],
            models: vec![
                stored_model("new", &["newer"], "s"),
                // On a configured provider.
                stored_model("on-a", &[], "a"),
                // Names the configuration has: skipped.
                stored_model("m", &[], "s"),
                stored_model("clash", &["fast"], "s"),
                stored_model("orphan", &[], "gone"),
            ],
        };
        let applied = Arc::new(base.with_stored(stored.clone(), 2, &key));
        let names: Vec<&str> = applied.routes().map(|r| r.model.name.as_str()).collect();
        assert_eq!(names, ["m", "other", "new", "on-a"]);
        assert!(Arc::ptr_eq(
            applied.route("newer").unwrap(),
            applied.route("new").unwrap()
        ));
        let s = applied.provider("s").unwrap();
        assert_eq!(s.provider.api_key.as_ref().unwrap().expose(), "sk-stored");
        assert_eq!(s.provider.timeouts.connect, Duration::from_millis(250));
        assert_eq!(
            s.provider.timeouts.total,
            Duration::from_secs(4),
            "[timeouts]"
        );
        // The configured `a` wins over the stored one.
        assert!(Arc::ptr_eq(
            applied.provider("a").unwrap(),
            base.provider("a").unwrap()
        ));
        let on_a = applied.route("on-a").unwrap();
        assert!(Arc::ptr_eq(
            &on_a.channels[0].provider,
            base.provider("a").unwrap()
        ));
        assert_eq!(on_a.channels[0].prices.input.0, 7);
        let order: Vec<&str> = applied
            .providers()
            .map(|e| e.provider.name.as_str())
            .collect();
        assert_eq!(order, ["a", "b", "s"]);

        // The same records again: the same client and route (and so health and budget).
        let again = Arc::new(applied.with_stored(stored.clone(), 3, &key));
        assert!(Arc::ptr_eq(again.provider("s").unwrap(), s));
        assert!(Arc::ptr_eq(
            again.route("new").unwrap(),
            applied.route("new").unwrap()
        ));

        // A new price: a new route sharing the channel's health; a new key: a new client and
        // a fresh health.
        let mut priced = stored.clone();
        priced.models[0].prices.input = switchyard_core::Nanos(9);
        let repriced = Arc::new(again.with_stored(priced.clone(), 4, &key));
        let (old, new) = (again.route("new").unwrap(), repriced.route("new").unwrap());
        assert!(!Arc::ptr_eq(old, new));
        assert_eq!(new.channels[0].prices.input.0, 9);
        assert!(Arc::ptr_eq(
            &old.channels[0].health,
            &new.channels[0].health
        ));
        let mut rekeyed = priced;
        rekeyed.providers[0].api_key_sealed = Some(
            key.seal("s", &switchyard_core::Secret::new("sk-other"))
                .unwrap(),
        );
        rekeyed.providers[0].updated_at = 2;
        let after = repriced.with_stored(rekeyed, 5, &key);
        assert!(!Arc::ptr_eq(after.provider("s").unwrap(), s));
        assert!(!Arc::ptr_eq(
            &after.route("new").unwrap().channels[0].health,
            &new.channels[0].health
        ));

        // Without stored entries, the configuration alone.
        let bare = after_bare(&Arc::new(after), &key);
        assert_eq!(bare.routes().count(), 2);
        assert!(bare.provider("s").is_none());
    }

    fn after_bare(catalog: &Arc<Catalog>, key: &Keyring) -> Catalog {
        catalog.with_stored(StoredCatalog::default(), 6, key)
    }

    #[test]
    fn a_credential_that_does_not_open_makes_its_provider_unusable() {
        // Under a key the ring lacks, and under a key of the same id but other bytes.
        for other in [keyring("k9", 1), keyring("k1", 2)] {
            let stored = StoredCatalog {
                providers: vec![stored_provider("s", &other), stored_provider("t", &key())],
                ..StoredCatalog::default()
            };
            let applied = configured().with_stored(stored, 1, &key());
            let s = applied.provider("s").unwrap();
            assert!(s.provider.api_key.is_none());
            let why = s.unusable.as_deref().unwrap();
            assert!(why.contains("master key `k"), "{why}");
            let t = applied.provider("t").unwrap();
            assert!(t.unusable.is_none());
            assert_eq!(t.provider.api_key.as_ref().unwrap().expose(), "sk-stored");
        }
    }
}
