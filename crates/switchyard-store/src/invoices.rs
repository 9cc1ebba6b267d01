//! Invoices: one per paid payment, numbered 1, 2, 3, … without gaps, and the billing profile
//! (name, company, VAT id, address) each is issued to.
//!
//! **Invariant:** numbers have no gaps and no repeats. The next number is taken by
//! `UPDATE invoice_counter SET value = value + 1 … RETURNING value` inside the transaction that
//! inserts the invoice. The counter row's write lock serialises issuers (a second issuer waits
//! until the first commits or rolls back and then reads the new value), and a transaction that
//! rolls back undoes its increment too, so a failed issue leaves no hole.
//!
//! **Invariant:** an invoice never changes after issue. The buyer's details are copied from the
//! profile when it is issued; a later profile edit affects only later invoices.

use crate::{Store, StoreError};
use serde_json::{Value, json};
use switchyard_core::{Nanos, UserId};

/// The one line a top-up invoice carries.
pub const TOP_UP_LINE: &str = "Prepaid credit top-up";

/// Who an invoice is made out to. Empty text means "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Buyer {
    pub name: String,
    pub company: String,
    pub vat_id: String,
    pub address: String,
    pub country: String,
}

/// A user's billing profile: the buyer details their next invoices will carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillingProfile {
    pub user_id: UserId,
    pub buyer: Buyer,
    pub updated_at: i64,
}

/// One line of an invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: i64,
    pub amount: Nanos,
}

/// An issued invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// The gapless sequence number, from 1.
    pub number: i64,
    pub id: String,
    pub user_id: UserId,
    pub payment_id: String,
    /// Milliseconds since the Unix epoch.
    pub issued_at: i64,
    /// The buyer as the profile stood at issue time.
    pub buyer: Buyer,
    pub amount: Nanos,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
}

type InvoiceRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
);

macro_rules! invoice_columns {
    () => {
        "number, id, user_id, payment_id, issued_at, buyer_name, buyer_company, buyer_vat_id, \
         buyer_address, buyer_country, amount_nanos, currency, lines"
    };
}

impl Store {
    /// The billing profile of `user`, if they ever saved one.
    pub async fn billing_profile(
        &self,
        user: UserId,
    ) -> Result<Option<BillingProfile>, StoreError> {
        let row: Option<(String, String, String, String, String, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT name, company, vat_id, address, country, updated_at \
                 FROM billing_profiles WHERE user_id = $1",
            )
            .bind(user.to_string())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(
            |(name, company, vat_id, address, country, updated_at)| BillingProfile {
                user_id: user,
                buyer: Buyer {
                    name,
                    company,
                    vat_id,
                    address,
                    country,
                },
                updated_at,
            },
        ))
    }

    /// Saves `user`'s billing profile whole (what is not given is stored empty).
    pub async fn set_billing_profile(
        &self,
        user: UserId,
        buyer: &Buyer,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO billing_profiles (user_id, name, company, vat_id, address, country, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, \
                   company = excluded.company, vat_id = excluded.vat_id, \
                   address = excluded.address, country = excluded.country, \
                   updated_at = excluded.updated_at",
            )
            .bind(user.to_string())
            .bind(&buyer.name)
            .bind(&buyer.company)
            .bind(&buyer.vat_id)
            .bind(&buyer.address)
            .bind(&buyer.country)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Issues the invoice of payment `payment_id` if it has none yet, and returns the
    /// payment's invoice. Idempotent: a second call (a replayed webhook, a racing replica)
    /// returns the same invoice. `None` when the payment is unknown or not paid yet.
    pub async fn issue_invoice_for_payment(
        &self,
        payment_id: &str,
        now: i64,
    ) -> Result<Option<Invoice>, StoreError> {
        let id = format!("inv_{}", uuid::Uuid::now_v7().simple());
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let existing: Option<i64> =
                sqlx::query_scalar("SELECT number FROM invoices WHERE payment_id = $1")
                    .bind(payment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let payment: Option<(String, i64, String, String)> = sqlx::query_as(
                "SELECT user_id, amount_nanos, currency, status FROM payments WHERE id = $1",
            )
            .bind(payment_id)
            .fetch_optional(&mut *tx)
            .await?;
            match payment {
                Some((user, amount, currency, status)) if existing.is_none() && status != "pending" => {
                    let buyer: Option<(String, String, String, String, String)> = sqlx::query_as(
                        "SELECT name, company, vat_id, address, country \
                         FROM billing_profiles WHERE user_id = $1",
                    )
                    .bind(&user)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let (name, company, vat_id, address, country) = buyer.unwrap_or_default();
                    let number: i64 = sqlx::query_scalar(
                        "UPDATE invoice_counter SET value = value + 1 WHERE id = 1 RETURNING value",
                    )
                    .fetch_one(&mut *tx)
                    .await?;
                    let lines = json!([{
                        "description": TOP_UP_LINE,
                        "quantity": 1,
                        "amount_nanos": amount,
                    }]);
                    // A racing issuer for the same payment that committed first wins; ours then
                    // rolls back, and with it our increment of the counter.
                    let inserted = sqlx::query(concat!(
                        "INSERT INTO invoices (", invoice_columns!(), ") \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (payment_id) DO NOTHING"
                    ))
                    .bind(number)
                    .bind(&id)
                    .bind(&user)
                    .bind(payment_id)
                    .bind(now)
                    .bind(name)
                    .bind(company)
                    .bind(vat_id)
                    .bind(address)
                    .bind(country)
                    .bind(amount)
                    .bind(currency)
                    .bind(lines.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 1 {
                        tx.commit().await?;
                    } else {
                        tx.rollback().await?;
                    }
                }
                _ => tx.rollback().await?,
            }
        });
        self.invoice_of_payment(payment_id).await
    }

    /// The invoice of payment `payment_id`, if one was issued.
    pub async fn invoice_of_payment(
        &self,
        payment_id: &str,
    ) -> Result<Option<Invoice>, StoreError> {
        let row: Option<InvoiceRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!("SELECT ", invoice_columns!(), " FROM invoices WHERE payment_id = $1"))
                .bind(payment_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(invoice_of).transpose()
    }

    /// The invoice numbered `number`, whoever it belongs to (callers check ownership).
    pub async fn invoice_by_number(&self, number: i64) -> Result<Option<Invoice>, StoreError> {
        let row: Option<InvoiceRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!("SELECT ", invoice_columns!(), " FROM invoices WHERE number = $1"))
                .bind(number)
                .fetch_optional(pool)
                .await?
        });
        row.map(invoice_of).transpose()
    }

    /// A user's invoices, newest first.
    pub async fn invoices_of(&self, user: UserId) -> Result<Vec<Invoice>, StoreError> {
        let rows: Vec<InvoiceRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(concat!(
                "SELECT ", invoice_columns!(), " FROM invoices WHERE user_id = $1 ORDER BY number DESC"
            ))
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(invoice_of).collect()
    }
}

fn invoice_of(row: InvoiceRow) -> Result<Invoice, StoreError> {
    let (
        number,
        id,
        user,
        payment_id,
        issued_at,
        name,
        company,
        vat_id,
        address,
        country,
        amount,
        currency,
        lines,
    ) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("invoice {number}: {what}"));
    let user_id = user
        .parse()
        .map_err(|_| corrupt(&format!("bad user id `{user}`")))?;
    let lines: Value = serde_json::from_str(&lines).map_err(|_| corrupt("lines are not JSON"))?;
    let lines = lines
        .as_array()
        .ok_or_else(|| corrupt("lines are not a list"))?
        .iter()
        .map(|line| {
            Some(InvoiceLine {
                description: line["description"].as_str()?.to_owned(),
                quantity: line["quantity"].as_i64()?,
                amount: Nanos(line["amount_nanos"].as_i64()?),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| corrupt("a line lacks description, quantity or amount_nanos"))?;
    Ok(Invoice {
        number,
        id,
        user_id,
        payment_id,
        issued_at,
        buyer: Buyer {
            name,
            company,
            vat_id,
            address,
            country,
        },
        amount: Nanos(amount),
        currency,
        lines,
    })
}
