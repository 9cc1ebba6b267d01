//! Holds the writer keeps back while their requests run.
//!
//! A request's hold lives in its user's in-memory budget from the first moment; the ledger
//! needs it only if the request outlives a short delay (cluster replicas and the sweeper read
//! open holds from the store). So the writer parks each hold it receives. When the hold's
//! resolution arrives while it is parked, the two are written as their outcome: one posted
//! transfer of the settled amount under the resolution's id, or nothing for a void. A hold
//! still open after the delay is written as a hold, and its resolution later resolves it in
//! the store as before.
//!
//! Invariant: balances come out as if every hold and resolution had been written one by one.
//! Invariant: nothing parked is lost on a graceful stop: a barrier or the end of the channel
//! releases every parked hold to be written.

use std::collections::HashMap;
use switchyard_core::Nanos;
use switchyard_core::ledger::{Phase, Transfer};

#[derive(Debug, Default)]
pub(crate) struct Parked {
    holds: HashMap<String, Transfer>,
}

impl Parked {
    /// Takes a batch's transfers in the order they were queued and returns what to write now.
    /// Holds are parked; a resolution of a parked hold becomes its outcome; holds created
    /// `delay_ms` or more before `now` (every one, when `everything`) are released as holds.
    pub(crate) fn take(
        &mut self,
        transfers: Vec<Transfer>,
        now: i64,
        delay_ms: i64,
        everything: bool,
    ) -> Vec<Transfer> {
        let mut out = Vec::with_capacity(transfers.len());
        for t in transfers {
            match &t.phase {
                Phase::Pending { .. } => {
                    // A replayed hold is the same hold: the ledger would call it a duplicate.
                    self.holds.entry(t.id.clone()).or_insert(t);
                }
                Phase::Post { pending } | Phase::Void { pending } => {
                    match self.holds.remove(pending.as_str()) {
                        Some(hold) => out.extend(outcome(hold, t)),
                        None => out.push(t),
                    }
                }
                Phase::Posted => out.push(t),
            }
        }
        let due = |hold: &Transfer| everything || now.saturating_sub(hold.created_at) >= delay_ms;
        out.extend(
            self.holds
                .extract_if(|_, hold| due(hold))
                .map(|(_, hold)| hold),
        );
        out
    }

    /// When the oldest parked hold falls due (Unix ms), if any is parked.
    pub(crate) fn next_due(&self, delay_ms: i64) -> Option<i64> {
        self.holds
            .values()
            .map(|h| h.created_at.saturating_add(delay_ms))
            .min()
    }

    pub(crate) fn len(&self) -> usize {
        self.holds.len()
    }
}

/// A hold and its resolution as one transfer: what the resolution moves (at most the hold),
/// from and to the hold's accounts, under the resolution's id. A void, or a post of nothing,
/// moves nothing and is not written at all.
fn outcome(hold: Transfer, resolution: Transfer) -> Option<Transfer> {
    let moved = resolution.amount.min(hold.amount);
    let posts = matches!(resolution.phase, Phase::Post { .. });
    (posts && moved > Nanos::ZERO).then_some(Transfer {
        debit: hold.debit,
        credit: hold.credit,
        amount: moved,
        phase: Phase::Posted,
        ..resolution
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchyard_core::ledger::{AccountId, Book};
    use switchyard_core::{RequestId, UserId};

    const DELAY: i64 = 1_000;

    #[test]
    fn a_hold_resolved_while_parked_is_written_as_its_outcome() {
        let user = UserId::new();
        let (a, b, c) = (RequestId::new(), RequestId::new(), RequestId::new());
        let mut parked = Parked::default();
        let first = parked.take(
            vec![
                Transfer::hold(a, user, Nanos(100), 0, 60_000),
                Transfer::hold(b, user, Nanos(100), 0, 60_000),
                Transfer::hold(c, user, Nanos(100), 0, 60_000),
            ],
            10,
            DELAY,
            false,
        );
        assert!(first.is_empty(), "young holds wait: {first:?}");
        assert_eq!(parked.next_due(DELAY), Some(DELAY));
        // a settles in the next batch, b is voided, c is still running.
        let second = parked.take(
            vec![
                Transfer::settle(a, user, Nanos(30), 20),
                Transfer::settle(b, user, Nanos::ZERO, 20),
            ],
            20,
            DELAY,
            false,
        );
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].phase, Phase::Posted);
        assert_eq!(second[0].amount, Nanos(30));
        assert_eq!(second[0].debit, AccountId::user(user));
        assert_eq!(parked.len(), 1);
        // c falls due and is written as a hold; its settlement later resolves it in the store.
        let third = parked.take(Vec::new(), DELAY, DELAY, false);
        assert_eq!(third.len(), 1);
        assert!(matches!(third[0].phase, Phase::Pending { .. }));
        let late = parked.take(
            vec![Transfer::settle(c, user, Nanos(10), 1_500)],
            1_500,
            DELAY,
            false,
        );
        assert!(matches!(late[0].phase, Phase::Post { .. }));
        assert_eq!(parked.len(), 0);
        assert_eq!(parked.next_due(DELAY), None);
    }

    #[test]
    fn a_barrier_or_the_end_releases_every_parked_hold() {
        let user = UserId::new();
        let mut parked = Parked::default();
        let hold = Transfer::hold(RequestId::new(), user, Nanos(5), 0, 60_000);
        assert!(parked.take(vec![hold.clone()], 0, DELAY, false).is_empty());
        assert_eq!(parked.take(Vec::new(), 1, DELAY, true), vec![hold]);
        assert_eq!(parked.len(), 0);
    }

    /// One step of a request's life as the hot path queues it.
    #[derive(Clone, Debug)]
    enum Step {
        Hold(usize, i64),
        Settle(usize, i64),
        /// A batch boundary, `ms` later, with or without a barrier.
        Flush(i64, bool),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            prop_oneof![
                (0..12usize, 1..500i64).prop_map(|(r, a)| Step::Hold(r, a)),
                (0..12usize, 0..700i64).prop_map(|(r, c)| Step::Settle(r, c)),
                (0..1_500i64, any::<bool>()).prop_map(|(ms, b)| Step::Flush(ms, b)),
            ],
            0..80,
        )
    }

    proptest! {
        /// Whatever the batch boundaries and delays, the ledger ends where writing every hold
        /// and settlement as queued would have left it, and nothing stays parked at the end.
        #[test]
        fn parking_never_changes_a_balance(steps in steps()) {
            let user = UserId::new();
            let requests: Vec<RequestId> = (0..12).map(|_| RequestId::new()).collect();
            let (mut held, mut settled) = (vec![false; 12], vec![false; 12]);
            let (mut full, mut short) = (Book::default(), Book::default());
            let mut parked = Parked::default();
            let mut queue = Vec::new();
            let mut now = 0;
            for step in steps {
                match step {
                    // The hot path holds once, then settles once.
                    Step::Hold(r, amount) if !held[r] => {
                        held[r] = true;
                        queue.push(Transfer::hold(requests[r], user, Nanos(amount), now, 600_000));
                    }
                    Step::Settle(r, cost) if held[r] && !settled[r] => {
                        settled[r] = true;
                        queue.push(Transfer::settle(requests[r], user, Nanos(cost), now));
                    }
                    Step::Flush(ms, barrier) => {
                        now += ms;
                        for t in &queue {
                            full.apply(t).unwrap();
                        }
                        for t in parked.take(std::mem::take(&mut queue), now, DELAY, barrier) {
                            short.apply(&t).unwrap();
                        }
                    }
                    _ => {}
                }
            }
            for t in &queue {
                full.apply(t).unwrap();
            }
            for t in parked.take(queue, now, DELAY, true) {
                short.apply(&t).unwrap();
            }
            prop_assert_eq!(parked.len(), 0);
            let me = AccountId::user(user);
            prop_assert_eq!(full.totals(&me).balance(), short.totals(&me).balance());
            prop_assert_eq!(full.totals(&me).available(), short.totals(&me).available());
            prop_assert_eq!(
                full.totals(&AccountId::revenue()).credits_posted,
                short.totals(&AccountId::revenue()).credits_posted
            );
            prop_assert_eq!(full.open_holds().count(), short.open_holds().count());
        }
    }
}
