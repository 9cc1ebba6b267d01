//! The ledger in SQL against the rules of `switchyard_core::ledger::Book`, on both backends:
//! examples, races between writers, and a property-based state machine (M4) that checks every
//! invariant after every step.

#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;
use switchyard_core::ledger::{AccountId, Applied, Book, LedgerError, Transfer, TransferKind};
use switchyard_core::{Nanos, RequestId, UserId};
use switchyard_store::test_support::TestDb;
use switchyard_store::{Backend, Store};

both!(
    money_moves_and_totals_match_the_transfers,
    replays_are_no_ops_and_reused_ids_are_refused,
    racing_resolutions_resolve_a_hold_once,
    racing_writers_of_one_batch_apply_it_once,
    expired_holds_are_voided_once_and_late_settlements_charge,
    history_pages_newest_first,
);

fn top_up(id: &str, user: UserId, amount: i64) -> Transfer {
    Transfer::posted(
        id,
        AccountId::processor("stripe"),
        AccountId::user(user),
        Nanos(amount),
        TransferKind::TopUp,
        1,
    )
}

async fn money_moves_and_totals_match_the_transfers(store: Store) {
    let user = UserId::new();
    let me = AccountId::user(user);
    store
        .apply_transfers(&[top_up("t1", user, 1_000)])
        .await
        .unwrap();
    let (r1, r2) = (RequestId::new(), RequestId::new());
    let batch = store
        .apply_transfers(&[
            Transfer::hold(r1, user, Nanos(300), 10, 60_000),
            Transfer::hold(r2, user, Nanos(200), 10, 60_000),
        ])
        .await
        .unwrap();
    assert_eq!(batch.available_deltas.get(&me), Some(&Nanos(-500)));
    let state = store.account(&me).await.unwrap();
    assert_eq!(state.totals.balance(), Nanos(1_000));
    assert_eq!(state.totals.available(), Nanos(500));
    assert_eq!(
        store.open_holds(Some(&me), None, 10).await.unwrap().len(),
        2
    );
    let batch = store
        .apply_transfers(&[
            Transfer::settle(r1, user, Nanos(120), 20),
            Transfer::settle(r2, user, Nanos::ZERO, 20),
        ])
        .await
        .unwrap();
    assert_eq!(batch.results, vec![Ok(Applied::Done), Ok(Applied::Done)]);
    assert_eq!(batch.available_deltas.get(&me), Some(&Nanos(500 - 120)));
    let state = store.account(&me).await.unwrap();
    assert_eq!(
        (state.totals.balance(), state.totals.available()),
        (Nanos(880), Nanos(880))
    );
    assert_eq!(
        store
            .account(&AccountId::revenue())
            .await
            .unwrap()
            .totals
            .credits_posted,
        Nanos(120)
    );
    assert!(
        store
            .open_holds(Some(&me), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.user_accounts().await.unwrap().len(), 1);
}

async fn replays_are_no_ops_and_reused_ids_are_refused(store: Store) {
    let user = UserId::new();
    let t = top_up("evt_1", user, 500);
    for _ in 0..3 {
        store
            .apply_transfers(std::slice::from_ref(&t))
            .await
            .unwrap();
    }
    let batch = store
        .apply_transfers(&[t.clone(), top_up("evt_1", user, 501)])
        .await
        .unwrap();
    assert_eq!(
        batch.results,
        vec![
            Ok(Applied::Duplicate),
            Err(LedgerError::IdConflict("evt_1".into()))
        ]
    );
    let mut invalid = top_up("bad", user, 1);
    invalid.amount = Nanos(-1);
    let batch = store
        .apply_transfers(&[invalid, top_up("ok", user, 1)])
        .await
        .unwrap();
    assert!(batch.results[0].is_err(), "an invalid transfer is skipped");
    assert_eq!(batch.results[1], Ok(Applied::Done), "and the rest apply");
    assert_eq!(
        store
            .account(&AccountId::user(user))
            .await
            .unwrap()
            .totals
            .balance(),
        Nanos(501)
    );
}

async fn racing_resolutions_resolve_a_hold_once(store: Store) {
    let user = UserId::new();
    store
        .apply_transfers(&[top_up("t", user, 10_000)])
        .await
        .unwrap();
    let holds: Vec<RequestId> = (0..20).map(|_| RequestId::new()).collect();
    let all: Vec<Transfer> = holds
        .iter()
        .map(|r| Transfer::hold(*r, user, Nanos(100), 0, 1))
        .collect();
    store.apply_transfers(&all).await.unwrap();
    // Per hold: its settlement sent 3 times at once, and the sweeper, all racing.
    let mut tasks = Vec::new();
    for r in &holds {
        for _ in 0..3 {
            let (store, r) = (store.clone(), *r);
            tasks.push(tokio::spawn(async move {
                store
                    .apply_transfers(&[Transfer::settle(r, user, Nanos(40), 5)])
                    .await
                    .unwrap();
            }));
        }
    }
    let sweeper = store.clone();
    tasks.push(tokio::spawn(async move {
        sweeper.expire_holds(10, 1_000).await.unwrap();
    }));
    for t in tasks {
        t.await.unwrap();
    }
    let state = store.account(&AccountId::user(user)).await.unwrap();
    assert_eq!(state.totals.debits_pending, Nanos::ZERO);
    // Each request was charged exactly 40: by its settlement, or late after the sweeper.
    assert_eq!(state.totals.balance(), Nanos(10_000 - 20 * 40));
}

/// Writers that apply the same posted transfers at once (replicas retrying one batch): on
/// PostgreSQL the losers find the ids committed after they looked, roll back, and apply again.
/// Several rounds, so the later ones meet a pool whose connections are open and really race.
async fn racing_writers_of_one_batch_apply_it_once(store: Store) {
    let user = UserId::new();
    let rounds = 5;
    for round in 0..rounds {
        let batch: Vec<Transfer> = (0..40)
            .map(|i| top_up(&format!("race-{round}-{i}"), user, 100))
            .collect();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let (store, batch) = (store.clone(), batch.clone());
            tasks.push(tokio::spawn(async move {
                store.apply_transfers(&batch).await.unwrap()
            }));
        }
        let mut done = vec![0; batch.len()];
        for t in tasks {
            for (i, result) in t.await.unwrap().results.into_iter().enumerate() {
                match result {
                    Ok(Applied::Done) => done[i] += 1,
                    Ok(Applied::Duplicate) => {}
                    other => panic!("transfer {i}: {other:?}"),
                }
            }
        }
        assert!(done.iter().all(|&n| n == 1), "each applied once: {done:?}");
    }
    let state = store.account(&AccountId::user(user)).await.unwrap();
    assert_eq!(state.totals.balance(), Nanos(rounds * 40 * 100));
    assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
}

async fn expired_holds_are_voided_once_and_late_settlements_charge(store: Store) {
    let user = UserId::new();
    let me = AccountId::user(user);
    store
        .apply_transfers(&[top_up("t", user, 1_000)])
        .await
        .unwrap();
    let (old, young) = (RequestId::new(), RequestId::new());
    store
        .apply_transfers(&[
            Transfer::hold(old, user, Nanos(300), 0, 1_000),
            Transfer::hold(young, user, Nanos(300), 0, 5_000),
        ])
        .await
        .unwrap();
    assert!(store.expire_holds(999, 100).await.unwrap().is_empty());
    let voided = store.expire_holds(1_000, 100).await.unwrap();
    assert_eq!(voided.len(), 1);
    assert_eq!(voided[0].id, Transfer::hold_id(old));
    assert!(
        store.expire_holds(1_000, 100).await.unwrap().is_empty(),
        "a rerun voids nothing"
    );
    assert_eq!(
        store.account(&me).await.unwrap().totals.available(),
        Nanos(700)
    );
    let late = store
        .apply_transfers(&[Transfer::settle(old, user, Nanos(50), 2_000)])
        .await
        .unwrap();
    assert_eq!(late.results, vec![Ok(Applied::Orphan { charged: true })]);
    let history = store.transfers_of(&me, None, 10).await.unwrap();
    assert_eq!(history[0].transfer.kind, TransferKind::LateCharge);
    assert_eq!(
        store.account(&me).await.unwrap().totals.balance(),
        Nanos(950)
    );
}

async fn history_pages_newest_first(store: Store) {
    let user = UserId::new();
    let me = AccountId::user(user);
    let ups: Vec<Transfer> = (0..7)
        .map(|i| top_up(&format!("t{i}"), user, 1 + i))
        .collect();
    store.apply_transfers(&ups).await.unwrap();
    let first = store.transfers_of(&me, None, 4).await.unwrap();
    assert_eq!(first.len(), 4);
    assert_eq!(first[0].transfer.id, "t6");
    let rest = store
        .transfers_of(&me, Some(first[3].seq), 4)
        .await
        .unwrap();
    let ids: Vec<&str> = rest.iter().map(|e| e.transfer.id.as_str()).collect();
    assert_eq!(ids, ["t2", "t1", "t0"]);
    let (newest, changed) = store.accounts_changed_since(first[1].seq).await.unwrap();
    assert_eq!(newest, first[0].seq);
    assert_eq!(changed.len(), 2, "the user and the processor account");
}

// ---------------------------------------------------------------------------------------------
// M4: a state machine of ledger operations, applied to the store and to `Book`.

#[derive(Clone, Debug)]
enum Op {
    TopUp { user: usize, amount: i64 },
    Hold { user: usize, amount: i64, ttl: i64 },
    Settle { hold: usize, cost: i64 },
    Void { hold: usize },
    Expire { advance: i64 },
    Refund { user: usize, amount: i64 },
    Credit { user: usize, amount: i64 },
    Replay { step: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..5_000i64).prop_map(|(user, amount)| Op::TopUp { user, amount }),
        (0..3usize, 1..2_000i64, 1..100i64).prop_map(|(user, amount, ttl)| Op::Hold {
            user,
            amount,
            ttl
        }),
        (0..8usize, 0..3_000i64).prop_map(|(hold, cost)| Op::Settle { hold, cost }),
        (0..8usize).prop_map(|hold| Op::Void { hold }),
        (0..80i64).prop_map(|advance| Op::Expire { advance }),
        (0..3usize, 1..3_000i64).prop_map(|(user, amount)| Op::Refund { user, amount }),
        (0..3usize, 1..1_000i64).prop_map(|(user, amount)| Op::Credit { user, amount }),
        (0..40usize).prop_map(|step| Op::Replay { step }),
    ]
}

/// Runs one sequence against a shared store. Users are fresh per case, so their accounts start
/// empty; the platform's accounts are shared, so the book checks only users' accounts.
async fn check_sequence(store: &Store, ops: &[Op]) -> Result<(), TestCaseError> {
    let users: Vec<UserId> = (0..3).map(|_| UserId::new()).collect();
    let case = RequestId::new();
    let mut book = Book::default();
    let mut holds: Vec<(RequestId, UserId)> = Vec::new();
    let mut sent: Vec<Transfer> = Vec::new();
    let mut now = 0i64;
    for (step, op) in ops.iter().enumerate() {
        let transfer = match op {
            Op::TopUp { user, amount } => {
                Some(top_up(&format!("{case}:top:{step}"), users[*user], *amount))
            }
            Op::Hold { user, amount, ttl } => {
                let r = RequestId::new();
                holds.push((r, users[*user]));
                Some(Transfer::hold(r, users[*user], Nanos(*amount), now, *ttl))
            }
            Op::Settle { hold, cost } => holds
                .get(*hold)
                .map(|(r, u)| Transfer::settle(*r, *u, Nanos(*cost), now)),
            Op::Void { hold } => holds
                .get(*hold)
                .map(|(r, u)| Transfer::settle(*r, *u, Nanos::ZERO, now)),
            Op::Refund { user, amount } => Some(Transfer::posted(
                format!("{case}:refund:{step}"),
                AccountId::user(users[*user]),
                AccountId::processor("stripe"),
                Nanos(*amount),
                TransferKind::Refund,
                now,
            )),
            Op::Credit { user, amount } => Some(Transfer::posted(
                format!("{case}:credit:{step}"),
                AccountId::promotions(),
                AccountId::user(users[*user]),
                Nanos(*amount),
                TransferKind::Promotion,
                now,
            )),
            Op::Replay { step } => sent.get(*step).cloned(),
            Op::Expire { advance } => {
                now += advance;
                let mut expected = book.expire(now);
                let mine: Vec<String> = holds.iter().map(|(r, _)| Transfer::hold_id(*r)).collect();
                let mut voided: Vec<String> = store
                    .expire_holds(now, 10_000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|h| h.id)
                    .filter(|id| mine.contains(id))
                    .collect();
                expected.sort();
                voided.sort();
                prop_assert_eq!(
                    voided,
                    expected,
                    "the sweeper voids exactly the expired holds"
                );
                None
            }
        };
        if let Some(t) = transfer {
            let expected = book.apply(&t);
            let got = store
                .apply_transfers(std::slice::from_ref(&t))
                .await
                .unwrap();
            prop_assert_eq!(&got.results[0], &expected, "step {}: {:?}", step, op);
            sent.push(t);
        }
        for user in &users {
            let account = AccountId::user(*user);
            let stored = store.account(&account).await.unwrap().totals;
            prop_assert_eq!(stored, book.totals(&account), "step {}: {:?}", step, op);
        }
        prop_assert!(book.is_balanced());
    }
    let wrong = store.verify_ledger().await.unwrap();
    prop_assert!(wrong.is_empty(), "{:?}", wrong);
    Ok(())
}

fn state_machine(backend: Backend) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::create(backend));
    let store = runtime.block_on(db.store());
    let config = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in proptest::collection::vec(op(), 1..40))| {
        runtime.block_on(check_sequence(&store, &ops))?;
    });
    runtime.block_on(store.close());
    drop(db);
}

#[test]
fn sqlite_ledger_matches_the_reference_model() {
    state_machine(Backend::Sqlite);
}

#[test]
fn postgres_ledger_matches_the_reference_model() {
    state_machine(Backend::Postgres);
}
