-- Invoices for paid top-ups, and the buyer details they are issued to. Keep
-- ../postgres/0006_invoices.sql the same schema (only this comment differs).

-- What a user wants on their invoices. Empty text means "not given".
CREATE TABLE billing_profiles (
    user_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT '',
    company    TEXT NOT NULL DEFAULT '',
    vat_id     TEXT NOT NULL DEFAULT '',
    address    TEXT NOT NULL DEFAULT '',
    country    TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);

-- One invoice per paid payment, never changed after issue: the buyer's details are copied in
-- at issue time, so editing the profile later does not rewrite an issued invoice. `lines` is
-- a JSON array of {description, quantity, amount_nanos}.
CREATE TABLE invoices (
    number         BIGINT NOT NULL UNIQUE CHECK (number > 0),
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    payment_id     TEXT NOT NULL UNIQUE REFERENCES payments (id),
    issued_at      BIGINT NOT NULL,
    buyer_name     TEXT NOT NULL,
    buyer_company  TEXT NOT NULL,
    buyer_vat_id   TEXT NOT NULL,
    buyer_address  TEXT NOT NULL,
    buyer_country  TEXT NOT NULL,
    amount_nanos   BIGINT NOT NULL CHECK (amount_nanos > 0),
    currency       TEXT NOT NULL,
    lines          TEXT NOT NULL
);
CREATE INDEX invoices_user ON invoices (user_id, number);

-- The last invoice number issued: one row. An issuer takes the next number with
-- `UPDATE ... RETURNING` in the transaction that inserts the invoice, so the row lock
-- serialises issuers and a rolled-back issue gives its number back (no gaps, no sharing).
CREATE TABLE invoice_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL CHECK (value >= 0)
);
INSERT INTO invoice_counter (id, value) VALUES (1, 0);
