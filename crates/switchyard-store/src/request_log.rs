//! The request log: one metadata-only row per inference request, written in batches by the
//! gateway's background writer and read back, filtered, by the dashboard and the management API.
//!
//! Counters are `u64` in the domain but BIGINT (signed) in both databases, which have no 64-bit
//! unsigned type. Values up to `i64::MAX` (9.2 × 10¹⁸, far beyond any real token count or
//! latency) round-trip exactly; larger ones are stored as `i64::MAX` rather than wrapping to a
//! negative number that would poison every SQL sum over the column.

use crate::access::parse_id;
use crate::limits::{SPEND_CONFLICT, SPEND_INSERT, SPEND_ROWS_PER_UPSERT, spend_groups};
use crate::traffic::{TRAFFIC_CONFLICT, TRAFFIC_INSERT, TRAFFIC_ROWS_PER_UPSERT, traffic_groups};
use crate::usage::{
    PLATFORM_CONFLICT, PLATFORM_INSERT, ROLLUP_CONFLICT, ROLLUP_INSERT, ROLLUP_ROWS_PER_UPSERT,
    platform_groups, rollup_groups,
};
use crate::{Backend, Store, StoreError};
use sqlx::QueryBuilder;
use std::collections::HashSet;
use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};

/// Which log rows to list. Every set field must match; `limit` 0 means the default of 100.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub user: Option<UserId>,
    pub key: Option<KeyId>,
    pub model: Option<String>,
    pub request_id: Option<RequestId>,
    pub limit: u32,
}

const DEFAULT_LIMIT: u32 = 100;

/// Columns bound per row by [`Store::insert_request_logs`].
const LOG_COLUMNS: usize = 23;

/// Rows per INSERT statement. Far below both backends' bind limits; beyond a few hundred rows
/// a larger statement saves little, and a batch's last, shorter statement is parsed afresh.
const MAX_ROWS_PER_INSERT: usize = 256;

macro_rules! log_columns {
    () => {
        "id, created_at, user_id, key_id, endpoint, model, provider, upstream_model, stream, \
         prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, usage_source, \
         cost_nanos, latency_us, ttft_us, status, error_code, client_ip, provider_cost_nanos, \
         channel, jurisdiction"
    };
}

/// [`log_columns`] qualified by the alias `r`, for queries that join another table.
macro_rules! prefixed_log_columns {
    () => {
        "r.id, r.created_at, r.user_id, r.key_id, r.endpoint, r.model, r.provider, \
         r.upstream_model, r.stream, r.prompt_tokens, r.completion_tokens, r.cached_tokens, \
         r.reasoning_tokens, r.usage_source, r.cost_nanos, r.latency_us, r.ttft_us, r.status, \
         r.error_code, r.client_ip, r.provider_cost_nanos, r.channel, r.jurisdiction"
    };
}

/// Adds `items` to a counting table (`insert` … `conflict`, a multi-row upsert), `per` rows per
/// statement, in the transaction `tx`; `|row, item| {…}` binds one item's values. Not cached:
/// a statement's text changes with its row count, so a cached one would rarely be reused and
/// would evict the log INSERTs.
macro_rules! upsert_all {
    ($tx:ident, $items:expr, $per:expr, $insert:expr, $conflict:expr,
     |$row:ident, $item:pat_param| $bind:block) => {
        for chunk in $items.chunks($per) {
            let mut upsert = QueryBuilder::new($insert);
            upsert.push_values(chunk, |mut $row, $item| $bind);
            upsert.push($conflict);
            upsert.build().persistent(false).execute(&mut *$tx).await?;
        }
    };
}

impl Store {
    /// Writes a batch of log rows in one transaction, as few multi-row INSERTs as each
    /// backend's bind-variable limit allows, and adds them to the daily rollups, the traffic
    /// minutes and the spend counters of their keys and users in the same transaction. Rows
    /// whose id is already stored are skipped (and not counted again), so a writer that
    /// retries a batch after an ambiguous failure never duplicates a line or a charge.
    pub async fn insert_request_logs(&self, rows: &[RequestLog]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        // Usually no row of a batch is stored yet, and the INSERTs need not say which rows they
        // added (on SQLite every returned row is a hand-off between two threads). When one was
        // (a retry after an ambiguous failure), that transaction is rolled back and the batch is
        // written again, asking.
        if !self.write_request_logs(rows, false).await? {
            self.write_request_logs(rows, true).await?;
        }
        Ok(())
    }

    /// [`Store::insert_request_logs`]'s transaction. Without `returning`, it writes nothing and
    /// returns false when any row is stored already; with it, it skips those rows.
    async fn write_request_logs(
        &self,
        rows: &[RequestLog],
        returning: bool,
    ) -> Result<bool, StoreError> {
        let per_statement = rows_per_insert(self.backend());
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let mut rest = rows;
            // Which rows the INSERTs really added; `None` while that is all of them, the usual
            // case, so a first write builds no set.
            let mut skipped: Option<HashSet<String>> = None;
            while !rest.is_empty() {
                // Full chunks share one cached statement. The rest goes in one statement
                // parsed for this batch only: one parse costs less than a round trip per row
                // (every SQLite statement is one to sqlx's worker thread), and caching a
                // statement per tail length would evict the full one.
                let size = per_statement.min(rest.len());
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let mut insert =
                    QueryBuilder::new(concat!("INSERT INTO request_logs (", log_columns!(), ") "));
                insert.push_values(chunk, |mut row, log| {
                    row.push_bind(log.id.to_string())
                        .push_bind(log.created_at)
                        .push_bind(log.user_id.map(|id| id.to_string()))
                        .push_bind(log.key_id.map(|id| id.to_string()))
                        .push_bind(log.endpoint.as_str())
                        .push_bind(log.model.as_str())
                        .push_bind(log.provider.as_deref())
                        .push_bind(log.upstream_model.as_deref())
                        .push_bind(log.stream)
                        .push_bind(to_db(log.prompt_tokens))
                        .push_bind(to_db(log.completion_tokens))
                        .push_bind(to_db(log.cached_tokens))
                        .push_bind(to_db(log.reasoning_tokens))
                        .push_bind(usage_source_text(log.usage_source))
                        .push_bind(log.cost.0)
                        .push_bind(to_db(log.latency_us))
                        .push_bind(log.ttft_us.map(to_db))
                        .push_bind(i64::from(log.status))
                        .push_bind(log.error_code.as_deref())
                        .push_bind(log.client_ip.as_deref())
                        .push_bind(log.provider_cost.0)
                        .push_bind(log.channel.as_deref())
                        .push_bind(log.jurisdiction.as_deref());
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                if !returning {
                    let added = insert
                        .build()
                        .persistent(size == per_statement)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if added < chunk.len() as u64 {
                        tx.rollback().await?;
                        return Ok(false);
                    }
                    continue;
                }
                // Rare (see above), so never cached: it would evict the usual statements.
                insert.push(" RETURNING id");
                let added: Vec<String> = insert
                    .build_query_scalar()
                    .persistent(false)
                    .fetch_all(&mut *tx)
                    .await?;
                if added.len() < chunk.len() {
                    let added: HashSet<String> = added.into_iter().collect();
                    let set = skipped.get_or_insert_with(HashSet::new);
                    set.extend(
                        chunk
                            .iter()
                            .map(|log| log.id.to_string())
                            .filter(|id| !added.contains(id)),
                    );
                }
            }
            let added = || {
                rows.iter().filter(|log| {
                    skipped
                        .as_ref()
                        .is_none_or(|set| !set.contains(&log.id.to_string()))
                })
            };
            let groups = rollup_groups(added());
            upsert_all!(tx, groups, ROLLUP_ROWS_PER_UPSERT, ROLLUP_INSERT, ROLLUP_CONFLICT,
                |row, ((user, day, key, model), sums)| {
                    row.push_bind(user.map(|u| u.to_string()).unwrap_or_default())
                        .push_bind(*day)
                        .push_bind(key.map(|k| k.to_string()).unwrap_or_default())
                        .push_bind(*model);
                    for value in sums {
                        row.push_bind(*value);
                    }
                });
            let platform = platform_groups(&groups);
            upsert_all!(tx, platform, ROLLUP_ROWS_PER_UPSERT, PLATFORM_INSERT, PLATFORM_CONFLICT,
                |row, ((day, model), sums)| {
                    row.push_bind(*day).push_bind(*model);
                    for value in sums {
                        row.push_bind(*value);
                    }
                });
            let traffic = traffic_groups(added());
            upsert_all!(tx, traffic, TRAFFIC_ROWS_PER_UPSERT, TRAFFIC_INSERT, TRAFFIC_CONFLICT,
                |row, cell| {
                    row.push_bind(cell.minute)
                        .push_bind(i32::from(cell.bucket))
                        .push_bind(cell.requests)
                        .push_bind(cell.errors);
                });
            let spend: Vec<_> = spend_groups(added()).into_iter().collect();
            upsert_all!(tx, spend, SPEND_ROWS_PER_UPSERT, SPEND_INSERT, SPEND_CONFLICT,
                |row, ((scope, owner, period), spent)| {
                    row.push_bind(scope.as_str())
                        .push_bind(owner.as_str())
                        .push_bind(period.as_str())
                        .push_bind(*spent);
                });
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Log rows matching `filter`, newest first.
    pub async fn list_request_logs(
        &self,
        filter: &LogFilter,
    ) -> Result<Vec<RequestLog>, StoreError> {
        let limit = if filter.limit == 0 {
            DEFAULT_LIMIT
        } else {
            filter.limit
        };
        let rows: Vec<LogRow> = on_pool!(&self.db, pool => {
            // Only the filters that are set become conditions, so each query can use the
            // matching index; `$n IS NULL OR …` would leave SQLite's planner without one.
            let mut query =
                QueryBuilder::new(concat!("SELECT ", log_columns!(), " FROM request_logs"));
            let mut glue = " WHERE ";
            if let Some(user) = filter.user {
                query.push(glue).push("user_id = ").push_bind(user.to_string());
                glue = " AND ";
            }
            if let Some(key) = filter.key {
                query.push(glue).push("key_id = ").push_bind(key.to_string());
                glue = " AND ";
            }
            if let Some(model) = &filter.model {
                query.push(glue).push("model = ").push_bind(model.as_str());
                glue = " AND ";
            }
            if let Some(id) = filter.request_id {
                query.push(glue).push("id = ").push_bind(id.to_string());
            }
            query
                .push(" ORDER BY created_at DESC, id DESC LIMIT ")
                .push_bind(i64::from(limit));
            query.build_query_as().fetch_all(pool).await
        })?;
        rows.into_iter().map(RequestLog::try_from).collect()
    }

    pub async fn count_request_logs(&self) -> Result<u64, StoreError> {
        let count: i64 = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM request_logs").fetch_one(pool).await
        })?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

fn rows_per_insert(backend: Backend) -> usize {
    // SQLite's limit is a compile-time option (32,766 by default since 3.32); PostgreSQL's
    // protocol counts parameters in an i16-sized field read as unsigned (65,535).
    let max_binds = match backend {
        Backend::Sqlite => 32_766,
        Backend::Postgres => 65_535,
    };
    (max_binds / LOG_COLUMNS).min(MAX_ROWS_PER_INSERT)
}

/// A `u64` counter as stored (see the module doc for why it saturates).
fn to_db(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_db(value: i64, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("request_logs.{column} is negative: {value}")))
}

fn usage_source_text(source: UsageSource) -> &'static str {
    match source {
        UsageSource::Upstream => "upstream",
        UsageSource::Estimated => "estimated",
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    id: String,
    created_at: i64,
    user_id: Option<String>,
    key_id: Option<String>,
    endpoint: String,
    model: String,
    provider: Option<String>,
    upstream_model: Option<String>,
    stream: bool,
    prompt_tokens: i64,
    completion_tokens: i64,
    cached_tokens: i64,
    reasoning_tokens: i64,
    usage_source: String,
    cost_nanos: i64,
    latency_us: i64,
    ttft_us: Option<i64>,
    status: i64,
    error_code: Option<String>,
    client_ip: Option<String>,
    provider_cost_nanos: i64,
    channel: Option<String>,
    jurisdiction: Option<String>,
}

impl TryFrom<LogRow> for RequestLog {
    type Error = StoreError;
    fn try_from(row: LogRow) -> Result<RequestLog, StoreError> {
        let usage_source = match row.usage_source.as_str() {
            "upstream" => UsageSource::Upstream,
            "estimated" => UsageSource::Estimated,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "request_logs.usage_source `{other}` is not a usage source"
                )));
            }
        };
        Ok(RequestLog {
            id: parse_id(&row.id, "request_logs.id")?,
            created_at: row.created_at,
            user_id: row
                .user_id
                .map(|id| parse_id(&id, "request_logs.user_id"))
                .transpose()?,
            key_id: row
                .key_id
                .map(|id| parse_id(&id, "request_logs.key_id"))
                .transpose()?,
            endpoint: row.endpoint,
            model: row.model,
            provider: row.provider,
            upstream_model: row.upstream_model,
            channel: row.channel,
            jurisdiction: row.jurisdiction,
            stream: row.stream,
            prompt_tokens: from_db(row.prompt_tokens, "prompt_tokens")?,
            completion_tokens: from_db(row.completion_tokens, "completion_tokens")?,
            cached_tokens: from_db(row.cached_tokens, "cached_tokens")?,
            reasoning_tokens: from_db(row.reasoning_tokens, "reasoning_tokens")?,
            usage_source,
            cost: Nanos(row.cost_nanos),
            provider_cost: Nanos(row.provider_cost_nanos),
            latency_us: from_db(row.latency_us, "latency_us")?,
            ttft_us: row.ttft_us.map(|us| from_db(us, "ttft_us")).transpose()?,
            status: u16::try_from(row.status).map_err(|_| {
                StoreError::Corrupt(format!(
                    "request_logs.status {} is not an HTTP status",
                    row.status
                ))
            })?,
            error_code: row.error_code,
            client_ip: row.client_ip,
        })
    }
}
