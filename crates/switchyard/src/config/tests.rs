//! The configuration loader's tests: every section, every error message, env overrides.

use super::*;
use switchyard_core::catalog::ModelKind;
use switchyard_core::money::Nanos;

fn sources(toml: Option<&str>, env: &[(&str, &str)]) -> Sources {
    Sources {
        file: toml.map(|t| (PathBuf::from("test.toml"), t.to_owned())),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

const OPENAI: &str = r#"
listen = "127.0.0.1:9000"
database_url = "sqlite://x.db"
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
jurisdiction = "US"
[[models]]
name = "gpt-4o-mini"
provider = "openai"
upstream_model = "gpt-4o-mini-2024-07-18"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
"#;

#[test]
fn embedded_default_serves_the_demo_models() {
    let config = load(&sources(None, &[])).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.database_url,
        "sqlite://switchyard-data/switchyard.db"
    );
    let names: Vec<_> = config.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["demo-chat", "demo-embed"]);
    assert_eq!(config.models[1].kind, ModelKind::Embedding);
}

#[test]
fn reads_the_operators_contract() {
    let config = load(&sources(Some(OPENAI), &[("OPENAI_API_KEY", "sk-x")])).unwrap();
    assert_eq!(config.listen.port(), 9000);
    let model = &config.models[0];
    assert_eq!(model.channels[0].upstream_model, "gpt-4o-mini-2024-07-18");
    assert_eq!(model.prices.input, Nanos(150_000_000));
    assert_eq!(model.prices.output, Nanos(600_000_000));
    assert_eq!(model.prices.cached_input, Nanos(150_000_000));
    assert_eq!(
        config.providers[0].api_key.as_ref().unwrap().expose(),
        "sk-x"
    );
}

#[test]
fn environment_overrides_keys() {
    let config = load(&sources(
        Some(OPENAI),
        &[
            ("OPENAI_API_KEY", "sk-x"),
            ("SWITCHYARD_LISTEN", "0.0.0.0:7000"),
            ("SWITCHYARD_SERVER_MAX_BODY_BYTES", "1024"),
            ("SWITCHYARD_TIMEOUTS_CONNECT_MS", "250"),
            ("DATABASE_URL", "postgres://u@h/db"),
            ("SWITCHYARD_SECRET_KEY", "not a config key"),
            ("SWITCHYARD_BIN", "/usr/local/bin/switchyard"),
            ("SWITCHYARD_PORT", "9000"),
        ],
    ))
    .unwrap();
    assert_eq!(config.listen.port(), 7000);
    assert_eq!(config.max_body_bytes, 1024);
    assert_eq!(
        config.providers[0].timeouts.connect,
        Duration::from_millis(250)
    );
    assert_eq!(config.database_url, "postgres://u@h/db");
    let config = load(&sources(
        Some(OPENAI),
        &[
            ("OPENAI_API_KEY", "k"),
            ("DATABASE_URL", "postgres://a"),
            ("SWITCHYARD_DATABASE_URL", "postgres://b"),
        ],
    ))
    .unwrap();
    assert_eq!(
        config.database_url, "postgres://b",
        "the specific variable wins"
    );
}

#[test]
fn the_shipped_example_loads() {
    let example = include_str!("../../../../switchyard.example.toml");
    let keys = [
        ("OPENAI_API_KEY", "sk-x"),
        ("ANTHROPIC_API_KEY", "sk-ant-x"),
        ("GEMINI_API_KEY", "g-x"),
        ("OPENROUTER_API_KEY", "or-x"),
    ];
    let config = load(&sources(Some(example), &keys)).unwrap();
    assert_eq!(config.providers.len(), 6);
    assert_eq!(config.models[0].channels.len(), 2);
    assert_eq!(config.models[0].aliases, ["fast"]);
    assert_eq!(config.models.len(), 6);
    assert_eq!(config.models[0].prices.cached_input, Nanos(75_000_000));
    assert_eq!(
        config.providers[3].base_url, "https://api.anthropic.com/v1",
        "a documented default"
    );
    assert_eq!(config.providers[4].kind, ProviderKind::Gemini);
    assert_eq!(
        config.models[4].channels[0].upstream_model,
        "meta-llama/Llama-3.1-8B-Instruct"
    );
}

#[test]
fn price_groups_and_the_new_prices_are_read_and_checked() {
    let key = [("OPENAI_API_KEY", "k")];
    let config = load(&sources(Some(OPENAI), &key)).unwrap();
    assert_eq!(
        config.pricing.markup_bps(None),
        0,
        "the built-in default group"
    );
    assert_eq!(config.models[0].prices.reasoning, None);
    let with = OPENAI.replace(
        "output_usd_per_mtok = 0.60",
        "output_usd_per_mtok = 0.60\nreasoning_usd_per_mtok = 2.5\nimage_usd = 0.04\nusd_per_second = 0.0001",
    ) + "\n[pricing]\ndefault_group = \"retail\"\n[[pricing.groups]]\nname = \"retail\"\nmarkup_bps = 2500\n";
    let config = load(&sources(Some(&with), &key)).unwrap();
    let prices = config.models[0].prices;
    assert_eq!(prices.reasoning, Some(Nanos(2_500_000_000)));
    assert_eq!(prices.image, Nanos(40_000_000));
    assert_eq!(prices.per_second, Nanos(100_000));
    assert_eq!(config.pricing.markup_bps(None), 2_500);
    assert_eq!(config.pricing.markup_bps(Some("default")), 0);
    let env = [key[0], ("SWITCHYARD_PRICING_DEFAULT_GROUP", "default")];
    assert_eq!(
        load(&sources(Some(&with), &env))
            .unwrap()
            .pricing
            .markup_bps(None),
        0
    );
    let unknown = format!("{OPENAI}\n[pricing]\ndefault_group = \"vip\"\n");
    let e = error(&unknown, &key);
    assert!(
        e.contains("pricing.default_group") && e.contains("`vip`"),
        "{e}"
    );
    let twice = format!(
        "{OPENAI}\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 1\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 2\n"
    );
    assert!(error(&twice, &key).contains("already declared"));
    let huge = format!("{OPENAI}\n[[pricing.groups]]\nname = \"a\"\nmarkup_bps = 2000000\n");
    assert!(error(&huge, &key).contains("basis points"));
}

#[test]
fn the_invoices_section_is_optional_and_checks_its_prefix() {
    let key = ("OPENAI_API_KEY", "sk-x");
    let config = load(&sources(Some(OPENAI), &[key])).unwrap();
    assert_eq!(config.invoices.number_prefix, "SY-");
    assert_eq!(config.invoices.seller_name, "");
    let with = format!(
        "{OPENAI}\n[invoices]\nseller_name = \"Acme AI\"\nseller_address = \"1 Main St\\nSpringfield\"\n\
         seller_vat_id = \"DE123456789\"\nnumber_prefix = \"ACME-\"\n"
    );
    let invoices = load(&sources(Some(&with), &[key])).unwrap().invoices;
    assert_eq!(invoices.seller_name, "Acme AI");
    assert_eq!(invoices.seller_address, "1 Main St\nSpringfield");
    assert_eq!(invoices.seller_vat_id, "DE123456789");
    assert_eq!(invoices.invoice_name(7), "ACME-000007");
    let env = [key, ("SWITCHYARD_INVOICES_NUMBER_PREFIX", "INV-")];
    let overridden = load(&sources(Some(OPENAI), &env)).unwrap().invoices;
    assert_eq!(overridden.number_prefix, "INV-");
    let bad = format!("{OPENAI}\n[invoices]\nnumber_prefix = \"a b\"\n");
    let e = load(&sources(Some(&bad), &[key])).unwrap_err().to_string();
    assert!(e.contains("invoices.number_prefix"), "{e}");
}

#[test]
fn the_stripe_section_is_optional_and_names_its_secrets_by_variable() {
    let env = [("OPENAI_API_KEY", "k")];
    assert!(load(&sources(Some(OPENAI), &env)).unwrap().stripe.is_none());
    let with = format!(
        "{OPENAI}\n[stripe]\nsecret_key_env = \"SK\"\nwebhook_secret_env = \"WH, WH_OLD\"\n\
         success_url = \"https://x/ok\"\ncancel_url = \"https://x/no\"\n"
    );
    let env = [
        ("OPENAI_API_KEY", "k"),
        ("SK", "sk_test_1"),
        ("WH", "whsec_new"),
        ("WH_OLD", "whsec_a,whsec_b"),
        ("SWITCHYARD_STRIPE_MAX_TOP_UP_USD", "250.50"),
    ];
    let stripe = load(&sources(Some(&with), &env)).unwrap().stripe.unwrap();
    assert_eq!(stripe.api_base, "https://api.stripe.com");
    assert_eq!(stripe.secret_key.expose(), "sk_test_1");
    let secrets: Vec<_> = stripe.webhook_secrets.iter().map(|s| s.expose()).collect();
    assert_eq!(secrets, ["whsec_new", "whsec_a", "whsec_b"]);
    assert_eq!(stripe.min_top_up, Nanos::from_usd(5));
    assert_eq!(stripe.max_top_up, Nanos(250_500_000_000));
    let e = error(&with, &env[..3]);
    assert!(e.contains("`WH_OLD` is not set"), "{e}");
    let e = error(&with.replace("https://x/ok", "x/ok"), &env);
    assert!(e.contains("stripe.success_url"), "{e}");
    let e = error(&format!("{with}min_top_up_usd = 0.001\n"), &env);
    assert!(e.contains("whole cents"), "{e}");
}

fn error(toml: &str, env: &[(&str, &str)]) -> String {
    format!("{:#}", load(&sources(Some(toml), env)).unwrap_err())
}

#[test]
fn the_cluster_grace_outlasts_a_written_hold_a_flush_and_a_refresh() {
    let demo = "[[providers]]\nname=\"d\"\nkind=\"demo\"\n";
    let config = load(&sources(Some(demo), &[])).unwrap();
    assert_eq!(config.billing.cluster_grace, Duration::from_secs(10));
    let e = error(&format!("[billing]\ncluster_grace_ms = 1000\n{demo}"), &[]);
    assert!(
        e.contains("cluster_grace_ms") && e.contains("3200 ms"),
        "{e}"
    );
    let e = error(
        &format!("[billing]\ncluster_grace_ms = 3000\nhold_write_delay_ms = 1800\n{demo}"),
        &[],
    );
    assert!(
        e.contains("hold_write_delay_ms") && e.contains("3000 ms"),
        "{e}"
    );
    let e = error(
        &format!("[billing]\nhold_write_delay_ms = 700000\ncluster_grace_ms = 900000\n{demo}"),
        &[],
    );
    assert!(
        e.contains("hold_write_delay_ms") && e.contains("hold_ttl_ms"),
        "{e}"
    );
    let quick = format!("[billing]\ncluster_grace_ms = 1500\nhold_write_delay_ms = 100\n{demo}");
    let config = load(&sources(Some(&quick), &[])).unwrap();
    assert_eq!(config.billing.hold_write_delay, Duration::from_millis(100));
}

#[test]
fn promotions_are_off_by_default_and_read_exactly() {
    let env = [("OPENAI_API_KEY", "sk-x")];
    let config = load(&sources(Some(OPENAI), &env)).unwrap();
    assert_eq!(config.promotions.new_user_credit, Nanos::ZERO);
    assert_eq!(config.promotions.referral_percent, 0);
    let with = format!("{OPENAI}[promotions]\nnew_user_credit_usd = \"2.5\"\n");
    let env = [
        ("OPENAI_API_KEY", "sk-x"),
        ("SWITCHYARD_PROMOTIONS_REFERRAL_PERCENT", "10"),
    ];
    let config = load(&sources(Some(&with), &env)).unwrap();
    assert_eq!(
        config.promotions.new_user_credit,
        Nanos::from_usd_str("2.5").unwrap()
    );
    assert_eq!(config.promotions.referral_percent, 10);
    let too_much = [
        ("OPENAI_API_KEY", "sk-x"),
        ("SWITCHYARD_PROMOTIONS_REFERRAL_PERCENT", "101"),
    ];
    let error = load(&sources(Some(OPENAI), &too_much)).unwrap_err();
    assert!(error.to_string().contains("promotions.referral_percent"));
}

#[test]
fn errors_name_the_key_and_the_problem() {
    assert!(error(OPENAI, &[]).contains("OPENAI_API_KEY` is not set"));
    let e = error(
        &OPENAI.replace("kind = \"openai\"", "kind = \"bogus\""),
        &[("OPENAI_API_KEY", "k")],
    );
    assert!(
        e.contains("providers[0].kind") && e.contains("bogus"),
        "{e}"
    );
    let e = error(
        &OPENAI.replace("provider = \"openai\"", "provider = \"nope\""),
        &[("OPENAI_API_KEY", "k")],
    );
    assert!(e.contains("no provider named `nope`"), "{e}");
    let e = error(
        &OPENAI.replace("input_usd_per_mtok = 0.15", "input_usd_per_mtok = \"abc\""),
        &[("OPENAI_API_KEY", "k")],
    );
    assert!(e.contains("models[0].input_usd_per_mtok"), "{e}");
    let e = error(
        &format!("typo_key = 1\n{OPENAI}"),
        &[("OPENAI_API_KEY", "k")],
    );
    assert!(e.contains("typo_key"), "{e}");
    let e = error(
        OPENAI,
        &[
            ("OPENAI_API_KEY", "k"),
            ("SWITCHYARD_SERVER_MAX_BODY_BYTES", "lots"),
        ],
    );
    assert!(
        e.contains("server.max_body_bytes") && e.contains("SWITCHYARD_SERVER_MAX_BODY_BYTES"),
        "{e}"
    );
    let e = error(
        OPENAI,
        &[
            ("OPENAI_API_KEY", "k"),
            ("SWITCHYARD_SERVER_MAX_BODDY_BYTES", "1"),
        ],
    );
    assert!(
        e.contains("max_boddy_bytes") && e.contains("SWITCHYARD_SERVER_MAX_BODDY_BYTES"),
        "a misspelt key in a known section is an error: {e}"
    );
    let e = error(
        "listen = \"nope\"\n[[providers]]\nname=\"d\"\nkind=\"demo\"",
        &[],
    );
    assert!(e.contains("`listen`"), "{e}");
    let e = error("[[providers]]\nname=\"d\"\nkind=\"openai\"", &[]);
    assert!(e.contains("base_url is required"), "{e}");
    let e = error("listen = ", &[]);
    assert!(e.contains("test.toml"), "{e}");
}

const CHANNELS: &str = r#"
[routing]
max_attempts = 4
eject_ms = 2000

[[providers]]
name = "a"
kind = "demo"
jurisdiction = "us"
trains_on_prompts = false

[[providers]]
name = "b"
kind = "demo"
jurisdiction = "DE"
zdr = true

[[models]]
name = "m"
aliases = ["fast"]
upstream_model = "m-up"
input_usd_per_mtok = 1
output_usd_per_mtok = 2
[[models.channels]]
provider = "a"
weight = 3
[[models.channels]]
provider = "a"
upstream_model = "m-other"
priority = -1
input_usd_per_mtok = 0.5
[[models.channels]]
name = "eu"
provider = "b"
"#;

#[test]
fn channels_aliases_and_routing_settings() {
    let config = load(&sources(Some(CHANNELS), &[])).unwrap();
    assert_eq!(config.routing.max_attempts, 4);
    assert_eq!(config.routing.eject_base, Duration::from_secs(2));
    assert_eq!(config.routing.failure_threshold, 5, "the default");
    let a = &config.providers[0];
    assert_eq!(a.jurisdiction, "US");
    assert_eq!(a.data.trains_on_prompts, Some(false));
    assert_eq!(a.data.retains_prompts, None, "undeclared");
    let b = &config.providers[1];
    assert!(b.data.zdr);
    assert_eq!(b.data.retains_prompts, Some(false), "zdr retains nothing");
    let m = &config.models[0];
    assert_eq!(m.aliases, ["fast"]);
    let names: Vec<&str> = m.channels.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "a-2", "eu"]);
    assert_eq!(m.channels[0].upstream_model, "m-up");
    assert_eq!(m.channels[0].weight, 3);
    assert_eq!(m.channels[0].prices, None);
    let cheaper = m.channels[1].prices.unwrap();
    assert_eq!(cheaper.input, Nanos(500_000_000));
    assert_eq!(cheaper.cached_input, Nanos(500_000_000));
    assert_eq!(
        cheaper.output,
        Nanos(2_000_000_000),
        "the model's output price"
    );
    assert_eq!(m.channels[1].priority, -1);
}

#[test]
fn channel_and_routing_errors_name_the_key() {
    let bad = |from: &str, to: &str| error(&CHANNELS.replace(from, to), &[]);
    let e = bad("jurisdiction = \"DE\"", "jurisdiction = \"Germany\"");
    assert!(
        e.contains("providers[1] (`b`).jurisdiction") && e.contains("Germany"),
        "{e}"
    );
    let e = bad("zdr = true", "zdr = true\nretains_prompts = true");
    assert!(e.contains("contradicts"), "{e}");
    let e = bad("weight = 3", "weight = 0");
    assert!(e.contains("models[0] (`m`).channels[0].weight"), "{e}");
    let e = bad("name = \"eu\"", "name = \"a\"");
    assert!(e.contains("already has a channel named `a`"), "{e}");
    let e = bad("provider = \"b\"", "provider = \"zz\"");
    assert!(
        e.contains("channels[2].provider") && e.contains("zz"),
        "{e}"
    );
    let e = bad("aliases = [\"fast\"]", "aliases = [\"m\"]");
    assert!(e.contains("already used"), "{e}");
    let e = bad("aliases = [\"fast\"]", "provider = \"a\"");
    assert!(e.contains("not both"), "{e}");
    let e = bad("max_attempts = 4", "max_attempts = 0");
    assert!(e.contains("routing.max_attempts"), "{e}");
    let e = bad(
        "eject_ms = 2000",
        "eject_ms = 2000\nretry_budget_percent = 150",
    );
    assert!(e.contains("retry_budget_percent"), "{e}");
    let e = bad("weight = 3", "weight = 3\nbogus = 1");
    assert!(e.contains("bogus"), "{e}");
    let e = error(
        "[[providers]]\nname=\"d\"\nkind=\"demo\"\n[[models]]\nname=\"x\"\ninput_usd_per_mtok=1\noutput_usd_per_mtok=1\n",
        &[],
    );
    assert!(e.contains("no provider"), "{e}");
}

#[test]
fn the_master_key_file_defaults_to_the_data_dir_and_can_be_moved() {
    let config = load(&sources(None, &[("SWITCHYARD_DATA_DIR", "/srv/sy")])).unwrap();
    assert_eq!(
        config.master_keys_file,
        PathBuf::from("/srv/sy/master.keys")
    );
    // The keys themselves are not a configuration key (the binary reads them), so setting
    // them is no error; the file's place is one.
    let env = [
        ("SWITCHYARD_MASTER_KEYS", "k1:00"),
        ("SWITCHYARD_MASTER_KEYS_FILE", "/run/secrets/master.keys"),
    ];
    let config = load(&sources(None, &env)).unwrap();
    assert_eq!(
        config.master_keys_file,
        PathBuf::from("/run/secrets/master.keys")
    );
}
