//! Reads for "export my data" that no other module already offers: a user's referral record
//! and the spend limits of the user and of their keys, both without writing anything.
//!
//! The export reuses the other modules' reads for everything else (profile, keys, payments,
//! usage pages, ledger pages, audit entries). The two here exist because the existing reads
//! do not fit: `Store::referral_code` creates a code on first call (an export must not write),
//! and `Store::spend_limits` returns every account's limits (an export must never load another
//! account's data, even to filter it out in memory).
//!
//! **Invariant:** every query here is filtered by the user's id in SQL, and returns nothing
//! that identifies another account (a referral names the other party by no id).

use crate::{Store, StoreError};
use switchyard_core::limits::{Scope, SpendLimits};
use switchyard_core::{Nanos, UserId};

/// A user's part in the referral programme.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferralRecord {
    /// The user's own code and when it was made, if they ever asked for one.
    pub code: Option<(String, i64)>,
    /// When the user signed up with someone's code, if they did. Who referred them is the
    /// other account's data, so it is not part of this one's export.
    pub referred_at: Option<i64>,
    /// Whether the user's first paid top-up has been counted for their referrer.
    pub first_payment_counted: bool,
    /// The accounts this user referred, as (signed-up time, first payment counted), oldest
    /// first, without their ids.
    pub referees: Vec<(i64, bool)>,
}

/// A spend limit as stored for the user or one of their keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnSpendLimit {
    pub scope: Scope,
    /// The user's id (scope `user`) or the key's id (scope `key`).
    pub owner: String,
    pub limits: SpendLimits,
    pub updated_at: i64,
}

type LimitRow = (String, String, Option<i64>, Option<i64>, Option<i64>, i64);

/// A `referrals` row seen from one side: when it was made and the referee's first payment.
type ReferralRow = (i64, Option<String>);

impl Store {
    /// The user's referral record, read only (no code is created).
    pub async fn referral_record(&self, user: UserId) -> Result<ReferralRecord, StoreError> {
        let id = user.to_string();
        let (code, referred, referees): (
            Option<(String, i64)>,
            Option<ReferralRow>,
            Vec<ReferralRow>,
        ) = on_pool!(&self.db, pool => {
            let code = sqlx::query_as(
                "SELECT code, created_at FROM referral_codes WHERE user_id = $1",
            )
            .bind(&id)
            .fetch_optional(pool)
            .await?;
            let referred = sqlx::query_as(
                "SELECT created_at, first_payment FROM referrals WHERE referee_id = $1",
            )
            .bind(&id)
            .fetch_optional(pool)
            .await?;
            let referees = sqlx::query_as(
                "SELECT created_at, first_payment FROM referrals WHERE referrer_id = $1 \
                 ORDER BY created_at",
            )
            .bind(&id)
            .fetch_all(pool)
            .await?;
            (code, referred, referees)
        });
        Ok(ReferralRecord {
            code,
            referred_at: referred.as_ref().map(|(at, _)| *at),
            first_payment_counted: referred.is_some_and(|(_, first)| first.is_some()),
            referees: referees
                .into_iter()
                .map(|(at, first)| (at, first.is_some()))
                .collect(),
        })
    }

    /// The spend limits set on the user or on any of their keys (revoked ones included).
    pub async fn own_spend_limits(&self, user: UserId) -> Result<Vec<OwnSpendLimit>, StoreError> {
        let rows: Vec<LimitRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT scope, owner, total_nanos, day_nanos, month_nanos, updated_at \
                 FROM spend_limits \
                 WHERE (scope = 'user' AND owner = $1) \
                    OR (scope = 'key' AND owner IN (SELECT id FROM api_keys WHERE user_id = $1)) \
                 ORDER BY scope DESC, owner",
            )
            .bind(user.to_string())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(scope, owner, total, day, month, updated_at)| {
                Ok(OwnSpendLimit {
                    scope: Scope::parse(&scope).ok_or_else(|| {
                        StoreError::Corrupt(format!("spend limit scope `{scope}`"))
                    })?,
                    owner,
                    limits: SpendLimits {
                        total: total.map(Nanos),
                        day: day.map(Nanos),
                        month: month.map(Nanos),
                    },
                    updated_at,
                })
            })
            .collect()
    }
}
