//! Invoice numbering and issue on both backends: gapless under concurrency, one invoice per
//! payment however often it is asked for, and the buyer copied at issue time.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use switchyard_core::{Nanos, UserId};
use switchyard_store::payments::PaidCheckout;
use switchyard_store::{Buyer, Store, TOP_UP_LINE};

both!(
    fifty_concurrent_issues_number_one_to_fifty,
    issuing_twice_for_one_payment_returns_the_same_invoice,
    pending_and_unknown_payments_get_no_invoice,
    the_buyer_is_copied_at_issue_time,
);

/// Records a paid checkout of `usd` for `user`; returns the payment id.
async fn paid(store: &Store, user: UserId, n: usize, usd: &str) -> String {
    let payment_id = format!("pay_{n}_{user}");
    store
        .record_paid_checkout(&PaidCheckout {
            payment_id: payment_id.clone(),
            user_id: user,
            session: format!("cs_{n}_{user}"),
            payment_intent: Some(format!("pi_{n}_{user}")),
            amount: Nanos::from_usd_str(usd).unwrap(),
            currency: "usd".into(),
            now: 1_000,
        })
        .await
        .unwrap();
    payment_id
}

async fn fifty_concurrent_issues_number_one_to_fifty(store: Store) {
    let users: Vec<UserId> = (0..5).map(|_| UserId::new()).collect();
    let mut payments = Vec::new();
    for n in 0..50 {
        payments.push(paid(&store, users[n % 5], n, "10.00").await);
    }
    // Every payment asked for twice at once, so the same-payment race runs alongside the
    // numbering race.
    let mut tasks = Vec::new();
    for round in 0..2 {
        for payment in &payments {
            let store = store.clone();
            let payment = payment.clone();
            tasks.push(tokio::spawn(async move {
                let invoice = store
                    .issue_invoice_for_payment(&payment, 2_000 + round)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(invoice.payment_id, payment);
                (payment, invoice.number)
            }));
        }
    }
    let mut by_payment = std::collections::BTreeMap::new();
    for task in tasks {
        let (payment, number) = task.await.unwrap();
        let first = *by_payment.entry(payment.clone()).or_insert(number);
        assert_eq!(first, number, "{payment} got two numbers");
    }
    let numbers: BTreeSet<i64> = by_payment.values().copied().collect();
    assert_eq!(numbers, (1..=50).collect::<BTreeSet<i64>>());
    let mut listed = 0;
    for user in users {
        let invoices = store.invoices_of(user).await.unwrap();
        assert_eq!(invoices.len(), 10);
        assert!(invoices.windows(2).all(|w| w[0].number > w[1].number));
        listed += invoices.len();
    }
    assert_eq!(listed, 50);
}

async fn issuing_twice_for_one_payment_returns_the_same_invoice(store: Store) {
    let user = UserId::new();
    let payment = paid(&store, user, 1, "12.34").await;
    let first = store
        .issue_invoice_for_payment(&payment, 5_000)
        .await
        .unwrap()
        .unwrap();
    let again = store
        .issue_invoice_for_payment(&payment, 9_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.number, 1);
    assert_eq!(first.issued_at, 5_000);
    assert_eq!(first.amount, Nanos(12_340_000_000));
    assert_eq!(first.currency, "usd");
    assert_eq!(first.lines.len(), 1);
    assert_eq!(first.lines[0].description, TOP_UP_LINE);
    assert_eq!(first.lines[0].amount, first.amount);
    assert_eq!(store.invoice_by_number(1).await.unwrap(), Some(first));
    // The next payment takes the next number: the repeat consumed none.
    let next = paid(&store, user, 2, "5.00").await;
    let second = store
        .issue_invoice_for_payment(&next, 10_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.number, 2);
}

async fn pending_and_unknown_payments_get_no_invoice(store: Store) {
    let user = UserId::new();
    store
        .create_payment(
            "pay_pending",
            user,
            "cs_pending",
            Nanos::from_usd(7),
            "usd",
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .issue_invoice_for_payment("pay_pending", 2)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .issue_invoice_for_payment("pay_nope", 2)
            .await
            .unwrap(),
        None
    );
    // Neither consumed a number.
    let payment = paid(&store, user, 1, "7.00").await;
    let invoice = store
        .issue_invoice_for_payment(&payment, 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoice.number, 1);
    assert_eq!(store.invoice_by_number(2).await.unwrap(), None);
}

async fn the_buyer_is_copied_at_issue_time(store: Store) {
    let user = UserId::new();
    assert_eq!(store.billing_profile(user).await.unwrap(), None);
    let buyer = Buyer {
        name: "Ada Lovelace".into(),
        company: "Analytical Engines Ltd".into(),
        vat_id: "GB123456789".into(),
        address: "12 St James's Square\nLondon".into(),
        country: "GB".into(),
    };
    store.set_billing_profile(user, &buyer, 10).await.unwrap();
    let profile = store.billing_profile(user).await.unwrap().unwrap();
    assert_eq!(
        (profile.buyer.clone(), profile.updated_at),
        (buyer.clone(), 10)
    );
    let payment = paid(&store, user, 1, "10.00").await;
    let invoice = store
        .issue_invoice_for_payment(&payment, 20)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoice.buyer, buyer);
    // A later edit changes the profile, not the issued invoice.
    let renamed = Buyer {
        company: "Difference Engines plc".into(),
        ..buyer.clone()
    };
    store.set_billing_profile(user, &renamed, 30).await.unwrap();
    assert_eq!(
        store.billing_profile(user).await.unwrap().unwrap().buyer,
        renamed
    );
    let stored = store
        .invoice_by_number(invoice.number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.buyer, buyer);
    // A user without a profile gets an invoice with empty buyer fields.
    let other = UserId::new();
    let payment = paid(&store, other, 2, "1.00").await;
    let invoice = store
        .issue_invoice_for_payment(&payment, 40)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(invoice.buyer, Buyer::default());
    assert_eq!(invoice.user_id, other);
}
