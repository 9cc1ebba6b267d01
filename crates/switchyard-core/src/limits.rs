//! Spend limits: how much a key or a user may be charged in total, per UTC day and per UTC
//! month. Pure rules; the gateway keeps the counters.

use crate::money::Nanos;
use serde::{Deserialize, Serialize};

/// Who a limit applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Key,
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::User => "user",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "key" => Some(Scope::Key),
            "user" => Some(Scope::User),
            _ => None,
        }
    }
}

/// The three windows a limit can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Total,
    Day,
    Month,
}

impl Window {
    pub const ALL: [Window; 3] = [Window::Total, Window::Day, Window::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Total => "total",
            Window::Day => "day",
            Window::Month => "month",
        }
    }
}

/// Limits in nano-USD; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendLimits {
    pub total: Option<Nanos>,
    pub day: Option<Nanos>,
    pub month: Option<Nanos>,
}

impl SpendLimits {
    pub fn get(&self, window: Window) -> Option<Nanos> {
        match window {
            Window::Total => self.total,
            Window::Day => self.day,
            Window::Month => self.month,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total.is_none() && self.day.is_none() && self.month.is_none()
    }
}

const DAY_MS: i64 = 86_400_000;

/// A period of a window: its stored label, when it started and when the next begins (unix
/// ms, UTC). The total window is one endless period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub starts: i64,
    pub ends: Option<i64>,
}

/// The period of `window` that contains `now` (unix ms).
pub fn period(window: Window, now: i64) -> Period {
    match window {
        Window::Total => Period {
            label: "total".into(),
            starts: i64::MIN,
            ends: None,
        },
        Window::Day => {
            let day = now.div_euclid(DAY_MS);
            let (y, m, d) = civil_from_days(day);
            Period {
                label: format!("d{y:04}-{m:02}-{d:02}"),
                starts: day.saturating_mul(DAY_MS),
                ends: Some((day + 1).saturating_mul(DAY_MS)),
            }
        }
        Window::Month => {
            let (y, m, _) = civil_from_days(now.div_euclid(DAY_MS));
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Period {
                label: format!("m{y:04}-{m:02}"),
                starts: days_from_civil(y, m, 1).saturating_mul(DAY_MS),
                ends: Some(days_from_civil(ny, nm, 1).saturating_mul(DAY_MS)),
            }
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn periods_have_utc_labels_and_bounds() {
        // 2026-11-29T08:00:00Z
        let now = 1_795_910_400_000 + 8 * 3_600_000;
        let day = period(Window::Day, now);
        assert_eq!(day.label, "d2026-11-29");
        assert_eq!(day.ends, Some(1_795_996_800_000));
        let month = period(Window::Month, now);
        assert_eq!(month.label, "m2026-11");
        // 2026-12-01T00:00:00Z
        assert_eq!(month.ends, Some(1_796_083_200_000));
        assert_eq!(period(Window::Month, 1_796_083_200_000).label, "m2026-12");
        assert_eq!(
            period(Window::Day, 1_796_083_200_000 - 1).label,
            "d2026-11-30"
        );
        // Leap day and year end.
        assert_eq!(period(Window::Day, 951_782_400_000).label, "d2000-02-29");
        assert_eq!(period(Window::Month, 1_798_761_599_999).label, "m2026-12");
        assert_eq!(period(Window::Month, 1_798_761_600_000).label, "m2027-01");
        // Any instant has a period, however far out (a log row's time is whatever was stored).
        for now in [i64::MIN, i64::MAX] {
            for window in Window::ALL {
                assert!(!period(window, now).label.is_empty());
            }
        }
    }

    proptest! {
        #[test]
        fn every_instant_lies_in_its_period(now in -10_000_000_000_000i64..10_000_000_000_000) {
            for window in [Window::Day, Window::Month] {
                let p = period(window, now);
                let ends = p.ends.unwrap();
                prop_assert!(p.starts <= now && now < ends);
                prop_assert_eq!(period(window, p.starts).label, p.label.clone());
                prop_assert_ne!(period(window, ends).label, p.label);
            }
        }

        #[test]
        fn day_numbers_round_trip(z in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(z);
            prop_assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
