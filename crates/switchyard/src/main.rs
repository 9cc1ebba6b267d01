//! `switchyard`: the command line. Verbs print machine-readable results (a key, an id) on
//! stdout and diagnostics on stderr, so operators can script them.

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use switchyard::app;
use switchyard::config::{self, Config, Sources};
use switchyard_core::catalog::Role;
use switchyard_core::ledger::AccountId;
use switchyard_core::routing::DataPolicy;
use switchyard_core::{KeyId, Nanos};
use switchyard_gateway::pipeline_now_millis;
use switchyard_server::accounts::{self, NewKey};
use switchyard_store::Store;

/// glibc's malloc took about an eighth of the gateway's CPU per proxied request (perf, see
/// `bench/README.md`); mimalloc's thread-local free lists make those small short-lived
/// allocations cheap.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "A self-hosted unified AI API platform"
)]
struct Cli {
    /// The configuration file. Without one, the embedded default runs (SQLite + the demo provider).
    #[arg(long, global = true, env = "SWITCHYARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Credit (or, with a negative amount, debit) a user's balance; prints the transfer id.
    Credit {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// USD, exact decimal; negative to debit.
        #[arg(long, allow_hyphen_values = true)]
        usd: String,
        /// Why, kept in the ledger.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print a user's balance in USD.
    Balance {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
    /// Manage redemption codes.
    #[command(subcommand)]
    Codes(CodesCommand),
    /// Run the retention purge once, now (the server also runs it every
    /// `retention.interval_s`); prints what each data class lost.
    Purge,
    /// Write everything kept about a user into a ZIP archive (the same archive as
    /// `GET /api/me/export`); prints the file's path.
    Export {
        /// The user's email.
        #[arg(long)]
        user: String,
        /// The archive to write (replaced if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Inspect and rotate the master keys that seal provider credentials.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Print, tab-separated, each key id that seals stored credentials, its row count and
    /// whether the keyring holds it (`current`, `old`, `missing`); fails if a credential
    /// cannot be opened.
    Status,
    /// Re-seal every stored credential under the current (first) master key, in one
    /// transaction; prints, tab-separated, each old key id and how many rows it sealed.
    Rotate,
    /// Print a new keyring entry `ID:<64 hex digits>` with a random key.
    Generate {
        /// The new key's id (letters, digits, `.`, `_`, `-`; e.g. `k2` or a date).
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum CodesCommand {
    /// Create a batch of codes; prints each code once, one per line.
    Create {
        #[arg(long)]
        count: u32,
        /// The value of each code in USD.
        #[arg(long)]
        usd: String,
        /// Days until the codes expire (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints its id.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        admin: bool,
        /// Another user's referral code.
        #[arg(long)]
        referral: Option<String>,
    },
    /// List users as tab-separated id, email, role.
    List,
    /// Replace an account's data policy with the one the flags describe (none: the open
    /// policy); prints the stored policy as JSON. Its keys' policies still narrow it.
    Policy {
        /// The user's email.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

/// A data policy on the command line: where prompts may be processed and by whom.
#[derive(Args)]
struct PolicyArgs {
    /// Comma-separated jurisdictions prompts may be processed in: ISO 3166 country codes, or
    /// EU for its member states (default: any).
    #[arg(long, value_delimiter = ',')]
    jurisdictions: Option<Vec<String>>,
    /// Only providers that declare they do not train on prompts.
    #[arg(long)]
    no_training: bool,
    /// Only providers that declare they do not retain prompts.
    #[arg(long)]
    no_retention: bool,
    /// Only providers under a zero-data-retention agreement.
    #[arg(long)]
    zdr: bool,
}

impl From<PolicyArgs> for DataPolicy {
    fn from(args: PolicyArgs) -> DataPolicy {
        DataPolicy {
            jurisdictions: args.jurisdictions,
            no_training: args.no_training,
            no_retention: args.no_retention,
            zdr: args.zdr,
        }
    }
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a key for a user; prints the secret once.
    Create {
        /// The owner's email.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Days until the key expires.
        #[arg(long)]
        expires_days: Option<u32>,
        /// Comma-separated model names the key may use (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// The key's data policy, which narrows its account's.
        #[command(flatten)]
        policy: PolicyArgs,
        /// Store this key's prompts and completions (off by default; refused when the
        /// configuration says `privacy.content_logging = "never"`).
        #[arg(long)]
        log_content: bool,
    },
    /// Revoke a key by id; effective on running servers within their refresh interval.
    Revoke { id: String },
    /// List keys as tab-separated id, prefix, name, owner, state.
    List {
        /// Only this user's keys.
        #[arg(long)]
        user: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SWITCHYARD_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if std::env::var("SWITCHYARD_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config::load(&Sources::from_process(cli.config.clone())?)?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            app::open_store(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::User(command) => user(command, &config).await,
        Command::Key(command) => key(command, &config).await,
        Command::Credit { user, usd, reason } => credit(&user, &usd, reason, &config).await,
        Command::Balance { user } => balance(&user, &config).await,
        Command::Codes(command) => codes(command, &config).await,
        Command::Purge => {
            let store = app::open_store(&config).await?;
            let report = store
                .purge_expired(pipeline_now_millis(), &config.retention.windows)
                .await?;
            println!("{report:#?}");
            Ok(())
        }
        Command::Secrets(command) => secrets(command, &config).await,
        Command::Export { user, out } => export(&user, &out, &config).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let running = app::start(config, listener).await?;
    let base = format!("http://{}", running.addr);
    if let Some(first) = &running.bootstrap {
        println!(
            "Switchyard created the first admin account ({}) and its API key.",
            first.email
        );
        println!(
            "This is the only time the key is shown; keep it:\n\n    {}\n",
            first.key.expose()
        );
        println!(
            "Set the admin's dashboard password (the link works once, for 24 hours):\n\n    {}\n",
            first.password_link
        );
        println!("Try it:\n");
        println!(
            "    curl {base}/v1/chat/completions -H \"Authorization: Bearer {}\" -H \"Content-Type: application/json\" -d '{{\"model\":\"demo-chat\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello!\"}}]}}'\n",
            first.key.expose()
        );
    }
    // Install the handlers before saying we listen: a SIGTERM sent the moment the line appears
    // must drain, not kill (the default action while no handler is installed).
    let signalled = shutdown_signal();
    tracing::info!(%base, "switchyard is listening");
    let token = running.shutdown_token();
    tokio::spawn(async move {
        signalled.await;
        tracing::info!(
            "shutting down: no new connections, draining in-flight requests and the log"
        );
        token.cancel();
    });
    running.wait().await
}

/// Installs the SIGTERM and SIGINT handlers now; the returned future resolves at the first of
/// them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut one), Err(_)) | (Err(_), Ok(mut one)) => {
                    one.recv().await;
                }
                (Err(_), Err(_)) => std::future::pending::<()>().await,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn user(command: UserCommand, config: &Config) -> anyhow::Result<()> {
    let store = app::open_store(config).await?;
    match command {
        UserCommand::Create {
            email,
            admin,
            referral,
        } => {
            let role = if admin { Role::Admin } else { Role::User };
            let secret = server_secret(config)?;
            let signup = accounts::Signup {
                key_secret: &secret,
                new_user_credit: config.promotions.new_user_credit,
                referral_code: referral.as_deref(),
            };
            let user = accounts::create_user(&store, &email, role, signup).await?;
            audit(
                &store,
                "create",
                "user",
                Some(user.id.to_string()),
                Some(user.id),
                json!({"role": role.as_str()}),
            )
            .await;
            println!("{}", user.id);
            eprintln!("created {} user {}", role.as_str(), user.email);
        }
        UserCommand::List => {
            for user in store.list_users().await? {
                println!("{}\t{}\t{}", user.id, user.email, user.role.as_str());
            }
        }
        UserCommand::Policy { user, policy } => {
            let owner = user_by_email(&store, &user).await?;
            let Some(stored) =
                accounts::set_user_data_policy(&store, owner.id, policy.into()).await?
            else {
                bail!("there is no user with email `{user}`");
            };
            audit(
                &store,
                "replace",
                "user",
                Some(owner.id.to_string()),
                Some(owner.id),
                json!({"data_policy": stored}),
            )
            .await;
            println!("{}", serde_json::to_string(&stored)?);
            eprintln!(
                "set the data policy of {} (running servers pick it up within their refresh interval)",
                owner.email
            );
        }
    }
    Ok(())
}

fn server_secret(config: &Config) -> anyhow::Result<switchyard_core::Secret> {
    switchyard::secret::load_or_create(
        std::env::var(switchyard::secret::ENV).ok(),
        &config.data_dir,
    )
}

async fn credit(
    email: &str,
    usd: &str,
    reason: Option<String>,
    config: &Config,
) -> anyhow::Result<()> {
    let amount = Nanos::from_usd_str(usd).with_context(|| format!("--usd `{usd}`"))?;
    let store = app::open_store(config).await?;
    let user = user_by_email(&store, email).await?;
    let id = format!("adjust:{}", switchyard_core::RequestId::new());
    let reason = reason.unwrap_or_else(|| "operator adjustment (CLI)".to_owned());
    store
        .adjust_balance(&id, user.id, amount, Some(&reason), pipeline_now_millis())
        .await?;
    audit(
        &store,
        "create",
        "balance",
        Some(user.id.to_string()),
        Some(user.id),
        json!({"usd": amount.to_string(), "transfer": id}),
    )
    .await;
    let balance = store
        .account(&AccountId::user(user.id))
        .await?
        .totals
        .balance();
    println!("{id}");
    eprintln!(
        "moved {amount} USD for {}; balance now {balance} USD (running servers pick it up within their refresh interval)",
        user.email
    );
    Ok(())
}

async fn balance(email: &str, config: &Config) -> anyhow::Result<()> {
    let store = app::open_store(config).await?;
    let user = user_by_email(&store, email).await?;
    let state = store.account(&AccountId::user(user.id)).await?;
    println!("{}", state.totals.balance());
    eprintln!(
        "{}: available {} USD, held {} USD, overdraft {} USD",
        user.email,
        state.totals.available(),
        state.totals.debits_pending,
        state.overdraft
    );
    Ok(())
}

async fn codes(command: CodesCommand, config: &Config) -> anyhow::Result<()> {
    let CodesCommand::Create {
        count,
        usd,
        expires_days,
    } = command;
    let value = Nanos::from_usd_str(&usd).with_context(|| format!("--usd `{usd}`"))?;
    let store = app::open_store(config).await?;
    let secret = server_secret(config)?;
    let now = pipeline_now_millis();
    let created = store
        .create_codes(
            secret.expose().as_bytes(),
            count,
            value,
            expires_days.map(|d| now + i64::from(d) * 86_400_000),
            None,
            now,
        )
        .await?;
    audit(
        &store,
        "create",
        "code",
        Some(created.batch_id.to_string()),
        None,
        json!({"count": created.codes.len(), "usd": created.value.to_string()}),
    )
    .await;
    for code in &created.codes {
        println!("{code}");
    }
    eprintln!(
        "created {} code(s) of {} USD in batch {}; they are shown only once",
        created.codes.len(),
        created.value,
        created.batch_id
    );
    Ok(())
}

async fn secrets(command: SecretsCommand, config: &Config) -> anyhow::Result<()> {
    use switchyard::secrets;
    if let SecretsCommand::Generate { id } = &command {
        println!(
            "{}",
            switchyard_core::credential::generate_entry(id)?.expose()
        );
        eprintln!(
            "add it first in SWITCHYARD_MASTER_KEYS or {} to make it current",
            config.master_keys_file.display()
        );
        return Ok(());
    }
    let store = app::open_store(config).await?;
    let keys = secrets::load_or_create(
        std::env::var(secrets::ENV).ok(),
        &config.master_keys_file,
        &server_secret(config)?,
    )?;
    match command {
        SecretsCommand::Status => {
            let status = secrets::status(&store, &keys).await?;
            for (id, rows) in &status.rows {
                let state = if id == keys.current_id() {
                    "current"
                } else if keys.ids().any(|k| k == id) {
                    "old"
                } else {
                    "missing"
                };
                println!("{id}\t{rows}\t{state}");
            }
            let unused: Vec<&str> = keys
                .ids()
                .filter(|id| {
                    *id != keys.current_id()
                        && *id != switchyard_core::credential::LEGACY_KEY_ID
                        && !status.rows.contains_key(*id)
                })
                .collect();
            if !unused.is_empty() {
                eprintln!(
                    "no stored credential uses {}; it can leave the keyring",
                    unused.join(", ")
                );
            }
            for (provider, why) in &status.unreadable {
                eprintln!("provider `{provider}`: {why}");
            }
            if !status.unreadable.is_empty() {
                bail!(
                    "{} stored credential(s) cannot be opened",
                    status.unreadable.len()
                );
            }
        }
        SecretsCommand::Rotate => {
            let rotation = secrets::rotate(&store, &keys).await?;
            for (id, rows) in &rotation.resealed {
                println!("{id}\t{rows}");
            }
            let resealed: usize = rotation.resealed.values().sum();
            if resealed > 0 {
                audit(&store, "update", "provider", None, None, json!({"action": "secrets rotate", "resealed": resealed, "current": rotation.current})).await;
            }
            eprintln!(
                "re-sealed {resealed} credential(s) under `{}` ({} already were); running servers \
                 reload within their refresh interval, after which only `{}` is needed",
                rotation.current, rotation.unchanged, rotation.current
            );
        }
        SecretsCommand::Generate { .. } => {}
    }
    Ok(())
}

async fn export(email: &str, path: &std::path::Path, config: &Config) -> anyhow::Result<()> {
    use std::io::Write;
    let store = app::open_store(config).await?;
    let user = user_by_email(&store, email).await?;
    // Written next to the target and renamed at the end, so a failed export never leaves a
    // file that looks like a whole archive.
    let partial = path.with_extension("zip.partial");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?,
    );
    let (mut chunks, task) =
        switchyard_server::export::spawn(store, user.id, pipeline_now_millis(), ());
    let mut written: anyhow::Result<()> = Ok(());
    while let Some(chunk) = chunks.recv().await {
        // Plain blocking writes: this is the CLI's only work, and the chunks are small.
        match chunk {
            Ok(bytes) => {
                if let Err(e) = file.write_all(&bytes) {
                    written = Err(e).with_context(|| format!("cannot write {}", partial.display()));
                    break;
                }
            }
            Err(_) => break,
        }
    }
    drop(chunks);
    let exported = task.await.context("the export task failed");
    let finished = written.and_then(|()| Ok(exported??)).and_then(|summary| {
        file.flush()
            .and_then(|()| file.get_ref().sync_all())
            .with_context(|| format!("cannot write {}", partial.display()))?;
        Ok(summary)
    });
    let summary = match finished {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    std::fs::rename(&partial, path)
        .with_context(|| format!("cannot move the archive to {}", path.display()))?;
    println!("{}", path.display());
    let rows: Vec<String> = summary
        .rows
        .iter()
        .map(|(file, rows)| format!("{file} {rows}"))
        .collect();
    eprintln!(
        "exported {} ({}) in {} bytes: {}",
        user.email,
        user.id,
        summary.bytes,
        rows.join(", ")
    );
    Ok(())
}

async fn user_by_email(
    store: &Store,
    email: &str,
) -> anyhow::Result<switchyard_core::catalog::User> {
    match store.user_by_email(email).await? {
        Some(user) => Ok(user),
        None => bail!(
            "there is no user with email `{email}` (create one with `switchyard user create --email {email}`)"
        ),
    }
}

async fn key(command: KeyCommand, config: &Config) -> anyhow::Result<()> {
    let store = app::open_store(config).await?;
    match command {
        KeyCommand::Create {
            user,
            name,
            expires_days,
            models,
            policy,
            log_content,
        } => {
            accounts::content_logging_allowed(config.content_logging, log_content)?;
            let owner = user_by_email(&store, &user).await?;
            let secret = switchyard::secret::load_or_create(
                std::env::var(switchyard::secret::ENV).ok(),
                &config.data_dir,
            )?;
            let now = pipeline_now_millis();
            let new = NewKey {
                user_id: owner.id,
                name,
                expires_at: expires_days.map(|d| now + i64::from(d) * 86_400_000),
                allowed_models: models,
                data_policy: policy.into(),
                log_content,
            };
            let created = accounts::create_key(&store, &secret, new, now).await?;
            audit(
                &store,
                "create",
                "key",
                Some(created.record.id.to_string()),
                Some(owner.id),
                json!({"log_content": log_content}),
            )
            .await;
            println!("{}", created.secret.expose());
            eprintln!(
                "created key {} ({}) for {}; the secret above is shown only once",
                created.record.id, created.record.visible_prefix, owner.email
            );
        }
        KeyCommand::Revoke { id } => {
            let id: KeyId = id.parse().map_err(|_| {
                anyhow::anyhow!("`{id}` is not a key id (see `switchyard key list`)")
            })?;
            if !store.revoke_key(id, pipeline_now_millis()).await? {
                bail!("there is no key with id {id}");
            }
            audit(
                &store,
                "delete",
                "key",
                Some(id.to_string()),
                None,
                json!({}),
            )
            .await;
            println!("{id}");
            eprintln!("revoked key {id}");
        }
        KeyCommand::List { user } => {
            let owner = match user {
                Some(email) => Some(user_by_email(&store, &email).await?.id),
                None => None,
            };
            let now = pipeline_now_millis();
            for key in store.list_keys(owner).await? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else if key.expires_at.is_some_and(|t| t <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    key.id, key.visible_prefix, key.name, key.user_id, state
                );
            }
        }
    }
    Ok(())
}

/// Records an operator's change made at the command line in the audit log: the actor is the
/// system (the CLI has no account), `detail.via` says where it came from.
async fn audit(
    store: &Store,
    action: &'static str,
    target: &'static str,
    target_id: Option<String>,
    subject: Option<switchyard_core::UserId>,
    mut detail: serde_json::Value,
) {
    detail["via"] = json!("cli");
    switchyard_server::audit::record(
        store,
        None,
        switchyard_server::audit::Change {
            action,
            target,
            target_id,
            subject,
            detail,
        },
    )
    .await;
}
