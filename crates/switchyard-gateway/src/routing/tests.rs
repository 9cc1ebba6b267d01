use super::*;
use std::time::Duration;
use switchyard_core::catalog::{
    Channel, KeyRecord, Model, Provider, ProviderKind, Role, Timeouts, User,
};
use switchyard_core::money::{Nanos, Prices};
use switchyard_core::pricing::PriceGroups;
use switchyard_core::routing::DataPractice;
use switchyard_core::{KeyId, UserId};

fn provider(name: &str, jurisdiction: &str, trains: Option<bool>) -> Provider {
    Provider {
        name: name.into(),
        kind: ProviderKind::Demo,
        base_url: String::new(),
        api_key: None,
        jurisdiction: jurisdiction.into(),
        data: DataPractice {
            retains_prompts: None,
            trains_on_prompts: trains,
            zdr: false,
        },
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(1),
            total: Duration::from_secs(1),
        },
    }
}

fn channel(provider: &str, weight: u32, priority: i32, input: i64) -> Channel {
    Channel {
        name: provider.into(),
        provider: provider.into(),
        upstream_model: "up".into(),
        weight,
        priority,
        prices: Some(Prices {
            input: Nanos(input),
            output: Nanos(input),
            cached_input: Nanos(input),
            ..Prices::default()
        }),
        first_byte_timeout: None,
        total_timeout: None,
    }
}

fn model(name: &str, aliases: &[&str], channels: Vec<Channel>) -> Model {
    Model {
        name: name.into(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        channels,
        kind: ModelKind::Chat,
        prices: Prices::default(),
        created: 0,
    }
}

fn catalog() -> Catalog {
    Catalog::build(
        vec![
            provider("us", "US", Some(false)),
            provider("us2", "US", Some(false)),
            provider("de", "DE", Some(false)),
            provider("cn", "CN", None),
        ],
        vec![
            model(
                "m",
                &["fast"],
                vec![
                    channel("us", 1, 0, 10),
                    channel("us2", 3, 0, 5),
                    channel("de", 1, -1, 1),
                    channel("cn", 1, -2, 1),
                ],
            ),
            model("cn-only", &[], vec![channel("cn", 1, 0, 1)]),
        ],
        PriceGroups::default(),
        Duration::ZERO,
        RoutingConfig::default(),
    )
    .unwrap()
}

fn caller(account: DataPolicy, key: DataPolicy) -> Caller {
    let user = User {
        id: UserId::new(),
        email: "a@b.c".into(),
        role: Role::User,
        disabled: false,
        created_at: 0,
        price_group: None,
        data_policy: account,
    };
    Caller {
        key: KeyRecord {
            id: KeyId::new(),
            user_id: user.id,
            name: "k".into(),
            visible_prefix: "sk-sy-abcdef".into(),
            hash: [0; 32],
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            allowed_models: None,
            data_policy: key,
            log_content: false,
        },
        user,
    }
}

fn us_eu() -> DataPolicy {
    DataPolicy {
        jurisdictions: Some(vec!["US".into(), "EU".into()]),
        ..DataPolicy::default()
    }
}

fn names(targets: &Targets) -> Vec<&str> {
    targets
        .candidates
        .iter()
        .map(|c| c.entry().name())
        .collect()
}

fn wanted() -> Wanted<'static> {
    Wanted {
        kind: Some(ModelKind::Chat),
        path: "chat/completions",
        ..Wanted::default()
    }
}

#[test]
fn channels_rank_by_priority_and_policy_filters_them() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let all = resolve(&catalog, &open, "m", &wanted()).unwrap();
    assert_eq!(names(&all), ["us", "us2", "de", "cn"]);
    let strict = caller(us_eu(), DataPolicy::default());
    let t = resolve(&catalog, &strict, "fast", &wanted()).unwrap();
    assert_eq!(
        names(&t),
        ["us", "us2", "de"],
        "an alias resolves; DE is in the EU"
    );
    let err = resolve(&catalog, &strict, "cn-only", &wanted()).unwrap_err();
    assert_eq!(err.code, ErrorCode::PolicyDenied);
    assert_eq!(err.status.as_u16(), 403);
    assert!(
        err.message.contains("jurisdictions US, EU"),
        "{}",
        err.message
    );
    assert!(err.message.contains("the account"), "{}", err.message);
    assert!(
        err.message.contains("processes data in CN"),
        "{}",
        err.message
    );
    // A key narrows the account's policy; training is declared by every non-CN provider.
    let no_training = DataPolicy {
        no_training: true,
        ..DataPolicy::default()
    };
    let t = resolve(
        &catalog,
        &caller(DataPolicy::default(), no_training),
        "m",
        &wanted(),
    )
    .unwrap();
    assert_eq!(names(&t), ["us", "us2", "de"]);
}

#[test]
fn a_provider_prefix_pins_the_provider() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let t = resolve(&catalog, &open, "de/m", &wanted()).unwrap();
    assert_eq!(names(&t), ["de"]);
    let err = resolve(&catalog, &open, "nope/m", &wanted()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelNotFound);
    // A real provider that does not serve the model: not found, not a policy matter.
    let err = resolve(&catalog, &open, "us/cn-only", &wanted()).unwrap_err();
    assert_eq!(err.code, ErrorCode::ModelNotFound);
    assert!(
        err.message.contains("`us` does not serve"),
        "{}",
        err.message
    );
}

#[test]
fn preferences_order_only_ignore_and_fallback_models() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let prefs = Preferences::parse(r#"{"order":["cn","de"],"ignore":["us"]}"#).unwrap();
    let w = Wanted {
        preferences: Some(&prefs),
        ..wanted()
    };
    let t = resolve(&catalog, &open, "m", &w).unwrap();
    assert_eq!(names(&t), ["cn", "de", "us2"]);
    let prefs = Preferences::parse(r#"{"order":["de"],"allow_fallbacks":false}"#).unwrap();
    let w = Wanted {
        preferences: Some(&prefs),
        ..wanted()
    };
    assert_eq!(names(&resolve(&catalog, &open, "m", &w).unwrap()), ["de"]);
    let prefs = Preferences::parse(r#"{"only":["zz"]}"#).unwrap();
    let w = Wanted {
        preferences: Some(&prefs),
        ..wanted()
    };
    let err = resolve(&catalog, &open, "m", &w).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("provider.only"));
    // data_collection: deny is a policy: CN does not declare its training practice.
    let prefs = Preferences::parse(r#"{"data_collection":"deny"}"#).unwrap();
    let w = Wanted {
        preferences: Some(&prefs),
        ..wanted()
    };
    let err = resolve(&catalog, &open, "m", &w).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::PolicyDenied,
        "nobody declares retention"
    );
    assert!(
        err.message.contains("provider` preferences"),
        "{}",
        err.message
    );
    // A fallback model's channels come after the first model's.
    let fallbacks = vec!["m".to_owned()];
    let w = Wanted {
        fallbacks: &fallbacks,
        ..wanted()
    };
    let t = resolve(&catalog, &open, "cn-only", &w).unwrap();
    assert_eq!(names(&t), ["cn", "us", "us2", "de", "cn"]);
    assert_eq!(t.primary.model.name, "cn-only");
    // The hold covers the dearest channel.
    assert_eq!(t.hold_prices(|_| 0).input, Nanos(10));
}

#[test]
fn attempts_go_down_the_groups_then_repeat_healthy_channels() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let t = resolve(&catalog, &open, "m", &wanted()).unwrap();
    let mut attempts = Attempts::new(&t);
    let mut seen = Vec::new();
    for _ in 0..4 {
        let pick = attempts.next(&t, 0).unwrap();
        seen.push(t.candidates[pick.candidate].entry().name().to_owned());
    }
    let mut first_two = seen[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["us", "us2"]);
    assert_eq!(&seen[2..], ["de", "cn"]);
    // All tried: the best group's healthy channels again.
    let again = attempts.next(&t, 0).unwrap();
    assert!(t.candidates[again.candidate].group == t.candidates[0].group);
}

#[test]
fn ejected_channels_are_skipped_and_used_only_in_a_pinch() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let t = resolve(&catalog, &open, "m", &wanted()).unwrap();
    let config = RoutingConfig::default();
    for c in &t.candidates {
        if c.entry().name() != "de" {
            for _ in 0..5 {
                c.entry().health.failed(0, &config);
            }
        }
    }
    let mut attempts = Attempts::new(&t);
    let pick = attempts.next(&t, 1).unwrap();
    assert_eq!(t.candidates[pick.candidate].entry().name(), "de");
    // DE again (healthy), never the ejected ones after the first attempt.
    let pick = attempts.next(&t, 1).unwrap();
    assert_eq!(t.candidates[pick.candidate].entry().name(), "de");
    // DE ejected too: the first attempt of a request still goes somewhere.
    for _ in 0..5 {
        t.candidates[2].entry().health.failed(0, &config);
    }
    let mut fresh = Attempts::new(&t);
    assert!(fresh.next(&t, 1).is_ok());
    assert_eq!(fresh.next(&t, 1).unwrap_err(), Exhausted::Tried);
    // Cooling after Retry-After is honoured: nothing at all.
    let cn = caller(DataPolicy::default(), DataPolicy::default());
    let t = resolve(&catalog, &cn, "cn-only", &wanted()).unwrap();
    t.candidates[0]
        .entry()
        .health
        .cool(0, Duration::from_secs(2));
    assert_eq!(
        Attempts::new(&t).next(&t, 1).unwrap_err(),
        Exhausted::Cooling(2_000)
    );
}

#[test]
fn selection_follows_weights_and_prefers_the_faster_channel() {
    let catalog = catalog();
    let open = caller(DataPolicy::default(), DataPolicy::default());
    let prefs = Preferences::parse(r#"{"only":["us","us2"]}"#).unwrap();
    let w = Wanted {
        preferences: Some(&prefs),
        ..wanted()
    };
    let t = resolve(&catalog, &open, "m", &w).unwrap();
    let share_of_us2 = |t: &Targets| {
        let mut us2 = 0;
        for _ in 0..10_000 {
            let pick = Attempts::new(t).next(t, 0).unwrap();
            if t.candidates[pick.candidate].entry().name() == "us2" {
                us2 += 1;
            }
        }
        us2
    };
    // Equal (unknown) latency: weights 1 and 3.
    let n = share_of_us2(&t);
    assert!((7_200..7_800).contains(&n), "{n}");
    // us2 five times slower: weight 3 no longer wins (3 / 25 against 1).
    t.candidates[0]
        .entry()
        .health
        .succeeded(Duration::from_millis(10));
    t.candidates[1]
        .entry()
        .health
        .succeeded(Duration::from_millis(50));
    let n = share_of_us2(&t);
    assert!((800..1_300).contains(&n), "{n}");
}
