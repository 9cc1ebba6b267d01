//! Fault injection, chosen by the request's `model` name (the table is in the module doc of
//! `mock`). A fault acts in up to two places: before the response head (an error status, a delay,
//! or no answer at all) and in the body (a cut, a missing usage, an in-band error, slow frames).
//!
//! Two inputs come from the mock's state rather than the name alone: the request's number among
//! those naming its model (`fault-flaky-503` fails by a hash of it, so runs repeat exactly), and
//! whether a test switched that model's outage on ([`Models`]).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long `fault-slow-first-byte` waits before the response head.
pub(crate) const SLOW_FIRST_BYTE: Duration = Duration::from_secs(2);
/// The gap between frames under `fault-slow-stream`.
pub(crate) const SLOW_STREAM_GAP: Duration = Duration::from_millis(200);

/// A failure the mock can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    ServerError,
    Unavailable,
    RateLimited,
    Rejected,
    FlatRejected,
    SlowFirstByte,
    Hang,
    CutStream,
    NoUsage,
    StreamError,
    EarlyStreamError,
    SlowStream,
    Overloaded,
    Blocked,
    Flaky,
}

impl Fault {
    pub(crate) const ALL: [Fault; 15] = [
        Fault::ServerError,
        Fault::Unavailable,
        Fault::RateLimited,
        Fault::Rejected,
        Fault::FlatRejected,
        Fault::SlowFirstByte,
        Fault::Hang,
        Fault::CutStream,
        Fault::NoUsage,
        Fault::StreamError,
        Fault::EarlyStreamError,
        Fault::SlowStream,
        Fault::Overloaded,
        Fault::Blocked,
        Fault::Flaky,
    ];

    /// The model name that selects this fault.
    pub(crate) fn model(self) -> &'static str {
        match self {
            Fault::ServerError => "fault-500",
            Fault::Unavailable => "fault-503",
            Fault::RateLimited => "fault-429",
            Fault::Rejected => "fault-400",
            Fault::FlatRejected => "fault-flat-400",
            Fault::SlowFirstByte => "fault-slow-first-byte",
            Fault::Hang => "fault-hang",
            Fault::CutStream => "fault-cut-stream",
            Fault::NoUsage => "fault-no-usage",
            Fault::StreamError => "fault-stream-error",
            Fault::EarlyStreamError => "fault-early-stream-error",
            Fault::SlowStream => "fault-slow-stream",
            Fault::Overloaded => "fault-529",
            Fault::Blocked => "fault-blocked",
            Fault::Flaky => "fault-flaky-503",
        }
    }

    /// The fault a request's model selects, if any.
    pub(crate) fn from_model(model: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.model() == model)
    }

    /// How many content frames a stream sends before its in-band error, if it ends in one:
    /// `after` for `fault-stream-error`, none for `fault-early-stream-error` (whose error is
    /// the first event after the 200 head).
    pub(crate) fn error_after(fault: Option<Fault>, after: usize) -> Option<usize> {
        match fault {
            Some(Fault::StreamError) => Some(after),
            Some(Fault::EarlyStreamError) => Some(0),
            _ => None,
        }
    }

    /// The gap between stream frames: [`SLOW_STREAM_GAP`] under `fault-slow-stream`, else the
    /// mock's configured `chunk_delay`.
    pub(crate) fn frame_gap(fault: Option<Fault>, chunk_delay: Duration) -> Duration {
        if fault == Some(Fault::SlowStream) {
            SLOW_STREAM_GAP
        } else {
            chunk_delay
        }
    }

    /// Plays the part of the fault that comes before the response head: a delay, or no answer at
    /// all. Returns the failure to answer with when the fault is an error status (each dialect
    /// renders it in its own error shape); `None` when the normal answer should follow. `nth` is
    /// the request's number among those naming its model, from 1.
    async fn before_head(fault: Option<Fault>, nth: u64) -> Option<Failure> {
        match fault? {
            // The low bit of a well-mixed hash: about half fail, in an order that is not a
            // simple alternation (a router that retries "the other one" must not pass by luck),
            // and the same in every run.
            Fault::Flaky => (splitmix64(nth) & 1 == 1).then_some(Failure::Flaky),
            Fault::ServerError => Some(Failure::ServerError),
            Fault::Unavailable => Some(Failure::Unavailable),
            Fault::RateLimited => Some(Failure::RateLimited),
            Fault::Rejected => Some(Failure::Rejected),
            Fault::FlatRejected => Some(Failure::FlatRejected),
            Fault::Overloaded => Some(Failure::Overloaded),
            Fault::SlowFirstByte => {
                tokio::time::sleep(SLOW_FIRST_BYTE).await;
                None
            }
            Fault::Hang => {
                // Never answers. The future is dropped when hyper notices the client left, or
                // when the mock stops and aborts the connection.
                let never: Infallible = std::future::pending().await;
                match never {}
            }
            Fault::CutStream
            | Fault::NoUsage
            | Fault::StreamError
            | Fault::EarlyStreamError
            | Fault::SlowStream
            | Fault::Blocked => None,
        }
    }
}

/// What a request's model name asks of the mock: a delay before the response head
/// (`latency-<N>-<model>`), then the fault the rest of the name selects, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) latency: Duration,
    /// The fault the name selects once its latency prefix is removed; it also shapes the body.
    pub(crate) fault: Option<Fault>,
}

impl Plan {
    pub(crate) fn of(model: &str) -> Plan {
        let (latency, rest) = split_latency(model);
        Plan {
            latency,
            fault: Fault::from_model(rest),
        }
    }

    /// Plays everything before the response head: an outage answers at once, then the latency
    /// passes, then the fault plays. Returns the failure to answer with, if any.
    pub(crate) async fn before_head(self, turn: Turn) -> Option<Failure> {
        if turn.outage {
            return Some(Failure::ServerError);
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Fault::before_head(self.fault, turn.nth).await
    }
}

/// The model a name answers as: `latency-50-gpt` answers as `gpt` (the `reasoning-` and `cache-`
/// prefixes and Gemini's `gemini-3` checks read this), every other name as itself.
pub(crate) fn behaves_as(model: &str) -> &str {
    split_latency(model).1
}

/// Splits `latency-<N>-<rest>` into N milliseconds and a non-empty rest; any other name is no
/// latency and the whole name.
fn split_latency(model: &str) -> (Duration, &str) {
    let split = model
        .strip_prefix("latency-")
        .and_then(|rest| rest.split_once('-'))
        .filter(|(_, rest)| !rest.is_empty())
        .and_then(|(ms, rest)| Some((Duration::from_millis(ms.parse().ok()?), rest)));
    split.unwrap_or((Duration::ZERO, model))
}

/// SplitMix64's output function: a cheap, well-mixed hash of a counter.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One request's place in its model's history, taken when the request arrives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Turn {
    /// Its number among the requests naming the same model, from 1 (0: the request named none).
    pub(crate) nth: u64,
    /// Whether a test had switched this model's outage on.
    pub(crate) outage: bool,
}

/// Per-model state of one mock: request counts and outages, keyed by the exact model name.
#[derive(Debug, Default)]
pub(crate) struct Models {
    // std Mutexes, not tokio's: each is held only for a map operation, never across an await.
    counts: Mutex<HashMap<String, u64>>,
    outages: Mutex<HashSet<String>>,
}

impl Models {
    /// Counts a request naming `model` and returns its turn.
    pub(crate) fn arrive(&self, model: &str) -> Turn {
        let nth = {
            let mut counts = lock(&self.counts);
            let count = counts.entry(model.to_owned()).or_insert(0);
            *count += 1;
            *count
        };
        Turn {
            nth,
            outage: lock(&self.outages).contains(model),
        }
    }

    /// How many requests named `model` so far.
    pub(crate) fn count(&self, model: &str) -> u64 {
        lock(&self.counts).get(model).copied().unwrap_or(0)
    }

    pub(crate) fn set_outage(&self, model: &str, on: bool) {
        let mut outages = lock(&self.outages);
        if on {
            outages.insert(model.to_owned());
        } else {
            outages.remove(model);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks can only be an allocation failure mid-insert; the
    // map is still valid then, so keep using it rather than poisoning every later request.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An error status a fault answers with, before any dialect has given it a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// `fault-500`.
    ServerError,
    /// `fault-503`.
    Unavailable,
    /// `fault-429`.
    RateLimited,
    /// `fault-400`.
    Rejected,
    /// `fault-flat-400`: OpenAI's flat body; other dialects answer as for `fault-400`.
    FlatRejected,
    /// `fault-529`: Anthropic's 529; other dialects answer their own "overloaded" 503.
    Overloaded,
    /// `fault-flaky-503` when it fails: `fault-503`'s answer without `retry-after`, so a router
    /// that honours the header is not slowed down by it.
    Flaky,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_prefix_delays_then_answers_as_the_rest() {
        let plan = Plan::of("latency-50-gpt");
        assert_eq!(plan.latency, Duration::from_millis(50));
        assert_eq!(plan.fault, None);
        assert_eq!(
            Plan::of("latency-10-fault-500").fault,
            Some(Fault::ServerError)
        );
        assert_eq!(behaves_as("latency-10-reasoning-gpt"), "reasoning-gpt");
        for plain in [
            "latency-",
            "latency-10",
            "latency-10-",
            "latency-x-gpt",
            "gpt",
        ] {
            assert_eq!(Plan::of(plain).latency, Duration::ZERO, "{plain}");
            assert_eq!(behaves_as(plain), plain);
        }
    }

    #[test]
    fn flaky_fails_about_half_the_time_in_a_fixed_irregular_order() {
        let fails: Vec<bool> = (1..=64).map(|n| splitmix64(n) & 1 == 1).collect();
        let count = fails.iter().filter(|&&failed| failed).count();
        assert!((20..=44).contains(&count), "{count} of 64 failed");
        assert!(
            fails.windows(2).any(|pair| pair[0] == pair[1]),
            "not a strict alternation"
        );
    }
}
