-- Payments through a processor, and the webhook events already handled (PostgreSQL). Keep
-- ../sqlite/0004_payments.sql the same schema. Money is nano-USD; the ledger, not these tables,
-- holds balances: a payment's top-up and refunds are transfers whose ids derive from Stripe's.

-- One row per checkout. `processor_ref` is the Checkout Session id, `payment_intent` the
-- PaymentIntent it produced (known once paid; refund events name only that).
CREATE TABLE payments (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    processor      TEXT NOT NULL CHECK (processor IN ('stripe')),
    processor_ref  TEXT NOT NULL UNIQUE,
    payment_intent TEXT UNIQUE,
    amount_nanos   BIGINT NOT NULL CHECK (amount_nanos > 0),
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL
                   CHECK (status IN ('pending', 'paid', 'refunded', 'partially_refunded')),
    refunded_nanos BIGINT NOT NULL DEFAULT 0 CHECK (refunded_nanos >= 0),
    created_at     BIGINT NOT NULL,
    paid_at        BIGINT
);
CREATE INDEX payments_user ON payments (user_id, created_at);

-- Each increase of a charge's cumulative refunded amount, as a chain: `previous_nanos` is
-- the cumulative amount before the step, and UNIQUE (charge, previous) lets only one writer
-- extend the chain from a given point, so racing or replayed events cannot refund twice.
-- Kept even before the payment is known (a refund event may arrive first); the ledger
-- transfer `stripe:refund:<charge>:<refunded_nanos>` moves each step's difference.
CREATE TABLE payment_refunds (
    charge_ref     TEXT NOT NULL,
    previous_nanos BIGINT NOT NULL CHECK (previous_nanos >= 0),
    refunded_nanos BIGINT NOT NULL,
    payment_intent TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (charge_ref, previous_nanos),
    CHECK (refunded_nanos > previous_nanos)
);
CREATE INDEX payment_refunds_intent ON payment_refunds (payment_intent);

-- Processor events already applied, by the processor's event id: a replay is answered
-- without work. Written after the event's effects, which are idempotent on their own.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    type        TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
