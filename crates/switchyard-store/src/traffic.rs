//! The platform's recent traffic per UTC minute and latency bucket (`traffic_minutes`), which
//! the operator's system view reads for its rates and latency percentiles: at most an hour of
//! minutes, whatever the size of the log.
//!
//! **Buckets** are log-linear, four per power of two: a latency of `x` µs (x ≥ 4) falls in
//! bucket `4·(⌊log₂ x⌋ − 1) + s`, where `s` is the two bits below the leading one, so a bucket is at
//! most a quarter as wide as its lower bound (x < 8 has a bucket of its own each). Integer
//! arithmetic only: the same latency lands in the same bucket on every replica.
//!
//! **Invariant:** the table holds exactly the counts of the `request_logs` rows of each minute,
//! for the same reason the daily rollups do (`crate::usage`): the log writer counts the rows in
//! the transaction that inserts them, and only the rows that insert really added.

use crate::{Store, StoreError};
use std::collections::HashMap;
use switchyard_core::log::RequestLog;

/// Milliseconds in a minute; `created_at / MINUTE_MS` is the table's `minute`.
pub const MINUTE_MS: i64 = 60_000;

/// The bucket of a latency of `us` microseconds (0 ..= 251, each used).
pub fn latency_bucket(us: u64) -> u16 {
    if us < 4 {
        return u16::try_from(us).unwrap_or(0);
    }
    // 2 ..= 63.
    let exponent = 63 - us.leading_zeros();
    let sub = (us >> (exponent - 2)) & 3;
    // At most 4 · 62 + 3 = 251.
    u16::try_from(4 * u64::from(exponent - 1) + sub).unwrap_or(u16::MAX)
}

/// The latencies a bucket holds: `lower ..= upper` µs.
pub fn latency_bucket_bounds(bucket: u16) -> (u64, u64) {
    if bucket < 4 {
        let us = u64::from(bucket);
        return (us, us);
    }
    let exponent = u32::from(bucket / 4) + 1;
    let sub = u64::from(bucket % 4);
    let step = 1u64 << (exponent - 2);
    let lower = (4 + sub) << (exponent - 2);
    (lower, lower.saturating_add(step - 1))
}

/// One minute's requests of one latency bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrafficCell {
    /// Minutes since 1970-01-01 (UTC).
    pub minute: i64,
    pub bucket: u16,
    pub requests: i64,
    /// Rows with an HTTP status of 400 or more.
    pub errors: i64,
}

/// Counts a batch per (minute, bucket), so each appears once in the upsert (PostgreSQL refuses
/// a statement that would update one row twice).
pub(crate) fn traffic_groups<'a>(rows: impl Iterator<Item = &'a RequestLog>) -> Vec<TrafficCell> {
    let mut sums: HashMap<(i64, u16), (i64, i64)> = HashMap::new();
    for log in rows {
        let key = (
            log.created_at.div_euclid(MINUTE_MS),
            latency_bucket(log.latency_us),
        );
        let (requests, errors) = sums.entry(key).or_default();
        *requests += 1;
        *errors += i64::from(log.status >= 400);
    }
    sums.into_iter()
        .map(|((minute, bucket), (requests, errors))| TrafficCell {
            minute,
            bucket,
            requests,
            errors,
        })
        .collect()
}

/// Rows per upsert: four binds each, under SQLite's 32,766 bind variables.
pub(crate) const TRAFFIC_ROWS_PER_UPSERT: usize = 32_766 / 4;

pub(crate) const TRAFFIC_INSERT: &str =
    "INSERT INTO traffic_minutes (minute, bucket, requests, errors) ";

pub(crate) const TRAFFIC_CONFLICT: &str = " ON CONFLICT (minute, bucket) DO UPDATE SET \
    requests = traffic_minutes.requests + excluded.requests, \
    errors = traffic_minutes.errors + excluded.errors";

impl Store {
    /// Every (minute, bucket) from `since_minute` on, oldest first.
    pub async fn traffic_since(&self, since_minute: i64) -> Result<Vec<TrafficCell>, StoreError> {
        let rows: Vec<(i64, i32, i64, i64)> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT minute, bucket, requests, errors FROM traffic_minutes \
                 WHERE minute >= $1 ORDER BY minute, bucket",
            )
            .bind(since_minute)
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|(minute, bucket, requests, errors)| {
                let bucket = u16::try_from(bucket).map_err(|_| {
                    StoreError::Corrupt(format!("traffic_minutes.bucket out of range: {bucket}"))
                })?;
                Ok(TrafficCell {
                    minute,
                    bucket,
                    requests,
                    errors,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{latency_bucket, latency_bucket_bounds};
    use proptest::prelude::*;

    #[test]
    fn small_latencies_are_exact_and_buckets_follow_each_other() {
        for us in 0..4 {
            assert_eq!(latency_bucket_bounds(latency_bucket(us)), (us, us));
        }
        for us in 4..8 {
            assert_eq!(latency_bucket_bounds(latency_bucket(us)), (us, us));
        }
        assert_eq!(latency_bucket(16), 12);
        assert_eq!(latency_bucket_bounds(12), (16, 19));
        assert_eq!(latency_bucket(u64::MAX), 251);
        // No gaps: each bucket starts one after the previous one ends.
        for bucket in 0..251u16 {
            let (_, end) = latency_bucket_bounds(bucket);
            let (start, _) = latency_bucket_bounds(bucket + 1);
            assert_eq!(end + 1, start, "{bucket}");
        }
        assert_eq!(latency_bucket_bounds(251).1, u64::MAX);
    }

    proptest! {
        #[test]
        fn a_latency_lies_in_its_bucket_which_is_at_most_a_quarter_wide(us: u64) {
            let (lower, upper) = latency_bucket_bounds(latency_bucket(us));
            prop_assert!(lower <= us && us <= upper);
            prop_assert!((upper - lower) <= lower / 4);
        }
    }
}
