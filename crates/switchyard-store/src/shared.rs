//! Cluster mode's shared reservations: what every replica has reserved lately, in Redis, so a
//! user's concurrent requests spread over several replicas cannot overspend together.
//!
//! Each replica keeps its own in-memory budgets, in step with the ledger (the gateway's
//! `money` module). What a replica cannot know from the ledger is what the others reserved and
//! have not written yet, or wrote after its last refresh. So every reservation is also recorded
//! here, for a *grace* period after which the ledger is sure to show it everywhere (longer than
//! a writer's flush plus a refresher's interval). A reservation is accepted only if the
//! replica's own budget, less what the *other* replicas recorded within their grace, covers it.
//!
//! One Lua script does the check and the record atomically per user, so two replicas racing
//! for one user's last dollar are serialised: the second sees the first. Expired records are
//! pruned by the same script. A record counts until its grace ends, even if its request ended
//! sooner: counting money twice for a moment is safe, counting it never is not.
//!
//! Per user: a sorted set of records (`replica|request|amount`, scored by expiry) and a hash of
//! each replica's live total. Amounts are nano-USD; Lua numbers are doubles, exact to 2^53
//! nano-USD (about 9 million USD per user within one grace period).

use crate::StoreError;
use redis::aio::ConnectionManager;
use switchyard_core::{Nanos, UserId};

const RESERVE: &str = r"
local records, totals = KEYS[1], KEYS[2]
local replica, member, amount = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now, expires = tonumber(ARGV[4]), tonumber(ARGV[5])
local own_after, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local gone = redis.call('ZRANGEBYSCORE', records, '-inf', now)
for _, record in ipairs(gone) do
  local owner, spent = string.match(record, '^([^|]*)|.*|(%d+)$')
  if owner then redis.call('HINCRBY', totals, owner, -tonumber(spent)) end
end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', records, '-inf', now) end
local others = 0
local all = redis.call('HGETALL', totals)
for i = 1, #all, 2 do
  if all[i] ~= replica then others = others + tonumber(all[i + 1]) end
end
if own_after - others < 0 then return {0, others} end
redis.call('ZADD', records, expires, replica .. '|' .. member .. '|' .. amount)
redis.call('HINCRBY', totals, replica, amount)
redis.call('PEXPIRE', records, ttl)
redis.call('PEXPIRE', totals, ttl)
return {1, others}
";

/// This replica's handle on the shared reservations.
#[derive(Clone)]
pub struct SharedReservations {
    redis: ConnectionManager,
    script: redis::Script,
    /// Distinguishes this replica's records from the others'. Never contains `|`.
    replica: String,
    /// How long a record counts, in ms.
    grace_ms: i64,
    prefix: String,
}

impl std::fmt::Debug for SharedReservations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReservations")
            .field("replica", &self.replica)
            .field("grace_ms", &self.grace_ms)
            .finish_non_exhaustive()
    }
}

/// Why a reservation was refused: what the other replicas hold within their grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldElsewhere(pub Nanos);

impl SharedReservations {
    /// Connects to `url` (`redis://host:port/db`). `grace_ms` must exceed the longest time
    /// between a reservation and every replica's budget showing it (flush + refresh).
    pub async fn connect(url: &str, grace_ms: i64) -> Result<SharedReservations, StoreError> {
        let client = redis::Client::open(url)?;
        let redis = ConnectionManager::new(client).await?;
        Ok(SharedReservations {
            redis,
            script: redis::Script::new(RESERVE),
            replica: uuid::Uuid::new_v4().simple().to_string(),
            grace_ms,
            prefix: "switchyard:reserved".to_owned(),
        })
    }

    /// Records `amount` for `request` of `user` if this replica's budget after reserving it,
    /// `own_after`, still covers what the other replicas hold; refuses otherwise.
    pub async fn reserve(
        &self,
        user: UserId,
        request: &str,
        amount: Nanos,
        own_after: Nanos,
        now_ms: i64,
    ) -> Result<Result<(), HeldElsewhere>, StoreError> {
        let (accepted, others): (i64, i64) = self
            .script
            .key(format!("{}:{user}:records", self.prefix))
            .key(format!("{}:{user}:totals", self.prefix))
            .arg(&self.replica)
            .arg(request.replace('|', "_"))
            .arg(amount.0.max(0))
            .arg(now_ms)
            .arg(now_ms + self.grace_ms)
            .arg(own_after.0)
            .arg(self.grace_ms * 2)
            .invoke_async(&mut self.redis.clone())
            .await?;
        Ok(if accepted == 1 {
            Ok(())
        } else {
            Err(HeldElsewhere(Nanos(others)))
        })
    }
}
