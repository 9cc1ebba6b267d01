-- Content logging (docs/configuration.md, [privacy]): off by default, turned on only per key by
-- an operator, and impossible when the deployment says `privacy.content_logging = "never"`.
-- Keep this file and ../sqlite/0018_content.sql the same schema.

-- Every key starts with content logging off, including every key from before this migration.
ALTER TABLE api_keys ADD COLUMN log_content BOOLEAN NOT NULL DEFAULT FALSE;

-- One captured exchange per request, written by the gateway's log writer in batches. No
-- foreign keys, as for request_logs: rows arrive from an asynchronous writer and must never be
-- rejected because an account or key went away in between.
CREATE TABLE content_logs (
    request_id    TEXT PRIMARY KEY,
    created_at    BIGINT NOT NULL,
    user_id       TEXT,
    key_id        TEXT,
    -- The request body as received, at most 1 MiB of it.
    request_body  TEXT NOT NULL,
    -- The answer as sent to the client (a stream's relayed bytes), at most 1 MiB; NULL when
    -- no answer body was sent.
    response_body TEXT,
    -- Whether either body was cut at the bound.
    truncated     BOOLEAN NOT NULL
);
CREATE INDEX content_logs_time ON content_logs (created_at);
CREATE INDEX content_logs_user_time ON content_logs (user_id, created_at);
