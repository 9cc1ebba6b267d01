//! Users and keys as operations: what the CLI verbs and the management API both call, so the
//! two can never disagree on validation or on how a key is made.

use switchyard_core::catalog::{KeyRecord, Role, UnixMillis, User};
use switchyard_core::{KeyId, Secret, UserId, key};
use switchyard_store::{Store, StoreError};

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

pub async fn create_user(store: &Store, email: &str, role: Role) -> Result<User, AccountsError> {
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
    Ok(store.create_user(email, role).await?)
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
        allowed_models: new.allowed_models,
    };
    store.insert_key(&record).await?;
    Ok(CreatedKey {
        record,
        secret: generated.secret,
    })
}
