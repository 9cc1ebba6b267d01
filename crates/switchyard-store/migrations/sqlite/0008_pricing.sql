-- Reseller pricing (sqlite). Keep ../postgres/0008_pricing.sql the same schema.

-- The price group whose markup a user pays; NULL is the configured default group. Group names
-- and markups live in configuration, so a name here is not checked against a table.
ALTER TABLE users ADD COLUMN price_group TEXT;

-- What the provider charged for the request; cost_nanos stays what the user was charged.
ALTER TABLE request_logs ADD COLUMN provider_cost_nanos BIGINT NOT NULL DEFAULT 0;
-- Before markups, every request was charged exactly its provider cost: a margin of zero.
UPDATE request_logs SET provider_cost_nanos = cost_nanos;
