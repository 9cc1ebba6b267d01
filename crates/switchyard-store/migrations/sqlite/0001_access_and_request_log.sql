-- Users, API keys and the metadata-only request log (SQLite).
-- Keep this file and ../postgres/0001_access_and_request_log.sql the same schema: the only
-- differences allowed are type spellings (BLOB vs BYTEA).
-- Conventions: ids are application-generated UUID text; times are BIGINT unix milliseconds;
-- unsigned counters are BIGINT with a CHECK, because neither backend has a 64-bit unsigned type.

-- One row, bumped in the same transaction as every user or key write, so the gateway can tell
-- cheaply whether its in-memory snapshot of users and keys is stale.
CREATE TABLE access_generation (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO access_generation (id, value) VALUES (1, 0);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    -- Normalised (trimmed, lowercased) by the store, so UNIQUE is case-insensitive.
    email      TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('user', 'admin')),
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    name           TEXT NOT NULL,
    visible_prefix TEXT NOT NULL,
    -- HMAC-SHA-256 of the secret under the server key; never the secret itself.
    hash           BLOB NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    -- A JSON array of model names, or NULL for "every model".
    allowed_models TEXT
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_user ON api_keys (user_id);

-- No foreign keys to users or api_keys: rows arrive in batches from an asynchronous writer and
-- must never be rejected because an account was deleted in between; retention jobs own them.
CREATE TABLE request_logs (
    id                TEXT PRIMARY KEY,
    created_at        BIGINT NOT NULL,
    user_id           TEXT,
    key_id            TEXT,
    endpoint          TEXT NOT NULL,
    model             TEXT NOT NULL,
    provider          TEXT,
    upstream_model    TEXT,
    stream            BOOLEAN NOT NULL,
    prompt_tokens     BIGINT NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL CHECK (completion_tokens >= 0),
    cached_tokens     BIGINT NOT NULL CHECK (cached_tokens >= 0),
    reasoning_tokens  BIGINT NOT NULL CHECK (reasoning_tokens >= 0),
    usage_source      TEXT NOT NULL CHECK (usage_source IN ('upstream', 'estimated')),
    cost_nanos        BIGINT NOT NULL,
    latency_us        BIGINT NOT NULL CHECK (latency_us >= 0),
    ttft_us           BIGINT CHECK (ttft_us >= 0),
    status            BIGINT NOT NULL,
    error_code        TEXT,
    client_ip         TEXT
);
CREATE INDEX request_logs_user_time ON request_logs (user_id, created_at);
CREATE INDEX request_logs_key_time ON request_logs (key_id, created_at);
CREATE INDEX request_logs_time ON request_logs (created_at);
