-- The dashboard's usage pages: keyset-paged log indexes, the daily rollup, and key kinds.
-- Keep this file and ../sqlite/0013_usage_pages.sql the same schema.

-- Each page is `ORDER BY created_at DESC, id DESC` under a user's filters; with `id` last in
-- the index the page is read in index order and stops at its limit, never sorted.
-- The user-and-time index supersedes request_logs_user_time (its prefix).
DROP INDEX request_logs_user_time;
CREATE INDEX request_logs_user_page ON request_logs (user_id, created_at, id);
CREATE INDEX request_logs_user_model_page ON request_logs (user_id, model, created_at, id);
CREATE INDEX request_logs_user_key_page ON request_logs (user_id, key_id, created_at, id);
-- Errors are rare, so "show me my errors" would otherwise walk every row of the user.
CREATE INDEX request_logs_user_error_page ON request_logs (user_id, created_at, id)
    WHERE status >= 400;
-- Likewise for the time-only scans (revenue, margin, the operator's recent rates).
DROP INDEX request_logs_time;
CREATE INDEX request_logs_time_page ON request_logs (created_at, id);

-- Per UTC day, user, key and model: what the Overview and the operator's pages chart, so they
-- never aggregate request_logs. Written by the log writer in the transaction that inserts the
-- rows it counts. '' stands for "no user" / "no key": a primary key cannot hold NULL.
CREATE TABLE usage_daily (
    user_id             TEXT NOT NULL,
    -- Days since 1970-01-01 (UTC): created_at / 86400000.
    day                 BIGINT NOT NULL,
    key_id              TEXT NOT NULL,
    model               TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    -- Rows with an HTTP status of 400 or more.
    errors              BIGINT NOT NULL,
    prompt_tokens       BIGINT NOT NULL,
    completion_tokens   BIGINT NOT NULL,
    cached_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    provider_cost_nanos BIGINT NOT NULL,
    latency_us_sum      BIGINT NOT NULL,
    PRIMARY KEY (user_id, day, key_id, model)
);
CREATE INDEX usage_daily_day ON usage_daily (day);

-- The log written before this migration, so the charts start complete.
INSERT INTO usage_daily
SELECT COALESCE(user_id, ''), created_at / 86400000, COALESCE(key_id, ''), model,
       COUNT(*),
       CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT),
       CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT),
       CAST(SUM(cached_tokens) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT),
       CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(provider_cost_nanos) AS BIGINT),
       CAST(SUM(latency_us) AS BIGINT)
FROM request_logs
GROUP BY COALESCE(user_id, ''), created_at / 86400000, COALESCE(key_id, ''), model;

-- What a key is for: `playground` keys are the dashboard's short-lived in-browser keys, which
-- key lists may hide and which a new playground key revokes.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'standard'
    CHECK (kind IN ('standard', 'playground'));
