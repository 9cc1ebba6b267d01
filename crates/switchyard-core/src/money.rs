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

/// Basis points in one (100 %): a markup of 2,500 bps is +25 %.
pub const BPS_PER_UNIT: u32 = 10_000;

/// A model's prices: per million tokens, per generated image and per second of audio or video,
/// each in nano-USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub input: Nanos,
    pub output: Nanos,
    /// Price of prompt tokens served from the provider's cache; defaults to `input`.
    pub cached_input: Nanos,
    /// Price of reasoning tokens; `None` prices them as output (they are counted inside
    /// `completion_tokens`, so they are never charged twice).
    #[serde(default)]
    pub reasoning: Option<Nanos>,
    /// Per generated image.
    #[serde(default)]
    pub image: Nanos,
    /// Per second of audio or video.
    #[serde(default)]
    pub per_second: Nanos,
}

impl Prices {
    /// The cost of one request's usage: `ceil(Σ quantity × price / unit)`, never negative.
    ///
    /// `usage.prompt_tokens` includes cached tokens and `usage.completion_tokens` includes
    /// reasoning tokens (OpenAI's convention, which the usage normaliser guarantees), so
    /// uncached = prompt − cached and visible output = completion − reasoning.
    pub fn cost(&self, usage: &crate::Usage) -> Nanos {
        ceil_to_nanos(self.numerator(usage), 1)
    }

    /// What one request costs the platform (at these, the provider's, prices) and what it is
    /// charged under a markup of `markup_bps`: `(cost, ceil(exact cost × (1 + markup)))`.
    /// The charge is rounded once, from the exact cost, not from the rounded one.
    pub fn cost_and_charge(&self, usage: &crate::Usage, markup_bps: u32) -> (Nanos, Nanos) {
        let numerator = self.numerator(usage);
        let factor = i128::from(BPS_PER_UNIT) + i128::from(markup_bps);
        let charge = ceil_to_nanos(numerator.saturating_mul(factor), i128::from(BPS_PER_UNIT));
        (ceil_to_nanos(numerator, 1), charge)
    }

    /// These prices raised by `markup_bps`, each rounded up to a whole nano-USD, so that
    /// `self.with_markup(m).cost(u) >= self.cost_and_charge(u, m).1` for every usage: a hold
    /// computed at these prices always covers the charge.
    pub fn with_markup(&self, markup_bps: u32) -> Prices {
        let raise = |price: Nanos| {
            let factor = i128::from(BPS_PER_UNIT) + i128::from(markup_bps);
            let raised = i128::from(price.0.max(0)) * factor;
            let rounded = (raised + i128::from(BPS_PER_UNIT) - 1) / i128::from(BPS_PER_UNIT);
            Nanos(i64::try_from(rounded).unwrap_or(i64::MAX))
        };
        Prices {
            input: raise(self.input),
            output: raise(self.output),
            cached_input: raise(self.cached_input),
            reasoning: self.reasoning.map(raise),
            image: raise(self.image),
            per_second: raise(self.per_second),
        }
    }

    /// Prices for a worst-case estimate that counts every completion token as output: output
    /// at the dearer of the output and reasoning prices, since any share may be reasoning.
    pub fn for_worst_case(&self) -> Prices {
        Prices {
            output: self.output.max(self.reasoning.unwrap_or(self.output)),
            ..*self
        }
    }

    /// Each price at the dearer of the two: a hold at these covers a request served at either
    /// (a model served by channels at different prices, or a fallback list of models).
    pub fn dearest(&self, other: &Prices) -> Prices {
        Prices {
            input: self.input.max(other.input),
            output: self.output.max(other.output),
            cached_input: self.cached_input.max(other.cached_input),
            reasoning: match (self.reasoning, other.reasoning) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            image: self.image.max(other.image),
            per_second: self.per_second.max(other.per_second),
        }
    }

    /// The exact cost in nano-USD × 1e6 (the unit of a per-mtok price times a token count).
    fn numerator(&self, usage: &crate::Usage) -> i128 {
        let cached = usage.cached_tokens.min(usage.prompt_tokens);
        let uncached = usage.prompt_tokens - cached;
        let reasoning = usage.reasoning_tokens.min(usage.completion_tokens);
        let visible = usage.completion_tokens - reasoning;
        // Saturating: absurd counts saturate to a visibly absurd cost instead of wrapping.
        let per = |quantity: u64, price: Nanos, scale: i128| {
            (i128::from(quantity) * i128::from(price.0)).saturating_mul(scale)
        };
        [
            per(uncached, self.input, 1),
            per(cached, self.cached_input, 1),
            per(visible, self.output, 1),
            per(reasoning, self.reasoning.unwrap_or(self.output), 1),
            per(usage.images, self.image, TOKENS_PER_MTOK),
            // Milliseconds × a per-second price is 1e-3 of a nano-USD; scale that to 1e-6.
            per(usage.media_ms, self.per_second, TOKENS_PER_MTOK / 1_000),
        ]
        .into_iter()
        .fold(0i128, i128::saturating_add)
    }
}

/// `ceil(numerator / (1e6 × divisor))` as nano-USD, clamped to `0..=i64::MAX`.
fn ceil_to_nanos(numerator: i128, divisor: i128) -> Nanos {
    let denominator = TOKENS_PER_MTOK * divisor;
    let cost = numerator.max(0).saturating_add(denominator - 1) / denominator;
    Nanos(i64::try_from(cost).unwrap_or(i64::MAX))
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
            ..Prices::default()
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

    fn prices(input: i64, output: i64) -> Prices {
        Prices {
            input: Nanos(input),
            output: Nanos(output),
            cached_input: Nanos(input),
            ..Prices::default()
        }
    }

    #[test]
    fn reasoning_tokens_are_priced_at_the_reasoning_rate_inside_completion() {
        let usage = Usage {
            prompt_tokens: 0,
            completion_tokens: 1_000,
            reasoning_tokens: 400,
            ..Usage::default()
        };
        let mut p = prices(0, 600_000_000);
        // Without a reasoning price, reasoning is output: 1,000 × 0.60 USD/mtok.
        assert_eq!(p.cost(&usage), Nanos(600_000));
        p.reasoning = Some(Nanos(2_000_000_000));
        // 600 visible × 0.60 + 400 reasoning × 2.00 (per mtok) = 360,000 + 800,000 nanos.
        assert_eq!(p.cost(&usage), Nanos(1_160_000));
        let inconsistent = Usage {
            reasoning_tokens: 5_000,
            ..usage
        };
        // More reasoning than completion (a confused upstream): at most all of it is reasoning.
        assert_eq!(p.cost(&inconsistent), Nanos(2_000_000));
    }

    #[test]
    fn images_and_seconds_are_priced_per_unit() {
        let p = Prices {
            image: Nanos(40_000_000),
            per_second: Nanos(6_000_000),
            ..Prices::default()
        };
        let images = Usage {
            images: 3,
            ..Usage::default()
        };
        assert_eq!(p.cost(&images), Nanos(120_000_000));
        let audio = Usage {
            media_ms: 1_500,
            ..Usage::default()
        };
        assert_eq!(p.cost(&audio), Nanos(9_000_000));
        let nano_per_second = Prices {
            per_second: Nanos(1),
            ..Prices::default()
        };
        let one_ms = Usage {
            media_ms: 1,
            ..Usage::default()
        };
        assert_eq!(nano_per_second.cost(&one_ms), Nanos(1), "rounded up");
    }

    #[test]
    fn a_markup_charges_the_exact_cost_raised_and_rounds_once() {
        let p = Prices {
            cached_input: Nanos(75_000_000),
            ..prices(150_000_000, 600_000_000)
        };
        let usage = Usage {
            prompt_tokens: 1_000,
            completion_tokens: 500,
            cached_tokens: 200,
            ..Usage::default()
        };
        assert_eq!(
            p.cost_and_charge(&usage, 2_500),
            (Nanos(435_000), Nanos(543_750))
        );
        assert_eq!(
            p.cost_and_charge(&usage, 0),
            (Nanos(435_000), Nanos(435_000))
        );
        // 3 nanos at +25 % is 3.75 nanos: charged 4.
        let three = prices(3, 0);
        let mtok = Usage {
            prompt_tokens: 1_000_000,
            ..Usage::default()
        };
        assert_eq!(three.cost_and_charge(&mtok, 2_500), (Nanos(3), Nanos(4)));
        // Rounded once from the exact cost: 1 token at 1 nano/mtok is 1e-6 nano, +25 % is
        // 1.25e-6 nano, charged 1 (rounding the rounded cost would give 2).
        let one = Usage {
            prompt_tokens: 1,
            ..Usage::default()
        };
        assert_eq!(
            prices(1, 0).cost_and_charge(&one, 2_500),
            (Nanos(1), Nanos(1))
        );
    }

    #[test]
    fn marked_up_prices_round_each_price_up() {
        let p = Prices {
            reasoning: Some(Nanos(1)),
            image: Nanos(40_000_000),
            per_second: Nanos(3),
            ..prices(150_000_000, 600_000_000)
        };
        assert_eq!(
            p.with_markup(2_500),
            Prices {
                input: Nanos(187_500_000),
                output: Nanos(750_000_000),
                cached_input: Nanos(187_500_000),
                reasoning: Some(Nanos(2)),
                image: Nanos(50_000_000),
                per_second: Nanos(4),
            }
        );
        assert_eq!(p.with_markup(0), p);
    }

    #[test]
    fn the_worst_case_prices_output_at_the_dearer_rate() {
        let mut p = prices(1, 10);
        assert_eq!(p.for_worst_case().output, Nanos(10));
        p.reasoning = Some(Nanos(30));
        assert_eq!(p.for_worst_case().output, Nanos(30));
        p.reasoning = Some(Nanos(5));
        assert_eq!(p.for_worst_case().output, Nanos(10));
    }

    fn any_prices() -> impl Strategy<Value = Prices> {
        (
            0i64..100_000_000_000,
            0i64..100_000_000_000,
            0i64..100_000_000_000,
            proptest::option::of(0i64..100_000_000_000),
            0i64..1_000_000_000,
            0i64..1_000_000_000,
        )
            .prop_map(|(input, output, cached, reasoning, image, second)| Prices {
                input: Nanos(input),
                output: Nanos(output),
                cached_input: Nanos(cached),
                reasoning: reasoning.map(Nanos),
                image: Nanos(image),
                per_second: Nanos(second),
            })
    }

    fn any_usage() -> impl Strategy<Value = Usage> {
        (
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..10_000_000,
            0u64..1_000,
            0u64..10_000_000,
        )
            .prop_map(|(p, c, cached, reasoning, images, ms)| Usage {
                prompt_tokens: p,
                completion_tokens: c,
                cached_tokens: cached,
                reasoning_tokens: reasoning,
                images,
                media_ms: ms,
            })
    }

    proptest! {
        #[test]
        fn cost_is_monotone_in_every_count(prices in any_prices(), usage in any_usage(), extra in 1u64..100_000) {
            let cost = prices.cost(&usage);
            prop_assert!(cost >= Nanos::ZERO);
            // More prompt, completion, images or media never cost less.
            for more in [
                Usage { prompt_tokens: usage.prompt_tokens + extra, ..usage },
                Usage { completion_tokens: usage.completion_tokens + extra, ..usage },
                Usage { images: usage.images + extra, ..usage },
                Usage { media_ms: usage.media_ms + extra, ..usage },
            ] {
                prop_assert!(prices.cost(&more) >= cost, "{:?} cost less than {:?}", more, usage);
            }
            // Tokens moved into the cached (or reasoning) share follow the order of the prices.
            let more_cached = Usage { cached_tokens: usage.cached_tokens + extra, ..usage };
            if prices.cached_input <= prices.input {
                prop_assert!(prices.cost(&more_cached) <= cost);
            } else {
                prop_assert!(prices.cost(&more_cached) >= cost);
            }
            let more_reasoning = Usage { reasoning_tokens: usage.reasoning_tokens + extra, ..usage };
            if prices.reasoning.unwrap_or(prices.output) >= prices.output {
                prop_assert!(prices.cost(&more_reasoning) >= cost);
            } else {
                prop_assert!(prices.cost(&more_reasoning) <= cost);
            }
        }

        #[test]
        fn cached_tokens_never_cost_more_than_uncached(input in 0i64..100_000_000_000, cached_price in 0i64..100_000_000_000,
                                                       tokens in 0u64..10_000_000, cached in 0u64..10_000_000) {
            let p = Prices { cached_input: Nanos(cached_price.min(input)), ..prices(input, 0) };
            let all_uncached = Usage { prompt_tokens: tokens, ..Usage::default() };
            let some_cached = Usage { cached_tokens: cached, ..all_uncached };
            prop_assert!(p.cost(&some_cached) <= p.cost(&all_uncached));
        }

        #[test]
        fn the_charge_lies_between_the_cost_and_the_marked_up_prices(prices in any_prices(), usage in any_usage(),
                                                                     markup in 0u32..50_000, more in 0u32..50_000) {
            let (cost, charge) = prices.cost_and_charge(&usage, markup);
            prop_assert_eq!(cost, prices.cost(&usage));
            prop_assert!(charge >= cost);
            prop_assert!(prices.with_markup(markup).cost(&usage) >= charge, "a hold at marked-up prices covers the charge");
            prop_assert!(prices.cost_and_charge(&usage, markup + more).1 >= charge, "monotone in the markup");
            prop_assert_eq!(prices.cost_and_charge(&usage, 0).1, cost);
            prop_assert!(prices.for_worst_case().cost(&Usage { reasoning_tokens: 0, ..usage }) >= cost,
                         "the worst case counts every completion token at the dearer rate");
        }

        #[test]
        fn display_then_parse_is_identity(n in -1_000_000_000_000_000i64..1_000_000_000_000_000i64) {
            prop_assert_eq!(Nanos::from_usd_str(&Nanos(n).to_string()), Ok(Nanos(n)));
        }
    }
}
