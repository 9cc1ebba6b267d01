//! Payments through a processor (Stripe): the checkout rows, the refunds reported per charge,
//! the webhook events already handled, and the ledger transfers they imply.
//!
//! Money moves only through [`Store::apply_transfers`], under ids derived from the processor's
//! own ids, so every path to the same money event credits once:
//! - a top-up is `stripe:topup:<checkout session>` (both `checkout.session.completed` and
//!   `checkout.session.async_payment_succeeded` name the session);
//! - a refund is one transfer per increase of a charge's cumulative refunded amount,
//!   `stripe:refund:<charge>:<cumulative nanos>`.
//!
//! Events arrive in any order. A refund may come before its payment is known: its steps are
//! recorded against the PaymentIntent and moved once the payment links that PaymentIntent to a
//! user. Each side writes first and reads second (the payment marks its PaymentIntent, then
//! looks for refunds; a refund records its step, then looks for the payment), so whichever
//! commits last sees both, and applying the steps twice is a no-op.

use crate::{Store, StoreError};
use switchyard_core::ledger::{AccountId, Applied, LedgerError, Transfer, TransferKind};
use switchyard_core::{Nanos, UserId};

/// The processor every payment row names (the only one so far).
const STRIPE: &str = "stripe";

/// Where a payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Checkout started; no money yet.
    Pending,
    Paid,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        Some(match text {
            "pending" => PaymentStatus::Pending,
            "paid" => PaymentStatus::Paid,
            "partially_refunded" => PaymentStatus::PartiallyRefunded,
            "refunded" => PaymentStatus::Refunded,
            _ => return None,
        })
    }
}

/// A stored payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub user_id: UserId,
    /// The Checkout Session id.
    pub processor_ref: String,
    pub payment_intent: Option<String>,
    pub amount: Nanos,
    pub currency: String,
    pub status: PaymentStatus,
    pub refunded: Nanos,
    pub created_at: i64,
    pub paid_at: Option<i64>,
}

/// A checkout that was paid, as the processor reports it.
#[derive(Clone, Debug)]
pub struct PaidCheckout {
    /// Our payment id (from the session's metadata), used when no pending row exists.
    pub payment_id: String,
    /// The user the session was created for; a pending row's own user wins.
    pub user_id: UserId,
    pub session: String,
    pub payment_intent: Option<String>,
    pub amount: Nanos,
    pub currency: String,
    pub now: i64,
}

/// What recording a processor event changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Users whose balance moved.
    pub users: Vec<UserId>,
    /// The top-up a paid checkout stands for, whether credited now or by an earlier delivery:
    /// what follow-ups keyed by payment (a referral reward) need.
    pub top_up: Option<TopUp>,
}

/// A paid checkout's credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopUp {
    pub payment_id: String,
    pub user: UserId,
    pub amount: Nanos,
}

type PaymentRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

macro_rules! payment_columns {
    () => {
        "id, user_id, processor_ref, payment_intent, amount_nanos, currency, status, \
         refunded_nanos, created_at, paid_at"
    };
}

impl Store {
    /// Records a checkout that has started and awaits payment.
    pub async fn create_payment(
        &self,
        id: &str,
        user: UserId,
        session: &str,
        amount: Nanos,
        currency: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        if amount <= Nanos::ZERO {
            return Err(StoreError::Invalid("a payment's amount must be positive"));
        }
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO payments (id, user_id, processor, processor_ref, amount_nanos, \
                 currency, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
            )
            .bind(id)
            .bind(user.to_string())
            .bind(STRIPE)
            .bind(session)
            .bind(amount.0)
            .bind(currency)
            .bind(now)
            .execute(pool)
            .await
            .map_err(|e| StoreError::on_write(e, "a payment with this id or session exists", None))?;
        });
        Ok(())
    }

    /// The payment of a Checkout Session.
    pub async fn payment_by_ref(&self, session: &str) -> Result<Option<Payment>, StoreError> {
        let row: Option<PaymentRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!("SELECT ", payment_columns!(), " FROM payments WHERE processor_ref = $1"))
                .bind(session)
                .fetch_optional(pool)
                .await?
        });
        row.map(payment_of).transpose()
    }

    /// A user's payments, newest first.
    pub async fn payments_of(&self, user: UserId) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<PaymentRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(
                "SELECT ", payment_columns!(),
                " FROM payments WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
            ))
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(payment_of).collect()
    }

    /// Marks a checkout paid and credits its user, once per session however often and by
    /// whichever event it is reported; then moves any refunds that arrived before it.
    pub async fn record_paid_checkout(&self, paid: &PaidCheckout) -> Result<Settled, StoreError> {
        if paid.amount <= Nanos::ZERO {
            return Err(StoreError::Invalid("a paid amount must be positive"));
        }
        // The row first (with its PaymentIntent), so a refund recorded from now on finds it.
        let (payment_id, user): (String, String) = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "INSERT INTO payments (id, user_id, processor, processor_ref, payment_intent, \
                 amount_nanos, currency, status, created_at, paid_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'paid', $8, $8) \
                 ON CONFLICT (processor_ref) DO UPDATE SET \
                   payment_intent = COALESCE(payments.payment_intent, excluded.payment_intent), \
                   amount_nanos = excluded.amount_nanos, currency = excluded.currency, \
                   status = CASE WHEN payments.status = 'pending' THEN 'paid' ELSE payments.status END, \
                   paid_at = COALESCE(payments.paid_at, excluded.paid_at) \
                 RETURNING id, user_id",
            )
            .bind(&paid.payment_id)
            .bind(paid.user_id.to_string())
            .bind(STRIPE)
            .bind(&paid.session)
            .bind(paid.payment_intent.as_deref())
            .bind(paid.amount.0)
            .bind(&paid.currency)
            .bind(paid.now)
            .fetch_one(pool)
            .await?
        });
        let user = parse_user(&payment_id, &user)?;
        let top_up = Transfer::posted(
            format!("stripe:topup:{}", paid.session),
            AccountId::processor(STRIPE),
            AccountId::user(user),
            paid.amount,
            TransferKind::TopUp,
            paid.now,
        )
        .with_reference(payment_id.clone());
        let mut settled = Settled {
            top_up: Some(TopUp {
                payment_id,
                user,
                amount: paid.amount,
            }),
            ..Settled::default()
        };
        if applied(self.apply_transfers(&[top_up]).await?.results)? {
            settled.users.push(user);
        }
        if let Some(intent) = &paid.payment_intent {
            let refunds = self.apply_refunds(intent, paid.now).await?;
            for u in refunds.users {
                if !settled.users.contains(&u) {
                    settled.users.push(u);
                }
            }
        }
        Ok(settled)
    }

    /// Records that `charge` (of `payment_intent`) has now been refunded `cumulative` in total,
    /// and moves whatever that adds to what was refunded before. An older or repeated report
    /// changes nothing.
    pub async fn record_refund(
        &self,
        charge: &str,
        payment_intent: &str,
        cumulative: Nanos,
        now: i64,
    ) -> Result<Settled, StoreError> {
        if cumulative < Nanos::ZERO {
            return Err(StoreError::Invalid("a refunded amount cannot be negative"));
        }
        // Extend the charge's chain of steps from its current end; losing the race to another
        // writer means re-reading the end and trying again.
        loop {
            let end: Option<i64> = on_pool!(&self.db, pool => {
                sqlx::query_scalar("SELECT MAX(refunded_nanos) FROM payment_refunds WHERE charge_ref = $1")
                    .bind(charge)
                    .fetch_one(pool)
                    .await?
            });
            let end = end.unwrap_or(0);
            if cumulative.0 <= end {
                break;
            }
            let inserted = on_pool!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO payment_refunds (charge_ref, previous_nanos, refunded_nanos, \
                     payment_intent, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (charge_ref, previous_nanos) DO NOTHING",
                )
                .bind(charge)
                .bind(end)
                .bind(cumulative.0)
                .bind(payment_intent)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if inserted == 1 {
                break;
            }
        }
        self.apply_refunds(payment_intent, now).await
    }

    /// Moves every recorded refund step of `payment_intent` whose payment is known and paid,
    /// and brings the payment's status in line. Idempotent.
    async fn apply_refunds(&self, payment_intent: &str, now: i64) -> Result<Settled, StoreError> {
        let payment: Option<(String, String)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, user_id FROM payments WHERE payment_intent = $1 AND status <> 'pending'",
            )
            .bind(payment_intent)
            .fetch_optional(pool)
            .await?
        });
        let Some((payment_id, user)) = payment else {
            return Ok(Settled::default());
        };
        let user = parse_user(&payment_id, &user)?;
        let steps: Vec<(String, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT charge_ref, previous_nanos, refunded_nanos FROM payment_refunds \
                 WHERE payment_intent = $1 ORDER BY charge_ref, previous_nanos",
            )
            .bind(payment_intent)
            .fetch_all(pool)
            .await?
        });
        if steps.is_empty() {
            return Ok(Settled::default());
        }
        let transfers: Vec<Transfer> = steps
            .iter()
            .map(|(charge, previous, cumulative)| {
                Transfer::posted(
                    format!("stripe:refund:{charge}:{cumulative}"),
                    AccountId::user(user),
                    AccountId::processor(STRIPE),
                    Nanos(cumulative - previous),
                    TransferKind::Refund,
                    now,
                )
                .with_reference(payment_id.clone())
            })
            .collect();
        let moved = applied(self.apply_transfers(&transfers).await?.results)?;
        // One statement computes the total from the steps, so racing writers cannot leave a
        // stale figure behind.
        on_pool!(&self.db, pool => {
            sqlx::query(
                "UPDATE payments SET refunded_nanos = r.total, status = CASE \
                   WHEN r.total >= payments.amount_nanos THEN 'refunded' \
                   WHEN r.total > 0 THEN 'partially_refunded' ELSE 'paid' END \
                 FROM (SELECT COALESCE(SUM(refunded_nanos - previous_nanos), 0) AS total \
                       FROM payment_refunds WHERE payment_intent = $1) AS r \
                 WHERE payments.payment_intent = $1 AND payments.status <> 'pending'",
            )
            .bind(payment_intent)
            .execute(pool)
            .await?;
        });
        Ok(Settled {
            users: if moved { vec![user] } else { Vec::new() },
            top_up: None,
        })
    }

    /// Whether the processor's event `id` was already handled.
    pub async fn webhook_seen(&self, id: &str) -> Result<bool, StoreError> {
        let seen: i64 = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?
        });
        Ok(seen > 0)
    }

    /// Notes that event `id` was handled (call after its effects are stored).
    pub async fn record_webhook(&self, id: &str, kind: &str, now: i64) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO webhook_events (id, type, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(kind)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

/// Whether any of `results` moved money; a ledger refusal is an error here, since every id
/// this module makes should apply or be a replay.
fn applied(results: Vec<Result<Applied, LedgerError>>) -> Result<bool, StoreError> {
    let mut moved = false;
    for result in results {
        match result {
            Ok(Applied::Done) => moved = true,
            Ok(_) => {}
            Err(e) => {
                return Err(StoreError::Corrupt(format!(
                    "payment transfer refused: {e}"
                )));
            }
        }
    }
    Ok(moved)
}

fn parse_user(payment: &str, user: &str) -> Result<UserId, StoreError> {
    user.parse()
        .map_err(|_| StoreError::Corrupt(format!("payment {payment}: bad user id `{user}`")))
}

fn payment_of(row: PaymentRow) -> Result<Payment, StoreError> {
    let (
        id,
        user,
        processor_ref,
        payment_intent,
        amount,
        currency,
        status,
        refunded,
        created_at,
        paid_at,
    ) = row;
    let status = PaymentStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("payment {id}: bad status `{status}`")))?;
    Ok(Payment {
        user_id: parse_user(&id, &user)?,
        id,
        processor_ref,
        payment_intent,
        amount: Nanos(amount),
        currency,
        status,
        refunded: Nanos(refunded),
        created_at,
        paid_at,
    })
}
