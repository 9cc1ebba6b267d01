//! Users and keys as operations: what the CLI verbs and the management API both call, so the
//! two can never disagree on validation or on how a key is made.

use switchyard_core::catalog::{KeyRecord, Role, UnixMillis, User};
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
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(char::is_whitespace);
    if !valid {
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
        data_policy: Default::default(),
        allowed_models: new.allowed_models,
    };
    store.insert_key(&record).await?;
    Ok(CreatedKey {
        record,
        secret: generated.secret,
    })
}
