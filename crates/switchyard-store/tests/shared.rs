//! Cluster mode's shared reservations against the real Redis on 127.0.0.1:6379: replicas
//! racing for one user's balance never reserve more than it holds, and records stop counting
//! when their grace ends.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use switchyard_core::{Nanos, UserId};
use switchyard_store::SharedReservations;

const REDIS: &str = "redis://127.0.0.1:6379/0";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One replica: its in-memory budget for the user (the ledger's view, the same on every
/// replica) and its handle on Redis. Reserving takes the local budget first, as the gateway
/// does, and gives it back when the shared check refuses; one user's reservations on one
/// replica go through the shared check one at a time, so the budget it passes is exact.
struct Replica {
    budget: AtomicI64,
    user_lock: tokio::sync::Mutex<()>,
    shared: SharedReservations,
}

impl Replica {
    async fn reserve(&self, user: UserId, request: &str, amount: i64) -> bool {
        let _one_at_a_time = self.user_lock.lock().await;
        let before = self.budget.fetch_sub(amount, Ordering::AcqRel);
        if before < amount {
            self.budget.fetch_add(amount, Ordering::AcqRel);
            return false;
        }
        let own_after = Nanos(before - amount);
        match self
            .shared
            .reserve(user, request, Nanos(amount), own_after, now_ms())
            .await
            .unwrap()
        {
            Ok(()) => true,
            Err(_) => {
                self.budget.fetch_add(amount, Ordering::AcqRel);
                false
            }
        }
    }
}

/// $1.00 on the ledger, four replicas each believing it, 400 requests of $0.05 at once: at
/// most 20 are accepted in total (without the shared check, up to 80 would be).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_never_reserve_more_than_the_balance() {
    let user = UserId::new();
    let balance = Nanos(1_000_000_000).0;
    let amount = balance / 20;
    let mut replicas = Vec::new();
    for _ in 0..4 {
        replicas.push(Arc::new(Replica {
            budget: AtomicI64::new(balance),
            user_lock: tokio::sync::Mutex::new(()),
            shared: SharedReservations::connect(REDIS, 60_000).await.unwrap(),
        }));
    }
    let mut tasks = Vec::new();
    for i in 0..400 {
        let replica = Arc::clone(&replicas[i % 4]);
        tasks.push(tokio::spawn(async move {
            replica.reserve(user, &format!("req-{i}"), amount).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += i32::from(task.await.unwrap());
    }
    assert_eq!(
        accepted, 20,
        "exactly the balance is reserved, no more and no less"
    );
}

/// A record counts for its grace only; then the ledger (here: the replica's budget) speaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stop_counting_after_their_grace() {
    let user = UserId::new();
    let a = SharedReservations::connect(REDIS, 300).await.unwrap();
    let b = SharedReservations::connect(REDIS, 300).await.unwrap();
    let dollar = Nanos(1_000_000_000);
    // A reserves $0.80 of a $1.00 balance (its budget after: $0.20).
    let now = now_ms();
    a.reserve(
        user,
        "r1",
        Nanos(dollar.0 * 8 / 10),
        Nanos(dollar.0 * 2 / 10),
        now,
    )
    .await
    .unwrap()
    .unwrap();
    // B has not seen it in the ledger yet: its budget after $0.50 would be $0.50, but A's
    // $0.80 counts against it.
    let refused = b
        .reserve(user, "r2", Nanos(dollar.0 / 2), Nanos(dollar.0 / 2), now)
        .await
        .unwrap();
    assert_eq!(refused.unwrap_err().0, Nanos(dollar.0 * 8 / 10));
    // A replica's own records never count against itself: its budget already has them.
    a.reserve(user, "r4", Nanos(1), Nanos(0), now)
        .await
        .unwrap()
        .expect("own records are in the own budget");
    // After the grace, A's record is gone (by then B's budget would show it from the ledger).
    let refusal_ignored_after_grace = b
        .reserve(
            user,
            "r3",
            Nanos(dollar.0 / 2),
            Nanos(dollar.0 / 2),
            now + 301,
        )
        .await
        .unwrap();
    assert_eq!(refusal_ignored_after_grace, Ok(()));
}
