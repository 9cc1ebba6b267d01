//! Spend limits on the hot path: per key and per user, in total, per UTC day and per UTC month.
//!
//! Like balances, a request reserves its worst-case cost against every limit that applies
//! (atomics, no lock) and gives back the difference to its real cost when it ends. Counters are
//! in memory; the writer adds every charged row to `spend_counters` in the store, and a
//! refresher reloads limits and counters, keeping the larger of the local and stored figure,
//! so a restart or another replica's spending is seen within one refresh.
//!
//! A period rolls over on the first request after it ended: its counter starts at zero. A
//! reservation made before the rollover is settled against the old period, which no longer
//! counts.

use crate::error::ApiError;
use arc_swap::ArcSwap;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use switchyard_core::error::ErrorCode;
use switchyard_core::limits::{Scope, SpendLimits, Window, period};
use switchyard_core::{KeyId, Nanos, UserId};
use switchyard_store::{SpendCounter, Store, StoreError};

/// One window's counter: which period it counts, and how much is used (charged + reserved).
#[derive(Debug, Default)]
struct Counter {
    period: AtomicI64,
    used: AtomicI64,
}

/// A comparable number for a period: its start.
fn period_id(window: Window, now: i64) -> i64 {
    match window {
        Window::Total => 0,
        _ => period(window, now).starts,
    }
}

impl Counter {
    fn roll(&self, current: i64) {
        let seen = self.period.load(Ordering::Acquire);
        if seen != current
            && self
                .period
                .compare_exchange(seen, current, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.used.store(0, Ordering::Release);
        }
    }

    fn try_add(&self, amount: i64, limit: i64) -> Result<(), i64> {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            if used.saturating_add(amount) > limit {
                return Err(used);
            }
            match self.used.compare_exchange_weak(
                used,
                used + amount,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => used = actual,
            }
        }
    }
}

/// The limits of one key or user, with their counters. A reload updates a guard in place,
/// so reservations in flight settle into the counters that hold them.
#[derive(Debug)]
pub struct Guard {
    /// Per window, the limit in nanos, or −1 for none.
    limits: [AtomicI64; 3],
    counters: [Counter; 3],
}

impl Guard {
    fn new(limits: SpendLimits) -> Guard {
        let guard = Guard {
            limits: Default::default(),
            counters: Default::default(),
        };
        guard.set_limits(limits);
        guard
    }

    fn set_limits(&self, limits: SpendLimits) {
        for window in Window::ALL {
            let value = limits.get(window).map_or(-1, |n| n.0);
            self.limits[index(window)].store(value, Ordering::Release);
        }
    }

    fn limit(&self, window: Window) -> Option<Nanos> {
        let value = self.limits[index(window)].load(Ordering::Acquire);
        (value >= 0).then_some(Nanos(value))
    }

    pub fn limits(&self) -> SpendLimits {
        SpendLimits {
            total: self.limit(Window::Total),
            day: self.limit(Window::Day),
            month: self.limit(Window::Month),
        }
    }

    /// What is used (charged + reserved) in the current period of `window`.
    pub fn used(&self, window: Window, now: i64) -> Nanos {
        let counter = &self.counters[index(window)];
        if counter.period.load(Ordering::Acquire) != period_id(window, now) {
            return Nanos::ZERO;
        }
        Nanos(counter.used.load(Ordering::Acquire))
    }
}

fn index(window: Window) -> usize {
    match window {
        Window::Total => 0,
        Window::Day => 1,
        Window::Month => 2,
    }
}

/// A request's reservation against its limits, settled with its cost.
#[derive(Debug, Default)]
pub(crate) struct Reservation {
    parts: Vec<(Arc<Guard>, usize, i64)>,
    amount: i64,
}

impl Reservation {
    /// Gives back what was reserved beyond `cost`, in the periods it was reserved in.
    pub fn settle(self, cost: Nanos) {
        for (guard, at, period) in &self.parts {
            let counter = &guard.counters[*at];
            if counter.period.load(Ordering::Acquire) == *period {
                counter
                    .used
                    .fetch_sub(self.amount - cost.0, Ordering::AcqRel);
            }
        }
    }
}

/// Why a request was refused.
#[derive(Debug)]
struct Exceeded {
    scope: Scope,
    window: Window,
    limit: Nanos,
    used: Nanos,
    resets_at: Option<i64>,
}

/// Every key's and user's limits.
#[derive(Debug, Default)]
pub struct Limits {
    guards: ArcSwap<HashMap<(Scope, String), Arc<Guard>>>,
}

impl Limits {
    pub fn guard(&self, scope: Scope, owner: &str) -> Option<Arc<Guard>> {
        self.guards.load().get(&(scope, owner.to_owned())).cloned()
    }

    /// Reserves `amount` against the key's and the user's limits, all or nothing.
    pub(crate) fn reserve(
        &self,
        key: KeyId,
        user: UserId,
        amount: Nanos,
        now: i64,
    ) -> Result<Reservation, ApiError> {
        let guards = self.guards.load();
        if guards.is_empty() {
            return Ok(Reservation::default());
        }
        let mut reservation = Reservation {
            parts: Vec::new(),
            amount: amount.0,
        };
        for (scope, owner) in [
            (Scope::Key, key.to_string()),
            (Scope::User, user.to_string()),
        ] {
            let Some(guard) = guards.get(&(scope, owner)) else {
                continue;
            };
            for window in Window::ALL {
                let Some(limit) = guard.limit(window) else {
                    continue;
                };
                let at = index(window);
                let current = period_id(window, now);
                guard.counters[at].roll(current);
                if let Err(used) = guard.counters[at].try_add(amount.0, limit.0) {
                    // All or nothing: give back what this request took so far.
                    reservation.settle(Nanos::ZERO);
                    return Err(refusal(
                        Exceeded {
                            scope,
                            window,
                            limit,
                            used: Nanos(used),
                            resets_at: period(window, now).ends,
                        },
                        amount,
                        now,
                    ));
                }
                reservation.parts.push((guard.clone(), at, current));
            }
        }
        Ok(reservation)
    }

    /// Reloads limits and this period's counters from the store. A counter keeps the larger of
    /// its local and stored figure: local holds what is not written yet, stored what other
    /// replicas spent.
    pub async fn reload(&self, store: &Store, now: i64) -> Result<(), StoreError> {
        let limits = store.spend_limits().await?;
        let labels: Vec<String> = Window::ALL.iter().map(|w| period(*w, now).label).collect();
        let counters = store.spend_counters(&labels).await?;
        let old = self.guards.load();
        let mut guards = HashMap::with_capacity(limits.len());
        for (scope, owner, limits) in limits {
            let guard = match old.get(&(scope, owner.clone())) {
                Some(guard) => {
                    guard.set_limits(limits);
                    guard.clone()
                }
                None => Arc::new(Guard::new(limits)),
            };
            for window in Window::ALL {
                let counter = &guard.counters[index(window)];
                counter.roll(period_id(window, now));
                let label = &labels[index(window)];
                let stored = counters
                    .iter()
                    .find(|c: &&SpendCounter| {
                        c.scope == scope && c.owner == owner && &c.period == label
                    })
                    .map_or(Nanos::ZERO, |c| c.spent);
                counter.used.fetch_max(stored.0, Ordering::AcqRel);
            }
            guards.insert((scope, owner), guard);
        }
        self.guards.store(Arc::new(guards));
        Ok(())
    }
}

/// Whole seconds from `now` to `at` (unix ms), rounded up, at least 1.
fn seconds_until(at: i64, now: i64) -> i64 {
    ((at - now + 999) / 1_000).max(1)
}

fn refusal(e: Exceeded, amount: Nanos, now: i64) -> ApiError {
    let who = match e.scope {
        Scope::Key => "this API key",
        Scope::User => "your account",
    };
    let when = match e.resets_at {
        Some(at) => format!(
            "; it resets in {} s (at the start of the next UTC {})",
            seconds_until(at, now),
            e.window.as_str()
        ),
        None => "; it does not reset".to_owned(),
    };
    let mut error = ApiError::new(
        ErrorCode::SpendLimitExceeded,
        format!(
            "The {} spend limit of {who} is ${}: ${} is used and this request may cost up to ${amount}{when}.",
            match e.window {
                Window::Total => "total",
                Window::Day => "daily",
                Window::Month => "monthly",
            },
            e.limit,
            e.used
        ),
    );
    let header = |name: &'static str, value: String| {
        (
            http::HeaderName::from_static(name),
            HeaderValue::from_str(&value).ok(),
        )
    };
    let remaining = (e.limit - e.used).max(Nanos::ZERO);
    let mut headers = vec![
        header("x-ratelimit-limit-usd", e.limit.to_string()),
        header("x-ratelimit-remaining-usd", remaining.to_string()),
        header(
            "x-ratelimit-scope",
            format!("{}/{}", e.scope.as_str(), e.window.as_str()),
        ),
    ];
    if let Some(at) = e.resets_at {
        let seconds = seconds_until(at, now);
        headers.push(header("x-ratelimit-reset-usd", format!("{seconds}s")));
        headers.push(header("retry-after", seconds.to_string()));
    }
    for (name, value) in headers {
        if let Some(value) = value {
            error = error.with_header(name, value);
        }
    }
    error
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits_with(scope: Scope, owner: &str, limits: SpendLimits) -> Limits {
        let mut map = HashMap::new();
        let guard = Guard::new(limits);
        for window in Window::ALL {
            guard.counters[index(window)].roll(period_id(window, NOW));
        }
        map.insert((scope, owner.to_owned()), Arc::new(guard));
        Limits {
            guards: ArcSwap::from_pointee(map),
        }
    }

    const NOW: i64 = 1_795_910_400_000;

    #[test]
    fn concurrent_reservations_never_pass_the_limit() {
        let user = UserId::new();
        let limits = Arc::new(limits_with(
            Scope::User,
            &user.to_string(),
            SpendLimits {
                day: Some(Nanos(1_000)),
                ..SpendLimits::default()
            },
        ));
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let limits = limits.clone();
                    s.spawn(move || {
                        (0..1_000)
                            .filter(|_| limits.reserve(KeyId::new(), user, Nanos(3), NOW).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(passed, 333, "exactly floor(1000 / 3) reservations fit");
    }

    #[test]
    fn a_refusal_gives_back_what_it_took_and_settling_keeps_the_cost() {
        let (key, user) = (KeyId::new(), UserId::new());
        let limits = limits_with(
            Scope::User,
            &user.to_string(),
            SpendLimits {
                total: Some(Nanos(100)),
                month: Some(Nanos(50)),
                ..SpendLimits::default()
            },
        );
        // The total fits, the month does not: the total's share is given back.
        assert!(limits.reserve(key, user, Nanos(60), NOW).is_err());
        let guard = limits.guard(Scope::User, &user.to_string()).unwrap();
        assert_eq!(guard.used(Window::Total, NOW), Nanos::ZERO);
        let reservation = limits.reserve(key, user, Nanos(40), NOW).unwrap();
        assert_eq!(guard.used(Window::Month, NOW), Nanos(40));
        reservation.settle(Nanos(15));
        assert_eq!(guard.used(Window::Month, NOW), Nanos(15));
        assert_eq!(guard.used(Window::Total, NOW), Nanos(15));
        // A new day does not reset the month; a new month does.
        let next_month = period(Window::Month, NOW).ends.unwrap();
        assert!(
            limits
                .reserve(key, user, Nanos(35), NOW + 86_400_000)
                .is_ok()
        );
        assert!(
            limits
                .reserve(key, user, Nanos(1), NOW + 86_400_000)
                .is_err()
        );
        assert!(limits.reserve(key, user, Nanos(40), next_month).is_ok());
        assert_eq!(guard.used(Window::Month, next_month), Nanos(40));
    }
}
