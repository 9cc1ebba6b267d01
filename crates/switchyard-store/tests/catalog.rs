//! Stored providers and models on both backends: round trips, generation bumps, the refusals
//! (duplicate names, a provider in use, bad channels) and deletes.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::Nanos;
use switchyard_core::catalog::{
    ModelKind, ProviderKind, StoredChannel, StoredModel, StoredProvider,
};
use switchyard_core::money::Prices;
use switchyard_core::routing::DataPractice;
use switchyard_store::{Reseal, Store, StoreError};

both!(
    providers_round_trip_and_bump_the_generation,
    models_round_trip_with_their_channels_in_order,
    a_provider_in_use_cannot_be_deleted,
    bad_models_and_duplicates_are_refused,
    credentials_are_resealed_together_or_not_at_all,
);

fn provider(name: &str) -> StoredProvider {
    StoredProvider {
        name: name.to_owned(),
        kind: ProviderKind::Anthropic,
        base_url: "https://api.anthropic.com/v1".to_owned(),
        api_key_sealed: Some(vec![0, 1, 2, 255]),
        api_key_hint: Some("wxyz".to_owned()),
        jurisdiction: "US".to_owned(),
        data: DataPractice {
            retains_prompts: Some(false),
            trains_on_prompts: None,
            zdr: true,
        },
        connect_timeout_ms: Some(1_500),
        first_byte_timeout_ms: None,
        total_timeout_ms: Some(u64::try_from(i64::MAX).unwrap()),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn model(name: &str, providers: &[&str]) -> StoredModel {
    StoredModel {
        name: name.to_owned(),
        kind: ModelKind::Chat,
        aliases: vec![format!("{name}-fast"), "ünïcode".to_owned()],
        channels: providers
            .iter()
            .enumerate()
            .map(|(i, p)| StoredChannel {
                name: format!("{p}-{i}"),
                provider: (*p).to_owned(),
                upstream_model: format!("up-{i}"),
                weight: u32::MAX - i as u32,
                priority: i32::MIN + i as i32,
            })
            .collect(),
        prices: Prices {
            input: Nanos(150_000_000),
            output: Nanos(i64::MAX),
            cached_input: Nanos(1),
            reasoning: Some(Nanos(0)),
            image: Nanos(40_000_000),
            per_second: Nanos(0),
        },
        created_at: 2_000,
        updated_at: 2_000,
    }
}

async fn providers_round_trip_and_bump_the_generation(store: Store) {
    assert_eq!(store.stored_catalog().await.unwrap(), Default::default());
    let g0 = store.generation().await.unwrap();
    let a = provider("a");
    let mut b = StoredProvider {
        kind: ProviderKind::Gemini,
        api_key_sealed: None,
        api_key_hint: None,
        data: DataPractice::default(),
        connect_timeout_ms: None,
        total_timeout_ms: None,
        created_at: 500,
        ..provider("b")
    };
    store.create_stored_provider(&a).await.unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0);
    store.create_stored_provider(&b).await.unwrap();
    // Oldest first.
    assert_eq!(
        store.stored_catalog().await.unwrap().providers,
        vec![b.clone(), a.clone()]
    );

    b.kind = ProviderKind::Openai;
    b.api_key_sealed = Some(vec![9; 40]);
    b.jurisdiction = "unspecified".to_owned();
    b.updated_at = 9_000;
    assert!(store.update_stored_provider(&b).await.unwrap());
    assert!(store.generation().await.unwrap() > g1);
    assert_eq!(
        store.stored_catalog().await.unwrap().providers,
        vec![b.clone(), a.clone()]
    );
    assert!(
        !store
            .update_stored_provider(&provider("ghost"))
            .await
            .unwrap()
    );

    let err = store.create_stored_provider(&a).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(store.delete_stored_provider("a").await.unwrap());
    assert!(!store.delete_stored_provider("a").await.unwrap());
    assert_eq!(store.stored_catalog().await.unwrap().providers, vec![b]);
}

async fn models_round_trip_with_their_channels_in_order(store: Store) {
    store.create_stored_provider(&provider("p")).await.unwrap();
    // Channels may name providers the store does not hold (configured ones).
    let mut m = model("m", &["p", "configured", "p"]);
    let g0 = store.generation().await.unwrap();
    store.create_stored_model(&m).await.unwrap();
    assert!(store.generation().await.unwrap() > g0);
    let other = StoredModel {
        kind: ModelKind::Embedding,
        aliases: Vec::new(),
        created_at: 3_000,
        ..model("e", &["configured"])
    };
    store.create_stored_model(&other).await.unwrap();
    let stored = store.stored_catalog().await.unwrap();
    assert_eq!(stored.models, vec![m.clone(), other.clone()]);

    // An edit replaces the channels and prices whole.
    m.channels = vec![m.channels[2].clone()];
    m.prices.reasoning = None;
    m.aliases.clear();
    m.updated_at = 5_000;
    assert!(store.update_stored_model(&m).await.unwrap());
    assert_eq!(
        store.stored_catalog().await.unwrap().models,
        vec![m.clone(), other.clone()]
    );
    assert!(
        !store
            .update_stored_model(&model("ghost", &["p"]))
            .await
            .unwrap()
    );

    assert!(store.delete_stored_model("m").await.unwrap());
    assert!(!store.delete_stored_model("m").await.unwrap());
    assert_eq!(store.stored_catalog().await.unwrap().models, vec![other]);
}

async fn a_provider_in_use_cannot_be_deleted(store: Store) {
    store.create_stored_provider(&provider("p")).await.unwrap();
    store
        .create_stored_model(&model("m", &["p"]))
        .await
        .unwrap();
    let g = store.generation().await.unwrap();
    let err = store.delete_stored_provider("p").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.generation().await.unwrap(), g);
    store.delete_stored_model("m").await.unwrap();
    assert!(store.delete_stored_provider("p").await.unwrap());
}

async fn bad_models_and_duplicates_are_refused(store: Store) {
    let g = store.generation().await.unwrap();
    let empty = model("m", &[]);
    assert!(matches!(
        store.create_stored_model(&empty).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    let mut zero = model("m", &["p"]);
    zero.channels[0].weight = 0;
    assert!(matches!(
        store.create_stored_model(&zero).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    let mut negative = model("m", &["p"]);
    negative.prices.input = Nanos(-1);
    assert!(matches!(
        store.create_stored_model(&negative).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    let mut twins = model("m", &["p", "p"]);
    twins.channels[1].name = twins.channels[0].name.clone();
    assert!(matches!(
        store.create_stored_model(&twins).await.unwrap_err(),
        StoreError::Conflict(_)
    ));
    // The failed write left nothing behind, not even the model row.
    assert_eq!(store.stored_catalog().await.unwrap().models, vec![]);
    assert_eq!(store.generation().await.unwrap(), g);
    store
        .create_stored_model(&model("m", &["p"]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_stored_model(&model("m", &["q"]))
            .await
            .unwrap_err(),
        StoreError::Conflict(_)
    ));
}

async fn credentials_are_resealed_together_or_not_at_all(store: Store) {
    let without = StoredProvider {
        api_key_sealed: None,
        ..provider("none")
    };
    for p in [provider("a"), provider("b"), without] {
        store.create_stored_provider(&p).await.unwrap();
    }
    let sealed = store.sealed_credentials().await.unwrap();
    assert_eq!(
        sealed,
        [
            ("a".into(), vec![0, 1, 2, 255]),
            ("b".into(), vec![0, 1, 2, 255])
        ]
    );
    let g0 = store.generation().await.unwrap();
    store.reseal_credentials(&[]).await.unwrap();
    assert_eq!(
        store.generation().await.unwrap(),
        g0,
        "nothing to do writes nothing"
    );

    // One stale row (its value changed since it was read): nothing is written.
    let stale = [
        Reseal {
            name: "a".into(),
            old: vec![0, 1, 2, 255],
            new: vec![7; 40],
        },
        Reseal {
            name: "b".into(),
            old: vec![1],
            new: vec![8; 40],
        },
    ];
    let err = store.reseal_credentials(&stale).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(store.sealed_credentials().await.unwrap(), sealed);
    assert_eq!(store.generation().await.unwrap(), g0);

    let fresh = [
        stale[0].clone(),
        Reseal {
            old: vec![0, 1, 2, 255],
            ..stale[1].clone()
        },
    ];
    store.reseal_credentials(&fresh).await.unwrap();
    assert!(store.generation().await.unwrap() > g0, "replicas reload");
    assert_eq!(
        store.sealed_credentials().await.unwrap(),
        [("a".into(), vec![7; 40]), ("b".into(), vec![8; 40])]
    );
    let providers = store.stored_catalog().await.unwrap().providers;
    assert_eq!(providers.len(), 3);
    assert_eq!(
        providers[0].api_key_hint.as_deref(),
        Some("wxyz"),
        "only the seal changes"
    );
}
