//! Captured prompts and answers (`content_logs`): written only for keys an operator turned
//! content logging on for, on a deployment that allows it (`switchyard_core::content`), in
//! batches by the gateway's log writer, and read back one request at a time by operators.

use crate::access::parse_id;
use crate::{Store, StoreError};
use switchyard_core::RequestId;
use switchyard_core::content::ContentLog;

impl Store {
    /// Writes captured exchanges in one transaction. A row whose request id is already stored
    /// is skipped, so a writer that retries a batch after an ambiguous failure never fails on
    /// or doubles it.
    ///
    /// One statement per row: captures are rare (opt-in per key) and up to two megabytes each,
    /// so a multi-row INSERT would save nothing worth its bind-limit bookkeeping.
    pub async fn insert_content_logs(&self, rows: &[ContentLog]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for row in rows {
                sqlx::query(
                    "INSERT INTO content_logs (request_id, created_at, user_id, key_id, \
                     request_body, response_body, truncated) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO NOTHING",
                )
                .bind(row.request_id.to_string())
                .bind(row.created_at)
                .bind(row.user_id.map(|id| id.to_string()))
                .bind(row.key_id.map(|id| id.to_string()))
                .bind(row.request_body.as_str())
                .bind(row.response_body.as_deref())
                .bind(row.truncated)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The captured exchange of one request, if there is one.
    pub async fn content_log(&self, id: RequestId) -> Result<Option<ContentLog>, StoreError> {
        let row: Option<ContentRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT request_id, created_at, user_id, key_id, request_body, response_body, \
                 truncated FROM content_logs WHERE request_id = $1",
            )
            .bind(id.to_string())
            .fetch_optional(pool)
            .await
        })?;
        row.map(ContentLog::try_from).transpose()
    }
}

#[derive(sqlx::FromRow)]
struct ContentRow {
    request_id: String,
    created_at: i64,
    user_id: Option<String>,
    key_id: Option<String>,
    request_body: String,
    response_body: Option<String>,
    truncated: bool,
}

impl TryFrom<ContentRow> for ContentLog {
    type Error = StoreError;
    fn try_from(row: ContentRow) -> Result<ContentLog, StoreError> {
        Ok(ContentLog {
            request_id: parse_id(&row.request_id, "content_logs.request_id")?,
            created_at: row.created_at,
            user_id: row
                .user_id
                .as_deref()
                .map(|id| parse_id(id, "content_logs.user_id"))
                .transpose()?,
            key_id: row
                .key_id
                .as_deref()
                .map(|id| parse_id(id, "content_logs.key_id"))
                .transpose()?,
            request_body: row.request_body,
            response_body: row.response_body,
            truncated: row.truncated,
        })
    }
}
