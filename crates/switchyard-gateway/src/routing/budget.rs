//! The retry budget: retries may add at most `ratio` of the requests, plus a small floor, so a
//! failing upstream sees at most `(1 + ratio) × requests + floor` attempts however it fails.
//!
//! A token bucket in thousandths of a retry: it starts full at the floor, every request puts
//! `ratio` of a retry in (up to a cap, so a quiet hour does not bank a storm), and every retry
//! takes one out. One atomic, no lock.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

const ONE: i64 = 1_000;

#[derive(Debug)]
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl RetryBudget {
    /// `percent` of requests may be retried, plus `floor` retries.
    pub fn new(percent: u32, floor: u32) -> RetryBudget {
        let floor = i64::from(floor) * ONE;
        RetryBudget {
            balance: AtomicI64::new(floor),
            deposit: i64::from(percent) * ONE / 100,
            // Enough for bursts, not for a storm: the floor plus a hundred retries' worth.
            cap: floor + 100 * ONE,
        }
    }

    /// A request arrived.
    pub fn deposit(&self) {
        let _ = self
            .balance
            .fetch_update(Relaxed, Relaxed, |b| Some((b + self.deposit).min(self.cap)));
    }

    /// Takes one retry out; `false` when the budget is spent.
    pub fn withdraw(&self) -> bool {
        self.balance
            .fetch_update(Relaxed, Relaxed, |b| (b >= ONE).then_some(b - ONE))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the order of requests and retries, retries never exceed
        /// `percent × requests + floor`.
        #[test]
        fn retries_stay_within_the_budget(steps in proptest::collection::vec(any::<bool>(), 0..2_000)) {
            let budget = RetryBudget::new(20, 10);
            let (mut requests, mut retries) = (0u64, 0u64);
            for request in steps {
                if request {
                    budget.deposit();
                    requests += 1;
                } else if budget.withdraw() {
                    retries += 1;
                }
            }
            prop_assert!(retries * 100 <= 20 * requests + 10 * 100, "{retries} retries for {requests} requests");
        }
    }

    #[test]
    fn a_storm_of_failures_gets_a_fifth_retried() {
        let budget = RetryBudget::new(20, 10);
        let mut retries = 0;
        for _ in 0..1_000 {
            budget.deposit();
            // Every request fails and wants two retries.
            for _ in 0..2 {
                if budget.withdraw() {
                    retries += 1;
                }
            }
        }
        assert_eq!(retries, 210);
    }
}
