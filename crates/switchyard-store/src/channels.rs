//! Operators' overrides of configured channels (weight, priority, enabled). The gateway applies
//! them to its configured catalogue; writes bump the access generation so every replica's
//! snapshot refresher picks them up.

use crate::access::BUMP_GENERATION;
use crate::{Store, StoreError};
use switchyard_core::catalog::{ChannelSetting, UnixMillis};

/// model, channel, weight, priority, enabled, as selected.
type SettingRow = (String, String, Option<i64>, Option<i64>, bool);

impl Store {
    /// Every stored override, by model and channel.
    pub async fn channel_settings(&self) -> Result<Vec<ChannelSetting>, StoreError> {
        let rows: Vec<SettingRow> = on_pool!(&self.db, pool => {
            sqlx::query_as(
                "SELECT model, channel, weight, priority, enabled FROM channel_settings \
                 ORDER BY model, channel",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(model, channel, weight, priority, enabled)| {
                let corrupt =
                    |what| StoreError::Corrupt(format!("channel {model}/{channel}: {what}"));
                let weight = match weight {
                    None => None,
                    Some(w) => Some(
                        u32::try_from(w)
                            .ok()
                            .filter(|&w| w >= 1)
                            .ok_or_else(|| corrupt("weight"))?,
                    ),
                };
                let priority = match priority {
                    None => None,
                    Some(p) => Some(i32::try_from(p).map_err(|_| corrupt("priority"))?),
                };
                Ok(ChannelSetting {
                    model,
                    channel,
                    weight,
                    priority,
                    enabled,
                })
            })
            .collect()
    }

    /// Stores the override of one channel, replacing any earlier one, and bumps the access
    /// generation in the same transaction so a node that sees the new generation sees it.
    pub async fn set_channel_setting(
        &self,
        setting: &ChannelSetting,
        now: UnixMillis,
    ) -> Result<(), StoreError> {
        if setting.weight == Some(0) {
            return Err(StoreError::Invalid("a channel's weight must be at least 1"));
        }
        on_pool!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO channel_settings (model, channel, weight, priority, enabled, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (model, channel) DO UPDATE SET \
                 weight = excluded.weight, priority = excluded.priority, \
                 enabled = excluded.enabled, updated_at = excluded.updated_at",
            )
            .bind(setting.model.as_str())
            .bind(setting.channel.as_str())
            .bind(setting.weight.map(i64::from))
            .bind(setting.priority.map(i64::from))
            .bind(setting.enabled)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(BUMP_GENERATION).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
