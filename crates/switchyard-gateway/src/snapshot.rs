//! The in-memory snapshot the hot path reads instead of the database.
//!
//! Two halves, each swapped whole through an `ArcSwap` so a request never sees half a change:
//! the [`Catalog`] (providers, models and their channels, from configuration) and the [`Access`] index (users
//! and keys, from the store). Readers pay one atomic load; writers build a new value aside.
//!
//! The catalogue the hot path reads is the configured one with the operator's channel
//! overrides applied ([`Catalog::with_settings`]). It keeps the configured catalogue it was
//! made from, so each set of overrides applies to the configuration rather than on top of the
//! previous set, and it shares every channel's [`Health`] and provider client with it: changing
//! a weight or disabling a channel neither forgets a circuit breaker nor drops a connection pool.

use crate::routing::{Health, RetryBudget, RoutingConfig};
use crate::upstream::Upstream;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{Channel, ChannelSetting, KeyRecord, Model, Provider, User};
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
    /// Model names in configuration order, for `/v1/models`.
    order: Vec<String>,
    providers: HashMap<String, Arc<ProviderEntry>>,
    groups: Arc<PriceGroups>,
    config: RoutingConfig,
    /// The configured catalogue this one applies `settings` to; `None` when this is it.
    base: Option<Arc<Catalog>>,
    /// The operator's overrides applied here.
    settings: Vec<ChannelSetting>,
    /// The store generation `settings` were read at (0 for a configured catalogue).
    generation: i64,
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

    /// The catalogue as configured, before the operator's overrides.
    pub fn configured(&self) -> &Catalog {
        self.base.as_deref().unwrap_or(self)
    }

    /// The store generation the applied overrides were read at.
    pub fn settings_generation(&self) -> i64 {
        self.generation
    }

    /// The configured catalogue with `settings` (read at store `generation`) applied in place of
    /// any applied before: overridden weights and priorities, and without disabled channels.
    ///
    /// Every channel keeps its `Arc<Health>` and `Arc<ProviderEntry>`. A route whose channels
    /// come out as they are in `self` is reused whole, so models the change does not touch keep
    /// their retry budgets; a changed route starts with a fresh budget. Settings of models or
    /// channels that are not configured are ignored. If the settings disable every channel of
    /// a model (the management API refuses to, but two replicas may each disable one of the
    /// last two at once), its disables are ignored: a model keeps serving rather than failing
    /// every request while it is still configured.
    pub fn with_settings(
        self: &Arc<Catalog>,
        settings: Vec<ChannelSetting>,
        generation: i64,
    ) -> Catalog {
        let base = self.base.clone().unwrap_or_else(|| self.clone());
        let mut catalog = Catalog {
            routes: HashMap::with_capacity(base.routes.len()),
            order: base.order.clone(),
            providers: base.providers.clone(),
            groups: base.groups.clone(),
            config: base.config,
            base: None,
            settings: Vec::new(),
            generation,
        };
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
        catalog.settings = settings;
        catalog.base = Some(base);
        catalog
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
        self.settings
            .iter()
            .find(|s| s.model == model && s.channel == channel)
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
    use switchyard_core::catalog::{ModelKind, ProviderKind, Timeouts};
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
        Arc::new(
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
            .unwrap(),
        )
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
        let applied = Arc::new(base.with_settings(settings, 3));
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
        let again = applied.with_settings(disabled, 4);
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
        let applied = configured().with_settings(settings, 1);
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
        let applied = configured().with_settings(settings, 1);
        assert_eq!(
            serving(&applied, "m"),
            [("a".into(), 1, 0), ("b".into(), 2, -1)]
        );
        assert_eq!(serving(&applied, "other"), [("a".into(), 1, 0)]);
        assert_eq!(applied.routes().count(), 2);
    }
}
