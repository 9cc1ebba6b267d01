-- Privacy (docs/privacy.md): account deletion with a grace window, legal holds, an account's
-- own shorter retention windows, the audit log, and what the retention job needs to find
-- expired rows without scanning. Keep this file and ../postgres/0019_privacy.sql the same schema.

-- Set when the user asked to delete the account (sign-in and keys stop at once); the personal
-- data is purged once the grace window has passed, unless a legal hold pauses it.
ALTER TABLE users ADD COLUMN deletion_requested_at BIGINT;
-- Set by the purge: the row stays (ledger accounts, payments and invoices refer to its id,
-- which is a pseudonym from then on) but holds no email, name or language any more.
ALTER TABLE users ADD COLUMN erased_at BIGINT;
-- An operator's legal hold (a dispute): while set, no retention purge touches the account.
ALTER TABLE users ADD COLUMN legal_hold_at BIGINT;
ALTER TABLE users ADD COLUMN legal_hold_reason TEXT;
-- The account's own windows, in days, for its usage log and client IP addresses; NULL keeps
-- the platform's. Only shorter than the platform's take effect.
ALTER TABLE users ADD COLUMN usage_log_days BIGINT CHECK (usage_log_days >= 1);
ALTER TABLE users ADD COLUMN client_ip_days BIGINT CHECK (client_ip_days >= 1);
CREATE INDEX users_deletion ON users (deletion_requested_at)
    WHERE deletion_requested_at IS NOT NULL AND erased_at IS NULL;

-- Rows whose client IP is still kept, oldest first: the IP purge reads only those.
CREATE INDEX request_logs_client_ip ON request_logs (created_at) WHERE client_ip IS NOT NULL;

-- Who did what to which account, key, provider, model, price or balance, and when.
-- Append-only: the store has no statement that changes a row, only the erasure's scrub of
-- the details of an erased account's rows and the retention purge.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    -- The user who acted (an admin or the account's owner); NULL for the system itself.
    actor_id   TEXT,
    actor_role TEXT NOT NULL CHECK (actor_role IN ('admin', 'user', 'system')),
    action     TEXT NOT NULL,
    -- What was acted on: kind ('user', 'key', 'provider', 'model', 'balance', …) and id.
    target     TEXT NOT NULL,
    target_id  TEXT,
    -- The account the entry concerns, for the user's export and the erasure's scrub.
    subject_id TEXT,
    -- JSON: what changed (field names and values).
    detail     TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (at, id);
CREATE INDEX audit_log_subject ON audit_log (subject_id, at, id);
