//! Balances on the hot path: an in-memory budget per user, reserved and released with atomics,
//! kept in step with the ledger in the store without a database round trip per request.
//!
//! Each user's [`Budget`] holds what they may still reserve: their available balance in the
//! ledger (posted balance − open holds + overdraft) less the effects of this node's requests
//! that are not yet written. A request reserves its worst-case cost with one compare-and-swap
//! (`try_reserve`), and gives back the difference to its real cost when it ends (`release`).
//! The matching ledger transfers (hold, then settle or void) go to the batched writer.
//!
//! Staying in step: [`Seen`] remembers, per user, the ledger's available amount as this node
//! last knew it. The writer adds the effects of every batch it writes (its own, already in the
//! budgets); the refresher reads what changed in the store and adds the difference to the
//! budgets: only money moved by others (top-ups, the CLI, other replicas, the sweeper). Both
//! hold one async lock while they read or write the store, so neither sees the other half done.
//!
//! Invariant: a budget never goes below zero through `try_reserve` (what a request may cost is
//! always reserved first); only refunds and the overage of a request whose upstream ignored
//! `max_tokens` can take it lower, and then every further paid request is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use switchyard_core::ledger::AccountId;
use switchyard_core::money::Prices;
use switchyard_core::{Nanos, Usage, UserId};
use switchyard_store::{Batch, SharedReservations, Store, StoreError};
use tokio::sync::{Mutex, Notify, watch};

/// Settings of the balance check.
#[derive(Clone, Copy, Debug)]
pub struct MoneyConfig {
    /// Refuse requests the balance cannot cover (prepaid). When false, requests are still
    /// held, settled and charged, but a balance may run negative (postpaid accounts).
    pub prepaid: bool,
    /// How long a hold lives before the sweeper may void it. Longer than any request.
    pub hold_ttl: Duration,
    /// Output tokens assumed when a request sets no `max_tokens`.
    pub default_max_output_tokens: u64,
}

impl Default for MoneyConfig {
    fn default() -> Self {
        MoneyConfig {
            prepaid: true,
            hold_ttl: Duration::from_secs(15 * 60),
            default_max_output_tokens: 4_096,
        }
    }
}

/// What one user may still reserve, in nano-USD.
#[derive(Debug, Default)]
pub struct Budget {
    available: AtomicI64,
    /// Cluster mode only: one reservation of this user at a time on this replica goes through
    /// the shared check, so the budget it reports there is exact (see
    /// `switchyard_store::SharedReservations`).
    pub(crate) cluster_turn: tokio::sync::Mutex<()>,
}

impl Budget {
    /// Reserves `amount` if the budget covers it (or unconditionally when `enforce` is false).
    /// On refusal returns what is available.
    pub fn try_reserve(&self, amount: Nanos, enforce: bool) -> Result<(), Nanos> {
        if !enforce {
            self.available.fetch_sub(amount.0, Ordering::AcqRel);
            return Ok(());
        }
        let mut current = self.available.load(Ordering::Acquire);
        loop {
            if current < amount.0 {
                return Err(Nanos(current));
            }
            match self.available.compare_exchange_weak(
                current,
                current - amount.0,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
    }

    /// Gives back `amount` (negative: takes more, for a cost above its hold).
    pub fn release(&self, amount: Nanos) {
        self.available.fetch_add(amount.0, Ordering::AcqRel);
    }

    pub fn available(&self) -> Nanos {
        Nanos(self.available.load(Ordering::Acquire))
    }
}

/// The ledger as this node last saw it (see the module doc).
#[derive(Debug, Default)]
struct Seen {
    available: HashMap<UserId, i64>,
    /// Transfers up to this sequence number have been looked at.
    seq: i64,
}

/// Transfers re-read behind the last seen sequence number on every refresh. On PostgreSQL a
/// sequence number is taken before its transaction commits, so a later number can become
/// visible first; re-reading a window behind catches the late one. Re-reading is harmless:
/// refreshes add differences, not amounts.
const SEQ_LOOKBACK: i64 = 10_000;

/// Every user's budget and the machinery that keeps them in step with the ledger.
#[derive(Debug)]
pub struct Money {
    budgets: RwLock<HashMap<UserId, Arc<Budget>>>,
    /// Cluster mode: what the other replicas reserved lately.
    shared: Option<SharedReservations>,
    seen: Mutex<Seen>,
    config: MoneyConfig,
    wake: Notify,
    requested: AtomicU64,
    completed: watch::Sender<u64>,
}

impl Money {
    pub fn new(config: MoneyConfig) -> Money {
        Money {
            budgets: RwLock::default(),
            shared: None,
            seen: Mutex::default(),
            config,
            wake: Notify::new(),
            requested: AtomicU64::new(0),
            completed: watch::Sender::new(0),
        }
    }

    /// Cluster mode: every reservation is also checked against what other replicas reserved.
    pub fn with_shared(mut self, shared: SharedReservations) -> Money {
        self.shared = Some(shared);
        self
    }

    pub fn shared(&self) -> Option<&SharedReservations> {
        self.shared.as_ref()
    }

    pub fn config(&self) -> MoneyConfig {
        self.config
    }

    /// The budget of `user`, created empty on first use.
    pub fn budget(&self, user: UserId) -> Arc<Budget> {
        if let Some(budget) = self
            .budgets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&user)
        {
            return budget.clone();
        }
        self.budgets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(user)
            .or_default()
            .clone()
    }

    /// The most output tokens a request allows: its `max_tokens` (else the configured default)
    /// for each of its choices; none for a model without output (embeddings).
    pub fn max_output_tokens(
        &self,
        max_tokens: Option<u64>,
        choices: u64,
        has_output: bool,
    ) -> u64 {
        if !has_output {
            return 0;
        }
        max_tokens
            .unwrap_or(self.config.default_max_output_tokens)
            .saturating_mul(choices.max(1))
    }

    /// The worst case a request can cost: every prompt token (at most one per byte of the
    /// body) and every output token it allows ([`Money::max_output_tokens`]), at `prices`.
    pub fn worst_case(prices: Prices, prompt_tokens: u64, output_tokens: u64) -> Nanos {
        prices.cost(&Usage {
            prompt_tokens,
            completion_tokens: output_tokens,
            ..Usage::default()
        })
    }

    /// Writes a batch of transfers and records their effect as seen (the budgets already
    /// hold it). Called by the writer, which retries on error.
    pub(crate) async fn write(
        &self,
        store: &Store,
        transfers: &[switchyard_core::ledger::Transfer],
    ) -> Result<Batch, StoreError> {
        let mut seen = self.seen.lock().await;
        let batch = store.apply_transfers(transfers).await?;
        for (account, delta) in &batch.available_deltas {
            if let Some(user) = account.user_id() {
                *seen.available.entry(user).or_default() += delta.0;
            }
        }
        Ok(batch)
    }

    /// Reads what changed in the ledger (everything when `full`) and moves each user's budget
    /// by what others changed.
    pub async fn refresh(&self, store: &Store, full: bool) -> Result<(), StoreError> {
        let mut seen = self.seen.lock().await;
        let (seq, accounts) = if full {
            let (seq, _) = store.accounts_changed_since(i64::MAX).await?;
            let accounts = store.user_accounts().await?;
            (seq, accounts.into_iter().map(|(_, a)| a).collect())
        } else {
            store
                .accounts_changed_since(seen.seq.saturating_sub(SEQ_LOOKBACK))
                .await?
        };
        for account in accounts {
            let Some(user) = account.id.as_ref().and_then(AccountId::user_id) else {
                continue;
            };
            let now = account.totals.available().0 + account.overdraft.0;
            let before = seen.available.insert(user, now).unwrap_or(0);
            if now != before {
                self.budget(user).release(Nanos(now - before));
            }
        }
        seen.seq = seen.seq.max(seq);
        Ok(())
    }

    /// Tells the refresher that money moved outside the hot path (a top-up, a credit).
    pub fn changed(&self) {
        self.requested.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Like [`Money::changed`], and waits until a refresh that started after this call ended.
    pub async fn changed_and_refreshed(&self) {
        let target = self.requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake.notify_one();
        let mut done = self.completed.subscribe();
        let _ = done.wait_for(|n| *n >= target).await;
    }

    /// The refresher: a full reload when asked (rare: management actions), a cheap incremental
    /// one every `every`. Ends with `cancel`.
    pub async fn run_refresher(
        self: Arc<Self>,
        store: Store,
        every: Duration,
        cancel: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let full = tokio::select! {
                () = cancel.cancelled() => return,
                () = self.wake.notified() => true,
                () = tokio::time::sleep(every) => false,
            };
            let target = self.requested.load(Ordering::Acquire);
            match self.refresh(&store, full).await {
                Ok(()) => {
                    self.completed.send_if_modified(|n| {
                        let moved = *n < target;
                        *n = (*n).max(target);
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "refreshing balances failed; retrying"),
            }
        }
    }
}

/// A request's reservation, resolved exactly once with the request's log row.
#[derive(Debug)]
pub(crate) struct Hold {
    pub user: UserId,
    pub amount: Nanos,
    pub budget: Arc<Budget>,
}
