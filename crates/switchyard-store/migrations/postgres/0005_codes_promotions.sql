-- Redemption codes, new-user credit and referrals (PostgreSQL). Keep
-- ../sqlite/0005_codes_promotions.sql the same schema. The money itself moves only as ledger
-- transfers (0002_ledger.sql); these tables record who may claim what, once.

-- One operator action that made many codes of one value.
CREATE TABLE code_batches (
    id         TEXT PRIMARY KEY,
    value      BIGINT NOT NULL CHECK (value > 0),
    count      BIGINT NOT NULL CHECK (count > 0),
    expires_at BIGINT,
    created_by TEXT,
    created_at BIGINT NOT NULL
);

-- A code is shown once, at creation. Only HMAC-SHA-256(server key, code) is stored, as
-- lowercase hex, with the code's first characters to recognise it in lists. A redemption sets
-- redeemed_by/redeemed_at with a conditional UPDATE in the transaction that credits the user.
CREATE TABLE redemption_codes (
    id             TEXT PRIMARY KEY,
    batch_id       TEXT NOT NULL REFERENCES code_batches (id),
    hash           TEXT NOT NULL UNIQUE,
    visible_prefix TEXT NOT NULL,
    value          BIGINT NOT NULL CHECK (value > 0),
    expires_at     BIGINT,
    redeemed_by    TEXT,
    redeemed_at    BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX redemption_codes_batch ON redemption_codes (batch_id);

-- Who already had new-user credit: HMAC-SHA-256(server key, canonical email) as lowercase hex,
-- never the email. No user id and no foreign key: the row outlives the account on purpose, so a
-- deleted and re-created account cannot claim the credit twice.
CREATE TABLE new_user_credit_claims (
    email_hmac TEXT PRIMARY KEY,
    claimed_at BIGINT NOT NULL
);

-- A user's referral code, made on first request. Not a secret: it is meant to be shared.
CREATE TABLE referral_codes (
    user_id    TEXT PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Who referred whom. first_payment is the referee's first paid top-up: set once, and the only
-- payment that can earn the referrer a reward. No foreign keys: deleting either account must not
-- be blocked by, or rewrite, this history.
CREATE TABLE referrals (
    referee_id    TEXT PRIMARY KEY,
    referrer_id   TEXT NOT NULL,
    first_payment TEXT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX referrals_referrer ON referrals (referrer_id);
