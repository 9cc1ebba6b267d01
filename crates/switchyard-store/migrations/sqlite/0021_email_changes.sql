-- Changing an account's email address (rectification, docs/privacy.md): the new address is
-- proved by a mailed link before it replaces the old one. Tokens are stored as SHA-256 only.
-- Keep this file and ../postgres/0021_email_changes.sql the same schema.
CREATE TABLE email_changes (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    new_email  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_changes_user ON email_changes (user_id);
