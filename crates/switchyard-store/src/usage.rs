//! What the dashboard's usage pages read: one user's log a page at a time (keyset-paged, every
//! filter served by an index of migration 0013), the daily rollup `usage_daily` that the log
//! writer keeps in step with `request_logs`, and the operator's list of users.
//!
//! **Invariant:** `usage_daily` (per user, day, key and model) and `usage_daily_models` (per
//! day and model) hold exactly the sums of the `request_logs` rows, because the rows are
//! counted in the transaction that inserts them (`Store::insert_request_logs`), and only the
//! rows that insert really added (a retried batch adds nothing twice).

use crate::access::UserRow;
use crate::request_log::LogRow;
use crate::{Store, StoreError};
use sqlx::QueryBuilder;
use std::collections::HashMap;
use switchyard_core::catalog::{Role, User};
use switchyard_core::log::RequestLog;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};

/// Milliseconds in a UTC day; `created_at / DAY_MS` is the rollup's `day`.
pub const DAY_MS: i64 = 86_400_000;

/// Columns bound per row of the rollup upsert.
const ROLLUP_COLUMNS: usize = 13;

/// Which of one user's log rows a usage page shows. `from` is inclusive, `to` exclusive
/// (unix ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageFilter {
    pub user: UserId,
    pub key: Option<KeyId>,
    pub model: Option<String>,
    pub status: Option<StatusClass>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Succeeded (HTTP status below 400) or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Ok,
    Error,
}

/// Where a page starts: strictly after (older than) this row in `created_at DESC, id DESC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageCursor {
    pub created_at: i64,
    pub id: RequestId,
}

/// A log row with the name its key had when read (`None` for a deleted key or none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEntry {
    pub log: RequestLog,
    pub key_name: Option<String>,
}

/// Sums over one UTC day of the rollup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DayTotals {
    /// Days since 1970-01-01.
    pub day: i64,
    pub requests: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    /// What users were charged.
    pub cost: Nanos,
    /// What the providers charge the platform.
    pub provider_cost: Nanos,
    pub latency_us_sum: i64,
}

/// One model's share of a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelTotals {
    pub model: String,
    pub requests: i64,
    pub cost: Nanos,
}

/// A user as the operator's list shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
    /// Posted credits less posted debits of the user's ledger account.
    pub balance: Nanos,
    /// The newest log row's time, if the user ever made a request.
    pub last_active_at: Option<i64>,
}

/// What an operator may change about a user. `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub role: Option<Role>,
}

/// The rollup key of a log row, borrowed from it so that aggregating a batch allocates only
/// the map.
type RollupKey<'a> = (Option<UserId>, i64, Option<KeyId>, &'a str);

/// One (user, day, key, model) of a batch with its sums, in the order of the upsert's columns
/// after the key: requests, errors, the four token counts, cost, provider cost, latency.
pub(crate) type RollupGroup<'a> = (RollupKey<'a>, [i64; 9]);

/// Rows per rollup upsert: a batch is far smaller; the bound keeps one statement under
/// SQLite's 32,766 bind variables whatever the writer's batch size is configured to.
pub(crate) const ROLLUP_ROWS_PER_UPSERT: usize = 32_766 / ROLLUP_COLUMNS;

pub(crate) const ROLLUP_INSERT: &str = "INSERT INTO usage_daily (user_id, day, key_id, model, \
    requests, errors, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, \
    cost_nanos, provider_cost_nanos, latency_us_sum) ";

pub(crate) const ROLLUP_CONFLICT: &str = " ON CONFLICT (user_id, day, key_id, model) DO UPDATE SET \
    requests = usage_daily.requests + excluded.requests, \
    errors = usage_daily.errors + excluded.errors, \
    prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
    completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
    cached_tokens = usage_daily.cached_tokens + excluded.cached_tokens, \
    reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens, \
    cost_nanos = usage_daily.cost_nanos + excluded.cost_nanos, \
    provider_cost_nanos = usage_daily.provider_cost_nanos + excluded.provider_cost_nanos, \
    latency_us_sum = usage_daily.latency_us_sum + excluded.latency_us_sum";

/// [`ROLLUP_INSERT`] and [`ROLLUP_CONFLICT`] for the platform's per-day-and-model table.
pub(crate) const PLATFORM_INSERT: &str = "INSERT INTO usage_daily_models (day, model, \
    requests, errors, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, \
    cost_nanos, provider_cost_nanos, latency_us_sum) ";

pub(crate) const PLATFORM_CONFLICT: &str = " ON CONFLICT (day, model) DO UPDATE SET \
    requests = usage_daily_models.requests + excluded.requests, \
    errors = usage_daily_models.errors + excluded.errors, \
    prompt_tokens = usage_daily_models.prompt_tokens + excluded.prompt_tokens, \
    completion_tokens = usage_daily_models.completion_tokens + excluded.completion_tokens, \
    cached_tokens = usage_daily_models.cached_tokens + excluded.cached_tokens, \
    reasoning_tokens = usage_daily_models.reasoning_tokens + excluded.reasoning_tokens, \
    cost_nanos = usage_daily_models.cost_nanos + excluded.cost_nanos, \
    provider_cost_nanos = usage_daily_models.provider_cost_nanos + excluded.provider_cost_nanos, \
    latency_us_sum = usage_daily_models.latency_us_sum + excluded.latency_us_sum";

/// The per-user groups summed again per (day, model), for `usage_daily_models`.
pub(crate) fn platform_groups<'a>(groups: &[RollupGroup<'a>]) -> Vec<((i64, &'a str), [i64; 9])> {
    let mut sums: HashMap<(i64, &'a str), [i64; 9]> = HashMap::new();
    for ((_, day, _, model), values) in groups {
        let s = sums.entry((*day, model)).or_default();
        for (total, value) in s.iter_mut().zip(values) {
            *total = total.saturating_add(*value);
        }
    }
    sums.into_iter().collect()
}

/// Sums a batch in memory, so each (user, day, key, model) appears once in the upsert
/// (PostgreSQL refuses a statement that would update one row twice) and the writer sends one
/// statement per batch, not one per row.
pub(crate) fn rollup_groups<'a>(
    rows: impl Iterator<Item = &'a RequestLog>,
) -> Vec<RollupGroup<'a>> {
    let mut sums: HashMap<RollupKey<'a>, [i64; 9]> = HashMap::new();
    for log in rows {
        let key = (
            log.user_id,
            log.created_at.div_euclid(DAY_MS),
            log.key_id,
            log.model.as_str(),
        );
        let s = sums.entry(key).or_default();
        let add = [
            1,
            i64::from(log.status >= 400),
            saturate(log.prompt_tokens),
            saturate(log.completion_tokens),
            saturate(log.cached_tokens),
            saturate(log.reasoning_tokens),
            log.cost.0,
            log.provider_cost.0,
            saturate(log.latency_us),
        ];
        for (total, value) in s.iter_mut().zip(add) {
            *total = total.saturating_add(value);
        }
    }
    sums.into_iter().collect()
}

fn saturate(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

macro_rules! day_sums {
    () => {
        "SELECT day, CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), \
         CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT), \
         CAST(SUM(cached_tokens) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT), \
         CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(provider_cost_nanos) AS BIGINT), \
         CAST(SUM(latency_us_sum) AS BIGINT) FROM "
    };
}

type DayRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

fn day_totals(row: DayRow) -> DayTotals {
    let (day, requests, errors, prompt, completion, cached, reasoning, cost, provider, latency) =
        row;
    DayTotals {
        day,
        requests,
        errors,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: cached,
        reasoning_tokens: reasoning,
        cost: Nanos(cost),
        provider_cost: Nanos(provider),
        latency_us_sum: latency,
    }
}

/// Appends the usage page query to `$query` (a `QueryBuilder` of either backend). A macro, not
/// a function, so [`Store::usage_page`] and the plan check of the tests share one text.
macro_rules! push_usage_query {
    ($query:ident, $filter:expr, $after:expr, $limit:expr) => {{
        let filter: &UsageFilter = $filter;
        let after: Option<UsageCursor> = $after;
        $query.push(concat!(
            "SELECT ",
            prefixed_log_columns!(),
            ", k.name AS key_name \
             FROM request_logs r LEFT JOIN api_keys k ON k.id = r.key_id WHERE r.user_id = "
        ));
        $query.push_bind(filter.user.to_string());
        // Only the set filters become conditions, so each shape of query meets the index
        // made for it; `$n IS NULL OR …` would leave the planners without one.
        if let Some(key) = filter.key {
            $query.push(" AND r.key_id = ").push_bind(key.to_string());
        }
        if let Some(model) = &filter.model {
            $query.push(" AND r.model = ").push_bind(model.clone());
        }
        match filter.status {
            // The literal matches the partial index's predicate, which is how both planners
            // know they may use it.
            Some(StatusClass::Error) => {
                $query.push(" AND r.status >= 400");
            }
            Some(StatusClass::Ok) => {
                $query.push(" AND r.status < 400");
            }
            None => {}
        }
        if let Some(from) = filter.from {
            $query.push(" AND r.created_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            $query.push(" AND r.created_at < ").push_bind(to);
        }
        if let Some(c) = after {
            // The plain bound gives the planner a range on the index; the row value breaks
            // ties between rows of the same millisecond by id.
            $query.push(" AND r.created_at <= ").push_bind(c.created_at);
            $query
                .push(" AND (r.created_at, r.id) < (")
                .push_bind(c.created_at)
                .push(", ")
                .push_bind(c.id.to_string())
                .push(")");
        }
        $query
            .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
            .push_bind(i64::from($limit));
    }};
}

impl Store {
    /// One page of a user's log, newest first, starting after `after`. Only the set filters
    /// become conditions, so each shape of query meets the index made for it.
    pub async fn usage_page(
        &self,
        filter: &UsageFilter,
        after: Option<UsageCursor>,
        limit: u32,
    ) -> Result<Vec<UsageEntry>, StoreError> {
        let rows: Vec<UsageRow> = on_pool!(&self.db, pool => {
            let mut query = QueryBuilder::new("");
            push_usage_query!(query, filter, after, limit);
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(UsageEntry {
                    log: RequestLog::try_from(row.log)?,
                    key_name: row.key_name,
                })
            })
            .collect()
    }

    /// The plan each backend chooses for a usage page (SQLite's `EXPLAIN QUERY PLAN`,
    /// PostgreSQL's `EXPLAIN` with scans and sorts priced out, since a test table is too small
    /// for the planner to prefer an index otherwise): tests prove every filter is index-served.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn explain_usage_page(
        &self,
        filter: &UsageFilter,
        after: Option<UsageCursor>,
    ) -> Result<String, StoreError> {
        let lines: Vec<String> = match &self.db {
            crate::Db::Sqlite(pool) => {
                let mut query = QueryBuilder::new("EXPLAIN QUERY PLAN ");
                push_usage_query!(query, filter, after, 50u32);
                let rows: Vec<(i64, i64, i64, String)> =
                    query.build_query_as().fetch_all(pool).await?;
                rows.into_iter().map(|r| r.3).collect()
            }
            crate::Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // A small table makes a scan and a sort the cheapest plan; pricing them out
                // asks whether an index can serve the query in order, which is the question.
                for setting in ["enable_seqscan", "enable_bitmapscan", "enable_sort"] {
                    sqlx::query(&format!("SET LOCAL {setting} = off"))
                        .execute(&mut *tx)
                        .await?;
                }
                let mut query = QueryBuilder::new("EXPLAIN ");
                push_usage_query!(query, filter, after, 50u32);
                let rows: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
                tx.rollback().await?;
                rows
            }
        };
        Ok(lines.join("\n"))
    }

    /// Refreshes PostgreSQL's planner statistics and visibility map of the log tables, as
    /// autovacuum does after bulk writes, so a benchmark or a plan test that has just seeded rows sees the plans a
    /// live server would use. Nothing on SQLite: a deployment never runs `ANALYZE` there, so
    /// its plans must hold without statistics.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn gather_statistics(&self) -> Result<(), StoreError> {
        if let crate::Db::Postgres(pool) = &self.db {
            // The simple protocol: VACUUM refuses to run as a prepared statement's transaction.
            sqlx::raw_sql(
                "VACUUM ANALYZE request_logs, usage_daily, usage_daily_models, users, api_keys",
            )
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    /// Rollup sums per day in `[from_day, to_day]` (days since 1970-01-01), of one user or of
    /// everyone. Days without requests are absent.
    pub async fn usage_days(
        &self,
        user: Option<UserId>,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<DayTotals>, StoreError> {
        let rows: Vec<DayRow> = on_pool!(&self.db, pool => {
            // Everyone's sums come from the per-model table: a month is a few hundred rows.
            let table = if user.is_some() { "usage_daily" } else { "usage_daily_models" };
            let mut query = QueryBuilder::new(day_sums!());
            query.push(table).push(" WHERE day >= ");
            query.push_bind(from_day).push(" AND day <= ").push_bind(to_day);
            if let Some(user) = user {
                query.push(" AND user_id = ").push_bind(user.to_string());
            }
            query.push(" GROUP BY day ORDER BY day");
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(day_totals).collect())
    }

    /// The `limit` models with the highest cost in `[from_day, to_day]`, of one user or of
    /// everyone; ties by name.
    pub async fn top_models(
        &self,
        user: Option<UserId>,
        from_day: i64,
        to_day: i64,
        limit: u32,
    ) -> Result<Vec<ModelTotals>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(&self.db, pool => {
            let table = if user.is_some() { "usage_daily" } else { "usage_daily_models" };
            let mut query = QueryBuilder::new(
                "SELECT model, CAST(SUM(requests) AS BIGINT) AS requests, \
                 CAST(SUM(cost_nanos) AS BIGINT) AS cost FROM ",
            );
            query.push(table).push(" WHERE day >= ");
            query.push_bind(from_day).push(" AND day <= ").push_bind(to_day);
            if let Some(user) = user {
                query.push(" AND user_id = ").push_bind(user.to_string());
            }
            query
                .push(" GROUP BY model ORDER BY cost DESC, model LIMIT ")
                .push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(model, requests, cost)| ModelTotals {
                model,
                requests,
                cost: Nanos(cost),
            })
            .collect())
    }

    /// Users whose email contains `query` (case-insensitively) or whose id is `query`, oldest
    /// first, after the user `after` (a keyset page).
    pub async fn search_users(
        &self,
        query: Option<&str>,
        after: Option<(i64, UserId)>,
        limit: u32,
    ) -> Result<Vec<UserSummary>, StoreError> {
        let rows: Vec<SummaryRow> = on_pool!(&self.db, pool => {
            let mut sql = QueryBuilder::new(
                "SELECT u.id, u.email, u.role, u.disabled, u.created_at, u.price_group, \
                 u.data_policy, \
                 COALESCE(a.credits_posted - a.debits_posted, 0) AS balance, \
                 (SELECT MAX(r.created_at) FROM request_logs r WHERE r.user_id = u.id) \
                 AS last_active_at \
                 FROM users u LEFT JOIN ledger_accounts a ON a.id = 'user:' || u.id WHERE 1 = 1",
            );
            if let Some(q) = query.map(str::trim).filter(|q| !q.is_empty()) {
                let pattern = format!("%{}%", escape_like(&q.to_lowercase()));
                sql.push(" AND (u.email LIKE ")
                    .push_bind(pattern)
                    .push(" ESCAPE '\\' OR u.id = ")
                    .push_bind(q.to_owned())
                    .push(")");
            }
            if let Some((created_at, id)) = after {
                sql.push(" AND (u.created_at, u.id) > (")
                    .push_bind(created_at)
                    .push(", ")
                    .push_bind(id.to_string())
                    .push(")");
            }
            sql.push(" ORDER BY u.created_at, u.id LIMIT ")
                .push_bind(i64::from(limit));
            sql.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter()
            .map(|row| {
                Ok(UserSummary {
                    user: User::try_from(row.user)?,
                    balance: Nanos(row.balance),
                    last_active_at: row.last_active_at,
                })
            })
            .collect()
    }

    /// Changes a user's role or disabled flag. Disabling also ends every session of the user,
    /// in the same transaction, and the generation bump makes every node's gateway drop the
    /// user's keys at its next reload. Returns `false` if there is no such user.
    pub async fn change_user(&self, id: UserId, change: UserChange) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE users SET disabled = COALESCE($2, disabled), role = COALESCE($3, role) \
                 WHERE id = $1",
            )
            .bind(id.to_string())
            .bind(change.disabled)
            .bind(change.role.map(Role::as_str))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed > 0 && change.disabled == Some(true) {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(crate::access::BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(changed > 0)
        })
    }
}

/// `%`, `_` and the escape character itself match literally in a LIKE pattern after this.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(sqlx::FromRow)]
struct UsageRow {
    #[sqlx(flatten)]
    log: LogRow,
    key_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    user: UserRow,
    balance: i64,
    last_active_at: Option<i64>,
}
