-- The operator's system view without reading every user's rows: a platform-wide rollup per
-- day and model, and a time index that carries what the recent rates and the latency sample
-- read. Keep this file and ../sqlite/0014_usage_platform.sql the same schema.
-- (0013 shipped on main before a page benchmark showed /api/admin/stats at ~110 ms with a
-- million rows; applied migrations are never edited, so the fix is this one.)

-- Status and latency in the index let the recent rates and the latency sample read the index
-- alone, not a table row per log row.
DROP INDEX request_logs_time_page;
CREATE INDEX request_logs_time_page ON request_logs (created_at, id, status, latency_us);

-- The same sums for the whole platform per day and model, so the operator's view reads a few
-- hundred rows for a month instead of every user's.
CREATE TABLE usage_daily_models (
    day                 BIGINT NOT NULL,
    model               TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    errors              BIGINT NOT NULL,
    prompt_tokens       BIGINT NOT NULL,
    completion_tokens   BIGINT NOT NULL,
    cached_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    cost_nanos          BIGINT NOT NULL,
    provider_cost_nanos BIGINT NOT NULL,
    latency_us_sum      BIGINT NOT NULL,
    PRIMARY KEY (day, model)
);

INSERT INTO usage_daily_models
SELECT day, model, CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT),
       CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT),
       CAST(SUM(cached_tokens) AS BIGINT), CAST(SUM(reasoning_tokens) AS BIGINT),
       CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(provider_cost_nanos) AS BIGINT),
       CAST(SUM(latency_us_sum) AS BIGINT)
FROM usage_daily
GROUP BY day, model;
