//! Providers and models an operator adds through the management API, and the whole stored
//! catalogue (these plus the channel overrides) read as one set for the gateway's snapshot.
//!
//! Every write bumps the access generation in its own transaction, as channel overrides do, so
//! a replica that sees the new generation reloads a catalogue that includes the change.
//! Credentials arrive sealed; this crate never sees a plaintext key.

use crate::access::BUMP_GENERATION;
use crate::{Store, StoreError};
use switchyard_core::Nanos;
use switchyard_core::catalog::{
    ModelKind, ProviderKind, StoredCatalog, StoredChannel, StoredModel, StoredProvider,
};
use switchyard_core::money::Prices;
use switchyard_core::routing::DataPractice;

/// Inserts one channel row inside the transaction `$tx` (a macro: the executor's type differs
/// per backend).
macro_rules! insert_channel {
    ($tx:expr, $model:expr, $position:expr, $c:expr) => {
        sqlx::query(
            "INSERT INTO catalog_model_channels (model, position, name, provider, \
             upstream_model, weight, priority) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($model)
        .bind(i64::try_from($position).unwrap_or(i64::MAX))
        .bind(&$c.name)
        .bind(&$c.provider)
        .bind(&$c.upstream_model)
        .bind(i64::from($c.weight))
        .bind(i64::from($c.priority))
        .execute($tx)
        .await
        .map_err(|e| {
            StoreError::on_write(e, "two channels of the model have the same name", None)
        })?
    };
}

/// One credential re-sealed by a rotation: the provider, the sealed value it was read with,
/// and the value to store instead.
#[derive(Clone, Debug)]
pub struct Reseal {
    pub name: String,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// Every stored provider, oldest first, in [`ProviderRow`]'s column order.
const SELECT_PROVIDERS: &str = "SELECT name, kind, base_url, api_key_sealed, api_key_hint, \
     jurisdiction, retains_prompts, trains_on_prompts, zdr, connect_timeout_ms, \
     first_byte_timeout_ms, total_timeout_ms, created_at, updated_at FROM catalog_providers \
     ORDER BY created_at, name";

type ProviderRow = (
    String,
    String,
    String,
    Option<Vec<u8>>,
    Option<String>,
    String,
    Option<bool>,
    Option<bool>,
    bool,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

/// name, kind, aliases, input, output, cached input, reasoning, image, per second, created,
/// updated.
type ModelRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
    i64,
);

/// model, name, provider, upstream model, weight, priority.
type ChannelRow = (String, String, String, String, i64, i64);

impl Store {
    /// The channel overrides, stored providers and stored models. Providers and models are read
    /// in one transaction, so a model never names a provider deleted in between.
    pub async fn stored_catalog(&self) -> Result<StoredCatalog, StoreError> {
        let settings = self.channel_settings().await?;
        let (providers, models, channels): (Vec<ProviderRow>, Vec<ModelRow>, Vec<ChannelRow>) = on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let providers = sqlx::query_as(SELECT_PROVIDERS)
                .fetch_all(&mut *tx)
                .await?;
            let models = sqlx::query_as(
                "SELECT name, kind, aliases, input_nanos, output_nanos, cached_input_nanos, \
                 reasoning_nanos, image_nanos, per_second_nanos, created_at, updated_at \
                 FROM catalog_models ORDER BY created_at, name",
            )
            .fetch_all(&mut *tx)
            .await?;
            let channels = sqlx::query_as(
                "SELECT model, name, provider, upstream_model, weight, priority \
                 FROM catalog_model_channels ORDER BY model, position",
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (providers, models, channels)
        });
        let providers = providers
            .into_iter()
            .map(provider_of)
            .collect::<Result<_, _>>()?;
        let models = models
            .into_iter()
            .map(|row| model_of(row, &channels))
            .collect::<Result<_, _>>()?;
        Ok(StoredCatalog {
            settings,
            providers,
            models,
        })
    }

    /// Every stored provider's sealed credential, by provider name (providers without one are
    /// left out), for a rotation or a report of which master keys are in use.
    pub async fn sealed_credentials(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT name, api_key_sealed FROM catalog_providers \
                 WHERE api_key_sealed IS NOT NULL ORDER BY name",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Replaces sealed credentials (a master key rotation), all in one transaction that also
    /// bumps the access generation, so every replica reloads its catalogue. Each row changes
    /// only if it still holds the value the caller read: should an operator have set a key in
    /// between, nothing is written and [`StoreError::Conflict`] asks for another run.
    pub async fn reseal_credentials(&self, changes: &[Reseal]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            for change in changes {
                let changed = sqlx::query(
                    "UPDATE catalog_providers SET api_key_sealed = $3 \
                     WHERE name = $1 AND api_key_sealed = $2",
                )
                .bind(&change.name)
                .bind(&change.old)
                .bind(&change.new)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(
                        "a provider's credential changed during the rotation; nothing was \
                         written, run it again",
                    ));
                }
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a new provider. [`StoreError::Conflict`] if one of that name is stored.
    pub async fn create_stored_provider(&self, p: &StoredProvider) -> Result<(), StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO catalog_providers (name, kind, base_url, api_key_sealed, \
                 api_key_hint, jurisdiction, retains_prompts, trains_on_prompts, zdr, \
                 connect_timeout_ms, first_byte_timeout_ms, total_timeout_ms, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(&p.base_url)
            .bind(p.api_key_sealed.as_deref())
            .bind(p.api_key_hint.as_deref())
            .bind(&p.jurisdiction)
            .bind(p.data.retains_prompts)
            .bind(p.data.trains_on_prompts)
            .bind(p.data.zdr)
            .bind(ms(p.connect_timeout_ms)?)
            .bind(ms(p.first_byte_timeout_ms)?)
            .bind(ms(p.total_timeout_ms)?)
            .bind(p.created_at)
            .bind(p.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_write(e, "a provider with this name already exists", None))?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces a stored provider (found by name; `created_at` is kept). Returns `false` if
    /// there is none.
    pub async fn update_stored_provider(&self, p: &StoredProvider) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE catalog_providers SET kind = $2, base_url = $3, api_key_sealed = $4, \
                 api_key_hint = $5, jurisdiction = $6, retains_prompts = $7, \
                 trains_on_prompts = $8, zdr = $9, connect_timeout_ms = $10, \
                 first_byte_timeout_ms = $11, total_timeout_ms = $12, updated_at = $13 \
                 WHERE name = $1",
            )
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(&p.base_url)
            .bind(p.api_key_sealed.as_deref())
            .bind(p.api_key_hint.as_deref())
            .bind(&p.jurisdiction)
            .bind(p.data.retains_prompts)
            .bind(p.data.trains_on_prompts)
            .bind(p.data.zdr)
            .bind(ms(p.connect_timeout_ms)?)
            .bind(ms(p.first_byte_timeout_ms)?)
            .bind(ms(p.total_timeout_ms)?)
            .bind(p.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Deletes a stored provider. [`StoreError::Conflict`] while a stored model's channel uses
    /// it; `false` if there is none.
    pub async fn delete_stored_provider(&self, name: &str) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin_with(self.begin_write()).await?;
            let users: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM catalog_model_channels WHERE provider = $1",
            )
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
            if users > 0 {
                tx.rollback().await?;
                return Err(StoreError::Conflict(
                    "a model still uses this provider; delete the model or move its channels first",
                ));
            }
            let deleted = sqlx::query("DELETE FROM catalog_providers WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Stores a new model and its channels. [`StoreError::Conflict`] if one of that name is
    /// stored. The caller checks that every channel's provider exists.
    pub async fn create_stored_model(&self, m: &StoredModel) -> Result<(), StoreError> {
        check_model(m)?;
        let aliases = aliases_json(&m.aliases)?;
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO catalog_models (name, kind, aliases, input_nanos, output_nanos, \
                 cached_input_nanos, reasoning_nanos, image_nanos, per_second_nanos, created_at, \
                 updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&m.name)
            .bind(kind_text(m.kind))
            .bind(&aliases)
            .bind(m.prices.input.0)
            .bind(m.prices.output.0)
            .bind(m.prices.cached_input.0)
            .bind(m.prices.reasoning.map(|n| n.0))
            .bind(m.prices.image.0)
            .bind(m.prices.per_second.0)
            .bind(m.created_at)
            .bind(m.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::on_write(e, "a model with this name already exists", None))?;
            for (position, c) in m.channels.iter().enumerate() {
                insert_channel!(&mut *tx, &m.name, position, c);
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replaces a stored model and its channels (found by name; `created_at` is kept).
    /// Returns `false` if there is none.
    pub async fn update_stored_model(&self, m: &StoredModel) -> Result<bool, StoreError> {
        check_model(m)?;
        let aliases = aliases_json(&m.aliases)?;
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE catalog_models SET kind = $2, aliases = $3, input_nanos = $4, \
                 output_nanos = $5, cached_input_nanos = $6, reasoning_nanos = $7, \
                 image_nanos = $8, per_second_nanos = $9, updated_at = $10 WHERE name = $1",
            )
            .bind(&m.name)
            .bind(kind_text(m.kind))
            .bind(&aliases)
            .bind(m.prices.input.0)
            .bind(m.prices.output.0)
            .bind(m.prices.cached_input.0)
            .bind(m.prices.reasoning.map(|n| n.0))
            .bind(m.prices.image.0)
            .bind(m.prices.per_second.0)
            .bind(m.updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query("DELETE FROM catalog_model_channels WHERE model = $1")
                .bind(&m.name)
                .execute(&mut *tx)
                .await?;
            for (position, c) in m.channels.iter().enumerate() {
                insert_channel!(&mut *tx, &m.name, position, c);
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Deletes a stored model and its channels. Returns `false` if there is none.
    pub async fn delete_stored_model(&self, name: &str) -> Result<bool, StoreError> {
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            // Channels first: the cascade would do it, but only where foreign keys are on.
            sqlx::query("DELETE FROM catalog_model_channels WHERE model = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query("DELETE FROM catalog_models WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }
}

fn check_model(m: &StoredModel) -> Result<(), StoreError> {
    if m.channels.is_empty() {
        return Err(StoreError::Invalid("a model needs at least one channel"));
    }
    if m.channels.iter().any(|c| c.weight == 0) {
        return Err(StoreError::Invalid("a channel's weight must be at least 1"));
    }
    let p = &m.prices;
    let prices = [p.input, p.output, p.cached_input, p.image, p.per_second];
    if prices.iter().chain(&p.reasoning).any(|n| n.0 < 0) {
        return Err(StoreError::Invalid("a price cannot be negative"));
    }
    Ok(())
}

fn ms(value: Option<u64>) -> Result<Option<i64>, StoreError> {
    value
        .map(|v| {
            i64::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .ok_or(StoreError::Invalid(
                    "a timeout must be a positive number of ms",
                ))
        })
        .transpose()
}

fn aliases_json(aliases: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(aliases).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn kind_text(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => "chat",
        ModelKind::Embedding => "embedding",
    }
}

fn provider_of(row: ProviderRow) -> Result<StoredProvider, StoreError> {
    let (name, kind, base_url, sealed, hint, jurisdiction, retains, trains, zdr) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
    );
    let corrupt = |what: &str| StoreError::Corrupt(format!("provider {name}: {what}"));
    let kind = match kind.as_str() {
        "openai" => ProviderKind::Openai,
        "anthropic" => ProviderKind::Anthropic,
        "gemini" => ProviderKind::Gemini,
        _ => return Err(corrupt("kind")),
    };
    let timeout = |v: Option<i64>| {
        v.map(|v| u64::try_from(v).map_err(|_| corrupt("timeout")))
            .transpose()
    };
    Ok(StoredProvider {
        kind,
        base_url,
        api_key_sealed: sealed,
        api_key_hint: hint,
        jurisdiction,
        data: DataPractice {
            retains_prompts: retains,
            trains_on_prompts: trains,
            zdr,
        },
        connect_timeout_ms: timeout(row.9)?,
        first_byte_timeout_ms: timeout(row.10)?,
        total_timeout_ms: timeout(row.11)?,
        created_at: row.12,
        updated_at: row.13,
        name,
    })
}

fn model_of(row: ModelRow, channels: &[ChannelRow]) -> Result<StoredModel, StoreError> {
    let name = row.0;
    let corrupt = |what: &str| StoreError::Corrupt(format!("model {name}: {what}"));
    let kind = match row.1.as_str() {
        "chat" => ModelKind::Chat,
        "embedding" => ModelKind::Embedding,
        _ => return Err(corrupt("kind")),
    };
    let aliases: Vec<String> = serde_json::from_str(&row.2).map_err(|_| corrupt("aliases"))?;
    let channels = channels
        .iter()
        .filter(|c| c.0 == name)
        .map(|(_, channel, provider, upstream_model, weight, priority)| {
            Ok(StoredChannel {
                name: channel.clone(),
                provider: provider.clone(),
                upstream_model: upstream_model.clone(),
                weight: u32::try_from(*weight).map_err(|_| corrupt("weight"))?,
                priority: i32::try_from(*priority).map_err(|_| corrupt("priority"))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(StoredModel {
        kind,
        aliases,
        channels,
        prices: Prices {
            input: Nanos(row.3),
            output: Nanos(row.4),
            cached_input: Nanos(row.5),
            reasoning: row.6.map(Nanos),
            image: Nanos(row.7),
            per_second: Nanos(row.8),
        },
        created_at: row.9,
        updated_at: row.10,
        name,
    })
}
