//! `[retention]`: how long each class of data is kept, and how often the purge runs. The
//! defaults are the promises of docs/privacy.md; every window is whole days. And `[terms]`:
//! how far ahead a new terms or privacy version must be announced.

use serde::Deserialize;
use std::time::Duration;
use switchyard_core::retention::Windows;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RetentionSection {
    client_ip_days: i64,
    usage_log_days: i64,
    payment_record_days: i64,
    deleted_account_days: i64,
    content_log_days: i64,
    audit_log_days: i64,
    batch_rows: usize,
    /// Seconds between purges.
    interval_s: u64,
}

impl Default for RetentionSection {
    fn default() -> Self {
        let w = Windows::default();
        RetentionSection {
            client_ip_days: w.client_ip_days,
            usage_log_days: w.usage_log_days,
            payment_record_days: w.payment_record_days,
            deleted_account_days: w.deleted_account_days,
            content_log_days: w.content_log_days,
            audit_log_days: w.audit_log_days,
            batch_rows: w.batch_rows,
            interval_s: 3_600,
        }
    }
}

/// The validated windows and the purge interval.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub windows: Windows,
    pub interval: Duration,
}

pub(super) fn retention(section: &RetentionSection) -> anyhow::Result<Retention> {
    let windows = Windows {
        client_ip_days: section.client_ip_days,
        usage_log_days: section.usage_log_days,
        payment_record_days: section.payment_record_days,
        deleted_account_days: section.deleted_account_days,
        content_log_days: section.content_log_days,
        audit_log_days: section.audit_log_days,
        batch_rows: section.batch_rows,
    };
    windows.validate().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        (1..=86_400).contains(&section.interval_s),
        "`retention.interval_s` must be 1 to 86400 seconds"
    );
    Ok(Retention {
        windows,
        interval: Duration::from_secs(section.interval_s),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TermsSection {
    notice_days: i64,
}

impl Default for TermsSection {
    fn default() -> Self {
        TermsSection { notice_days: 14 }
    }
}

pub(super) fn notice_days(section: &TermsSection) -> anyhow::Result<i64> {
    anyhow::ensure!(
        (0..=365).contains(&section.notice_days),
        "`terms.notice_days` must be 0 to 365"
    );
    Ok(section.notice_days)
}
