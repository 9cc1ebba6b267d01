//! Fault injection, chosen by the request's `model` name (the table is in the module doc of
//! `mock`). A fault acts in up to two places: before the response head (an error status, a delay,
//! or no answer at all) and in the body (a cut, a missing usage, an in-band error, slow frames).

use std::convert::Infallible;
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
    SlowStream,
    Overloaded,
    Blocked,
}

impl Fault {
    pub(crate) const ALL: [Fault; 13] = [
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
        Fault::SlowStream,
        Fault::Overloaded,
        Fault::Blocked,
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
            Fault::SlowStream => "fault-slow-stream",
            Fault::Overloaded => "fault-529",
            Fault::Blocked => "fault-blocked",
        }
    }

    /// The fault a request's model selects, if any.
    pub(crate) fn from_model(model: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.model() == model)
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
    /// renders it in its own error shape); `None` when the normal answer should follow.
    pub(crate) async fn before_head(fault: Option<Fault>) -> Option<Failure> {
        match fault? {
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
            | Fault::SlowStream
            | Fault::Blocked => None,
        }
    }
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
}
