//! A channel's health, in atomics: its moving latency, the requests in flight, and its circuit
//! breaker. Read and written by every request without a lock; small races only blur a moving
//! average or let one extra request through, never corrupt a state.
//!
//! The breaker: `failure_threshold` consecutive failures eject the channel for a cooling period
//! that doubles on each ejection in a row (up to `eject_max`). When it ends, one request is let
//! through as a probe: success restores the channel, failure ejects it again for longer. An
//! upstream's `Retry-After` cools the channel for that long, without counting as an ejection.

use super::RoutingConfig;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use switchyard_core::catalog::UnixMillis;

/// Whether a channel may take a request now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// Its ejection is over: this request is the one probe.
    Probe,
    /// Ejected by the breaker (usable only when nothing else is).
    Ejected,
    /// Cooling down after the upstream's `Retry-After`, until this time.
    Cooling(UnixMillis),
}

/// The state an operator sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Healthy,
    /// Ejected until this time (then probed).
    Ejected(UnixMillis),
    /// Honouring an upstream's `Retry-After` until this time.
    Cooling(UnixMillis),
}

#[derive(Debug, Default)]
pub struct Health {
    /// Moving average of the time to the response head, in µs; 0 before the first sample.
    ewma_us: AtomicU64,
    inflight: AtomicU32,
    /// Failures in a row.
    failures: AtomicU32,
    /// Ejections in a row (each doubles the next cooling period).
    ejections: AtomicU32,
    ejected: AtomicBool,
    /// Until when the channel is ejected (with `ejected`) or cooling (without).
    closed_until: AtomicI64,
    probing: AtomicBool,
    /// Counters for the operator: every failure and ejection since start.
    pub total_failures: AtomicU64,
    pub total_ejections: AtomicU64,
}

/// What a failure did to the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    Counted,
    /// The breaker opened: ejected for this long.
    Ejected(Duration),
}

impl Health {
    pub fn admit(&self, now: UnixMillis) -> Admit {
        let until = self.closed_until.load(Relaxed);
        let ejected = self.ejected.load(Relaxed);
        if now < until {
            return if ejected {
                Admit::Ejected
            } else {
                Admit::Cooling(until)
            };
        }
        if !ejected {
            return Admit::Yes;
        }
        if self.probing.load(Relaxed) {
            Admit::Ejected
        } else {
            Admit::Probe
        }
    }

    /// Takes the one probe of an ejected channel; `false` if another request has it.
    pub fn claim_probe(&self) -> bool {
        self.probing
            .compare_exchange(false, true, Relaxed, Relaxed)
            .is_ok()
    }

    pub fn state(&self, now: UnixMillis) -> State {
        let until = self.closed_until.load(Relaxed);
        match (self.ejected.load(Relaxed), now < until) {
            (true, _) => State::Ejected(until),
            (false, true) => State::Cooling(until),
            (false, false) => State::Healthy,
        }
    }

    /// The moving latency in µs (`None` before any sample).
    pub fn latency_us(&self) -> Option<u64> {
        Some(self.ewma_us.load(Relaxed)).filter(|&v| v > 0)
    }

    pub fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// Counts a request in flight until the guard drops.
    pub fn start(self: &Arc<Self>, probe: bool) -> InFlight {
        self.inflight.fetch_add(1, Relaxed);
        InFlight {
            health: self.clone(),
            probe,
        }
    }

    /// A response head arrived after `latency` (an answer, or a client's 4xx: the channel
    /// works). Closes the breaker.
    pub fn succeeded(&self, latency: Duration) {
        let sample = (latency.as_micros() as u64).max(1);
        let old = self.ewma_us.load(Relaxed);
        // α = 1/8: a few dozen requests forget a past spike.
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.ewma_us.store(new.max(1), Relaxed);
        self.failures.store(0, Relaxed);
        if self.ejected.load(Relaxed) {
            self.ejected.store(false, Relaxed);
            self.ejections.store(0, Relaxed);
            self.closed_until.store(0, Relaxed);
            tracing::info!("channel restored after a successful probe");
        }
        self.probing.store(false, Relaxed);
    }

    /// A connect error, a timeout or a 5xx.
    pub fn failed(&self, now: UnixMillis, config: &RoutingConfig) -> AfterFailure {
        self.total_failures.fetch_add(1, Relaxed);
        let in_a_row = self.failures.fetch_add(1, Relaxed) + 1;
        let was_probe = self.probing.swap(false, Relaxed);
        let ejected = self.ejected.load(Relaxed);
        if was_probe || !ejected && in_a_row >= config.failure_threshold {
            let n = self.ejections.fetch_add(1, Relaxed).min(16);
            let period = config
                .eject_base
                .saturating_mul(1 << n)
                .min(config.eject_max);
            self.ejected.store(true, Relaxed);
            self.closed_until
                .store(now + period.as_millis() as i64, Relaxed);
            self.failures.store(0, Relaxed);
            self.total_ejections.fetch_add(1, Relaxed);
            return AfterFailure::Ejected(period);
        }
        AfterFailure::Counted
    }

    /// The upstream said when to come back (`Retry-After`).
    pub fn cool(&self, now: UnixMillis, period: Duration) {
        let until = now + period.as_millis() as i64;
        self.closed_until.fetch_max(until, Relaxed);
    }
}

/// A request in flight on a channel. A probe that ends without a verdict (the client left)
/// lets the next request probe instead.
#[derive(Debug)]
pub struct InFlight {
    health: Arc<Health>,
    probe: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.health.inflight.fetch_sub(1, Relaxed);
        if self.probe {
            self.health.probing.store(false, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RoutingConfig {
        RoutingConfig {
            failure_threshold: 3,
            eject_base: Duration::from_millis(100),
            eject_max: Duration::from_millis(350),
            ..RoutingConfig::default()
        }
    }

    #[test]
    fn ejects_after_consecutive_failures_and_restores_after_a_probe() {
        let h = Health::default();
        let c = config();
        assert_eq!(h.failed(0, &c), AfterFailure::Counted);
        assert_eq!(h.failed(0, &c), AfterFailure::Counted);
        h.succeeded(Duration::from_millis(5)); // breaks the run
        assert_eq!(h.failed(0, &c), AfterFailure::Counted);
        assert_eq!(h.failed(0, &c), AfterFailure::Counted);
        assert_eq!(
            h.failed(10, &c),
            AfterFailure::Ejected(Duration::from_millis(100))
        );
        assert_eq!(h.admit(50), Admit::Ejected);
        assert_eq!(h.state(50), State::Ejected(110));
        // The cooling period is over: one probe, and only one.
        assert_eq!(h.admit(110), Admit::Probe);
        assert!(h.claim_probe());
        assert_eq!(h.admit(110), Admit::Ejected);
        assert!(!h.claim_probe());
        // The probe fails: ejected again, twice as long.
        assert_eq!(
            h.failed(120, &c),
            AfterFailure::Ejected(Duration::from_millis(200))
        );
        assert_eq!(h.admit(300), Admit::Ejected);
        assert_eq!(h.admit(320), Admit::Probe);
        assert!(h.claim_probe());
        assert_eq!(
            h.failed(320, &c),
            AfterFailure::Ejected(Duration::from_millis(350)),
            "capped at eject_max"
        );
        assert_eq!(h.admit(670), Admit::Probe);
        assert!(h.claim_probe());
        h.succeeded(Duration::from_millis(5));
        assert_eq!(h.admit(671), Admit::Yes);
        assert_eq!(h.state(671), State::Healthy);
        assert_eq!(h.total_ejections.load(Relaxed), 3);
    }

    #[test]
    fn an_abandoned_probe_lets_another_request_probe() {
        let h = Arc::new(Health::default());
        let c = config();
        for _ in 0..3 {
            h.failed(0, &c);
        }
        assert!(h.claim_probe());
        {
            let _flight = h.start(true);
            assert_eq!(h.inflight(), 1);
        }
        assert_eq!(h.inflight(), 0);
        assert_eq!(h.admit(100), Admit::Probe);
        assert!(h.claim_probe());
    }

    #[test]
    fn retry_after_cools_without_ejecting() {
        let h = Health::default();
        h.cool(1_000, Duration::from_secs(2));
        assert_eq!(h.admit(1_500), Admit::Cooling(3_000));
        assert_eq!(h.admit(3_000), Admit::Yes);
    }

    #[test]
    fn latency_is_a_moving_average() {
        let h = Health::default();
        assert_eq!(h.latency_us(), None);
        h.succeeded(Duration::from_micros(800));
        assert_eq!(h.latency_us(), Some(800));
        for _ in 0..100 {
            h.succeeded(Duration::from_micros(100));
        }
        let settled = h.latency_us().unwrap();
        assert!((100..=110).contains(&settled), "{settled}");
    }
}
