//! Sign-in throttling: failures counted per account and per client address over a sliding
//! window, in memory on each node.
//!
//! Per node is enough to make guessing slow (N replicas allow N times the rate, still far
//! too slow for a password list) and needs no shared state. Nobody is locked out for good:
//! a failure stops counting once it is older than the window, and a success clears the
//! account's count.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures are allowed within which window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub window: Duration,
    pub per_account: usize,
    pub per_address: usize,
}

impl Default for Limits {
    /// 10 failures per account and 50 per address in 15 minutes.
    fn default() -> Self {
        Limits {
            window: Duration::from_secs(15 * 60),
            per_account: 10,
            per_address: 50,
        }
    }
}

/// What is counted: an account (its normalised email) or a client address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Subject {
    Account(String),
    Address(String),
}

/// Failure times by subject; memory is bounded by pruning subjects whose failures all left the
/// window whenever the map grows past [`PRUNE_AT`].
#[derive(Debug)]
pub struct Throttle {
    limits: Limits,
    failures: Mutex<HashMap<Subject, VecDeque<Instant>>>,
}

const PRUNE_AT: usize = 10_000;

impl Throttle {
    pub fn new(limits: Limits) -> Throttle {
        Throttle {
            limits,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn subjects(&self, email: &str, address: &str) -> [(Subject, usize); 2] {
        [
            (
                Subject::Account(email.trim().to_lowercase()),
                self.limits.per_account,
            ),
            (
                Subject::Address(address.to_owned()),
                self.limits.per_address,
            ),
        ]
    }

    /// `Err(wait)` when the account or the address has used up its failures: the next attempt
    /// may come after `wait`.
    pub fn check(&self, email: &str, address: &str, now: Instant) -> Result<(), Duration> {
        let mut failures = self.lock();
        let mut wait = Duration::ZERO;
        for (subject, limit) in self.subjects(email, address) {
            if let Some(times) = failures.get_mut(&subject) {
                self.forget_old(times, now);
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(self.limits.window.saturating_sub(now - *oldest));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a failed sign-in against the account and the address.
    pub fn failed(&self, email: &str, address: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() >= PRUNE_AT {
            failures.retain(|_, times| {
                self.forget_old(times, now);
                !times.is_empty()
            });
        }
        for (subject, limit) in self.subjects(email, address) {
            let times = failures.entry(subject).or_default();
            times.push_back(now);
            // Only the newest `limit` matter for the decision.
            while times.len() > limit {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in clears the account's failures (not the address's, which may be
    /// shared with someone still guessing).
    pub fn succeeded(&self, email: &str) {
        self.lock()
            .remove(&Subject::Account(email.trim().to_lowercase()));
    }

    fn forget_old(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.limits.window)
        {
            times.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, VecDeque<Instant>>> {
        // A panic while holding the lock leaves counts that are still counts; keep using them.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Limits {
            window: Duration::from_secs(60),
            per_account: 3,
            per_address: 5,
        })
    }

    #[test]
    fn an_account_is_throttled_after_its_failures_until_they_age_out() {
        let t = throttle();
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(t.check("Ann@x.org", "1.1.1.1", start), Ok(()));
            t.failed(
                "ann@x.org ",
                &format!("10.0.0.{i}"),
                start + Duration::from_secs(i),
            );
        }
        // Any address, any spelling of the email.
        let now = start + Duration::from_secs(10);
        assert_eq!(
            t.check("ANN@x.org", "9.9.9.9", now),
            Err(Duration::from_secs(50))
        );
        assert_eq!(t.check("bob@x.org", "9.9.9.9", now), Ok(()));
        // The oldest failure leaves the window at 60 s: one more attempt is allowed.
        assert_eq!(
            t.check("ann@x.org", "9.9.9.9", start + Duration::from_secs(60)),
            Ok(())
        );
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let t = throttle();
        let now = Instant::now();
        for i in 0..5 {
            t.failed(&format!("user{i}@x.org"), "1.2.3.4", now);
        }
        assert!(t.check("new@x.org", "1.2.3.4", now).is_err());
        assert_eq!(t.check("new@x.org", "5.6.7.8", now), Ok(()));
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let t = throttle();
        let now = Instant::now();
        for _ in 0..3 {
            t.failed("ann@x.org", "1.2.3.4", now);
        }
        t.succeeded("ann@x.org");
        assert_eq!(t.check("ann@x.org", "5.6.7.8", now), Ok(()));
        t.failed("a@x.org", "1.2.3.4", now);
        t.failed("b@x.org", "1.2.3.4", now);
        assert!(
            t.check("c@x.org", "1.2.3.4", now).is_err(),
            "3 + 2 from the address"
        );
    }
}
