-- Sign-in through OpenID Connect providers: linked identities and the short-lived state of
-- each authorization code flow (PostgreSQL). Keep ../sqlite/0012_identities.sql the same schema.

-- An account at an OpenID provider, linked to a user. Keyed by (issuer, subject), never by
-- email: OIDC Core §5.7 says only that pair identifies a person stably, and an address can
-- change hands. email is what the provider said at the last sign-in, for display only.
CREATE TABLE identities (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- One authorization request in flight, deleted when its callback arrives (single use) or
-- after expires_at. state_hash is SHA-256 of the state parameter, like session ids: a read of
-- this table cannot complete someone's flow. binding_hash is SHA-256 of the session cookie
-- the flow was started with (a pre-session value for a sign-in, the session for a link), so
-- only the browser that started a flow can finish it. user_id is the user a link is for.
CREATE TABLE oidc_flows (
    state_hash    BYTEA PRIMARY KEY,
    provider      TEXT NOT NULL,
    purpose       TEXT NOT NULL CHECK (purpose IN ('signin', 'link')),
    user_id       TEXT REFERENCES users (id),
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    binding_hash  BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    CHECK ((purpose = 'link') = (user_id IS NOT NULL))
);
CREATE INDEX oidc_flows_expires ON oidc_flows (expires_at);
