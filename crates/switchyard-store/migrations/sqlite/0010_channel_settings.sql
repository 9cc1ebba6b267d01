-- Operators' overrides of configured channels (SQLite). Keep ../postgres/0010_channel_settings.sql
-- the same schema.

-- One row per channel an operator changed through the management API; channels without a row
-- run as configured. NULL weight or priority keeps the configured value. model is the model's
-- configured name, channel the channel's name within it. A row whose model or channel is no
-- longer configured is ignored (and kept, should the channel come back).
CREATE TABLE channel_settings (
    model      TEXT NOT NULL,
    channel    TEXT NOT NULL,
    weight     BIGINT CHECK (weight >= 1),
    priority   BIGINT,
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (model, channel)
);
