-- Two page-speed fixes found by bench/pages.sh with a million log rows (bench/README.md).
-- Keep this file and ../postgres/0016_page_speed.sql the same schema.

-- A usage page filtered by key and model together walked one of the single-filter indexes and
-- discarded most of what it read (188–428 ms with a rare status on top); this one is read in
-- page order and stops at the page's limit.
CREATE INDEX request_logs_user_key_model_page
    ON request_logs (user_id, key_id, model, created_at, id);

-- The operator's recent rates and latency percentiles, per UTC minute and latency bucket
-- (switchyard_store::traffic explains the buckets), so the system view reads at most an hour
-- of minutes instead of a sample of the log. Written by the log writer in the transaction that
-- inserts the rows it counts; purged by retention like the log. Starts empty: the percentiles
-- cover the last hour, which the rows logged before this migration have mostly left.
CREATE TABLE traffic_minutes (
    -- Minutes since 1970-01-01 (UTC): created_at / 60000.
    minute   BIGINT NOT NULL,
    bucket   INTEGER NOT NULL,
    requests BIGINT NOT NULL,
    -- Rows with an HTTP status of 400 or more.
    errors   BIGINT NOT NULL,
    PRIMARY KEY (minute, bucket)
);
