//! Users and keys as operations: what the CLI verbs and the management API both call, so the
//! two can never disagree on validation or on how a key is made.

use switchyard_core::catalog::{KeyRecord, Role, UnixMillis, User};
use switchyard_core::content::ContentLogging;
use switchyard_core::routing::DataPolicy;
use switchyard_core::{KeyId, Nanos, Secret, UserId, key};
use switchyard_store::{Store, StoreError};

/// Free credit the operator offers (`[promotions]` in the configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Promotions {
    /// Granted once per canonical email when an account is created.
    pub new_user_credit: Nanos,
    /// What a referrer earns, in percent of their referee's first paid top-up.
    pub referral_percent: u32,
}

/// What comes with a new account besides its email and role.
#[derive(Debug, Clone, Copy)]
pub struct Signup<'a> {
    /// The server secret, under which the email's claim on new-user credit is hashed.
    pub key_secret: &'a Secret,
    /// Zero for none (the bootstrap admin, or no promotion configured).
    pub new_user_credit: Nanos,
    /// Another user's referral code: links the new user to them.
    pub referral_code: Option<&'a str>,
}

/// A request to create a key.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub user_id: UserId,
    pub name: String,
    pub expires_at: Option<UnixMillis>,
    pub allowed_models: Option<Vec<String>>,
    /// Where the key's prompts may be processed, on top of its account's policy.
    pub data_policy: DataPolicy,
    /// Capture the key's prompts and answers. Only an operator may ask for it, and the caller
    /// checks the deployment allows it first ([`content_logging_allowed`]).
    pub log_content: bool,
}

/// A created key: its record and the secret, which exists only here and is shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub record: KeyRecord,
    pub secret: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("{0}")]
    Invalid(String),
    /// Like `Invalid`, about one field of the input, which `param` names (`data_policy.zdr`).
    #[error("{message}")]
    InvalidParam { param: String, message: String },
    /// Content logging was asked for where `privacy.content_logging = "never"`.
    #[error(
        "content logging is locked off on this deployment (`privacy.content_logging = \"never\"`); no key can turn it on"
    )]
    ContentLoggingLocked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses to turn content logging on where the deployment's mode forbids it. Turning it off
/// is always allowed.
pub fn content_logging_allowed(mode: ContentLogging, on: bool) -> Result<(), AccountsError> {
    if on && !mode.captures(true) {
        return Err(AccountsError::ContentLoggingLocked);
    }
    Ok(())
}

/// Turns content logging of a key on or off; `false` if there is no such key. The caller has
/// checked that it acts for an operator.
pub async fn set_key_log_content(
    store: &Store,
    mode: ContentLogging,
    key: KeyId,
    on: bool,
) -> Result<bool, AccountsError> {
    content_logging_allowed(mode, on)?;
    Ok(store.set_key_log_content(key, on).await?)
}

/// Whether `email` (trimmed) looks like an address: one `@` between a local part and a
/// domain, no whitespace, at most 254 characters. Delivery proves the rest.
pub fn email_is_valid(email: &str) -> bool {
    email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace)
}

/// Creates a user, grants the new-user credit (once per canonical email, ever) and links the
/// referrer. An unknown referral code fails before anything is created.
pub async fn create_user(
    store: &Store,
    email: &str,
    role: Role,
    signup: Signup<'_>,
) -> Result<User, AccountsError> {
    let email = email.trim();
    if !email_is_valid(email) {
        return Err(AccountsError::Invalid(format!(
            "`{email}` is not an email address"
        )));
    }
    if let Some(code) = signup.referral_code
        && store.referrer_of(code).await?.is_none()
    {
        return Err(AccountsError::Invalid(format!(
            "`{code}` is not a referral code"
        )));
    }
    let user = store.create_user(email, role).await?;
    let now = user.created_at;
    store
        .grant_new_user_credit(
            signup.key_secret.expose().as_bytes(),
            email,
            user.id,
            signup.new_user_credit,
            now,
        )
        .await?;
    if let Some(code) = signup.referral_code {
        store.link_referral(user.id, code, now).await?;
    }
    Ok(user)
}

/// Creates a key for `new.user_id`, storing only its keyed hash.
pub async fn create_key(
    store: &Store,
    key_secret: &Secret,
    new: NewKey,
    now: UnixMillis,
) -> Result<CreatedKey, AccountsError> {
    let name = new.name.trim();
    if name.chars().count() > 100 {
        return Err(AccountsError::Invalid(
            "a key name has at most 100 characters".into(),
        ));
    }
    if let Some(at) = new.expires_at
        && at <= now
    {
        return Err(AccountsError::Invalid(
            "`expires_at` must be in the future".into(),
        ));
    }
    if let Some(models) = &new.allowed_models
        && models.iter().any(|m| m.trim().is_empty())
    {
        return Err(AccountsError::Invalid(
            "`allowed_models` must not contain empty names".into(),
        ));
    }
    let data_policy = checked_policy(new.data_policy, "data_policy.")?;
    let generated = key::generate();
    let record = KeyRecord {
        id: KeyId::new(),
        user_id: new.user_id,
        name: if name.is_empty() {
            "default".to_owned()
        } else {
            name.to_owned()
        },
        visible_prefix: generated.visible_prefix,
        hash: key::hash(key_secret.expose().as_bytes(), generated.secret.expose()),
        created_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
        allowed_models: new.allowed_models,
        data_policy,
        log_content: new.log_content,
    };
    store.insert_key(&record).await?;
    Ok(CreatedKey {
        record,
        secret: generated.secret,
    })
}

/// How long a playground key works: a working day of experiments, and short enough that one
/// left in a browser's memory soon stops mattering.
pub const PLAYGROUND_KEY_LIFETIME_MS: UnixMillis = 12 * 3_600_000;

/// Creates the user's playground key (named "Playground", expiring after
/// [`PLAYGROUND_KEY_LIFETIME_MS`], no restrictions beyond the account's) and revokes their
/// previous ones in the same transaction. Returns the key and how many were revoked.
pub async fn create_playground_key(
    store: &Store,
    key_secret: &Secret,
    user: UserId,
    now: UnixMillis,
) -> Result<(CreatedKey, u64), AccountsError> {
    let generated = key::generate();
    let record = KeyRecord {
        id: KeyId::new(),
        user_id: user,
        name: "Playground".to_owned(),
        visible_prefix: generated.visible_prefix,
        hash: key::hash(key_secret.expose().as_bytes(), generated.secret.expose()),
        created_at: now,
        expires_at: Some(now + PLAYGROUND_KEY_LIFETIME_MS),
        revoked_at: None,
        allowed_models: None,
        data_policy: DataPolicy::default(),
        // A playground key is the dashboard's own; its content is never captured.
        log_content: false,
    };
    let revoked = store.replace_playground_key(&record).await?;
    Ok((
        CreatedKey {
            record,
            secret: generated.secret,
        },
        revoked,
    ))
}

/// Replaces an account's data policy; returns the policy as stored, or `None` if there is no
/// such user. Keys of the account keep their own policies, which narrow this one.
pub async fn set_user_data_policy(
    store: &Store,
    user: UserId,
    policy: DataPolicy,
) -> Result<Option<DataPolicy>, AccountsError> {
    let policy = checked_policy(policy, "")?;
    let found = store.set_user_data_policy(user, &policy).await?;
    Ok(found.then_some(policy))
}

/// Replaces a key's data policy; returns the policy as stored, or `None` if there is no such
/// key.
pub async fn set_key_data_policy(
    store: &Store,
    key: KeyId,
    policy: DataPolicy,
) -> Result<Option<DataPolicy>, AccountsError> {
    let policy = checked_policy(policy, "")?;
    let found = store.set_key_data_policy(key, &policy).await?;
    Ok(found.then_some(policy))
}

/// Normalises a policy given as input; `prefix` is where it sits in the input (`data_policy.`
/// inside a new key, empty when it is the whole input), so errors name the field as the caller
/// wrote it.
fn checked_policy(policy: DataPolicy, prefix: &str) -> Result<DataPolicy, AccountsError> {
    let param = format!("{prefix}jurisdictions");
    // An empty list admits no provider at all, so every request would fail: surely a mistake.
    if policy.jurisdictions.as_ref().is_some_and(Vec::is_empty) {
        return Err(AccountsError::InvalidParam {
            message: format!(
                "`{param}` must name at least one jurisdiction; leave it out to allow any"
            ),
            param,
        });
    }
    policy
        .normalized()
        .map_err(|e| AccountsError::InvalidParam {
            message: format!("`{param}`: {e}"),
            param,
        })
}
