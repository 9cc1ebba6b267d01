//! The ledger in SQL: [`Store::apply_transfers`] applies `switchyard_core::ledger`'s rules in
//! one transaction per batch, keeping each account's totals in step with its transfers.
//!
//! **Invariant:** `ledger_accounts` totals equal the sums over `transfers` and `open_holds`
//! ([`Store::verify_ledger`] recomputes them). A hold is resolved at most once: the resolving
//! write first deletes its `open_holds` row, and only the transaction that deleted it moves
//! money; `transfers.pending_id` is UNIQUE as a second guard.
//!
//! Concurrency: SQLite serialises writers. On PostgreSQL two replicas resolving one hold race on
//! the `open_holds` row lock; the loser finds it gone and takes the orphan path, and a second
//! insert of one id is ignored by `ON CONFLICT`. Account totals are updated once per account
//! per batch, in account order, so batches from different replicas cannot deadlock.

use crate::{Store, StoreError};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap};
use switchyard_core::ledger::{
    AccountId, Applied, LedgerError, Phase, Totals, Transfer, TransferKind, same_effect,
};
use switchyard_core::{Nanos, UserId};

/// What one [`Store::apply_transfers`] call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// One result per transfer, in order. An invalid transfer is skipped, the rest apply.
    pub results: Vec<Result<Applied, LedgerError>>,
    /// How each touched account's *available* amount (credits − debits posted − debits
    /// pending) changed.
    pub available_deltas: BTreeMap<AccountId, Nanos>,
}

/// A stored transfer with its position in the ledger (for paging).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub transfer: Transfer,
}

/// An account's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountState {
    pub id: Option<AccountId>,
    pub totals: Totals,
    pub overdraft: Nanos,
}

/// A hold not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenHold {
    pub id: String,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Nanos,
    pub expires_at: i64,
}

#[derive(Clone, Copy, Default)]
struct Delta {
    debits_pending: i64,
    credits_pending: i64,
    debits_posted: i64,
    credits_posted: i64,
}

type TransferRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
);

/// A posted transfer waiting for the batch's multi-row insert: where its result goes, the row,
/// how it moves the totals, and what it will have done if inserted.
type Deferred = (usize, Transfer, Vec<(AccountId, Delta)>, Applied);

/// Posted transfers written per multi-row statement (11 binds each).
const INSERT_CHUNK: usize = 500;

/// Adds a transfer's movements to the batch's per-account deltas.
fn add_moves(deltas: &mut BTreeMap<AccountId, Delta>, moves: Vec<(AccountId, Delta)>) {
    for (account, d) in moves {
        let total = deltas.entry(account).or_default();
        total.debits_pending += d.debits_pending;
        total.credits_pending += d.credits_pending;
        total.debits_posted += d.debits_posted;
        total.credits_posted += d.credits_posted;
    }
}

/// Ids looked up per query before a batch is applied.
const PREFETCH_CHUNK: usize = 500;

/// An account id and its four totals, as selected.
type TotalsRow = (String, i64, i64, i64, i64);

macro_rules! transfer_columns {
    () => {
        "seq, id, debit_account, credit_account, amount, kind, phase, pending_id, expires_at, \
         reference, memo, created_at"
    };
}

impl Store {
    /// Applies `transfers` in order, in one transaction, by the ledger rules. Re-applying a
    /// transfer (same id, same effect) is a no-op reported as `Duplicate`.
    pub async fn apply_transfers(&self, transfers: &[Transfer]) -> Result<Batch, StoreError> {
        // The posted transfers' INSERTs need not say which rows they added unless another
        // writer committed one of these ids between the look-up and the insert (a race of two
        // replicas on PostgreSQL). Then that transaction is rolled back and the batch applied
        // again, asking.
        match self.try_apply_transfers(transfers, false).await? {
            Some(batch) => Ok(batch),
            // Asking, it always applies the batch.
            None => Ok(self
                .try_apply_transfers(transfers, true)
                .await?
                .unwrap_or_default()),
        }
    }

    /// [`Store::apply_transfers`]'s transaction. Without `returning`, it writes nothing and
    /// returns `None` when a posted transfer's id was committed by another writer since it
    /// looked; with it, such a transfer is reported as a duplicate and the rest apply.
    async fn try_apply_transfers(
        &self,
        transfers: &[Transfer],
        returning: bool,
    ) -> Result<Option<Batch>, StoreError> {
        let mut batch = Batch::default();
        let mut deltas: BTreeMap<AccountId, Delta> = BTreeMap::new();
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            // Which ids exist already, in one query per chunk rather than one per transfer:
            // on SQLite every statement is a round trip to sqlx's worker thread.
            let mut known: HashMap<String, Transfer> = HashMap::new();
            for chunk in transfers.chunks(PREFETCH_CHUNK) {
                let mut query = QueryBuilder::new(concat!(
                    "SELECT ", transfer_columns!(), " FROM transfers WHERE id IN ("
                ));
                let mut ids = query.separated(", ");
                for t in chunk {
                    ids.push_bind(t.id.as_str());
                }
                query.push(")");
                let rows: Vec<TransferRow> = query.build_query_as().fetch_all(&mut *tx).await?;
                for row in rows {
                    let entry = transfer_of(row)?;
                    known.insert(entry.transfer.id.clone(), entry.transfer);
                }
            }
            let mut deferred: Vec<Deferred> = Vec::new();
            let mut inserted: std::collections::HashSet<String> = std::collections::HashSet::new();
            for t in transfers {
                if let Err(e) = t.validate() {
                    batch.results.push(Err(e));
                    continue;
                }
                if let Some(stored) = known.get(&t.id) {
                    batch.results.push(if same_effect(stored, t) {
                        Ok(Applied::Duplicate)
                    } else {
                        Err(LedgerError::IdConflict(t.id.clone()))
                    });
                    continue;
                }
                // What to record and how the totals move.
                let mut row = t.clone();
                let mut moves: Vec<(AccountId, Delta)> = Vec::new();
                let applied = match &t.phase {
                    Phase::Posted => {
                        moves.push((t.debit.clone(), Delta { debits_posted: t.amount.0, ..Delta::default() }));
                        moves.push((t.credit.clone(), Delta { credits_posted: t.amount.0, ..Delta::default() }));
                        Applied::Done
                    }
                    Phase::Pending { .. } => {
                        moves.push((t.debit.clone(), Delta { debits_pending: t.amount.0, ..Delta::default() }));
                        moves.push((t.credit.clone(), Delta { credits_pending: t.amount.0, ..Delta::default() }));
                        Applied::Done
                    }
                    Phase::Post { pending } | Phase::Void { pending } => {
                        let hold: Option<(String, String, i64)> = sqlx::query_as(
                            "DELETE FROM open_holds WHERE id = $1 \
                             RETURNING debit_account, credit_account, amount",
                        )
                        .bind(pending)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let is_post = matches!(t.phase, Phase::Post { .. });
                        match hold {
                            Some((debit, credit, held)) => {
                                let moved = if is_post { t.amount.0.min(held) } else { 0 };
                                row.amount = Nanos(moved);
                                row.debit = AccountId::from_stored(debit);
                                row.credit = AccountId::from_stored(credit);
                                moves.push((row.debit.clone(), Delta { debits_pending: -held, debits_posted: moved, ..Delta::default() }));
                                moves.push((row.credit.clone(), Delta { credits_pending: -held, credits_posted: moved, ..Delta::default() }));
                                Applied::Done
                            }
                            None => {
                                let charged = is_post && t.amount > Nanos::ZERO;
                                if charged {
                                    row.phase = Phase::Posted;
                                    row.kind = TransferKind::LateCharge;
                                    moves.push((t.debit.clone(), Delta { debits_posted: t.amount.0, ..Delta::default() }));
                                    moves.push((t.credit.clone(), Delta { credits_posted: t.amount.0, ..Delta::default() }));
                                } else {
                                    row.amount = Nanos::ZERO;
                                }
                                Applied::Orphan { charged }
                            }
                        }
                    }
                };
                // An orphan resolution names no hold: the hold's one resolution already exists.
                let pending_id = match (&applied, row.phase.resolves()) {
                    (Applied::Done, Some(p)) => Some(p.to_owned()),
                    _ => None,
                };
                let expires_at = match row.phase {
                    Phase::Pending { expires_at } => Some(expires_at),
                    _ => None,
                };
                if matches!(row.phase, Phase::Posted) {
                    // Posted transfers touch no hold: they are written together after the loop,
                    // many rows per statement. The result is filled in then.
                    known.insert(row.id.clone(), row.clone());
                    deferred.push((batch.results.len(), row, moves, applied));
                    batch.results.push(Ok(Applied::Duplicate));
                    continue;
                }
                let inserted = sqlx::query(
                    "INSERT INTO transfers (id, debit_account, credit_account, amount, kind, phase, \
                     pending_id, expires_at, reference, memo, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&row.id)
                .bind(row.debit.as_str())
                .bind(row.credit.as_str())
                .bind(row.amount.0)
                .bind(row.kind.as_str())
                .bind(row.phase.name())
                .bind(pending_id)
                .bind(expires_at)
                .bind(row.reference.as_deref())
                .bind(row.memo.as_deref())
                .bind(row.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    // Another writer committed this id since we looked; it did the work.
                    batch.results.push(Ok(Applied::Duplicate));
                    continue;
                }
                // A later transfer of this batch with the same id is a replay of this one.
                known.insert(row.id.clone(), row.clone());
                if let Phase::Pending { expires_at } = row.phase {
                    sqlx::query(
                        "INSERT INTO open_holds (id, debit_account, credit_account, amount, expires_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&row.id)
                    .bind(row.debit.as_str())
                    .bind(row.credit.as_str())
                    .bind(row.amount.0)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                }
                add_moves(&mut deltas, moves);
                batch.results.push(Ok(applied));
            }
            for chunk in deferred.chunks(INSERT_CHUNK) {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO transfers (id, debit_account, credit_account, amount, kind, phase, \
                     pending_id, expires_at, reference, memo, created_at) ",
                );
                insert.push_values(chunk, |mut values, (_, row, _, _)| {
                    values
                        .push_bind(row.id.as_str())
                        .push_bind(row.debit.as_str())
                        .push_bind(row.credit.as_str())
                        .push_bind(row.amount.0)
                        .push_bind(row.kind.as_str())
                        .push_bind(row.phase.name())
                        .push_bind(None::<String>)
                        .push_bind(None::<i64>)
                        .push_bind(row.reference.as_deref())
                        .push_bind(row.memo.as_deref())
                        .push_bind(row.created_at);
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                if !returning {
                    let added = insert.build().execute(&mut *tx).await?.rows_affected();
                    if added < chunk.len() as u64 {
                        tx.rollback().await?;
                        return Ok(None);
                    }
                    continue;
                }
                insert.push(" RETURNING id");
                let ids: Vec<(String,)> = insert.build_query_as().fetch_all(&mut *tx).await?;
                inserted.extend(ids.into_iter().map(|(id,)| id));
            }
            for (at, row, moves, applied) in deferred {
                // Not inserted: another writer committed this id since we looked; it did the work.
                if !returning || inserted.contains(&row.id) {
                    add_moves(&mut deltas, moves);
                    batch.results[at] = Ok(applied);
                }
            }
            // BTreeMap order: every writer updates accounts in the same order.
            let now = transfers.iter().map(|t| t.created_at).max().unwrap_or(0);
            for (account, d) in &deltas {
                // Two statements: the CHECKs would reject a negative delta as a new row's value.
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(account.as_str())
                .bind(account.user_id().map(|u| u.to_string()))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE ledger_accounts SET debits_pending = debits_pending + $2, \
                     credits_pending = credits_pending + $3, debits_posted = debits_posted + $4, \
                     credits_posted = credits_posted + $5 WHERE id = $1",
                )
                .bind(account.as_str())
                .bind(d.debits_pending)
                .bind(d.credits_pending)
                .bind(d.debits_posted)
                .bind(d.credits_posted)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        batch.available_deltas = deltas
            .into_iter()
            .map(|(account, d)| {
                let available = d.credits_posted - d.debits_posted - d.debits_pending;
                (account, Nanos(available))
            })
            .filter(|(_, n)| *n != Nanos::ZERO)
            .collect();
        Ok(Some(batch))
    }

    /// One account's totals and overdraft (zeros for an account that never moved money).
    pub async fn account(&self, account: &AccountId) -> Result<AccountState, StoreError> {
        let row: Option<(String, i64, i64, i64, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, debits_pending, credits_pending, debits_posted, credits_posted, overdraft \
                 FROM ledger_accounts WHERE id = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(state_of).unwrap_or_else(|| AccountState {
            id: Some(account.clone()),
            ..AccountState::default()
        }))
    }

    /// Every user account, for the gateway's in-memory budgets.
    pub async fn user_accounts(&self) -> Result<Vec<(UserId, AccountState)>, StoreError> {
        let rows: Vec<(String, i64, i64, i64, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, debits_pending, credits_pending, debits_posted, credits_posted, overdraft \
                 FROM ledger_accounts WHERE user_id IS NOT NULL",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(state_of)
            .filter_map(|s| Some((s.id.as_ref()?.user_id()?, s)))
            .collect())
    }

    /// Accounts touched by transfers after `seq`, and the newest seq: how a replica learns of
    /// money moved by others (top-ups, the CLI, other replicas) without reloading everything.
    pub async fn accounts_changed_since(
        &self,
        seq: i64,
    ) -> Result<(i64, Vec<AccountState>), StoreError> {
        let (newest, rows) = on_pool!(&self.db, pool => {
            let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM transfers")
                .fetch_one(pool)
                .await?;
            let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT id, debits_pending, credits_pending, debits_posted, credits_posted, overdraft \
                 FROM ledger_accounts WHERE id IN ( \
                   SELECT debit_account FROM transfers WHERE seq > $1 \
                   UNION SELECT credit_account FROM transfers WHERE seq > $1)",
            )
            .bind(seq)
            .fetch_all(pool)
            .await?;
            (newest.unwrap_or(0), rows)
        });
        Ok((newest, rows.into_iter().map(state_of).collect()))
    }

    /// Sets how far below zero an account may go (0 by default).
    pub async fn set_overdraft(
        &self,
        account: &AccountId,
        overdraft: Nanos,
        now: i64,
    ) -> Result<(), StoreError> {
        if overdraft < Nanos::ZERO {
            return Err(StoreError::Invalid("the overdraft must not be negative"));
        }
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO ledger_accounts (id, user_id, overdraft, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO UPDATE SET overdraft = excluded.overdraft",
            )
            .bind(account.as_str())
            .bind(account.user_id().map(|u| u.to_string()))
            .bind(overdraft.0)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Voids up to `limit` holds that expired at `now` (a crashed replica's requests). Safe to
    /// run on every replica at once: each hold is voided once.
    pub async fn expire_holds(&self, now: i64, limit: u32) -> Result<Vec<OpenHold>, StoreError> {
        let expired = self.open_holds(None, Some(now), limit).await?;
        let voids: Vec<Transfer> = expired
            .iter()
            .map(|h| Transfer {
                id: format!("expire:{}", h.id),
                debit: h.debit.clone(),
                credit: h.credit.clone(),
                amount: Nanos::ZERO,
                kind: TransferKind::Request,
                phase: Phase::Void {
                    pending: h.id.clone(),
                },
                reference: None,
                memo: Some("hold expired".into()),
                created_at: now,
            })
            .collect();
        let batch = self.apply_transfers(&voids).await?;
        Ok(expired
            .into_iter()
            .zip(batch.results)
            .filter(|(_, r)| matches!(r, Ok(Applied::Done)))
            .map(|(h, _)| h)
            .collect())
    }

    /// Open holds, oldest expiry first: of one account, and/or expired by `expired_at`.
    pub async fn open_holds(
        &self,
        account: Option<&AccountId>,
        expired_at: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OpenHold>, StoreError> {
        let rows: Vec<(String, String, String, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, debit_account, credit_account, amount, expires_at FROM open_holds \
                 WHERE ($1 IS NULL OR debit_account = $1) AND ($2 IS NULL OR expires_at <= $2) \
                 ORDER BY expires_at, id LIMIT $3",
            )
            .bind(account.map(AccountId::as_str))
            .bind(expired_at)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, debit, credit, amount, expires_at)| OpenHold {
                id,
                debit: AccountId::from_stored(debit),
                credit: AccountId::from_stored(credit),
                amount: Nanos(amount),
                expires_at,
            })
            .collect())
    }

    /// An account's transfers, newest first, before `before_seq` (for paging).
    pub async fn transfers_of(
        &self,
        account: &AccountId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Entry>, StoreError> {
        let rows: Vec<TransferRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(
                "SELECT ", transfer_columns!(), " FROM transfers \
                 WHERE (debit_account = $1 OR credit_account = $1) AND seq < $2 \
                 ORDER BY seq DESC LIMIT $3"
            ))
            .bind(account.as_str())
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(transfer_of).collect()
    }

    /// Recomputes every account's totals from the transfers and open holds and compares them
    /// with the stored totals. Returns the accounts that differ (empty: the ledger is sound),
    /// and fails if debits and credits do not balance.
    pub async fn verify_ledger(&self) -> Result<Vec<String>, StoreError> {
        let (stored, derived, holds_consistent): (Vec<TotalsRow>, Vec<TotalsRow>, i64) = on_pool!(&self.db, pool => {
            let stored = sqlx::query_as(
                "SELECT id, debits_pending, credits_pending, debits_posted, credits_posted \
                 FROM ledger_accounts ORDER BY id",
            )
            .fetch_all(pool)
            .await?;
            let derived = sqlx::query_as(
                "SELECT account, CAST(SUM(dpe) AS BIGINT), CAST(SUM(cpe) AS BIGINT), \
                        CAST(SUM(dpo) AS BIGINT), CAST(SUM(cpo) AS BIGINT) FROM ( \
                   SELECT debit_account AS account, 0 AS dpe, 0 AS cpe, amount AS dpo, 0 AS cpo \
                     FROM transfers WHERE phase IN ('posted', 'post') \
                   UNION ALL SELECT credit_account, 0, 0, 0, amount \
                     FROM transfers WHERE phase IN ('posted', 'post') \
                   UNION ALL SELECT debit_account, amount, 0, 0, 0 FROM open_holds \
                   UNION ALL SELECT credit_account, 0, amount, 0, 0 FROM open_holds \
                 ) AS moves GROUP BY account ORDER BY account",
            )
            .fetch_all(pool)
            .await?;
            // open_holds must be exactly the pending transfers nothing resolved.
            let mismatched: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM ( \
                   SELECT id FROM transfers p WHERE phase = 'pending' AND NOT EXISTS \
                     (SELECT 1 FROM transfers r WHERE r.pending_id = p.id) \
                   EXCEPT SELECT id FROM open_holds) AS a",
            )
            .fetch_one(pool)
            .await?;
            let extra: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM open_holds h WHERE NOT EXISTS \
                   (SELECT 1 FROM transfers p WHERE p.id = h.id AND p.phase = 'pending') \
                   OR EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = h.id)",
            )
            .fetch_one(pool)
            .await?;
            (stored, derived, mismatched + extra)
        });
        let derived: BTreeMap<String, (i64, i64, i64, i64)> = derived
            .into_iter()
            .map(|(a, dpe, cpe, dpo, cpo)| (a, (dpe, cpe, dpo, cpo)))
            .collect();
        let mut wrong = Vec::new();
        let mut sums = [0i128; 4];
        for (id, dpe, cpe, dpo, cpo) in stored {
            sums[0] += i128::from(dpe);
            sums[1] += i128::from(cpe);
            sums[2] += i128::from(dpo);
            sums[3] += i128::from(cpo);
            let expected = derived.get(&id).copied().unwrap_or_default();
            if expected != (dpe, cpe, dpo, cpo) {
                wrong.push(format!(
                    "{id}: stored {:?} but the transfers give {expected:?}",
                    (dpe, cpe, dpo, cpo)
                ));
            }
        }
        if holds_consistent != 0 {
            wrong.push(format!(
                "{holds_consistent} open hold(s) disagree with the transfers"
            ));
        }
        if sums[0] != sums[1] || sums[2] != sums[3] {
            wrong.push(format!("debits and credits differ: {sums:?}"));
        }
        Ok(wrong)
    }
}

fn state_of(
    (id, dpe, cpe, dpo, cpo, overdraft): (String, i64, i64, i64, i64, i64),
) -> AccountState {
    AccountState {
        id: Some(AccountId::from_stored(id)),
        totals: Totals {
            debits_pending: Nanos(dpe),
            credits_pending: Nanos(cpe),
            debits_posted: Nanos(dpo),
            credits_posted: Nanos(cpo),
        },
        overdraft: Nanos(overdraft),
    }
}

fn transfer_of(row: TransferRow) -> Result<Entry, StoreError> {
    let (
        seq,
        id,
        debit,
        credit,
        amount,
        kind,
        phase,
        pending_id,
        expires_at,
        reference,
        memo,
        created_at,
    ) = row;
    let kind = TransferKind::parse(&kind)
        .ok_or_else(|| StoreError::Corrupt(format!("transfer {id}: unknown kind `{kind}`")))?;
    let phase = match (phase.as_str(), pending_id, expires_at) {
        ("posted", _, _) => Phase::Posted,
        ("pending", _, Some(expires_at)) => Phase::Pending { expires_at },
        ("post", Some(pending), _) => Phase::Post { pending },
        ("void", Some(pending), _) => Phase::Void { pending },
        // An orphan void names no hold (see `apply_transfers`).
        ("void", None, _) => Phase::Void {
            pending: String::new(),
        },
        (other, _, _) => {
            return Err(StoreError::Corrupt(format!(
                "transfer {id}: bad phase `{other}`"
            )));
        }
    };
    Ok(Entry {
        seq,
        transfer: Transfer {
            id,
            debit: AccountId::from_stored(debit),
            credit: AccountId::from_stored(credit),
            amount: Nanos(amount),
            kind,
            phase,
            reference,
            memo,
            created_at,
        },
    })
}
