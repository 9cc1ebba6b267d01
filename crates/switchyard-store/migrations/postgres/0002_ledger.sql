-- The double-entry ledger (PostgreSQL). Keep ../sqlite/0002_ledger.sql the same schema: only the
-- spelling of the sequence column differs. Rules: switchyard_core::ledger.

-- Each account's four totals, kept in step with `transfers` by the store in the same
-- transaction. A user's balance is credits_posted − debits_posted; what they can spend is that
-- less debits_pending (open holds) plus their overdraft.
CREATE TABLE ledger_accounts (
    id              TEXT PRIMARY KEY,
    user_id         TEXT,
    debits_pending  BIGINT NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending BIGINT NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    debits_posted   BIGINT NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  BIGINT NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    overdraft       BIGINT NOT NULL DEFAULT 0 CHECK (overdraft >= 0),
    created_at      BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_user ON ledger_accounts (user_id);

-- Append-only. `id` is the idempotency key. A post or void names the hold it resolves in
-- `pending_id`, and UNIQUE makes that resolution happen once whoever races for it.
CREATE TABLE transfers (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount >= 0),
    kind           TEXT NOT NULL,
    phase          TEXT NOT NULL CHECK (phase IN ('posted', 'pending', 'post', 'void')),
    pending_id     TEXT UNIQUE,
    expires_at     BIGINT,
    reference      TEXT,
    memo           TEXT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX transfers_debit ON transfers (debit_account, seq);
CREATE INDEX transfers_credit ON transfers (credit_account, seq);

-- Holds not yet resolved: what the sweeper scans, without touching the history.
CREATE TABLE open_holds (
    id             TEXT PRIMARY KEY,
    debit_account  TEXT NOT NULL,
    credit_account TEXT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount > 0),
    expires_at     BIGINT NOT NULL
);
CREATE INDEX open_holds_expiry ON open_holds (expires_at);
