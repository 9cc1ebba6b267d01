//! Passwords, profiles, sessions and emailed tokens on both backends.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::UserId;
use switchyard_core::catalog::Role;
use switchyard_store::{Session, Store, StoreError, TokenPurpose};

both!(
    password_hashes_are_set_replaced_and_read,
    profiles_are_edited_and_verification_kept_first,
    sessions_are_stored_found_touched_and_ended,
    signing_in_drops_the_users_dead_sessions,
    purging_deletes_ended_sessions_and_expired_tokens,
    email_tokens_are_used_once_for_their_purpose_until_expiry,
);

fn session(user: UserId, seed: u8, at: i64) -> Session {
    Session {
        id_hash: [seed; 32],
        user_id: user,
        csrf_token: format!("csrf-{seed}"),
        created_at: at,
        last_seen_at: at,
        expires_at: at + 1_000,
    }
}

async fn password_hashes_are_set_replaced_and_read(store: Store) {
    let user = store
        .create_user("pw@example.com", Role::User)
        .await
        .unwrap();
    assert_eq!(store.password_hash(user.id).await.unwrap(), None);
    store
        .set_password_hash(user.id, "$argon2id$one", 1)
        .await
        .unwrap();
    store
        .set_password_hash(user.id, "$argon2id$two", 2)
        .await
        .unwrap();
    assert_eq!(
        store.password_hash(user.id).await.unwrap().as_deref(),
        Some("$argon2id$two")
    );
    let missing = store
        .set_password_hash(UserId::new(), "$argon2id$x", 3)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

async fn profiles_are_edited_and_verification_kept_first(store: Store) {
    let user = store
        .create_user("p@example.com", Role::User)
        .await
        .unwrap();
    let empty = store.profile(user.id).await.unwrap().unwrap();
    assert_eq!(empty, switchyard_store::Profile::default());
    assert!(
        store
            .set_profile(user.id, Some("Ann"), Some("tr"))
            .await
            .unwrap()
    );
    assert!(store.set_email_verified(user.id, 10).await.unwrap());
    assert!(store.set_email_verified(user.id, 20).await.unwrap());
    let profile = store.profile(user.id).await.unwrap().unwrap();
    assert_eq!(profile.display_name.as_deref(), Some("Ann"));
    assert_eq!(profile.language.as_deref(), Some("tr"));
    assert_eq!(
        profile.email_verified_at,
        Some(10),
        "the first proof is kept"
    );
    assert!(store.set_profile(user.id, None, Some("en")).await.unwrap());
    let profile = store.profile(user.id).await.unwrap().unwrap();
    assert_eq!(profile.display_name, None);
    assert!(!store.set_profile(UserId::new(), None, None).await.unwrap());
    assert_eq!(store.profile(UserId::new()).await.unwrap(), None);
    // The snapshot does not carry profiles, so editing one does not make the gateway reload.
    let generation = store.generation().await.unwrap();
    store.set_profile(user.id, Some("B"), None).await.unwrap();
    assert_eq!(store.generation().await.unwrap(), generation);
}

async fn sessions_are_stored_found_touched_and_ended(store: Store) {
    let ann = store
        .create_user("ann@example.com", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("bob@example.com", Role::User)
        .await
        .unwrap();
    let (a1, a2, b1) = (
        session(ann.id, 1, 100),
        session(ann.id, 2, 100),
        session(bob.id, 3, 100),
    );
    for s in [&a1, &a2, &b1] {
        store.insert_session(s, 0).await.unwrap();
    }
    assert_eq!(store.session(&[1; 32]).await.unwrap(), Some(a1.clone()));
    let again = store.insert_session(&a1, 0).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let orphan = store
        .insert_session(&session(UserId::new(), 9, 100), 0)
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound(_))), "{orphan:?}");

    store.touch_session(&[1; 32], 500).await.unwrap();
    store.touch_session(&[1; 32], 400).await.unwrap();
    assert_eq!(
        store.session(&[1; 32]).await.unwrap().unwrap().last_seen_at,
        500,
        "never back"
    );

    assert!(store.delete_session(&[1; 32]).await.unwrap());
    assert!(!store.delete_session(&[1; 32]).await.unwrap());
    assert_eq!(store.session(&[1; 32]).await.unwrap(), None);
    assert_eq!(store.delete_user_sessions(ann.id).await.unwrap(), 1);
    assert_eq!(store.session(&[2; 32]).await.unwrap(), None);
    assert!(
        store.session(&[3; 32]).await.unwrap().is_some(),
        "bob's is untouched"
    );
}

async fn signing_in_drops_the_users_dead_sessions(store: Store) {
    let ann = store
        .create_user("dead@example.com", Role::User)
        .await
        .unwrap();
    let expired = session(ann.id, 1, 0); // ends at 1_000
    let idle = Session {
        expires_at: 100_000,
        ..session(ann.id, 2, 0)
    };
    let live = Session {
        expires_at: 100_000,
        last_seen_at: 1_500,
        ..session(ann.id, 3, 0)
    };
    for s in [&expired, &idle, &live] {
        store.insert_session(s, 0).await.unwrap();
    }
    // A sign-in at 2_000 with sessions idle since before 1_000 ended.
    store
        .insert_session(&session(ann.id, 4, 2_000), 1_000)
        .await
        .unwrap();
    assert_eq!(store.session(&[1; 32]).await.unwrap(), None, "past its end");
    assert_eq!(
        store.session(&[2; 32]).await.unwrap(),
        None,
        "idle too long"
    );
    assert!(store.session(&[3; 32]).await.unwrap().is_some());
    assert!(store.session(&[4; 32]).await.unwrap().is_some());
}

async fn email_tokens_are_used_once_for_their_purpose_until_expiry(store: Store) {
    let ann = store
        .create_user("tok@example.com", Role::User)
        .await
        .unwrap();
    store
        .insert_email_token(&[1; 32], ann.id, TokenPurpose::Reset, 0, 1_000)
        .await
        .unwrap();
    store
        .insert_email_token(&[2; 32], ann.id, TokenPurpose::Verify, 0, 1_000)
        .await
        .unwrap();
    let use_ = |hash: [u8; 32], purpose, now| {
        let store = store.clone();
        async move { store.use_email_token(&hash, purpose, now).await.unwrap() }
    };
    assert_eq!(
        use_([1; 32], TokenPurpose::Verify, 10).await,
        None,
        "wrong purpose"
    );
    assert_eq!(
        use_([9; 32], TokenPurpose::Reset, 10).await,
        None,
        "unknown"
    );
    assert_eq!(
        use_([2; 32], TokenPurpose::Verify, 1_000).await,
        None,
        "expired"
    );
    assert_eq!(use_([1; 32], TokenPurpose::Reset, 10).await, Some(ann.id));
    assert_eq!(
        use_([1; 32], TokenPurpose::Reset, 11).await,
        None,
        "used once"
    );

    // Racing uses of one token: exactly one wins.
    store
        .insert_email_token(&[3; 32], ann.id, TokenPurpose::Reset, 0, 1_000)
        .await
        .unwrap();
    let racers: Vec<_> = (0..8)
        .map(|_| tokio::spawn(use_([3; 32], TokenPurpose::Reset, 20)))
        .collect();
    let mut winners = 0;
    for racer in racers {
        if racer.await.unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

async fn purging_deletes_ended_sessions_and_expired_tokens(store: Store) {
    let ann = store
        .create_user("purge@example.com", Role::User)
        .await
        .unwrap();
    let bob = store
        .create_user("purge2@example.com", Role::User)
        .await
        .unwrap();
    let expired = session(ann.id, 1, 0); // ends at 1_000
    let idle = Session {
        expires_at: 100_000,
        ..session(bob.id, 2, 0)
    };
    let live = Session {
        expires_at: 100_000,
        last_seen_at: 1_500,
        ..session(ann.id, 3, 0)
    };
    for s in [&expired, &idle, &live] {
        store.insert_session(s, 0).await.unwrap();
    }
    store
        .insert_email_token(&[7; 32], ann.id, TokenPurpose::Reset, 0, 1_000)
        .await
        .unwrap();
    store
        .insert_email_token(&[8; 32], ann.id, TokenPurpose::Verify, 0, 5_000)
        .await
        .unwrap();
    assert_eq!(store.purge_ended_sessions(2_000, 1_000).await.unwrap(), 3);
    assert_eq!(store.session(&[1; 32]).await.unwrap(), None);
    assert_eq!(store.session(&[2; 32]).await.unwrap(), None);
    assert!(store.session(&[3; 32]).await.unwrap().is_some());
    assert_eq!(
        store
            .use_email_token(&[8; 32], TokenPurpose::Verify, 2_000)
            .await
            .unwrap(),
        Some(ann.id),
        "the unexpired token is kept"
    );
}
