-- People, not just keys: passwords, profiles, sessions and emailed tokens (PostgreSQL). Keep
-- ../sqlite/0011_accounts.sql the same schema.

-- The argon2id hash of a user's password as a PHC string (algorithm, parameters and salt
-- included, so the parameters can be raised later without a migration). A user without a row
-- signs in only with API keys.
CREATE TABLE password_hashes (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    phc        TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The profile a person edits. Company and VAT/GST number are the billing profile's
-- (billing_profiles), so invoices and settings cannot disagree.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN language TEXT;
-- When the user proved they read mail at their address; NULL: not yet.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- Signed-in browsers. id_hash is SHA-256 of the 256-bit random id in the cookie: the id itself
-- is never stored, so a read of this table cannot be replayed as a cookie. A session ends at
-- expires_at (absolute) or after the configured idle time since last_seen_at.
CREATE TABLE sessions (
    id_hash      BYTEA PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Single-use tokens sent by email (address verification, password reset), stored as SHA-256
-- of the token like session ids.
CREATE TABLE email_tokens (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id);
