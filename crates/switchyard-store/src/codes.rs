//! Money that does not come from a payment: redemption codes, new-user credit, referral rewards
//! and operator adjustments, plus the revenue report. Each grant is one posted ledger transfer
//! with an idempotency id that names what it is for, so a retry never pays twice.
//!
//! **Invariant:** a code is marked redeemed and its value credited in one transaction, guarded
//! by `UPDATE … WHERE redeemed_at IS NULL`: of any number of concurrent redemptions of one code,
//! exactly one credits. New-user credit is claimed once per canonical email through
//! `new_user_credit_claims`, which holds only HMAC-SHA-256(server key, email) and outlives the
//! account (DESIGN.md §4).

use crate::{Store, StoreError};
use switchyard_core::ledger::{AccountId, Applied, LedgerError, Transfer, TransferKind};
use switchyard_core::{Nanos, UserId, key};
use uuid::Uuid;

/// What a redemption code starts with.
pub const CODE_PREFIX: &str = "SYC";
/// Crockford's base32: no I, L, O or U, so a code read aloud or retyped survives.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// 15 random characters (75 bits) and one check character, shown in four groups of four.
const CODE_RANDOM: usize = 15;
/// What a referral code starts with; eight random characters (40 bits) follow.
pub const REFERRAL_PREFIX: &str = "REF-";
const REFERRAL_RANDOM: usize = 8;

/// A batch of codes just created. The codes exist only here: the store keeps their hashes.
#[derive(Debug)]
pub struct CreatedCodes {
    pub batch_id: String,
    pub codes: Vec<String>,
    pub value: Nanos,
    pub expires_at: Option<i64>,
}

/// What redeeming a code did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// The code was valid; its value is now on the user's balance.
    Credited { value: Nanos },
    /// No such code (or a typo: the check character does not match).
    Unknown,
    /// Someone already redeemed it.
    AlreadyRedeemed,
    /// It expired before it was redeemed.
    Expired,
}

/// Requests and cost of one model on one UTC day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevenueRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub model: String,
    pub requests: i64,
    pub cost: Nanos,
}

/// Records one posted transfer inside the open transaction `$tx` and updates both accounts'
/// totals, in account order like `apply_transfers`. Evaluates to whether it was new. A macro
/// because the transaction's type differs per backend while the SQL is the same.
macro_rules! post_in_tx {
    ($tx:expr, $t:expr) => {{
        let t: &Transfer = $t;
        t.validate()
            .map_err(|_| StoreError::Invalid("the transfer is not valid"))?;
        let inserted = sqlx::query(
            "INSERT INTO transfers (id, debit_account, credit_account, amount, kind, phase, \
             pending_id, expires_at, reference, memo, created_at) \
             VALUES ($1, $2, $3, $4, $5, 'posted', NULL, NULL, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&t.id)
        .bind(t.debit.as_str())
        .bind(t.credit.as_str())
        .bind(t.amount.0)
        .bind(t.kind.as_str())
        .bind(t.reference.as_deref())
        .bind(t.memo.as_deref())
        .bind(t.created_at)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if inserted > 0 {
            let mut moves = [(&t.debit, t.amount.0, 0i64), (&t.credit, 0i64, t.amount.0)];
            moves.sort_by(|a, b| a.0.cmp(b.0));
            for (account, debits, credits) in moves {
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, user_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(account.as_str())
                .bind(account.user_id().map(|u| u.to_string()))
                .bind(t.created_at)
                .execute(&mut *$tx)
                .await?;
                sqlx::query(
                    "UPDATE ledger_accounts SET debits_posted = debits_posted + $2, \
                     credits_posted = credits_posted + $3 WHERE id = $1",
                )
                .bind(account.as_str())
                .bind(debits)
                .bind(credits)
                .execute(&mut *$tx)
                .await?;
            }
        }
        inserted > 0
    }};
}

impl Store {
    /// Creates `count` codes worth `value` each, valid until `expires_at` (unix ms) if given.
    /// Stores only each code's HMAC under `server_key`; the codes are returned once.
    pub async fn create_codes(
        &self,
        server_key: &[u8],
        count: u32,
        value: Nanos,
        expires_at: Option<i64>,
        created_by: Option<UserId>,
        now: i64,
    ) -> Result<CreatedCodes, StoreError> {
        if count == 0 || count > 10_000 {
            return Err(StoreError::Invalid("a batch has 1 to 10000 codes"));
        }
        if value <= Nanos::ZERO {
            return Err(StoreError::Invalid("a code's value must be positive"));
        }
        if expires_at.is_some_and(|at| at <= now) {
            return Err(StoreError::Invalid("a code's expiry must be in the future"));
        }
        let batch_id = Uuid::now_v7().to_string();
        let codes: Vec<String> = (0..count).map(|_| generate_code()).collect();
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO code_batches (id, value, count, expires_at, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&batch_id)
            .bind(value.0)
            .bind(i64::from(count))
            .bind(expires_at)
            .bind(created_by.map(|u| u.to_string()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for code in &codes {
                sqlx::query(
                    "INSERT INTO redemption_codes (id, batch_id, hash, visible_prefix, value, \
                     expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(Uuid::now_v7().to_string())
                .bind(&batch_id)
                .bind(hex(&key::hash(server_key, code)))
                .bind(&code[..CODE_PREFIX.len() + 5])
                .bind(value.0)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::on_write(e, "a generated code collided; try again", None))?;
            }
            tx.commit().await?;
        });
        Ok(CreatedCodes {
            batch_id,
            codes,
            value,
            expires_at,
        })
    }

    /// Redeems `presented` for `user`: marks the code used and credits its value (debit
    /// `codes`, credit the user, id `redeem:<code id>`) in one transaction.
    pub async fn redeem_code(
        &self,
        server_key: &[u8],
        presented: &str,
        user: UserId,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let Some(code) = canonical_code(presented) else {
            return Ok(Redemption::Unknown);
        };
        let hash = hex(&key::hash(server_key, &code));
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let claimed: Option<(String, i64)> = sqlx::query_as(
                "UPDATE redemption_codes SET redeemed_by = $2, redeemed_at = $3 \
                 WHERE hash = $1 AND redeemed_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
                 RETURNING id, value",
            )
            .bind(&hash)
            .bind(user.to_string())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, value)) = claimed else {
                let found: Option<(Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT redeemed_at, expires_at FROM redemption_codes WHERE hash = $1",
                )
                .bind(&hash)
                .fetch_optional(&mut *tx)
                .await?;
                tx.rollback().await?;
                return Ok(match found {
                    None => Redemption::Unknown,
                    Some((Some(_), _)) => Redemption::AlreadyRedeemed,
                    Some((None, _)) => Redemption::Expired,
                });
            };
            let transfer = Transfer::posted(
                format!("redeem:{id}"),
                AccountId::codes(),
                AccountId::user(user),
                Nanos(value),
                TransferKind::Redemption,
                now,
            )
            .with_reference(format!("code:{id}"));
            if !post_in_tx!(tx, &transfer) {
                // The code was unredeemed yet its transfer exists: never pay twice.
                return Err(StoreError::Corrupt(format!(
                    "code {id} was not redeemed but its transfer exists"
                )));
            }
            tx.commit().await?;
            Ok(Redemption::Credited { value: Nanos(value) })
        })
    }

    /// Grants `amount` of new-user credit to `user` unless the canonical form of `email` has
    /// had it before (under any account, deleted or not). Returns whether it was granted.
    pub async fn grant_new_user_credit(
        &self,
        server_key: &[u8],
        email: &str,
        user: UserId,
        amount: Nanos,
        now: i64,
    ) -> Result<bool, StoreError> {
        if amount <= Nanos::ZERO {
            // Nothing to grant, so nothing to remember about this email.
            return Ok(false);
        }
        let email_hmac = email_hmac(server_key, email);
        let transfer = Transfer::posted(
            format!("promo:new-user:{email_hmac}"),
            AccountId::promotions(),
            AccountId::user(user),
            amount,
            TransferKind::Promotion,
            now,
        )
        .with_memo("new-user credit");
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let claimed = sqlx::query(
                "INSERT INTO new_user_credit_claims (email_hmac, claimed_at) VALUES ($1, $2) \
                 ON CONFLICT (email_hmac) DO NOTHING",
            )
            .bind(&email_hmac)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let granted = post_in_tx!(tx, &transfer);
            tx.commit().await?;
            Ok(granted)
        })
    }

    /// Moves `amount` between the operator's `adjustments` account and `user`'s balance: a
    /// positive amount credits the user, a negative one debits them. `id` is the idempotency
    /// key; `reason` is stored as the memo.
    pub async fn adjust_balance(
        &self,
        id: &str,
        user: UserId,
        amount: Nanos,
        reason: Option<&str>,
        now: i64,
    ) -> Result<Applied, StoreError> {
        if amount == Nanos::ZERO {
            return Err(StoreError::Invalid("the amount must not be zero"));
        }
        let (debit, credit) = if amount > Nanos::ZERO {
            (AccountId::adjustments(), AccountId::user(user))
        } else {
            (AccountId::user(user), AccountId::adjustments())
        };
        let mut transfer = Transfer::posted(
            id,
            debit,
            credit,
            if amount > Nanos::ZERO {
                amount
            } else {
                -amount
            },
            TransferKind::Adjustment,
            now,
        );
        if let Some(reason) = reason {
            transfer = transfer.with_memo(reason);
        }
        ledger_result(self.apply_transfers(&[transfer]).await?.results)
    }

    /// `user`'s referral code, made on first request.
    pub async fn referral_code(&self, user: UserId, now: i64) -> Result<String, StoreError> {
        // A fresh code collides with 40 bits of chance; a few tries are plenty.
        for _ in 0..5 {
            let existing: Option<String> = on_pool!(&self.db, pool => {
                sqlx::query_scalar("SELECT code FROM referral_codes WHERE user_id = $1")
                    .bind(user.to_string())
                    .fetch_optional(pool)
                    .await?
            });
            if let Some(code) = existing {
                return Ok(code);
            }
            let code = format!("{REFERRAL_PREFIX}{}", random_base32(REFERRAL_RANDOM));
            on_pool!(&self.db, pool => {
                sqlx::query(
                    "INSERT INTO referral_codes (user_id, code, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(user.to_string())
                .bind(&code)
                .bind(now)
                .execute(pool)
                .await?;
            });
        }
        Err(StoreError::Conflict(
            "could not make a unique referral code; try again",
        ))
    }

    /// The user whose referral code this is.
    pub async fn referrer_of(&self, code: &str) -> Result<Option<UserId>, StoreError> {
        let code = code.trim().to_ascii_uppercase();
        let user: Option<String> = on_pool!(&self.db, pool => {
            sqlx::query_scalar("SELECT user_id FROM referral_codes WHERE code = $1")
                .bind(&code)
                .fetch_optional(pool)
                .await?
        });
        user.map(|u| {
            u.parse()
                .map_err(|_| StoreError::Corrupt(format!("referral code of bad user id `{u}`")))
        })
        .transpose()
    }

    /// Links a new user to whoever owns the referral `code`. A user has at most one referrer.
    pub async fn link_referral(
        &self,
        referee: UserId,
        code: &str,
        now: i64,
    ) -> Result<UserId, StoreError> {
        let referrer = self
            .referrer_of(code)
            .await?
            .ok_or(StoreError::NotFound("there is no such referral code"))?;
        if referrer == referee {
            return Err(StoreError::Invalid("a user cannot refer themselves"));
        }
        on_pool!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO referrals (referee_id, referrer_id, created_at) VALUES ($1, $2, $3)",
            )
            .bind(referee.to_string())
            .bind(referrer.to_string())
            .bind(now)
            .execute(pool)
            .await
            .map_err(|e| StoreError::on_write(e, "this user already has a referrer", None))?;
        });
        Ok(referrer)
    }

    /// Requests and cost per model and UTC day, for requests logged in `[from, to)` (unix ms).
    pub async fn revenue(&self, from: i64, to: i64) -> Result<Vec<RevenueRow>, StoreError> {
        let rows: Vec<(i64, String, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT created_at / 86400000 AS day, model, COUNT(*), \
                 CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) \
                 FROM request_logs WHERE created_at >= $1 AND created_at < $2 \
                 GROUP BY created_at / 86400000, model ORDER BY day, model",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(day, model, requests, cost)| RevenueRow {
                day,
                model,
                requests,
                cost: Nanos(cost),
            })
            .collect())
    }

    /// Deletes a user's row and keys, as account deletion will, for tests that prove what
    /// survives it. Test support only: real deletion is a retention job's business.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn erase_user_for_test(&self, user: UserId) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            for sql in [
                "DELETE FROM api_keys WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(sql).bind(user.to_string()).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE access_generation SET value = value + 1 WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Rewards the referrer of `user` with `percent` of `amount`, if `payment_id` is `user`'s first
/// paid top-up. Call it after every paid top-up; it is idempotent (transfer id
/// `referral:<referee>`), so a retried webhook pays once, and a later top-up pays nothing.
pub async fn after_paid_top_up(
    store: &Store,
    user: UserId,
    amount: Nanos,
    payment_id: &str,
    percent: u32,
) -> Result<(), StoreError> {
    // Remember the first payment whatever the reward, so that a later top-up never counts
    // as the first (say, after the operator raised `referral_percent`).
    let (referrer, first): (Option<String>, Option<String>) = on_pool!(&store.db, pool => {
        sqlx::query(
            "UPDATE referrals SET first_payment = $2 WHERE referee_id = $1 AND first_payment IS NULL",
        )
        .bind(user.to_string())
        .bind(payment_id)
        .execute(pool)
        .await?;
        let row: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT referrer_id, first_payment FROM referrals WHERE referee_id = $1",
        )
        .bind(user.to_string())
        .fetch_optional(pool)
        .await?;
        match row {
            Some((referrer, first)) => (Some(referrer), first),
            None => (None, None),
        }
    });
    let Some(referrer) = referrer else {
        return Ok(());
    };
    if first.as_deref() != Some(payment_id) {
        return Ok(());
    }
    let referrer: UserId = referrer
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("referral of bad user id `{referrer}`")))?;
    // Floor, in i128: the platform never pays out a fraction of a nano-USD it did not receive.
    let reward = i128::from(amount.0) * i128::from(percent.min(100)) / 100;
    let reward = Nanos(i64::try_from(reward).unwrap_or(0));
    if reward <= Nanos::ZERO {
        return Ok(());
    }
    let transfer = Transfer::posted(
        format!("referral:{user}"),
        AccountId::promotions(),
        AccountId::user(referrer),
        reward,
        TransferKind::Referral,
        now_ms(),
    )
    .with_reference(payment_id.to_owned());
    ledger_result(store.apply_transfers(&[transfer]).await?.results)?;
    Ok(())
}

/// The one result of a one-transfer batch, with a ledger refusal as a store error.
fn ledger_result(results: Vec<Result<Applied, LedgerError>>) -> Result<Applied, StoreError> {
    match results.into_iter().next() {
        Some(Ok(applied)) => Ok(applied),
        Some(Err(LedgerError::IdConflict(_))) => Err(StoreError::Conflict(
            "this idempotency id was already used for a different transfer",
        )),
        Some(Err(LedgerError::Invalid(why))) => Err(StoreError::Invalid(why)),
        None => Err(StoreError::Corrupt(
            "a one-transfer batch gave no result".into(),
        )),
    }
}

/// The form of an email under which new-user credit is claimed: trimmed and lowercased; the
/// `+tag` of the local part dropped (every large mail host delivers `ann+x@` to `ann@`); and for
/// Gmail, whose addresses ignore dots, the dots dropped and `googlemail.com` read as `gmail.com`.
pub fn canonical_email(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let local = local.split('+').next().unwrap_or(local);
    match domain {
        "gmail.com" | "googlemail.com" => format!("{}@gmail.com", local.replace('.', "")),
        _ => format!("{local}@{domain}"),
    }
}

/// HMAC-SHA-256(server key, canonical email), lowercase hex: what the claims table stores.
pub fn email_hmac(server_key: &[u8], email: &str) -> String {
    hex(&key::hash(server_key, &canonical_email(email)))
}

/// `SYC-XXXX-XXXX-XXXX-XXXX`: 15 random base32 characters and a check character.
pub fn generate_code() -> String {
    let body = random_base32(CODE_RANDOM);
    let check = char::from(BASE32[check_value(body.as_bytes())]);
    let all: Vec<char> = body.chars().chain([check]).collect();
    let groups: Vec<String> = all.chunks(4).map(|c| c.iter().collect()).collect();
    format!("{CODE_PREFIX}-{}", groups.join("-"))
}

/// A presented code in its canonical form, or `None` if it is not one of ours (wrong shape, or
/// a check character that does not match: a typo). Accepts lowercase, spaces and Crockford's
/// look-alikes (O for 0, I and L for 1).
pub fn canonical_code(presented: &str) -> Option<String> {
    let cleaned: String = presented
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let body = cleaned.strip_prefix(CODE_PREFIX)?;
    let body: String = body
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    if body.len() != CODE_RANDOM + 1 || !body.bytes().all(|b| BASE32.contains(&b)) {
        return None;
    }
    let (random, check) = body.split_at(CODE_RANDOM);
    if check.as_bytes()[0] != BASE32[check_value(random.as_bytes())] {
        return None;
    }
    let groups: Vec<&str> = (0..4).map(|i| &body[i * 4..i * 4 + 4]).collect();
    Some(format!("{CODE_PREFIX}-{}", groups.join("-")))
}

/// Luhn mod 32 over base32 digits: catches every single substitution and every swap of two
/// adjacent characters.
fn check_value(digits: &[u8]) -> usize {
    let n = BASE32.len();
    let mut sum = 0;
    for (i, &b) in digits.iter().rev().enumerate() {
        let Some(mut v) = BASE32.iter().position(|&x| x == b) else {
            continue;
        };
        if i % 2 == 0 {
            v *= 2;
            v = v / n + v % n;
        }
        sum += v;
    }
    (n - sum % n) % n
}

/// `len` random base32 characters from the OS-seeded generator behind UUIDv4.
fn random_base32(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        // A UUIDv4 has 122 random bits; its first eight bytes are all random but for the four
        // version bits in byte 6, so take 5-bit groups from bytes 0..6 and 7 (56 bits).
        let bytes = Uuid::new_v4().into_bytes();
        let mut bits: u64 = 0;
        for b in bytes[..6].iter().chain(&bytes[7..8]) {
            bits = (bits << 8) | u64::from(*b);
        }
        for _ in 0..11 {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE32[(bits & 31) as usize]));
            bits >>= 5;
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    crate::access::now_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_pass_their_own_check_and_typos_do_not() {
        for _ in 0..200 {
            let code = generate_code();
            assert_eq!(code.len(), "SYC-XXXX-XXXX-XXXX-XXXX".len());
            assert_eq!(canonical_code(&code).as_deref(), Some(code.as_str()));
            assert_eq!(
                canonical_code(&code.to_lowercase().replace('-', " ")).as_deref(),
                Some(code.as_str())
            );
            // Change one character of the random part: the check character catches it.
            let mut bytes = code.into_bytes();
            let at = 5;
            bytes[at] = if bytes[at] == b'2' { b'3' } else { b'2' };
            assert_eq!(
                canonical_code(&String::from_utf8(bytes).unwrap_or_default()),
                None
            );
        }
        assert_eq!(canonical_code("SYC-1234"), None);
        assert_eq!(canonical_code("XYZ-0000-0000-0000-0000"), None);
    }

    #[test]
    fn emails_are_canonical_for_the_credit_guard() {
        assert_eq!(canonical_email(" Ann@Example.com "), "ann@example.com");
        assert_eq!(canonical_email("ann+promo@example.com"), "ann@example.com");
        assert_eq!(canonical_email("A.n.N+x@GoogleMail.com"), "ann@gmail.com");
        assert_eq!(canonical_email("a.nn@example.com"), "a.nn@example.com");
        assert_eq!(
            email_hmac(b"k", "ANN@example.com"),
            email_hmac(b"k", "ann+1@example.com")
        );
        assert_ne!(
            email_hmac(b"k", "ann@example.com"),
            email_hmac(b"j", "ann@example.com")
        );
    }
}
