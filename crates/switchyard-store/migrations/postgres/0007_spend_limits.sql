-- Spend limits of keys and users, and what they spent per period (PostgreSQL). Keep
-- ../sqlite/0007_spend_limits.sql the same schema.

-- NULL means "no limit" for that period. scope is 'key' or 'user'; owner is its id.
CREATE TABLE spend_limits (
    scope       TEXT NOT NULL CHECK (scope IN ('key', 'user')),
    owner       TEXT NOT NULL,
    total_nanos BIGINT CHECK (total_nanos >= 0),
    day_nanos   BIGINT CHECK (day_nanos >= 0),
    month_nanos BIGINT CHECK (month_nanos >= 0),
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, owner)
);

-- Charged amounts per period: 'total', 'd2026-11-29' (UTC day) or 'm2026-11' (UTC month).
-- Written by the request writer with the log rows, added per batch.
CREATE TABLE spend_counters (
    scope       TEXT NOT NULL CHECK (scope IN ('key', 'user')),
    owner       TEXT NOT NULL,
    period      TEXT NOT NULL,
    spent_nanos BIGINT NOT NULL,
    PRIMARY KEY (scope, owner, period)
);
