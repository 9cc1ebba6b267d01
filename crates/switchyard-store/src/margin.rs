//! The margin report: per model and UTC day, what users were charged, what the providers cost,
//! and the difference. Read from the request log, whose rows carry both amounts.

use crate::{Store, StoreError};
use switchyard_core::Nanos;

/// One model on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarginRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub model: String,
    pub requests: i64,
    /// What users were charged (the ledger's settlements).
    pub charged: Nanos,
    /// What the providers charged the platform.
    pub provider_cost: Nanos,
}

impl MarginRow {
    /// Charged less provider cost; negative only if prices were below cost.
    pub fn margin(&self) -> Nanos {
        self.charged - self.provider_cost
    }
}

/// Day, model, requests, charged and provider cost, as the query returns them.
type Grouped = (i64, String, i64, i64, i64);

impl Store {
    /// Charged and provider cost per model and UTC day, for requests logged in `[from, to)`
    /// (unix ms), ordered by day then model.
    pub async fn margin(&self, from: i64, to: i64) -> Result<Vec<MarginRow>, StoreError> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps one decoded type for both.
        let rows: Vec<Grouped> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT created_at / 86400000 AS day, model, COUNT(*), \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(provider_cost_nanos), 0) AS BIGINT) \
                 FROM request_logs WHERE created_at >= $1 AND created_at < $2 \
                 GROUP BY created_at / 86400000, model ORDER BY day, model",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(day, model, requests, charged, provider_cost)| MarginRow {
                day,
                model,
                requests,
                charged: Nanos(charged),
                provider_cost: Nanos(provider_cost),
            })
            .collect())
    }
}
