-- Data policies, and where each request was routed (sqlite). Keep ../postgres/0009_routing.sql
-- the same schema.

-- The data policy of an account and of a key, as the JSON of switchyard_core::routing::DataPolicy
-- (for example {"jurisdictions":["EU"],"no_training":true}). NULL is the open policy, which
-- restricts nothing; every row written before this migration has it.
ALTER TABLE users ADD COLUMN data_policy TEXT;
ALTER TABLE api_keys ADD COLUMN data_policy TEXT;

-- The channel that served the request (the last one tried when none did) and the jurisdiction
-- of its provider; NULL when there was none and on rows written before this migration.
ALTER TABLE request_logs ADD COLUMN channel TEXT;
ALTER TABLE request_logs ADD COLUMN jurisdiction TEXT;
