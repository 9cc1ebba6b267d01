//! Money as integers: nano-USD (1e-9 USD) in an `i64`, prices as nano-USD per million tokens.
//!
//! Floats never touch money. Operators write prices as decimal USD (`0.15`); they are parsed
//! from their decimal text into exact integers. A cost is `ceil(tokens × price / 1e6)` computed
//! in `i128`, so rounding is always in the platform's favour by less than one nano-USD.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Nano-USD per USD.
pub const NANOS_PER_USD: i64 = 1_000_000_000;
const TOKENS_PER_MTOK: i128 = 1_000_000;

/// An amount of money in nano-USD. Negative amounts are allowed (refunds, debits).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Nanos(pub i64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);

    /// Parses a decimal USD amount such as `"0.15"`, `"12"`, `"-3.5"` or `"1e-3"` exactly.
    /// More than nine decimals are rejected rather than rounded: a price is never silently changed.
    pub fn from_usd_str(text: &str) -> Result<Nanos, MoneyError> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => {
                let exp: i32 = text[at + 1..]
                    .parse()
                    .map_err(|_| MoneyError::Malformed(text.to_owned()))?;
                (&text[..at], exp)
            }
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::Malformed(text.to_owned()));
        }
        // All digits as one integer, and the power of ten that scales it to nano-USD.
        let all_digits = format!("{int_part}{frac_part}");
        let scale = 9 - frac_part.len() as i32 + exponent;
        let mut value: i128 = 0;
        for b in all_digits.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(b - b'0')))
                .ok_or(MoneyError::OutOfRange(text.to_owned()))?;
        }
        if scale >= 0 {
            for _ in 0..scale {
                value = value
                    .checked_mul(10)
                    .ok_or(MoneyError::OutOfRange(text.to_owned()))?;
            }
        } else {
            let divisor = 10i128
                .checked_pow(scale.unsigned_abs())
                .ok_or(MoneyError::TooPrecise(text.to_owned()))?;
            if value % divisor != 0 {
                return Err(MoneyError::TooPrecise(text.to_owned()));
            }
            value /= divisor;
        }
        if negative {
            value = -value;
        }
        i64::try_from(value)
            .map(Nanos)
            .map_err(|_| MoneyError::OutOfRange(text.to_owned()))
    }

    /// Whole USD, for tests and operator input.
    pub const fn from_usd(usd: i64) -> Nanos {
        Nanos(usd * NANOS_PER_USD)
    }

    pub fn checked_add(self, other: Nanos) -> Option<Nanos> {
        self.0.checked_add(other.0).map(Nanos)
    }
}

// Arithmetic saturates instead of wrapping or panicking: ±9.2 billion USD is beyond any
// balance, and a saturated figure is visibly wrong where a wrapped one would look plausible.
impl std::ops::Add for Nanos {
    type Output = Nanos;
    fn add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }
}

impl std::ops::Sub for Nanos {
    type Output = Nanos;
    fn sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }
}

impl std::ops::AddAssign for Nanos {
    fn add_assign(&mut self, other: Nanos) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Nanos {
    fn sub_assign(&mut self, other: Nanos) {
        *self = *self - other;
    }
}

impl std::ops::Neg for Nanos {
    type Output = Nanos;
    fn neg(self) -> Nanos {
        Nanos(self.0.saturating_neg())
    }
}

impl fmt::Display for Nanos {
    /// Exact decimal USD with trailing zeros trimmed, at least two decimals: `0.000150`→`0.00015`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_USD as u64;
        let frac = abs % NANOS_PER_USD as u64;
        let mut frac_text = format!("{frac:09}");
        while frac_text.len() > 2 && frac_text.ends_with('0') {
            frac_text.pop();
        }
        write!(f, "{sign}{whole}.{frac_text}")
    }
}

/// What went wrong reading an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal USD amount (write it like 0.15)")]
    Malformed(String),
    #[error("`{0}` has more than nine decimals; the smallest unit is 0.000000001 USD")]
    TooPrecise(String),
    #[error("`{0}` is too large")]
    OutOfRange(String),
}

/// A model's prices, each in nano-USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub input: Nanos,
    pub output: Nanos,
    /// Price of prompt tokens served from the provider's cache; defaults to `input`.
    pub cached_input: Nanos,
}

impl Prices {
    /// The cost of one request's usage: `ceil(Σ tokens × price / 1e6)`, never negative.
    ///
    /// `usage.prompt_tokens` includes cached tokens (OpenAI's convention, which the usage
    /// normaliser guarantees), so uncached = prompt − cached.
    pub fn cost(&self, usage: &crate::Usage) -> Nanos {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        let numerator = i128::from(uncached) * i128::from(self.input.0)
            + i128::from(cached) * i128::from(self.cached_input.0)
            + i128::from(usage.completion_tokens) * i128::from(self.output.0);
        let cost = (numerator + TOKENS_PER_MTOK - 1).div_euclid(TOKENS_PER_MTOK);
        Nanos(i64::try_from(cost.max(0)).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Usage;
    use proptest::prelude::*;

    #[test]
    fn parses_decimal_usd_exactly() {
        assert_eq!(Nanos::from_usd_str("0.15"), Ok(Nanos(150_000_000)));
        assert_eq!(Nanos::from_usd_str("12"), Ok(Nanos(12_000_000_000)));
        assert_eq!(Nanos::from_usd_str("-3.5"), Ok(Nanos(-3_500_000_000)));
        assert_eq!(Nanos::from_usd_str("1e-3"), Ok(Nanos(1_000_000)));
        assert_eq!(Nanos::from_usd_str("2.5E2"), Ok(Nanos(250_000_000_000)));
        assert_eq!(Nanos::from_usd_str(".5"), Ok(Nanos(500_000_000)));
        assert_eq!(Nanos::from_usd_str("0.000000001"), Ok(Nanos(1)));
    }

    #[test]
    fn rejects_what_it_cannot_represent() {
        assert!(matches!(
            Nanos::from_usd_str("0.0000000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Nanos::from_usd_str("abc"),
            Err(MoneyError::Malformed(_))
        ));
        assert!(matches!(
            Nanos::from_usd_str(""),
            Err(MoneyError::Malformed(_))
        ));
        assert!(matches!(
            Nanos::from_usd_str("1.2.3"),
            Err(MoneyError::Malformed(_))
        ));
        assert!(matches!(
            Nanos::from_usd_str("1e30"),
            Err(MoneyError::OutOfRange(_))
        ));
    }

    #[test]
    fn displays_exact_usd() {
        assert_eq!(Nanos(150_000).to_string(), "0.00015");
        assert_eq!(Nanos::from_usd(5).to_string(), "5.00");
        assert_eq!(Nanos(-1).to_string(), "-0.000000001");
    }

    #[test]
    fn cost_rounds_up_to_the_next_nano() {
        let prices = Prices {
            input: Nanos(150_000_000),
            output: Nanos(600_000_000),
            cached_input: Nanos(75_000_000),
        };
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 500,
            cached_tokens: 200,
            ..Usage::default()
        };
        // 800×150e6 + 200×75e6 + 500×600e6 = 120e9 + 15e9 + 300e9 = 435e9 → /1e6 = 435,000
        assert_eq!(prices.cost(&usage), Nanos(435_000));
        let one = Usage {
            prompt_tokens: 1,
            ..Usage::default()
        };
        assert_eq!(prices.cost(&one), Nanos(150));
        let tiny = Prices {
            input: Nanos(1),
            ..Prices::default()
        };
        assert_eq!(
            tiny.cost(&one),
            Nanos(1),
            "a fraction of a nano is charged as one"
        );
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(n in -1_000_000_000_000_000i64..1_000_000_000_000_000i64) {
            prop_assert_eq!(Nanos::from_usd_str(&Nanos(n).to_string()), Ok(Nanos(n)));
        }

        #[test]
        fn cost_is_monotone_in_tokens(p in 0u32..100_000, c in 0u32..100_000, extra in 1u32..1000,
                                      pin in 0i64..100_000_000_000, pout in 0i64..100_000_000_000) {
            let prices = Prices { input: Nanos(pin), output: Nanos(pout), cached_input: Nanos(pin) };
            let base = Usage { prompt_tokens: p.into(), completion_tokens: c.into(), ..Usage::default() };
            let more = Usage { completion_tokens: u64::from(c + extra), ..base };
            prop_assert!(prices.cost(&more) >= prices.cost(&base));
            prop_assert!(prices.cost(&base) >= Nanos::ZERO);
        }
    }
}
