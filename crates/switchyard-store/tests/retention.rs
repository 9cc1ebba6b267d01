//! The retention purge and account erasure on both backends, with the clock as a parameter:
//! for every data class, rows aged just inside and just outside the window, and only the
//! expired ones go; a second run removes nothing; a legal hold pauses everything for its
//! account; an account's own shorter windows apply to it alone; an erased account leaves no
//! email, name or IP address in any table, and the ledger stays balanced (checked by
//! `common::run` after each test).

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::catalog::Role;
use switchyard_core::content::ContentLog;
use switchyard_core::ledger::AccountId;
use switchyard_core::log::RequestLog;
use switchyard_core::retention::{AccountWindows, DAY_MS, Windows};
use switchyard_core::usage::UsageSource;
use switchyard_core::{Nanos, RequestId, UserId};
use switchyard_store::{
    ActorRole, AuditEntry, AuditFilter, Buyer, LogFilter, PurgeReport, Store, TOP_UP_LINE,
};

both!(
    each_class_loses_exactly_its_expired_rows_and_a_rerun_nothing,
    a_legal_hold_pauses_every_purge_of_its_account,
    an_account_may_shorten_its_own_windows,
    an_erased_account_leaves_no_trace,
    a_deletion_can_be_cancelled_within_the_grace,
);

const NOW: i64 = 1_800_000_000_000;

fn log(user: Option<UserId>, age_ms: i64, ip: &str) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at: NOW - age_ms,
        user_id: user,
        key_id: None,
        endpoint: "chat.completions".into(),
        model: "m".into(),
        provider: Some("demo".into()),
        upstream_model: None,
        channel: None,
        jurisdiction: Some("US".into()),
        stream: false,
        prompt_tokens: 1,
        completion_tokens: 1,
        cached_tokens: 0,
        reasoning_tokens: 0,
        usage_source: UsageSource::Upstream,
        cost: Nanos(10),
        provider_cost: Nanos(5),
        latency_us: 1_000,
        ttft_us: None,
        status: 200,
        error_code: None,
        client_ip: Some(ip.into()),
    }
}

/// Windows of a few days, so ages stay readable; batches of 3 so every purge takes several.
fn windows() -> Windows {
    Windows {
        client_ip_days: 2,
        usage_log_days: 5,
        payment_record_days: 9,
        deleted_account_days: 3,
        content_log_days: 4,
        audit_log_days: 7,
        batch_rows: 3,
    }
}

fn days(n: i64) -> i64 {
    n * DAY_MS
}

async fn logs_of(store: &Store, user: UserId) -> Vec<RequestLog> {
    store
        .list_request_logs(&LogFilter {
            user: Some(user),
            limit: 1_000,
            ..LogFilter::default()
        })
        .await
        .unwrap()
}

async fn content(store: &Store, user: UserId, age_ms: i64, text: &str) -> RequestId {
    let id = RequestId::new();
    store
        .insert_content_logs(&[ContentLog {
            request_id: id,
            created_at: NOW - age_ms,
            user_id: Some(user),
            key_id: None,
            request_body: format!("{{\"prompt\":\"{text}\"}}"),
            response_body: Some(format!("answer to {text}")),
            truncated: false,
        }])
        .await
        .unwrap();
    id
}

async fn audit(store: &Store, subject: UserId, age_ms: i64, detail: &str) {
    store
        .append_audit(&AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: NOW - age_ms,
            actor: Some(subject),
            actor_role: ActorRole::User,
            action: "profile.update".into(),
            target: "user".into(),
            target_id: Some(subject.to_string()),
            subject: Some(subject),
            detail: detail.into(),
        })
        .await
        .unwrap();
}

/// A paid top-up of `usd` dollars made `age_ms` ago, with its invoice.
async fn paid(store: &Store, user: UserId, age_ms: i64, tag: &str) {
    let at = NOW - age_ms;
    store
        .create_payment(
            &format!("pay_{tag}"),
            user,
            &format!("cs_{tag}"),
            Nanos(1_000_000_000),
            "usd",
            at,
        )
        .await
        .unwrap();
    store
        .record_paid_checkout(&switchyard_store::payments::PaidCheckout {
            payment_id: format!("pay_{tag}"),
            user_id: user,
            session: format!("cs_{tag}"),
            payment_intent: Some(format!("pi_{tag}")),
            amount: Nanos(1_000_000_000),
            currency: "usd".into(),
            now: at,
        })
        .await
        .unwrap();
    store
        .issue_invoice_for_payment(&format!("pay_{tag}"), at)
        .await
        .unwrap()
        .unwrap();
    store
        .record_webhook(&format!("evt_{tag}"), "checkout.session.completed", at)
        .await
        .unwrap();
}

async fn each_class_loses_exactly_its_expired_rows_and_a_rerun_nothing(store: Store) {
    let w = windows();
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    // Just inside each window (a millisecond younger than it) and just outside (a
    // millisecond older), plus the boundary itself, which is inside.
    let mut rows = Vec::new();
    for (age, ip) in [
        (days(2) - 1, "10.0.0.1"),
        (days(2), "10.0.0.2"),
        (days(2) + 1, "10.0.0.3"),
        (days(5) - 1, "10.0.0.4"),
        (days(5), "10.0.0.5"),
        (days(5) + 1, "10.0.0.6"),
        (days(6), "10.0.0.7"),
        (days(8), "10.0.0.8"),
    ] {
        rows.push(log(Some(ann.id), age, ip));
    }
    rows.push(log(None, days(5) + 1, "10.0.0.9"));
    store.insert_request_logs(&rows).await.unwrap();
    audit(&store, ann.id, days(7) - 1, "{}").await;
    audit(&store, ann.id, days(7) + 1, "{}").await;
    paid(&store, ann.id, days(9) - 1, "inside").await;
    paid(&store, ann.id, days(9) + 1, "outside").await;
    let kept_content = content(&store, ann.id, days(4), "kept").await;
    let gone_content = content(&store, ann.id, days(4) + 1, "gone").await;

    let report = store.purge_expired(NOW, &w).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            // 10.0.0.3, .4 and .5: the rows older than the usage log's window go whole.
            client_ips: 3,
            usage_rows: 4,
            usage_days: report.usage_days,
            traffic_minutes: report.traffic_minutes,
            payments: 1,
            invoices: 1,
            refunds: 0,
            webhook_events: 1,
            audit_rows: 1,
            content_rows: 1,
            accounts_erased: 0,
        }
    );
    assert!(store.content_log(kept_content).await.unwrap().is_some());
    assert!(store.content_log(gone_content).await.unwrap().is_none());
    assert!(report.usage_days >= 1, "{report:?}");
    let left = logs_of(&store, ann.id).await;
    let mut kept: Vec<(i64, Option<String>)> = left
        .iter()
        .map(|r| (NOW - r.created_at, r.client_ip.clone()))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        vec![
            (days(2) - 1, Some("10.0.0.1".to_owned())),
            (days(2), Some("10.0.0.2".to_owned())),
            (days(2) + 1, None),
            (days(5) - 1, None),
            (days(5), None),
        ]
    );
    // The rollup keeps only days not wholly past the window.
    let first_kept_day = (NOW - days(5)).div_euclid(DAY_MS);
    let rollup = store
        .usage_days(Some(ann.id), 0, i64::MAX / DAY_MS)
        .await
        .unwrap();
    assert!(rollup.iter().all(|d| d.day >= first_kept_day), "{rollup:?}");
    assert!(!rollup.is_empty());
    let payments = store.payments_of(ann.id).await.unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].id, "pay_inside");
    assert_eq!(store.invoices_of(ann.id).await.unwrap().len(), 1);
    assert!(store.webhook_seen("evt_inside").await.unwrap());
    assert!(!store.webhook_seen("evt_outside").await.unwrap());
    let entries = store
        .list_audit(&AuditFilter {
            subject: Some(ann.id),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].at, NOW - days(7) + 1);

    // Again at the same time: nothing left to do.
    assert_eq!(store.purge_expired(NOW, &w).await.unwrap().total(), 0);
    // The ledger still holds both top-ups: payment records go, the books stay balanced.
    let balance = store.account(&AccountId::user(ann.id)).await.unwrap();
    assert_eq!(balance.totals.credits_posted, Nanos(2_000_000_000));
}

async fn a_legal_hold_pauses_every_purge_of_its_account(store: Store) {
    let w = windows();
    let held = store
        .create_user("held@example.com", Role::User)
        .await
        .unwrap();
    let free = store
        .create_user("free@example.com", Role::User)
        .await
        .unwrap();
    for user in [held.id, free.id] {
        store
            .insert_request_logs(&[
                log(Some(user), days(3), "10.1.0.1"),
                log(Some(user), days(6), "10.1.0.2"),
            ])
            .await
            .unwrap();
        audit(&store, user, days(8), "{}").await;
    }
    paid(&store, held.id, days(10), "held").await;
    assert!(
        store
            .set_legal_hold(held.id, Some("chargeback dispute"), NOW)
            .await
            .unwrap()
    );
    // A deletion requested under the hold is not erased either.
    assert!(
        store
            .request_deletion(held.id, NOW - days(4), "hmac-held")
            .await
            .unwrap()
    );
    let report = store.purge_expired(NOW, &w).await.unwrap();
    assert_eq!(report.accounts_erased, 0);
    assert_eq!(report.payments, 0);
    let rows = logs_of(&store, held.id).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.client_ip.is_some()));
    assert_eq!(logs_of(&store, free.id).await.len(), 1);
    assert_eq!(
        store.user_by_id(held.id).await.unwrap().unwrap().email,
        "held@example.com"
    );
    let state = store.privacy_state(held.id).await.unwrap().unwrap();
    assert_eq!(
        state.legal_hold_reason.as_deref(),
        Some("chargeback dispute")
    );

    // Lifted: the next purge catches up on everything.
    assert!(store.set_legal_hold(held.id, None, NOW).await.unwrap());
    let report = store.purge_expired(NOW, &w).await.unwrap();
    assert_eq!(report.accounts_erased, 1);
    assert_eq!(report.payments, 1);
    assert!(logs_of(&store, held.id).await.is_empty());
}

async fn an_account_may_shorten_its_own_windows(store: Store) {
    let w = windows();
    let brief = store
        .create_user("brief@example.com", Role::User)
        .await
        .unwrap();
    let other = store
        .create_user("other@example.com", Role::User)
        .await
        .unwrap();
    for user in [brief.id, other.id] {
        store
            .insert_request_logs(&[
                log(Some(user), DAY_MS / 2, "10.2.0.1"),
                log(Some(user), DAY_MS + 1, "10.2.0.2"),
                log(Some(user), days(3), "10.2.0.3"),
            ])
            .await
            .unwrap();
    }
    // One day of IPs and two of usage log; a longer wish than the platform's changes nothing.
    store
        .set_account_windows(
            brief.id,
            AccountWindows {
                usage_log_days: Some(2),
                client_ip_days: Some(1),
            },
        )
        .await
        .unwrap();
    store
        .set_account_windows(
            other.id,
            AccountWindows {
                usage_log_days: Some(500),
                client_ip_days: Some(500),
            },
        )
        .await
        .unwrap();
    store.purge_expired(NOW, &w).await.unwrap();
    let mut mine: Vec<Option<String>> = logs_of(&store, brief.id)
        .await
        .into_iter()
        .map(|r| r.client_ip)
        .collect();
    mine.sort();
    assert_eq!(mine, vec![None, Some("10.2.0.1".to_owned())]);
    let mut theirs: Vec<Option<String>> = logs_of(&store, other.id)
        .await
        .into_iter()
        .map(|r| r.client_ip)
        .collect();
    theirs.sort();
    assert_eq!(
        theirs,
        vec![
            None,
            Some("10.2.0.1".to_owned()),
            Some("10.2.0.2".to_owned())
        ]
    );
    assert_eq!(store.purge_expired(NOW, &w).await.unwrap().total(), 0);
}

async fn an_erased_account_leaves_no_trace(store: Store) {
    let w = windows();
    let gone = store
        .create_user("Gone.Person@Example.com", Role::User)
        .await
        .unwrap();
    let stays = store
        .create_user("stays@example.com", Role::User)
        .await
        .unwrap();
    store
        .set_profile(gone.id, Some("Gwendolyn Erasmus"), Some("de"))
        .await
        .unwrap();
    store
        .set_password_hash(gone.id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", NOW)
        .await
        .unwrap();
    store
        .set_billing_profile(
            gone.id,
            &Buyer {
                name: "Gwendolyn Erasmus".into(),
                company: "Erasmus Ltd".into(),
                vat_id: "DE999999999".into(),
                address: "1 Vanishing Lane".into(),
                country: "DE".into(),
            },
            NOW - days(1),
        )
        .await
        .unwrap();
    paid(&store, gone.id, days(1), "gone").await;
    store
        .insert_request_logs(&[
            log(Some(gone.id), DAY_MS, "203.0.113.77"),
            log(Some(stays.id), DAY_MS, "198.51.100.1"),
        ])
        .await
        .unwrap();
    audit(
        &store,
        gone.id,
        DAY_MS,
        "{\"display_name\":\"Gwendolyn Erasmus\"}",
    )
    .await;
    content(&store, gone.id, DAY_MS, "Gwendolyn asks").await;
    store
        .insert_identity(&switchyard_store::Identity {
            id: switchyard_core::IdentityId::new(),
            user_id: gone.id,
            issuer: "https://accounts.example.com".into(),
            subject: "sub-1".into(),
            email: Some("gone.person@example.com".into()),
            created_at: NOW - DAY_MS,
        })
        .await
        .unwrap();
    let requested = NOW - days(3);
    assert!(
        store
            .request_deletion(gone.id, requested, "hmac-of-gone")
            .await
            .unwrap()
    );
    assert!(
        !store
            .request_deletion(gone.id, requested, "hmac-of-gone")
            .await
            .unwrap()
    );

    // A millisecond before the grace ends: nothing yet. At its end (strictly past): erased.
    let early = store.purge_expired(requested + days(3), &w).await.unwrap();
    assert_eq!(early.accounts_erased, 0);
    let report = store
        .purge_expired(requested + days(3) + 1, &w)
        .await
        .unwrap();
    assert_eq!(report.accounts_erased, 1);

    let dump = store.dump_text().await.unwrap().to_lowercase();
    for trace in [
        "gone.person",
        "gwendolyn",
        "erasmus",
        "vanishing",
        "203.0.113.77",
        "argon2",
        "sub-1",
    ] {
        assert!(!dump.contains(trace), "`{trace}` survived erasure");
    }
    // What the law and the books need stays, under the pseudonymous id.
    assert!(dump.contains("hmac-of-gone"));
    assert!(
        dump.contains("198.51.100.1"),
        "another account's data is untouched"
    );
    assert_eq!(store.payments_of(gone.id).await.unwrap().len(), 1);
    let invoice = &store.invoices_of(gone.id).await.unwrap()[0];
    assert_eq!(invoice.buyer.country, "DE");
    assert_eq!(invoice.lines[0].description, TOP_UP_LINE);
    let state = store.privacy_state(gone.id).await.unwrap().unwrap();
    assert_eq!(state.erased_at, Some(requested + days(3) + 1));
    assert!(
        !store.cancel_deletion(gone.id).await.unwrap(),
        "too late to cancel"
    );
    assert_eq!(
        store
            .purge_expired(requested + days(3) + 1, &w)
            .await
            .unwrap()
            .total(),
        0
    );
}

async fn a_deletion_can_be_cancelled_within_the_grace(store: Store) {
    let w = windows();
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    assert!(
        store
            .request_deletion(ann.id, NOW - days(1), "h")
            .await
            .unwrap()
    );
    let user = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert!(user.disabled, "sign-in and keys stop at once");
    assert!(store.cancel_deletion(ann.id).await.unwrap());
    assert!(!store.user_by_id(ann.id).await.unwrap().unwrap().disabled);
    assert_eq!(
        store
            .purge_expired(NOW + days(30), &w)
            .await
            .unwrap()
            .accounts_erased,
        0
    );
    assert_eq!(
        store.user_by_id(ann.id).await.unwrap().unwrap().email,
        "ann@example.com"
    );
}
