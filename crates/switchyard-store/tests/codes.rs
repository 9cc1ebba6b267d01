//! Redemption codes, new-user credit, referral rewards and adjustments against the ledger, on
//! both backends. Every test ends with `verify_ledger()` empty.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::catalog::Role;
use switchyard_core::ledger::{AccountId, Applied, TransferKind};
use switchyard_core::{Nanos, UserId};
use switchyard_store::{Redemption, Store, after_paid_top_up};

const KEY: &[u8] = b"a server key of at least 32 bytes!!";

both!(
    twenty_concurrent_redemptions_of_one_code_credit_once,
    used_expired_unknown_and_mistyped_codes_are_refused,
    codes_are_stored_only_as_keyed_hashes,
    new_user_credit_survives_account_deletion_and_keeps_no_email,
    referral_rewards_only_the_first_paid_top_up_once,
    adjustments_credit_and_debit_with_their_reason,
    revenue_groups_by_model_and_utc_day,
);

async fn balance(store: &Store, user: UserId) -> Nanos {
    store
        .account(&AccountId::user(user))
        .await
        .unwrap()
        .totals
        .balance()
}

async fn twenty_concurrent_redemptions_of_one_code_credit_once(store: Store) {
    let created = store
        .create_codes(KEY, 1, Nanos::from_usd(5), None, None, 1)
        .await
        .unwrap();
    let code = created.codes[0].clone();
    let users: Vec<UserId> = (0..20).map(|_| UserId::new()).collect();
    let tasks: Vec<_> = users
        .iter()
        .map(|&user| {
            let (store, code) = (store.clone(), code.clone());
            tokio::spawn(async move { store.redeem_code(KEY, &code, user, 10).await.unwrap() })
        })
        .collect();
    let mut credited = 0;
    for task in tasks {
        match task.await.unwrap() {
            Redemption::Credited { value } => {
                assert_eq!(value, Nanos::from_usd(5));
                credited += 1;
            }
            other => assert_eq!(other, Redemption::AlreadyRedeemed),
        }
    }
    assert_eq!(credited, 1);
    let mut total = Nanos::ZERO;
    for &user in &users {
        total += balance(&store, user).await;
    }
    assert_eq!(total, Nanos::from_usd(5));
    let codes = store.account(&AccountId::codes()).await.unwrap().totals;
    assert_eq!(codes.debits_posted, Nanos::from_usd(5));
}

async fn used_expired_unknown_and_mistyped_codes_are_refused(store: Store) {
    let user = UserId::new();
    let fresh = store
        .create_codes(KEY, 2, Nanos::from_usd(1), Some(1_000), None, 1)
        .await
        .unwrap();
    let (first, second) = (&fresh.codes[0], &fresh.codes[1]);
    // Lowercase and without dashes still redeems.
    let sloppy = first.to_lowercase().replace('-', "");
    assert_eq!(
        store.redeem_code(KEY, &sloppy, user, 500).await.unwrap(),
        Redemption::Credited {
            value: Nanos::from_usd(1)
        }
    );
    assert_eq!(
        store.redeem_code(KEY, first, user, 600).await.unwrap(),
        Redemption::AlreadyRedeemed
    );
    assert_eq!(
        store.redeem_code(KEY, second, user, 1_000).await.unwrap(),
        Redemption::Expired
    );
    let other = switchyard_store::canonical_code(&fresh.codes[0]).unwrap();
    assert_eq!(
        store
            .redeem_code(b"another server's key, also 32 bytes", &other, user, 10)
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store
            .redeem_code(KEY, "SYC-0000-0000-0000-0000", user, 10)
            .await
            .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem_code(KEY, "hello", user, 10).await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(balance(&store, user).await, Nanos::from_usd(1));
    // A batch that is already expired, or worthless, is refused.
    assert!(
        store
            .create_codes(KEY, 1, Nanos::from_usd(1), Some(5), None, 10)
            .await
            .is_err()
    );
    assert!(
        store
            .create_codes(KEY, 1, Nanos::ZERO, None, None, 10)
            .await
            .is_err()
    );
    let history = store
        .transfers_of(&AccountId::user(user), None, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].transfer.kind, TransferKind::Redemption);
    assert!(history[0].transfer.id.starts_with("redeem:"));
}

async fn codes_are_stored_only_as_keyed_hashes(store: Store) {
    let created = store
        .create_codes(KEY, 3, Nanos::from_usd(2), None, None, 1)
        .await
        .unwrap();
    let dump = store.dump_text().await.unwrap();
    for code in &created.codes {
        let random_part = &code[4..];
        assert!(!dump.contains(random_part), "{code} is stored in the clear");
        assert!(dump.contains(&code[..8]), "the visible prefix is stored");
    }
}

async fn new_user_credit_survives_account_deletion_and_keeps_no_email(store: Store) {
    let credit = Nanos::from_usd(3);
    let ann = store
        .create_user("Ann@Example.com", Role::User)
        .await
        .unwrap();
    assert!(
        store
            .grant_new_user_credit(KEY, "Ann@Example.com", ann.id, credit, 1)
            .await
            .unwrap()
    );
    assert_eq!(balance(&store, ann.id).await, credit);
    // A second grant for the same person, however the address is written, gives nothing.
    for variant in ["ann@example.com", " ANN+again@example.com"] {
        assert!(
            !store
                .grant_new_user_credit(KEY, variant, ann.id, credit, 2)
                .await
                .unwrap()
        );
    }
    // Deleting the account and signing up again does not bring the credit back.
    store.erase_user_for_test(ann.id).await.unwrap();
    assert!(store.user_by_id(ann.id).await.unwrap().is_none());
    let again = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    assert!(
        !store
            .grant_new_user_credit(KEY, "ann@example.com", again.id, credit, 3)
            .await
            .unwrap()
    );
    assert_eq!(balance(&store, again.id).await, Nanos::ZERO);
    // Someone else still gets theirs.
    let bob = UserId::new();
    assert!(
        store
            .grant_new_user_credit(KEY, "bob@example.com", bob, credit, 4)
            .await
            .unwrap()
    );
    // The guard holds a keyed hash, never the email, in any casing.
    let dump = store.dump_text().await.unwrap().to_lowercase();
    let claims: Vec<&str> = dump
        .lines()
        .filter(|l| l.starts_with("new_user_credit_claims:"))
        .collect();
    assert_eq!(claims.len(), 2, "{dump}");
    let hmac = switchyard_store::email_hmac(KEY, "ANN@example.com");
    assert!(claims.iter().any(|l| l.contains(&hmac)));
    for line in dump.lines().filter(|l| !l.starts_with("users:")) {
        assert!(
            !line.contains("ann@example.com") && !line.contains("example.com"),
            "an email outside `users`: {line}"
        );
    }
}

async fn referral_rewards_only_the_first_paid_top_up_once(store: Store) {
    let referrer = UserId::new();
    let referee = UserId::new();
    let stranger = UserId::new();
    let code = store.referral_code(referrer, 1).await.unwrap();
    assert_eq!(store.referral_code(referrer, 2).await.unwrap(), code);
    assert!(code.starts_with("REF-"));
    assert!(
        store
            .link_referral(referee, "REF-NOPE0000", 3)
            .await
            .is_err()
    );
    assert!(store.link_referral(referrer, &code, 3).await.is_err());
    assert_eq!(
        store
            .link_referral(referee, &code.to_lowercase(), 3)
            .await
            .unwrap(),
        referrer
    );
    assert!(store.link_referral(referee, &code, 4).await.is_err());
    // A user nobody referred earns nobody anything.
    after_paid_top_up(&store, stranger, Nanos::from_usd(100), "pay_0", 10)
        .await
        .unwrap();
    // The first paid top-up earns 10 %, however often it is reported.
    for _ in 0..3 {
        after_paid_top_up(&store, referee, Nanos::from_usd(50), "pay_1", 10)
            .await
            .unwrap();
    }
    assert_eq!(balance(&store, referrer).await, Nanos::from_usd(5));
    // Later top-ups earn nothing, even at a higher percentage.
    after_paid_top_up(&store, referee, Nanos::from_usd(500), "pay_2", 50)
        .await
        .unwrap();
    assert_eq!(balance(&store, referrer).await, Nanos::from_usd(5));
    let history = store
        .transfers_of(&AccountId::user(referrer), None, 10)
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].transfer.id, format!("referral:{referee}"));
    assert_eq!(history[0].transfer.kind, TransferKind::Referral);
    assert_eq!(history[0].transfer.reference.as_deref(), Some("pay_1"));
}

async fn adjustments_credit_and_debit_with_their_reason(store: Store) {
    let user = UserId::new();
    let credit = store
        .adjust_balance("adj-1", user, Nanos::from_usd(10), Some("goodwill"), 1)
        .await
        .unwrap();
    assert_eq!(credit, Applied::Done);
    assert_eq!(
        store
            .adjust_balance("adj-1", user, Nanos::from_usd(10), Some("goodwill"), 2)
            .await
            .unwrap(),
        Applied::Duplicate
    );
    assert!(
        store
            .adjust_balance("adj-1", user, Nanos::from_usd(11), None, 2)
            .await
            .is_err()
    );
    store
        .adjust_balance(
            "adj-2",
            user,
            Nanos::from_usd_str("-2.5").unwrap(),
            Some("chargeback"),
            3,
        )
        .await
        .unwrap();
    assert!(
        store
            .adjust_balance("adj-3", user, Nanos::ZERO, None, 4)
            .await
            .is_err()
    );
    assert_eq!(
        balance(&store, user).await,
        Nanos::from_usd_str("7.5").unwrap()
    );
    let history = store
        .transfers_of(&AccountId::user(user), None, 10)
        .await
        .unwrap();
    let memos: Vec<_> = history
        .iter()
        .map(|e| e.transfer.memo.as_deref().unwrap())
        .collect();
    assert_eq!(memos, ["chargeback", "goodwill"]);
    assert_eq!(history[0].transfer.debit, AccountId::user(user));
}

async fn revenue_groups_by_model_and_utc_day(store: Store) {
    use switchyard_core::log::RequestLog;
    use switchyard_core::usage::UsageSource;
    let day = 86_400_000;
    let rows: Vec<RequestLog> = [
        (day * 20_000 + 5, "a", 10),
        (day * 20_000 + day - 1, "a", 5),
        (day * 20_000 + 7, "b", 1),
        (day * 20_001, "a", 100),
        (day * 20_002, "a", 1_000),
    ]
    .into_iter()
    .map(|(at, model, cost)| RequestLog {
        id: switchyard_core::RequestId::new(),
        created_at: at,
        user_id: None,
        key_id: None,
        endpoint: "chat.completions".into(),
        model: model.into(),
        provider: None,
        upstream_model: None,
        channel: None,
        jurisdiction: None,
        stream: false,
        prompt_tokens: 1,
        completion_tokens: 1,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(cost),
        provider_cost: Nanos::ZERO,
        latency_us: 1,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: None,
    })
    .collect();
    store.insert_request_logs(&rows).await.unwrap();
    let report = store
        .revenue(day * 20_000, day * 20_002)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.day, r.model, r.requests, r.cost.0))
        .collect::<Vec<_>>();
    assert_eq!(
        report,
        [
            (20_000, "a".to_owned(), 2, 15),
            (20_000, "b".to_owned(), 1, 1),
            (20_001, "a".to_owned(), 1, 100),
        ]
    );
}
