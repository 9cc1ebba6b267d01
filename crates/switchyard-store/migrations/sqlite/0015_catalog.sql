-- Providers and models an operator adds through the management API (SQLite). Keep
-- ../postgres/0015_catalog.sql the same schema.
--
-- The gateway serves these beside the configured ones; every write bumps access_generation so
-- each replica's snapshot refresher rebuilds its catalogue. Names never collide with configured
-- ones (the API refuses), and a configured entry wins should the configuration later add one.

CREATE TABLE catalog_providers (
    name                  TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini')),
    base_url              TEXT NOT NULL,
    -- AES-256-GCM: 12-byte nonce, ciphertext, tag; the key is derived from the server secret,
    -- which never enters the database. NULL: no key is sent.
    api_key_sealed        BLOB,
    -- The key's last four characters (only for keys of 16 characters or more).
    api_key_hint          TEXT,
    jurisdiction          TEXT NOT NULL,
    retains_prompts       BOOLEAN,
    trains_on_prompts     BOOLEAN,
    zdr                   BOOLEAN NOT NULL DEFAULT FALSE,
    -- NULL: the server's [timeouts] default.
    connect_timeout_ms    BIGINT CHECK (connect_timeout_ms > 0),
    first_byte_timeout_ms BIGINT CHECK (first_byte_timeout_ms > 0),
    total_timeout_ms      BIGINT CHECK (total_timeout_ms > 0),
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- Prices are nano-USD per million tokens (image_nanos per image, per_second_nanos per second
-- of media). reasoning_nanos NULL prices reasoning tokens as output. aliases is a JSON array of
-- strings.
CREATE TABLE catalog_models (
    name                TEXT PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('chat', 'embedding')),
    aliases             TEXT NOT NULL DEFAULT '[]',
    input_nanos         BIGINT NOT NULL CHECK (input_nanos >= 0),
    output_nanos        BIGINT NOT NULL CHECK (output_nanos >= 0),
    cached_input_nanos  BIGINT NOT NULL CHECK (cached_input_nanos >= 0),
    reasoning_nanos     BIGINT CHECK (reasoning_nanos >= 0),
    image_nanos         BIGINT NOT NULL DEFAULT 0 CHECK (image_nanos >= 0),
    per_second_nanos    BIGINT NOT NULL DEFAULT 0 CHECK (per_second_nanos >= 0),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- A model's channels, in order (position). provider names a configured or a stored provider,
-- so it cannot be a foreign key; the API refuses to delete a stored provider a channel uses.
CREATE TABLE catalog_model_channels (
    model          TEXT NOT NULL REFERENCES catalog_models (name) ON DELETE CASCADE,
    position       BIGINT NOT NULL,
    name           TEXT NOT NULL,
    provider       TEXT NOT NULL,
    upstream_model TEXT NOT NULL,
    weight         BIGINT NOT NULL CHECK (weight >= 1),
    priority       BIGINT NOT NULL,
    PRIMARY KEY (model, position),
    UNIQUE (model, name)
);
CREATE INDEX catalog_model_channels_provider ON catalog_model_channels (provider);
