//! Identities at OpenID providers and the single-use flows that link them, on both backends.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::catalog::Role;
use switchyard_core::{IdentityId, UserId};
use switchyard_store::{FlowPurpose, Identity, OidcFlow, Store, StoreError, Unlink};

both!(
    identities_are_keyed_by_issuer_and_subject,
    a_flow_is_taken_once_and_not_after_it_expires,
    starting_a_flow_deletes_expired_ones,
    a_link_flow_names_an_existing_user,
    unlinking_keeps_a_way_to_sign_in,
);

fn identity(user: UserId, issuer: &str, subject: &str, at: i64) -> Identity {
    Identity {
        id: IdentityId::new(),
        user_id: user,
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        email: Some(format!("{subject}@example.com")),
        created_at: at,
    }
}

fn flow(seed: u8, purpose: FlowPurpose, at: i64) -> OidcFlow {
    OidcFlow {
        state_hash: [seed; 32],
        provider: "google".to_owned(),
        purpose,
        nonce: format!("nonce-{seed}"),
        code_verifier: format!("verifier-{seed}"),
        binding_hash: [seed.wrapping_add(100); 32],
        created_at: at,
        expires_at: at + 600_000,
    }
}

async fn identities_are_keyed_by_issuer_and_subject(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", Role::User)
        .await
        .unwrap();
    let google = identity(ann.id, "https://accounts.google.com", "111", 1);
    store.insert_identity(&google).await.unwrap();
    // The same subject at another issuer is another person.
    let other = identity(bob.id, "https://login.example.com", "111", 2);
    store.insert_identity(&other).await.unwrap();
    // The same (issuer, subject) cannot be linked twice, to anyone.
    let again = identity(bob.id, "https://accounts.google.com", "111", 3);
    let refused = store.insert_identity(&again).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    let missing = identity(UserId::new(), "https://accounts.google.com", "222", 4);
    let refused = store.insert_identity(&missing).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );

    assert_eq!(
        store
            .identity_by_subject("https://accounts.google.com", "111")
            .await
            .unwrap(),
        Some(google.clone())
    );
    // Exact match: a trailing slash is another issuer.
    assert_eq!(
        store
            .identity_by_subject("https://accounts.google.com/", "111")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.identities_of(ann.id).await.unwrap(),
        vec![google.clone()]
    );
    assert_eq!(store.identities_of(bob.id).await.unwrap(), vec![other]);

    store
        .set_identity_email(google.id, Some("ann@new.example"))
        .await
        .unwrap();
    let found = store
        .identity_by_subject("https://accounts.google.com", "111")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.email.as_deref(), Some("ann@new.example"));
    // Identities are not in the gateway's snapshot: no reload.
    let generation = store.generation().await.unwrap();
    store
        .insert_identity(&identity(ann.id, "https://x.example", "9", 5))
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), generation);
}

async fn a_flow_is_taken_once_and_not_after_it_expires(store: Store) {
    let started = flow(1, FlowPurpose::SignIn, 1_000);
    store.insert_oidc_flow(&started).await.unwrap();
    let duplicate = store.insert_oidc_flow(&started).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    assert_eq!(store.take_oidc_flow(&[9; 32], 2_000).await.unwrap(), None);
    assert_eq!(
        store.take_oidc_flow(&[1; 32], 2_000).await.unwrap(),
        Some(started)
    );
    assert_eq!(
        store.take_oidc_flow(&[1; 32], 2_000).await.unwrap(),
        None,
        "single use"
    );

    let late = flow(2, FlowPurpose::SignIn, 1_000);
    store.insert_oidc_flow(&late).await.unwrap();
    assert_eq!(
        store
            .take_oidc_flow(&[2; 32], late.expires_at)
            .await
            .unwrap(),
        None,
        "expired"
    );
    // An expired flow is taken away too: it cannot come back later.
    assert_eq!(store.take_oidc_flow(&[2; 32], 1_000).await.unwrap(), None);
}

async fn starting_a_flow_deletes_expired_ones(store: Store) {
    let old = flow(1, FlowPurpose::SignIn, 0);
    store.insert_oidc_flow(&old).await.unwrap();
    let newer = flow(2, FlowPurpose::SignIn, old.expires_at);
    store.insert_oidc_flow(&newer).await.unwrap();
    // Taken "back in time" so that only deletion can explain its absence.
    assert_eq!(store.take_oidc_flow(&[1; 32], 1).await.unwrap(), None);
    assert_eq!(
        store
            .take_oidc_flow(&[2; 32], newer.created_at)
            .await
            .unwrap(),
        Some(newer)
    );
}

async fn a_link_flow_names_an_existing_user(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let link = flow(3, FlowPurpose::Link(ann.id), 10);
    store.insert_oidc_flow(&link).await.unwrap();
    assert_eq!(
        store.take_oidc_flow(&[3; 32], 11).await.unwrap(),
        Some(link)
    );
    let nobody = store
        .insert_oidc_flow(&flow(4, FlowPurpose::Link(UserId::new()), 10))
        .await;
    assert!(matches!(nobody, Err(StoreError::NotFound(_))), "{nobody:?}");
}

async fn unlinking_keeps_a_way_to_sign_in(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", Role::User)
        .await
        .unwrap();
    let google = identity(ann.id, "https://accounts.google.com", "1", 1);
    let gitlab = identity(ann.id, "https://gitlab.example", "1", 2);
    store.insert_identity(&google).await.unwrap();
    store.insert_identity(&gitlab).await.unwrap();

    // Someone else's identity, or none, is not found.
    assert_eq!(
        store.unlink_identity(bob.id, google.id).await.unwrap(),
        Unlink::NotFound
    );
    assert_eq!(
        store
            .unlink_identity(ann.id, IdentityId::new())
            .await
            .unwrap(),
        Unlink::NotFound
    );
    assert_eq!(
        store.unlink_identity(ann.id, google.id).await.unwrap(),
        Unlink::Done
    );
    // The last identity of an account without a password stays.
    assert_eq!(
        store.unlink_identity(ann.id, gitlab.id).await.unwrap(),
        Unlink::LastSignInMethod
    );
    assert_eq!(
        store.identities_of(ann.id).await.unwrap(),
        vec![gitlab.clone()]
    );
    // With a password it may go.
    store
        .set_password_hash(ann.id, "$argon2id$x", 3)
        .await
        .unwrap();
    assert_eq!(
        store.unlink_identity(ann.id, gitlab.id).await.unwrap(),
        Unlink::Done
    );
    assert!(store.identities_of(ann.id).await.unwrap().is_empty());

    // Two unlinks racing over the last two identities: one of them must be refused.
    let carol = store
        .create_user("carol@example.com", Role::User)
        .await
        .unwrap();
    let one = identity(carol.id, "https://a.example", "c", 4);
    let two = identity(carol.id, "https://b.example", "c", 5);
    store.insert_identity(&one).await.unwrap();
    store.insert_identity(&two).await.unwrap();
    let (a, b) = tokio::join!(
        store.unlink_identity(carol.id, one.id),
        store.unlink_identity(carol.id, two.id)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|u| *u == Unlink::Done);
    assert_eq!(outcomes, [Unlink::LastSignInMethod, Unlink::Done]);
    assert_eq!(store.identities_of(carol.id).await.unwrap().len(), 1);
}
