//! Who may do what: the checks between a valid key and a dispatched request.

use crate::catalog::{KeyRecord, Model, UnixMillis, User};

/// Why a key may not make a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this API key was revoked")]
    Revoked,
    #[error("this API key expired")]
    Expired,
    #[error("the account of this API key is disabled")]
    UserDisabled,
    #[error("this API key may not use the model `{0}`")]
    ModelNotAllowed(String),
}

/// Whether the key itself is usable at `now` (not revoked, not expired, owner enabled).
pub fn key_usable(key: &KeyRecord, owner: &User, now: UnixMillis) -> Result<(), Denied> {
    if key.revoked_at.is_some() {
        return Err(Denied::Revoked);
    }
    if key.expires_at.is_some_and(|at| at <= now) {
        return Err(Denied::Expired);
    }
    if owner.disabled {
        return Err(Denied::UserDisabled);
    }
    Ok(())
}

/// Whether the key may call `model`.
pub fn model_allowed(key: &KeyRecord, model: &Model) -> Result<(), Denied> {
    match &key.allowed_models {
        Some(list) if !list.iter().any(|m| m == &model.name) => {
            Err(Denied::ModelNotAllowed(model.name.clone()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{ModelKind, Role};
    use crate::money::Prices;
    use crate::{KeyId, UserId};

    fn key() -> KeyRecord {
        KeyRecord {
            id: KeyId::new(),
            user_id: UserId::new(),
            name: "k".into(),
            visible_prefix: "sk-sy-abcdef".into(),
            hash: [0; 32],
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            allowed_models: None,
            data_policy: Default::default(),
            log_content: false,
        }
    }

    fn user() -> User {
        User {
            id: UserId::new(),
            email: "a@b.c".into(),
            role: Role::User,
            disabled: false,
            created_at: 0,
            price_group: None,
            data_policy: Default::default(),
        }
    }

    fn model(name: &str) -> Model {
        Model {
            name: name.into(),
            aliases: vec![],
            channels: vec![],
            kind: ModelKind::Chat,
            prices: Prices::default(),
            created: 0,
        }
    }

    #[test]
    fn usable_key() {
        assert_eq!(key_usable(&key(), &user(), 10), Ok(()));
    }

    #[test]
    fn revoked_expired_disabled() {
        let revoked = KeyRecord {
            revoked_at: Some(5),
            ..key()
        };
        assert_eq!(key_usable(&revoked, &user(), 10), Err(Denied::Revoked));
        let expired = KeyRecord {
            expires_at: Some(10),
            ..key()
        };
        assert_eq!(key_usable(&expired, &user(), 10), Err(Denied::Expired));
        assert_eq!(key_usable(&expired, &user(), 9), Ok(()));
        let disabled = User {
            disabled: true,
            ..user()
        };
        assert_eq!(key_usable(&key(), &disabled, 10), Err(Denied::UserDisabled));
    }

    #[test]
    fn allowlist() {
        let limited = KeyRecord {
            allowed_models: Some(vec!["a".into()]),
            ..key()
        };
        assert_eq!(model_allowed(&limited, &model("a")), Ok(()));
        assert_eq!(
            model_allowed(&limited, &model("b")),
            Err(Denied::ModelNotAllowed("b".into()))
        );
        assert_eq!(model_allowed(&key(), &model("b")), Ok(()));
    }
}
