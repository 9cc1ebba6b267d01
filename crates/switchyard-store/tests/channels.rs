//! Operators' channel overrides (weight, priority, enabled) on both backends.

#![allow(clippy::unwrap_used)]

mod common;

use switchyard_core::catalog::ChannelSetting;
use switchyard_store::{Store, StoreError};

both!(
    channel_settings_are_upserted_and_bump_the_generation,
    a_channel_setting_rejects_a_zero_weight,
);

async fn channel_settings_are_upserted_and_bump_the_generation(store: Store) {
    assert!(store.channel_settings().await.unwrap().is_empty());
    let g0 = store.generation().await.unwrap();
    let slow = ChannelSetting {
        weight: Some(7),
        priority: Some(-2),
        ..ChannelSetting::unchanged("gpt", "slow")
    };
    let off = ChannelSetting {
        enabled: false,
        ..ChannelSetting::unchanged("gpt", "bad")
    };
    store.set_channel_setting(&slow, 1_000).await.unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "a channel setting bumps the generation");
    store.set_channel_setting(&off, 1_000).await.unwrap();
    // Ordered by model, then channel.
    assert_eq!(
        store.channel_settings().await.unwrap(),
        vec![off.clone(), slow.clone()]
    );

    // A second write replaces the row, including back to NULL (the configured value).
    let slow_again = ChannelSetting {
        weight: None,
        priority: Some(i32::MIN),
        enabled: false,
        ..slow.clone()
    };
    store.set_channel_setting(&slow_again, 2_000).await.unwrap();
    assert!(store.generation().await.unwrap() > g1);
    let extreme = ChannelSetting {
        weight: Some(u32::MAX),
        priority: Some(i32::MAX),
        ..ChannelSetting::unchanged("other", "only")
    };
    store.set_channel_setting(&extreme, 3_000).await.unwrap();
    assert_eq!(
        store.channel_settings().await.unwrap(),
        vec![off, slow_again, extreme]
    );
}

async fn a_channel_setting_rejects_a_zero_weight(store: Store) {
    let g0 = store.generation().await.unwrap();
    let zero = ChannelSetting {
        weight: Some(0),
        ..ChannelSetting::unchanged("gpt", "a")
    };
    let err = store.set_channel_setting(&zero, 1_000).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(store.channel_settings().await.unwrap().is_empty());
    assert_eq!(store.generation().await.unwrap(), g0);
}
