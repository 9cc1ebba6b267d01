//! The retention purge: deletes (or, for client IPs, clears) every row past its class's window
//! at a given `now`, in batches of at most `Windows::batch_rows` rows, each batch its own short
//! transaction. The clock is a parameter, so tests age rows by moving `now`.
//!
//! **Invariants:** a row exactly a window old stays (`created_at < cutoff` goes); nothing of an
//! account under a legal hold is touched; running the purge again at the same `now` removes
//! nothing; every statement finds its rows through an index in time order (migration 0019 adds
//! the client-IP one), so a purge costs what it removes, not what the table holds.
//!
//! What each class means is in docs/privacy.md. Accounts whose deletion grace has passed are
//! erased by `crate::erasure`, which this purge calls.

use crate::{Store, StoreError};
use sqlx::QueryBuilder;
use switchyard_core::catalog::UnixMillis;
use switchyard_core::retention::{AccountWindows, DAY_MS, Windows};

/// How many rows each class lost in one purge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Log rows whose client IP was cleared.
    pub client_ips: u64,
    pub usage_rows: u64,
    /// Per-user daily rollup rows of expired days.
    pub usage_days: u64,
    /// Per-minute traffic rows older than a day (not personal data: no user in them).
    pub traffic_minutes: u64,
    pub payments: u64,
    pub invoices: u64,
    pub refunds: u64,
    pub webhook_events: u64,
    pub audit_rows: u64,
    /// Stored prompts and answers (content logging) past their window.
    pub content_rows: u64,
    /// Accounts whose deletion grace passed and whose personal data went.
    pub accounts_erased: u64,
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.client_ips
            + self.usage_rows
            + self.usage_days
            + self.traffic_minutes
            + self.payments
            + self.invoices
            + self.refunds
            + self.webhook_events
            + self.audit_rows
            + self.content_rows
            + self.accounts_erased
    }
}

/// `user_id` belongs to no account under a legal hold (or to none at all).
macro_rules! not_held {
    ($column:literal) => {
        concat!(
            "(",
            $column,
            " IS NULL OR ",
            $column,
            " NOT IN (SELECT id FROM users WHERE legal_hold_at IS NOT NULL))"
        )
    };
}

/// The traffic table serves the last hour; a day is kept for looking back at an incident.
const TRAFFIC_KEEP_MINUTES: i64 = 24 * 60;

/// Splits `… WHERE id IN (SELECT id …)` into the statement's head up to `IN (` and the inner
/// select; `None` for a composite key (`(a, b) IN (…)`) or another shape.
fn keyed(sql: &str) -> Option<(&str, &str)> {
    let at = sql.find(" IN (SELECT ")?;
    let head = &sql[..at];
    if head.ends_with(')') || !sql.ends_with(')') {
        return None;
    }
    Some((
        &sql[..at + " IN (".len()],
        &sql[at + " IN (".len()..sql.len() - 1],
    ))
}

impl Store {
    /// Runs `sql` (which binds `$1` the cutoff, `$2` the batch limit and, when given, `$3` the
    /// user) until a batch touches fewer rows than the limit; returns the rows touched.
    ///
    /// A statement keyed by one column (`… WHERE id IN (SELECT id … LIMIT $2)`) runs in two
    /// steps: the ids are read, then the rows are changed by primary key. PostgreSQL plans the
    /// one-statement form as a hash semi-join over a sequential scan of the whole table, so
    /// each batch would cost the table's size (bench/README.md, "Retention"); by key, a batch
    /// costs what it removes. Composite keys (the rollups, small tables) run as one statement.
    async fn batched(
        &self,
        sql: &'static str,
        cutoff: i64,
        user: Option<&str>,
        batch: usize,
    ) -> Result<u64, StoreError> {
        let keyed = keyed(sql);
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let mut total = 0;
        loop {
            // The rows this batch changed, and how many it looked at: a batch that met fewer
            // than the limit was the last.
            let (changed, met) = match keyed {
                None => {
                    let n = on_pool!(&self.db, pool => {
                        let mut query = sqlx::query(sql).bind(cutoff).bind(limit);
                        if let Some(user) = user {
                            query = query.bind(user);
                        }
                        query.execute(pool).await.map(|r| r.rows_affected())
                    })?;
                    (n, usize::try_from(n).unwrap_or(usize::MAX))
                }
                Some((action, select)) => {
                    let ids: Vec<String> = on_pool!(&self.db, pool => {
                        let mut query = sqlx::query_scalar(select).bind(cutoff).bind(limit);
                        if let Some(user) = user {
                            query = query.bind(user);
                        }
                        query.fetch_all(pool).await
                    })?;
                    if ids.is_empty() {
                        return Ok(total);
                    }
                    let n = on_pool!(&self.db, pool => {
                        let mut change = QueryBuilder::new(action);
                        let mut list = change.separated(", ");
                        for id in &ids {
                            list.push_bind(id.as_str());
                        }
                        change.push(")");
                        change
                            .build()
                            .persistent(false)
                            .execute(pool)
                            .await
                            .map(|r| r.rows_affected())
                    })?;
                    (n, ids.len())
                }
            };
            total += changed;
            if met < batch {
                return Ok(total);
            }
        }
    }

    /// Purges everything past its window at `now` (see the module doc).
    pub async fn purge_expired(
        &self,
        now: UnixMillis,
        windows: &Windows,
    ) -> Result<PurgeReport, StoreError> {
        let mut report = PurgeReport::default();
        let batch = windows.batch_rows;

        // Accounts first: an erased account's rows then need no window of their own.
        let grace_cutoff = Windows::cutoff(now, windows.deleted_account_days);
        for user in self.accounts_due_for_erasure(grace_cutoff).await? {
            if self.erase_account(user, now, batch).await? {
                report.accounts_erased += 1;
            }
        }

        // Rows first: their IPs then need no clearing.
        let log_cutoff = Windows::cutoff(now, windows.usage_log_days);
        report.usage_rows += self
            .batched(
                concat!(
                    "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs \
                     WHERE created_at < $1 AND ",
                    not_held!("user_id"),
                    " ORDER BY created_at LIMIT $2)"
                ),
                log_cutoff,
                None,
                batch,
            )
            .await?;
        let ip_cutoff = Windows::cutoff(now, windows.client_ip_days);
        report.client_ips += self
            .batched(
                concat!(
                    "UPDATE request_logs SET client_ip = NULL WHERE id IN (SELECT id FROM \
                     request_logs WHERE client_ip IS NOT NULL AND created_at < $1 AND ",
                    not_held!("user_id"),
                    " ORDER BY created_at LIMIT $2)"
                ),
                ip_cutoff,
                None,
                batch,
            )
            .await?;

        // A day of the rollup goes once all of it is past the window.
        let day_cutoff = log_cutoff.div_euclid(DAY_MS);
        report.usage_days += self
            .batched(
                concat!(
                    "DELETE FROM usage_daily WHERE (user_id, day, key_id, model) IN \
                     (SELECT user_id, day, key_id, model FROM usage_daily WHERE day < $1 AND ",
                    not_held!("user_id"),
                    " ORDER BY day LIMIT $2)"
                ),
                day_cutoff,
                None,
                batch,
            )
            .await?;

        // Accounts that chose shorter windows for themselves.
        for (user, own) in self.accounts_with_own_windows().await? {
            let ip = Windows::cutoff(now, windows.client_ip_days_for(own));
            if ip > ip_cutoff {
                report.client_ips += self.clear_user_ips(&user, ip, batch).await?;
            }
            let log = Windows::cutoff(now, windows.usage_log_days_for(own));
            if log > log_cutoff {
                report.usage_rows += self.delete_user_log(&user, log, batch).await?;
                report.usage_days += self
                    .delete_user_days(&user, log.div_euclid(DAY_MS), batch)
                    .await?;
            }
        }

        let minute_cutoff = now.div_euclid(60_000) - TRAFFIC_KEEP_MINUTES;
        report.traffic_minutes += self
            .batched(
                "DELETE FROM traffic_minutes WHERE (minute, bucket) IN (SELECT minute, \
                     bucket FROM traffic_minutes WHERE minute < $1 ORDER BY minute LIMIT $2)",
                minute_cutoff,
                None,
                batch,
            )
            .await?;

        let pay_cutoff = Windows::cutoff(now, windows.payment_record_days);
        self.purge_payments(pay_cutoff, batch, &mut report).await?;

        let content_cutoff = Windows::cutoff(now, windows.content_log_days);
        report.content_rows += self
            .batched(
                concat!(
                    "DELETE FROM content_logs WHERE request_id IN (SELECT request_id FROM \
                     content_logs WHERE created_at < $1 AND ",
                    not_held!("user_id"),
                    " ORDER BY created_at LIMIT $2)"
                ),
                content_cutoff,
                None,
                batch,
            )
            .await?;

        let audit_cutoff = Windows::cutoff(now, windows.audit_log_days);
        report.audit_rows += self
            .batched(
                concat!(
                    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log \
                     WHERE at < $1 AND ",
                    not_held!("subject_id"),
                    " ORDER BY at LIMIT $2)"
                ),
                audit_cutoff,
                None,
                batch,
            )
            .await?;
        Ok(report)
    }

    /// Accounts not under a hold or erased yet that set a window of their own.
    async fn accounts_with_own_windows(&self) -> Result<Vec<(String, AccountWindows)>, StoreError> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, usage_log_days, client_ip_days FROM users \
                 WHERE (usage_log_days IS NOT NULL OR client_ip_days IS NOT NULL) \
                 AND legal_hold_at IS NULL AND erased_at IS NULL",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, usage_log_days, client_ip_days)| {
                (
                    id,
                    AccountWindows {
                        usage_log_days,
                        client_ip_days,
                    },
                )
            })
            .collect())
    }

    async fn clear_user_ips(
        &self,
        user: &str,
        cutoff: UnixMillis,
        batch: usize,
    ) -> Result<u64, StoreError> {
        self.batched(
            "UPDATE request_logs SET client_ip = NULL WHERE id IN (SELECT id FROM \
                     request_logs WHERE user_id = $3 AND created_at < $1 \
                     AND client_ip IS NOT NULL LIMIT $2)",
            cutoff,
            Some(user),
            batch,
        )
        .await
    }

    /// Deletes a user's log rows created before `cutoff`, a batch at a time.
    pub(crate) async fn delete_user_log(
        &self,
        user: &str,
        cutoff: UnixMillis,
        batch: usize,
    ) -> Result<u64, StoreError> {
        self.batched(
            "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs \
                     WHERE user_id = $3 AND created_at < $1 LIMIT $2)",
            cutoff,
            Some(user),
            batch,
        )
        .await
    }

    /// Deletes a user's daily rollup rows of days before `day`, a batch at a time.
    pub(crate) async fn delete_user_days(
        &self,
        user: &str,
        day: i64,
        batch: usize,
    ) -> Result<u64, StoreError> {
        self.batched(
            "DELETE FROM usage_daily WHERE (user_id, day, key_id, model) IN \
                     (SELECT user_id, day, key_id, model FROM usage_daily \
                      WHERE user_id = $3 AND day < $1 LIMIT $2)",
            day,
            Some(user),
            batch,
        )
        .await
    }

    /// Payments created before `cutoff` with their invoices and refunds, and webhook receipts.
    async fn purge_payments(
        &self,
        cutoff: UnixMillis,
        batch: usize,
        report: &mut PurgeReport,
    ) -> Result<(), StoreError> {
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        loop {
            let (payments, invoices, refunds) = on_pool!(&self.db, pool => {
                let mut tx = pool.begin_with(self.begin_write()).await?;
                let ids: Vec<(String, Option<String>)> = sqlx::query_as(concat!(
                    "SELECT id, payment_intent FROM payments WHERE created_at < $1 AND ",
                    not_held!("user_id"),
                    " ORDER BY created_at LIMIT $2"
                ))
                .bind(cutoff)
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
                let (mut invoices, mut refunds) = (0, 0);
                for (id, intent) in &ids {
                    invoices += sqlx::query("DELETE FROM invoices WHERE payment_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if let Some(intent) = intent {
                        refunds +=
                            sqlx::query("DELETE FROM payment_refunds WHERE payment_intent = $1")
                                .bind(intent)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                    }
                    sqlx::query("DELETE FROM payments WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>((ids.len() as u64, invoices, refunds))
            })?;
            report.payments += payments;
            report.invoices += invoices;
            report.refunds += refunds;
            if payments < batch as u64 {
                break;
            }
        }
        report.webhook_events += self
            .batched(
                "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events \
                     WHERE received_at < $1 LIMIT $2)",
                cutoff,
                None,
                batch,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::keyed;

    #[test]
    fn single_key_statements_split_and_composite_ones_do_not() {
        assert_eq!(
            keyed("DELETE FROM t WHERE id IN (SELECT id FROM t WHERE a < $1 LIMIT $2)"),
            Some((
                "DELETE FROM t WHERE id IN (",
                "SELECT id FROM t WHERE a < $1 LIMIT $2"
            ))
        );
        assert_eq!(
            keyed("DELETE FROM t WHERE (a, b) IN (SELECT a, b FROM t LIMIT $2)"),
            None
        );
    }
}
