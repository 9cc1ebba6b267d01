//! How long each class of data is kept (`[retention]`), and the cut-off times the purge derives
//! from them. The defaults are the promises of docs/privacy.md; an operator may tighten them
//! (or, where the law asks for it, lengthen payment records), and an account may choose shorter
//! windows for its own usage log and client IP addresses, never longer ones.

use crate::catalog::UnixMillis;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The most rows one purge statement touches: each batch is its own short transaction, so no
/// purge holds a lock for long, and a crash mid-purge leaves nothing half done.
pub const MAX_BATCH_ROWS: usize = 10_000;

/// Retention windows, in whole days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Client IP addresses on log rows: cleared (the row stays) after this long.
    pub client_ip_days: i64,
    /// Usage log rows and the per-user daily rollup.
    pub usage_log_days: i64,
    /// Payments, refunds, invoices and webhook receipts.
    pub payment_record_days: i64,
    /// Between an account's deletion request and the purge of its personal data; the
    /// deletion can be cancelled until then.
    pub deleted_account_days: i64,
    /// Stored prompts and completions, for keys an operator enabled content logging on.
    pub content_log_days: i64,
    /// The audit log.
    pub audit_log_days: i64,
    /// Rows per purge statement (at most [`MAX_BATCH_ROWS`]).
    pub batch_rows: usize,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            client_ip_days: 90,
            usage_log_days: 365,
            payment_record_days: 7 * 365 + 2,
            deleted_account_days: 30,
            content_log_days: 30,
            audit_log_days: 7 * 365 + 2,
            batch_rows: MAX_BATCH_ROWS,
        }
    }
}

/// An account's own choice of shorter windows (`None`: the platform's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountWindows {
    pub usage_log_days: Option<i64>,
    pub client_ip_days: Option<i64>,
}

impl Windows {
    /// Rows created before this time are past a window of `days` at `now`. A row created
    /// exactly `days` days ago is still inside.
    pub fn cutoff(now: UnixMillis, days: i64) -> UnixMillis {
        now.saturating_sub(days.saturating_mul(DAY_MS))
    }

    /// The usage-log window that applies to an account: the shorter of the two.
    pub fn usage_log_days_for(&self, account: AccountWindows) -> i64 {
        account
            .usage_log_days
            .map_or(self.usage_log_days, |d| d.min(self.usage_log_days))
    }

    /// The client-IP window that applies to an account: the shorter of the two.
    pub fn client_ip_days_for(&self, account: AccountWindows) -> i64 {
        account
            .client_ip_days
            .map_or(self.client_ip_days, |d| d.min(self.client_ip_days))
    }

    /// Checks the windows an operator configured: every window at least a day, the batch
    /// between 1 and [`MAX_BATCH_ROWS`].
    pub fn validate(&self) -> Result<(), String> {
        for (name, days) in [
            ("client_ip_days", self.client_ip_days),
            ("usage_log_days", self.usage_log_days),
            ("payment_record_days", self.payment_record_days),
            ("deleted_account_days", self.deleted_account_days),
            ("content_log_days", self.content_log_days),
            ("audit_log_days", self.audit_log_days),
        ] {
            if !(1..=36_500).contains(&days) {
                return Err(format!(
                    "retention.{name} must be 1 to 36500 days, not {days}"
                ));
            }
        }
        if !(1..=MAX_BATCH_ROWS).contains(&self.batch_rows) {
            return Err(format!(
                "retention.batch_rows must be 1 to {MAX_BATCH_ROWS}, not {}",
                self.batch_rows
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_can_only_shorten_a_window() {
        let w = Windows::default();
        let shorter = AccountWindows {
            usage_log_days: Some(30),
            client_ip_days: Some(7),
        };
        assert_eq!(w.usage_log_days_for(shorter), 30);
        assert_eq!(w.client_ip_days_for(shorter), 7);
        let longer = AccountWindows {
            usage_log_days: Some(5_000),
            client_ip_days: Some(1_000),
        };
        assert_eq!(w.usage_log_days_for(longer), 365);
        assert_eq!(w.client_ip_days_for(longer), 90);
        assert_eq!(w.usage_log_days_for(AccountWindows::default()), 365);
    }

    #[test]
    fn a_row_exactly_a_window_old_is_inside() {
        let now = 1_000 * DAY_MS;
        assert_eq!(Windows::cutoff(now, 90), 910 * DAY_MS);
        assert!(Windows::default().validate().is_ok());
        let bad = Windows {
            batch_rows: MAX_BATCH_ROWS + 1,
            ..Windows::default()
        };
        assert!(bad.validate().is_err());
        let zero = Windows {
            client_ip_days: 0,
            ..Windows::default()
        };
        assert!(zero.validate().unwrap_err().contains("client_ip_days"));
    }
}
