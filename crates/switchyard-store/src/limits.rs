//! Spend limits of keys and users, and the per-period counters of what they were charged.
//! The gateway enforces limits from memory; this is where limits are kept and where spending
//! is added up (in batches, by the request writer) so a restart or another replica sees it.

use crate::{Store, StoreError};
use std::collections::BTreeMap;
use switchyard_core::Nanos;
use switchyard_core::limits::{Scope, SpendLimits, Window, period};
use switchyard_core::log::RequestLog;
use switchyard_core::retention::DAY_MS;

/// One counter: who, which period label (`total`, `d2026-11-29`, `m2026-11`), how much.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendCounter {
    pub scope: Scope,
    pub owner: String,
    pub period: String,
    pub spent: Nanos,
}

/// A batch's spending summed per counter: (scope, owner, period label) → nanos.
pub(crate) type SpendGroups = BTreeMap<(Scope, String, String), i64>;

/// Columns bound per counter by [`SPEND_INSERT`].
const SPEND_COLUMNS: usize = 4;

/// Counters per multi-row upsert, within both backends' bind limits.
pub(crate) const SPEND_ROWS_PER_UPSERT: usize = 32_766 / SPEND_COLUMNS;

pub(crate) const SPEND_INSERT: &str =
    "INSERT INTO spend_counters (scope, owner, period, spent_nanos) ";
pub(crate) const SPEND_CONFLICT: &str = " ON CONFLICT (scope, owner, period) DO UPDATE SET \
     spent_nanos = spend_counters.spent_nanos + excluded.spent_nanos";

/// What `rows` add to the spend counters of their keys and users: per owner, the total, the
/// UTC day's and the UTC month's. Each period label is formatted once per day in the batch,
/// not once per row.
pub(crate) fn spend_groups<'a>(rows: impl Iterator<Item = &'a RequestLog>) -> SpendGroups {
    let mut labels: BTreeMap<i64, [String; 3]> = BTreeMap::new();
    let mut groups = SpendGroups::new();
    for row in rows.filter(|r| r.cost > Nanos::ZERO) {
        let day = row.created_at.div_euclid(DAY_MS);
        let periods = labels
            .entry(day)
            .or_insert_with(|| Window::ALL.map(|w| period(w, row.created_at).label));
        let owners = [
            row.key_id.map(|k| (Scope::Key, k.to_string())),
            row.user_id.map(|u| (Scope::User, u.to_string())),
        ];
        for (scope, owner) in owners.into_iter().flatten() {
            for label in periods.iter() {
                *groups
                    .entry((scope, owner.clone(), label.clone()))
                    .or_default() += row.cost.0;
            }
        }
    }
    groups
}

/// scope, owner, and the three limits in nanos, as selected.
type LimitRow = (String, String, Option<i64>, Option<i64>, Option<i64>);

impl Store {
    /// Sets (or, when every limit is `None`, removes) the limits of a key or user.
    pub async fn set_spend_limits(
        &self,
        scope: Scope,
        owner: &str,
        limits: SpendLimits,
        now: i64,
    ) -> Result<(), StoreError> {
        for limit in [limits.total, limits.day, limits.month]
            .into_iter()
            .flatten()
        {
            if limit < Nanos::ZERO {
                return Err(StoreError::Invalid("a spend limit must not be negative"));
            }
        }
        on_pool!(&self.db, pool => {
            if limits.is_empty() {
                sqlx::query("DELETE FROM spend_limits WHERE scope = $1 AND owner = $2")
                    .bind(scope.as_str())
                    .bind(owner)
                    .execute(pool)
                    .await?;
            } else {
                sqlx::query(
                    "INSERT INTO spend_limits (scope, owner, total_nanos, day_nanos, month_nanos, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (scope, owner) DO UPDATE SET \
                     total_nanos = excluded.total_nanos, day_nanos = excluded.day_nanos, \
                     month_nanos = excluded.month_nanos, updated_at = excluded.updated_at",
                )
                .bind(scope.as_str())
                .bind(owner)
                .bind(limits.total.map(|n| n.0))
                .bind(limits.day.map(|n| n.0))
                .bind(limits.month.map(|n| n.0))
                .bind(now)
                .execute(pool)
                .await?;
            }
        });
        Ok(())
    }

    /// Every configured limit.
    pub async fn spend_limits(&self) -> Result<Vec<(Scope, String, SpendLimits)>, StoreError> {
        let rows: Vec<LimitRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT scope, owner, total_nanos, day_nanos, month_nanos FROM spend_limits",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(scope, owner, total, day, month)| {
                let scope = Scope::parse(&scope)
                    .ok_or_else(|| StoreError::Corrupt(format!("spend limit scope `{scope}`")))?;
                Ok((
                    scope,
                    owner,
                    SpendLimits {
                        total: total.map(Nanos),
                        day: day.map(Nanos),
                        month: month.map(Nanos),
                    },
                ))
            })
            .collect()
    }

    /// Adds charged amounts to their counters, one statement per counter, in key order so
    /// replicas writing at once cannot deadlock. Not idempotent: the writer calls it once per
    /// batch of log rows, after the rows are written.
    pub async fn add_spend(&self, spent: &[SpendCounter]) -> Result<(), StoreError> {
        let mut sums: BTreeMap<(Scope, &str, &str), i64> = BTreeMap::new();
        for c in spent.iter().filter(|c| c.spent != Nanos::ZERO) {
            *sums.entry((c.scope, &c.owner, &c.period)).or_default() += c.spent.0;
        }
        if sums.is_empty() {
            return Ok(());
        }
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            for ((scope, owner, period), amount) in &sums {
                sqlx::query(
                    "INSERT INTO spend_counters (scope, owner, period, spent_nanos) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (scope, owner, period) DO UPDATE SET \
                     spent_nanos = spend_counters.spent_nanos + excluded.spent_nanos",
                )
                .bind(scope.as_str())
                .bind(*owner)
                .bind(*period)
                .bind(*amount)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The counters of the given periods (e.g. today's, this month's and `total`).
    pub async fn spend_counters(
        &self,
        periods: &[String],
    ) -> Result<Vec<SpendCounter>, StoreError> {
        let mut out = Vec::new();
        for period in periods {
            let rows: Vec<(String, String, i64)> = on_pool!(&self.db, pool => {
                sqlx::query_as(
                    "SELECT scope, owner, spent_nanos FROM spend_counters WHERE period = $1",
                )
                .bind(period)
                .fetch_all(pool)
                .await?
            });
            for (scope, owner, spent) in rows {
                let scope = Scope::parse(&scope)
                    .ok_or_else(|| StoreError::Corrupt(format!("spend counter scope `{scope}`")))?;
                out.push(SpendCounter {
                    scope,
                    owner,
                    period: period.clone(),
                    spent: Nanos(spent),
                });
            }
        }
        Ok(out)
    }
}
