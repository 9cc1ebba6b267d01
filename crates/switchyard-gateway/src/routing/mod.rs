//! Step *route*: which channels may serve a request, and in which order to try them.
//!
//! [`resolve`] turns the requested model (a name, an alias, or `provider/model`), the request's
//! fallback `models` and its provider preferences into [`Targets`]: the channels allowed by the
//! key, the data policy of account, key and request, and the preferences, ranked into groups
//! (earlier models first, then the preferred `order`, then priority). [`Attempts`] then picks
//! one channel per attempt: a probe that is due, else among the healthy untried channels of
//! the best group by [`select::choose`] (weights, moving latency and requests in flight),
//! else a healthy channel again, else — on the first attempt only — an ejected one, because
//! trying beats certain failure. A channel cooling after `Retry-After` is never picked.
//! `docs/routing.md` has the whole picture.

mod budget;
mod health;
mod select;

pub use budget::RetryBudget;
pub use health::{Admit, AfterFailure, Health, InFlight, State};

use crate::error::ApiError;
use crate::snapshot::{Caller, Catalog, ChannelEntry, Route};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::catalog::{ModelKind, UnixMillis};
use switchyard_core::error::ErrorCode;
use switchyard_core::money::Prices;
use switchyard_core::policy;
use switchyard_core::routing::{DataPolicy, Preferences, SortBy, Violation};

/// How routing retries and breaks circuits (`[routing]` in the configuration).
#[derive(Clone, Copy, Debug)]
pub struct RoutingConfig {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Consecutive failures that eject a channel.
    pub failure_threshold: u32,
    /// The first ejection's length; each one in a row doubles it.
    pub eject_base: Duration,
    pub eject_max: Duration,
    /// Retries may add this share of requests (per model)…
    pub retry_percent: u32,
    /// …plus this many.
    pub retry_floor: u32,
    /// The longest `Retry-After` honoured by cooling a channel.
    pub max_cooling: Duration,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            max_attempts: 3,
            failure_threshold: 5,
            eject_base: Duration::from_secs(10),
            eject_max: Duration::from_secs(300),
            retry_percent: 20,
            retry_floor: 10,
            max_cooling: Duration::from_secs(60),
        }
    }
}

/// A channel a request may use: `route.channels[index]`.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub route: Arc<Route>,
    pub index: usize,
    /// Lower groups are tried first.
    group: (usize, usize, i64),
}

impl Candidate {
    pub fn entry(&self) -> &ChannelEntry {
        &self.route.channels[self.index]
    }
}

/// The channels a request may use, best group first.
#[derive(Debug)]
pub struct Targets {
    pub candidates: Vec<Candidate>,
    /// The model asked for first.
    pub primary: Arc<Route>,
    sort: Option<SortBy>,
    /// `allow_fallbacks: false` without an `order`: only the first channel picked.
    stick_to_first: bool,
}

impl Targets {
    /// The dearest prices (marked up for `markup_bps`) of any candidate: what a hold must
    /// assume.
    pub fn hold_prices(&self, markup: impl Fn(&Route) -> u32) -> Prices {
        self.candidates
            .iter()
            .map(|c| {
                c.entry()
                    .prices
                    .with_markup(markup(&c.route))
                    .for_worst_case()
            })
            .reduce(|a, b| a.dearest(&b))
            .unwrap_or_default()
    }
}

/// What a request asks of routing, besides its model.
#[derive(Debug, Default)]
pub struct Wanted<'a> {
    pub kind: Option<ModelKind>,
    /// The request's `models` fallback list.
    pub fallbacks: &'a [String],
    pub preferences: Option<&'a Preferences>,
    /// The endpoint, for error messages (`chat/completions`).
    pub path: &'a str,
}

/// A model name as a client may write it: a name or alias, or `provider/name` to pin the
/// provider. Exact names win, so a model really called `org/model` still resolves.
fn lookup<'c>(catalog: &'c Catalog, name: &str) -> Option<(&'c Arc<Route>, Option<&'c str>)> {
    if let Some(route) = catalog.route(name) {
        return Some((route, None));
    }
    let (provider, rest) = name.split_once('/')?;
    let provider = catalog.provider(provider)?;
    let route = catalog.route(rest)?;
    Some((route, Some(provider.provider.name.as_str())))
}

/// Resolves the models, checks the key may use them, and keeps the channels the data policy
/// and the preferences allow.
pub fn resolve(
    catalog: &Catalog,
    caller: &Caller,
    model: &str,
    wanted: &Wanted<'_>,
) -> Result<Targets, ApiError> {
    let prefs = wanted.preferences;
    if let Some(prefs) = prefs {
        for (field, names) in [
            ("order", prefs.order.as_slice()),
            ("only", prefs.only.as_deref().unwrap_or_default()),
            ("ignore", prefs.ignore.as_slice()),
        ] {
            if let Some(unknown) = names.iter().find(|n| catalog.provider(n).is_none()) {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("`provider.{field}` names `{unknown}`, which is not a provider of this platform."),
                )
                .with_param(format!("provider.{field}")));
            }
        }
    }
    let policy = caller
        .user
        .data_policy
        .and(&caller.key.data_policy)
        .and(&prefs.map(Preferences::policy).unwrap_or_default());
    let mut names: Vec<&str> = vec![model];
    for name in wanted.fallbacks {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let mut candidates = Vec::new();
    let mut primary = None;
    let mut refused: Vec<(Arc<Route>, String, Violation, String)> = Vec::new();
    let mut permitted_by_policy = 0;
    for (position, name) in names.iter().enumerate() {
        let (route, pinned) = lookup(catalog, name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ModelNotFound,
                format!(
                    "The model `{name}` does not exist. GET /v1/models lists the models you can use."
                ),
            )
            .with_param(if position == 0 { "model" } else { "models" })
        })?;
        if let Some(provider) = pinned
            && !route
                .channels
                .iter()
                .any(|c| c.channel.provider == provider)
        {
            return Err(ApiError::new(
                ErrorCode::ModelNotFound,
                format!(
                    "The provider `{provider}` does not serve the model `{}`.",
                    route.model.name
                ),
            )
            .with_param(if position == 0 { "model" } else { "models" }));
        }
        if let Some(kind) = wanted.kind
            && route.model.kind != kind
        {
            return Err(ApiError::new(
                ErrorCode::WrongModelKind,
                format!(
                    "The model `{name}` is not a {} model; it cannot serve /v1/{}.",
                    kind_name(kind),
                    wanted.path
                ),
            )
            .with_param("model"));
        }
        policy::model_allowed(&caller.key, &route.model)?;
        primary.get_or_insert_with(|| route.clone());
        for (index, entry) in route.channels.iter().enumerate() {
            let provider = entry.channel.provider.as_str();
            if pinned.is_some_and(|p| p != provider) {
                continue;
            }
            if let Err(violation) =
                policy.admits(entry.jurisdiction(), &entry.provider.provider.data)
            {
                refused.push((
                    route.clone(),
                    entry.channel.name.clone(),
                    violation,
                    entry.jurisdiction().to_owned(),
                ));
                continue;
            }
            permitted_by_policy += 1;
            let rank = prefs.and_then(|p| p.rank(provider)).unwrap_or(usize::MAX);
            if let Some(p) = prefs
                && (!p.permits(provider)
                    || !p.allow_fallbacks && !p.order.is_empty() && rank == usize::MAX)
            {
                continue;
            }
            let priority = match prefs.and_then(|p| p.sort) {
                Some(_) => 0,
                None => -i64::from(entry.channel.priority),
            };
            candidates.push(Candidate {
                route: route.clone(),
                index,
                group: (position, rank, priority),
            });
        }
    }
    let primary = primary.ok_or_else(|| ApiError::new(ErrorCode::ModelNotFound, "no model"))?;
    if candidates.is_empty() {
        if permitted_by_policy == 0 {
            return Err(policy_denied(model, &policy, caller, prefs, &refused));
        }
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("The provider preferences leave no channel of `{model}` to use (after `only`, `ignore` and `allow_fallbacks`)."),
        )
        .with_param("provider"));
    }
    candidates.sort_by_key(|c| c.group);
    Ok(Targets {
        candidates,
        primary,
        sort: prefs.and_then(|p| p.sort),
        stick_to_first: prefs.is_some_and(|p| !p.allow_fallbacks && p.order.is_empty()),
    })
}

fn kind_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => "chat",
        ModelKind::Embedding => "embedding",
    }
}

/// The 403 of a request whose policy no channel satisfies: which policy, set by whom, and why
/// each channel is out.
fn policy_denied(
    model: &str,
    policy: &DataPolicy,
    caller: &Caller,
    prefs: Option<&Preferences>,
    refused: &[(Arc<Route>, String, Violation, String)],
) -> ApiError {
    let mut sources = Vec::new();
    if !caller.user.data_policy.is_open() {
        sources.push("the account");
    }
    if !caller.key.data_policy.is_open() {
        sources.push("the API key");
    }
    if prefs.is_some_and(|p| !p.policy().is_open()) {
        sources.push("the request's `provider` preferences");
    }
    let mut message = format!(
        "No channel of the model `{model}` satisfies the data policy of this request ({}), set by {}; the request was not sent anywhere.",
        policy.describe(),
        sources.join(" and ")
    );
    let mut reasons: Vec<String> = Vec::new();
    for (route, channel, violation, jurisdiction) in refused {
        let why = match violation {
            Violation::Jurisdiction => format!("processes data in {jurisdiction}"),
            Violation::Training => "does not declare that it never trains on prompts".to_owned(),
            Violation::Retention => "does not declare that it retains no prompts".to_owned(),
            Violation::Zdr => "has no zero-data-retention agreement".to_owned(),
        };
        let line = if route.model.name == model {
            format!("channel `{channel}` {why}")
        } else {
            format!("channel `{channel}` of `{}` {why}", route.model.name)
        };
        if !reasons.contains(&line) {
            reasons.push(line);
        }
    }
    if !reasons.is_empty() {
        let _ = write!(message, " Its {}.", reasons.join("; "));
    }
    ApiError::new(ErrorCode::PolicyDenied, message).with_param("model")
}

/// One chosen channel.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    pub candidate: usize,
    pub probe: bool,
}

/// Why no further attempt can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// Every usable channel was tried as often as allowed.
    Tried,
    /// What is left is cooling after a `Retry-After` until this time.
    Cooling(UnixMillis),
}

/// Picks a channel for each attempt of one request.
#[derive(Debug)]
pub struct Attempts {
    tried: Vec<bool>,
    /// Channels not to use again in this request (one that timed out or rate-limited us).
    spent: Vec<bool>,
    made: u32,
    first: Option<usize>,
}

impl Attempts {
    pub fn new(targets: &Targets) -> Attempts {
        Attempts {
            tried: vec![false; targets.candidates.len()],
            spent: vec![false; targets.candidates.len()],
            made: 0,
            first: None,
        }
    }

    pub fn made(&self) -> u32 {
        self.made
    }

    /// Keeps `candidate` out of this request's later attempts: trying a channel that just
    /// timed out or rate-limited us again would only make the client wait.
    pub fn spend(&mut self, candidate: usize) {
        self.spent[candidate] = true;
    }

    pub fn next(&mut self, targets: &Targets, now: UnixMillis) -> Result<Pick, Exhausted> {
        let pick = self.choose(targets, now)?;
        self.tried[pick.candidate] = true;
        self.made += 1;
        self.first.get_or_insert(pick.candidate);
        Ok(pick)
    }

    fn choose(&self, targets: &Targets, now: UnixMillis) -> Result<Pick, Exhausted> {
        let cands = &targets.candidates;
        let allowed = |i: usize| {
            !self.spent[i] && (!targets.stick_to_first || self.first.is_none_or(|f| f == i))
        };
        let mut cooling_until: Option<UnixMillis> = None;
        let mut admits = Vec::with_capacity(cands.len());
        for c in cands {
            let admit = c.entry().health.admit(now);
            if let Admit::Cooling(until) = admit {
                cooling_until = Some(cooling_until.map_or(until, |u| u.min(until)));
            }
            admits.push(admit);
        }
        // Untried channels, best group first: a due probe, else the healthy ones.
        let mut start = 0;
        while start < cands.len() {
            let group = cands[start].group;
            let end = start
                + cands[start..]
                    .iter()
                    .take_while(|c| c.group == group)
                    .count();
            for i in start..end {
                if !self.tried[i]
                    && allowed(i)
                    && admits[i] == Admit::Probe
                    && cands[i].entry().health.claim_probe()
                {
                    return Ok(Pick {
                        candidate: i,
                        probe: true,
                    });
                }
            }
            let pool: Vec<usize> = (start..end)
                .filter(|&i| !self.tried[i] && allowed(i) && admits[i] == Admit::Yes)
                .collect();
            if let Some(i) = select::choose(cands, &pool, targets.sort) {
                return Ok(Pick {
                    candidate: i,
                    probe: false,
                });
            }
            start = end;
        }
        // Every channel was tried: a healthy one again. Nothing healthy at all: on the first
        // attempt, an ejected channel rather than none.
        let again = best_of(targets, |i| allowed(i) && admits[i] == Admit::Yes);
        let pinch = || best_of(targets, |i| admits[i] == Admit::Ejected);
        if let Some(i) = again.or_else(|| if self.made == 0 { pinch() } else { None }) {
            return Ok(Pick {
                candidate: i,
                probe: false,
            });
        }
        Err(match cooling_until {
            Some(until) if self.made == 0 => Exhausted::Cooling(until),
            _ => Exhausted::Tried,
        })
    }
}

/// The choice among the candidates `eligible` keeps, in the best group that has any.
fn best_of(targets: &Targets, eligible: impl Fn(usize) -> bool) -> Option<usize> {
    let cands = &targets.candidates;
    let first = (0..cands.len()).find(|&i| eligible(i))?;
    let pool: Vec<usize> = (first..cands.len())
        .filter(|&i| cands[i].group == cands[first].group && eligible(i))
        .collect();
    select::choose(cands, &pool, targets.sort)
}

#[cfg(test)]
mod tests;
