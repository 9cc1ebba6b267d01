//! Content logging in the store, on both backends: the per-key flag starts off, travels with
//! the access snapshot and bumps its generation; `never`'s start-up clearing turns every flag
//! off; captured rows read back as written, and a retried batch neither fails nor doubles.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::catalog::{KeyRecord, Role};
use switchyard_core::content::ContentLog;
use switchyard_core::{KeyId, RequestId};
use switchyard_store::Store;

both!(
    the_flag_starts_off_and_travels_with_the_snapshot,
    captured_rows_read_back_and_a_retry_is_harmless,
);

async fn new_key(store: &Store, seed: u8) -> KeyRecord {
    let user = store
        .create_user(&format!("u{seed}@example.com"), Role::User)
        .await
        .unwrap();
    let key = KeyRecord {
        id: KeyId::new(),
        user_id: user.id,
        name: "k".into(),
        visible_prefix: "sk-sy-abcdef".into(),
        hash: [seed; 32],
        created_at: 1,
        expires_at: None,
        revoked_at: None,
        allowed_models: None,
        data_policy: Default::default(),
        log_content: false,
    };
    store.insert_key(&key).await.unwrap();
    key
}

async fn flag(store: &Store, key: KeyId) -> bool {
    let access = store.load_access().await.unwrap();
    access
        .keys
        .iter()
        .find(|k| k.id == key)
        .unwrap()
        .log_content
}

async fn the_flag_starts_off_and_travels_with_the_snapshot(store: Store) {
    let a = new_key(&store, 1).await;
    let b = new_key(&store, 2).await;
    assert!(!flag(&store, a.id).await);
    let before = store.generation().await.unwrap();
    assert!(store.set_key_log_content(a.id, true).await.unwrap());
    assert!(
        store.generation().await.unwrap() > before,
        "the snapshot reloads"
    );
    assert!(flag(&store, a.id).await);
    assert!(!flag(&store, b.id).await);
    assert!(store.key_by_id(a.id).await.unwrap().unwrap().log_content);
    assert!(!store.set_key_log_content(KeyId::new(), true).await.unwrap());

    assert_eq!(store.clear_log_content().await.unwrap(), 1);
    assert!(!flag(&store, a.id).await);
    let cleared = store.generation().await.unwrap();
    assert_eq!(store.clear_log_content().await.unwrap(), 0);
    assert_eq!(
        store.generation().await.unwrap(),
        cleared,
        "nothing to clear: no reload"
    );
}

async fn captured_rows_read_back_and_a_retry_is_harmless(store: Store) {
    let key = new_key(&store, 3).await;
    let row = ContentLog {
        request_id: RequestId::new(),
        created_at: 42,
        user_id: Some(key.user_id),
        key_id: Some(key.id),
        request_body: "{\"messages\":[\"héllo\"]}".into(),
        response_body: Some("data: {}\n\ndata: [DONE]\n\n".into()),
        truncated: true,
    };
    let failed = ContentLog {
        request_id: RequestId::new(),
        response_body: None,
        truncated: false,
        ..row.clone()
    };
    let batch = [row.clone(), failed.clone()];
    store.insert_content_logs(&batch).await.unwrap();
    store.insert_content_logs(&batch).await.unwrap();
    assert_eq!(store.content_log(row.request_id).await.unwrap(), Some(row));
    assert_eq!(
        store.content_log(failed.request_id).await.unwrap(),
        Some(failed)
    );
    assert_eq!(store.content_log(RequestId::new()).await.unwrap(), None);
    let dump = store.dump_text().await.unwrap();
    assert_eq!(dump.matches("content_logs: ").count(), 2);
}
