//! The double-entry ledger's vocabulary and rules.
//!
//! Money moves only as [`Transfer`]s between two [`AccountId`]s, each for a positive amount,
//! each with an idempotency id: applying the same id twice changes nothing. A transfer is
//! *posted* (final), *pending* (a hold: reserved, not yet moved), or the one resolution of a
//! pending transfer: *post* (moves part or all of the held amount) or *void* (releases it).
//! Modelled on TigerBeetle's two-phase transfers.
//!
//! Invariant: for every account, the stored totals equal the sums of its transfers, and the sum
//! of all debits equals the sum of all credits (each transfer is one debit and one credit).
//! [`Book`] is the reference implementation of these rules in memory; the store applies the
//! same rules in SQL, and tests compare the two.

use crate::money::Nanos;
use crate::{RequestId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A ledger account: `user:<uuid>` for a user's prepaid balance, or one of the platform's
/// named accounts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(String);

impl AccountId {
    /// What users spend: every charge is credited here.
    pub const REVENUE: &'static str = "revenue";
    /// Where free credit comes from: new-user credit, referral rewards, demo credit.
    pub const PROMOTIONS: &'static str = "promotions";
    /// Operator adjustments with a reason.
    pub const ADJUSTMENTS: &'static str = "adjustments";
    /// Redemption codes: value comes from here when a code is redeemed.
    pub const CODES: &'static str = "codes";

    pub fn user(user: UserId) -> AccountId {
        AccountId(format!("user:{user}"))
    }

    /// A payment processor's clearing account, e.g. `processor:stripe`.
    pub fn processor(name: &str) -> AccountId {
        AccountId(format!("processor:{name}"))
    }

    pub fn named(name: &'static str) -> AccountId {
        AccountId(name.to_owned())
    }

    pub fn revenue() -> AccountId {
        AccountId::named(Self::REVENUE)
    }

    pub fn promotions() -> AccountId {
        AccountId::named(Self::PROMOTIONS)
    }

    pub fn adjustments() -> AccountId {
        AccountId::named(Self::ADJUSTMENTS)
    }

    pub fn codes() -> AccountId {
        AccountId::named(Self::CODES)
    }

    /// Rebuilds an id read back from the store.
    pub fn from_stored(text: String) -> AccountId {
        AccountId(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The user whose balance this is, for `user:` accounts.
    pub fn user_id(&self) -> Option<UserId> {
        self.0.strip_prefix("user:")?.parse().ok()
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why money moved. Stored as text; reports group by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// A request's hold, its settlement, or its release.
    Request,
    /// A request charged after its hold had already been voided (it outlived the hold's TTL).
    LateCharge,
    TopUp,
    Refund,
    Promotion,
    Referral,
    Redemption,
    Adjustment,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Request => "request",
            TransferKind::LateCharge => "late_charge",
            TransferKind::TopUp => "top_up",
            TransferKind::Refund => "refund",
            TransferKind::Promotion => "promotion",
            TransferKind::Referral => "referral",
            TransferKind::Redemption => "redemption",
            TransferKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(text: &str) -> Option<TransferKind> {
        Some(match text {
            "request" => TransferKind::Request,
            "late_charge" => TransferKind::LateCharge,
            "top_up" => TransferKind::TopUp,
            "refund" => TransferKind::Refund,
            "promotion" => TransferKind::Promotion,
            "referral" => TransferKind::Referral,
            "redemption" => TransferKind::Redemption,
            "adjustment" => TransferKind::Adjustment,
            _ => return None,
        })
    }
}

/// Which of the two phases a transfer belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Moves the amount now, for good.
    Posted,
    /// Reserves the amount on the debit account until resolved or expired.
    Pending {
        /// Unix ms after which the sweeper may void it.
        expires_at: i64,
    },
    /// Resolves `pending` by moving `amount` (at most the held amount); the rest is released.
    Post { pending: String },
    /// Resolves `pending` by releasing all of it.
    Void { pending: String },
}

impl Phase {
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Posted => "posted",
            Phase::Pending { .. } => "pending",
            Phase::Post { .. } => "post",
            Phase::Void { .. } => "void",
        }
    }

    /// The pending transfer this one resolves.
    pub fn resolves(&self) -> Option<&str> {
        match self {
            Phase::Post { pending } | Phase::Void { pending } => Some(pending),
            _ => None,
        }
    }
}

/// One movement of money. `id` is its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub debit: AccountId,
    pub credit: AccountId,
    /// Positive, except for a void or a zero-cost post, which move nothing.
    pub amount: Nanos,
    pub kind: TransferKind,
    pub phase: Phase,
    /// What caused it: a request id, a code, a payment id.
    pub reference: Option<String>,
    /// A human reason (operator adjustments).
    pub memo: Option<String>,
    pub created_at: i64,
}

impl Transfer {
    /// The id of a request's hold. The request id makes every id below unique per request.
    pub fn hold_id(request: RequestId) -> String {
        format!("hold:{request}")
    }

    fn resolution_id(request: RequestId) -> String {
        format!("settle:{request}")
    }

    /// A request's hold of its worst-case cost on the user's balance.
    pub fn hold(
        request: RequestId,
        user: UserId,
        amount: Nanos,
        now: i64,
        ttl_ms: i64,
    ) -> Transfer {
        Transfer {
            id: Transfer::hold_id(request),
            debit: AccountId::user(user),
            credit: AccountId::revenue(),
            amount,
            kind: TransferKind::Request,
            phase: Phase::Pending {
                expires_at: now.saturating_add(ttl_ms),
            },
            reference: Some(request.to_string()),
            memo: None,
            created_at: now,
        }
    }

    /// Settles a request's hold at `cost` (capped at the hold by the ledger rules), or voids
    /// it when the cost is zero. Both share one id: a request resolves once.
    pub fn settle(request: RequestId, user: UserId, cost: Nanos, now: i64) -> Transfer {
        let pending = Transfer::hold_id(request);
        Transfer {
            id: Transfer::resolution_id(request),
            debit: AccountId::user(user),
            credit: AccountId::revenue(),
            amount: cost.max(Nanos::ZERO),
            kind: TransferKind::Request,
            phase: if cost > Nanos::ZERO {
                Phase::Post { pending }
            } else {
                Phase::Void { pending }
            },
            reference: Some(request.to_string()),
            memo: None,
            created_at: now,
        }
    }

    /// A plain, final transfer.
    pub fn posted(
        id: impl Into<String>,
        debit: AccountId,
        credit: AccountId,
        amount: Nanos,
        kind: TransferKind,
        now: i64,
    ) -> Transfer {
        Transfer {
            id: id.into(),
            debit,
            credit,
            amount,
            kind,
            phase: Phase::Posted,
            reference: None,
            memo: None,
            created_at: now,
        }
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> Transfer {
        self.reference = Some(reference.into());
        self
    }

    pub fn with_memo(mut self, memo: impl Into<String>) -> Transfer {
        self.memo = Some(memo.into());
        self
    }

    /// Checks what can be checked without the ledger's state.
    pub fn validate(&self) -> Result<(), LedgerError> {
        if self.id.is_empty() || self.id.len() > 200 {
            return Err(LedgerError::Invalid("the id must be 1 to 200 characters"));
        }
        if self.debit == self.credit {
            return Err(LedgerError::Invalid(
                "debit and credit are the same account",
            ));
        }
        match self.phase {
            Phase::Void { .. } if self.amount != Nanos::ZERO => Err(LedgerError::Invalid(
                "a void moves nothing; its amount must be 0",
            )),
            Phase::Void { .. } | Phase::Post { .. } if self.amount < Nanos::ZERO => {
                Err(LedgerError::Invalid("the amount must not be negative"))
            }
            Phase::Posted | Phase::Pending { .. } if self.amount <= Nanos::ZERO => {
                Err(LedgerError::Invalid("the amount must be positive"))
            }
            _ => Ok(()),
        }
    }
}

/// Why a transfer was not applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("invalid transfer: {0}")]
    Invalid(&'static str),
    #[error("the id `{0}` was already used for a different transfer")]
    IdConflict(String),
}

/// What applying a transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// It was new and is now in the ledger, as given.
    Done,
    /// The same id was applied before; nothing changed.
    Duplicate,
    /// A post or void whose hold was already resolved (voided by the sweeper) or never
    /// recorded. A post is then recorded as a posted [`TransferKind::LateCharge`] of its amount
    /// (the request was served); a void changes nothing.
    Orphan { charged: bool },
}

/// The four totals TigerBeetle keeps per account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub debits_pending: Nanos,
    pub credits_pending: Nanos,
    pub debits_posted: Nanos,
    pub credits_posted: Nanos,
}

impl Totals {
    /// Posted balance from the account holder's side (credits − debits): a user's money.
    pub fn balance(&self) -> Nanos {
        self.credits_posted - self.debits_posted
    }

    /// What is left to spend: the balance less what open holds reserve.
    pub fn available(&self) -> Nanos {
        self.balance() - self.debits_pending
    }
}

/// The ledger rules, in memory. The reference the store is tested against, and small enough to
/// read in one sitting.
#[derive(Clone, Debug, Default)]
pub struct Book {
    totals: BTreeMap<AccountId, Totals>,
    transfers: BTreeMap<String, Transfer>,
    /// Open holds by id.
    open: BTreeMap<String, Transfer>,
    resolved: BTreeSet<String>,
}

impl Book {
    pub fn totals(&self, account: &AccountId) -> Totals {
        self.totals.get(account).copied().unwrap_or_default()
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&AccountId, &Totals)> {
        self.totals.iter()
    }

    pub fn open_holds(&self) -> impl Iterator<Item = &Transfer> {
        self.open.values()
    }

    /// Applies one transfer by the rules in the module doc.
    pub fn apply(&mut self, t: &Transfer) -> Result<Applied, LedgerError> {
        t.validate()?;
        if let Some(previous) = self.transfers.get(&t.id) {
            return if same_effect(previous, t) {
                Ok(Applied::Duplicate)
            } else {
                Err(LedgerError::IdConflict(t.id.clone()))
            };
        }
        let applied = match &t.phase {
            Phase::Posted => {
                self.post(&t.debit, &t.credit, t.amount);
                Applied::Done
            }
            Phase::Pending { .. } => {
                let d = self.totals.entry(t.debit.clone()).or_default();
                d.debits_pending += t.amount;
                let c = self.totals.entry(t.credit.clone()).or_default();
                c.credits_pending += t.amount;
                self.open.insert(t.id.clone(), t.clone());
                Applied::Done
            }
            Phase::Post { pending } | Phase::Void { pending } => match self.open.remove(pending) {
                Some(hold) => {
                    self.release(&hold);
                    let moved = t.amount.min(hold.amount);
                    if matches!(t.phase, Phase::Post { .. }) && moved > Nanos::ZERO {
                        self.post(&hold.debit, &hold.credit, moved);
                    }
                    self.resolved.insert(pending.clone());
                    Applied::Done
                }
                None => {
                    let charged = matches!(t.phase, Phase::Post { .. }) && t.amount > Nanos::ZERO;
                    if charged {
                        self.post(&t.debit, &t.credit, t.amount);
                    }
                    Applied::Orphan { charged }
                }
            },
        };
        self.transfers.insert(t.id.clone(), t.clone());
        Ok(applied)
    }

    /// Voids every hold that expired at `now` (the sweeper). Returns the voided ids.
    pub fn expire(&mut self, now: i64) -> Vec<String> {
        let expired: Vec<String> = self
            .open
            .values()
            .filter(|h| matches!(h.phase, Phase::Pending { expires_at } if expires_at <= now))
            .map(|h| h.id.clone())
            .collect();
        for id in &expired {
            if let Some(hold) = self.open.remove(id) {
                self.release(&hold);
                self.resolved.insert(id.clone());
            }
        }
        expired
    }

    fn post(&mut self, debit: &AccountId, credit: &AccountId, amount: Nanos) {
        self.totals.entry(debit.clone()).or_default().debits_posted += amount;
        self.totals
            .entry(credit.clone())
            .or_default()
            .credits_posted += amount;
    }

    fn release(&mut self, hold: &Transfer) {
        self.totals
            .entry(hold.debit.clone())
            .or_default()
            .debits_pending -= hold.amount;
        self.totals
            .entry(hold.credit.clone())
            .or_default()
            .credits_pending -= hold.amount;
    }

    /// The invariant: debits equal credits, pending and posted.
    pub fn is_balanced(&self) -> bool {
        let sum =
            |f: fn(&Totals) -> Nanos| self.totals.values().map(f).fold(Nanos::ZERO, |a, b| a + b);
        sum(|t| t.debits_posted) == sum(|t| t.credits_posted)
            && sum(|t| t.debits_pending) == sum(|t| t.credits_pending)
    }
}

/// Whether `sent`, arriving under the id of `stored`, is a replay of it (a no-op) rather than a
/// conflicting reuse of the id. Timestamps may differ (a webhook retried later). A resolution
/// is a replay whatever its amount: a hold resolves once, and the first resolution stands (a
/// post's stored amount may also have been capped at its hold, or recorded as a late charge).
pub fn same_effect(stored: &Transfer, sent: &Transfer) -> bool {
    let accounts = stored.debit == sent.debit && stored.credit == sent.credit;
    match sent.phase {
        Phase::Posted | Phase::Pending { .. } => {
            accounts
                && stored.amount == sent.amount
                && stored.kind == sent.kind
                && stored.phase.name() == sent.phase.name()
        }
        Phase::Post { .. } | Phase::Void { .. } => accounts,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::new()
    }

    fn top_up(id: &str, user: UserId, usd_nanos: i64) -> Transfer {
        Transfer::posted(
            id,
            AccountId::processor("stripe"),
            AccountId::user(user),
            Nanos(usd_nanos),
            TransferKind::TopUp,
            0,
        )
    }

    #[test]
    fn a_hold_reserves_and_a_settlement_moves_only_the_cost() {
        let mut book = Book::default();
        let u = user();
        book.apply(&top_up("t1", u, 1_000)).unwrap();
        let r = RequestId::new();
        book.apply(&Transfer::hold(r, u, Nanos(300), 0, 1_000))
            .unwrap();
        let mine = book.totals(&AccountId::user(u));
        assert_eq!(
            (mine.balance(), mine.available()),
            (Nanos(1_000), Nanos(700))
        );
        book.apply(&Transfer::settle(r, u, Nanos(120), 5)).unwrap();
        let mine = book.totals(&AccountId::user(u));
        assert_eq!((mine.balance(), mine.available()), (Nanos(880), Nanos(880)));
        assert_eq!(
            book.totals(&AccountId::revenue()).credits_posted,
            Nanos(120)
        );
        assert!(book.is_balanced());
    }

    #[test]
    fn a_settlement_never_moves_more_than_the_hold() {
        let mut book = Book::default();
        let u = user();
        let r = RequestId::new();
        book.apply(&Transfer::hold(r, u, Nanos(300), 0, 1_000))
            .unwrap();
        book.apply(&Transfer::settle(r, u, Nanos(999), 5)).unwrap();
        assert_eq!(book.totals(&AccountId::user(u)).debits_posted, Nanos(300));
    }

    #[test]
    fn each_id_applies_once_and_a_conflicting_reuse_is_refused() {
        let mut book = Book::default();
        let u = user();
        assert_eq!(book.apply(&top_up("t1", u, 10)).unwrap(), Applied::Done);
        assert_eq!(
            book.apply(&top_up("t1", u, 10)).unwrap(),
            Applied::Duplicate
        );
        assert_eq!(
            book.apply(&top_up("t1", u, 11)),
            Err(LedgerError::IdConflict("t1".into()))
        );
        assert_eq!(book.totals(&AccountId::user(u)).balance(), Nanos(10));
    }

    #[test]
    fn a_hold_resolves_once_and_an_expired_hold_charges_late() {
        let mut book = Book::default();
        let u = user();
        let r = RequestId::new();
        book.apply(&Transfer::hold(r, u, Nanos(300), 0, 1_000))
            .unwrap();
        assert_eq!(book.expire(999), Vec::<String>::new());
        assert_eq!(book.expire(1_000), vec![Transfer::hold_id(r)]);
        assert_eq!(book.totals(&AccountId::user(u)).available(), Nanos(0));
        // The request finished after all: charged, once, as a late charge.
        let settle = Transfer::settle(r, u, Nanos(50), 2_000);
        assert_eq!(
            book.apply(&settle).unwrap(),
            Applied::Orphan { charged: true }
        );
        assert_eq!(book.apply(&settle).unwrap(), Applied::Duplicate);
        assert_eq!(book.totals(&AccountId::user(u)).balance(), Nanos(-50));
        assert!(book.is_balanced());
    }

    #[test]
    fn invalid_transfers_are_refused() {
        let u = user();
        let mut t = top_up("x", u, 0);
        assert!(t.validate().is_err());
        t.amount = Nanos(-5);
        assert!(t.validate().is_err());
        t.amount = Nanos(5);
        t.credit = t.debit.clone();
        assert!(t.validate().is_err());
        let mut void = Transfer::settle(RequestId::new(), u, Nanos::ZERO, 0);
        assert!(void.validate().is_ok());
        void.amount = Nanos(1);
        assert!(void.validate().is_err());
    }

    #[test]
    fn user_accounts_round_trip_their_user() {
        let u = user();
        assert_eq!(AccountId::user(u).user_id(), Some(u));
        assert_eq!(AccountId::revenue().user_id(), None);
    }
}
