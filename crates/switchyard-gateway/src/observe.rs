//! Prometheus metrics of the hot path. Names are part of the operator's contract.

use arc_swap::ArcSwap;
use metrics::{Counter, Histogram};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use switchyard_core::log::RequestLog;

/// The handles one finished request records into, for one endpoint, model and status.
struct Handles {
    requests: Counter,
    duration: Histogram,
    ttft: Histogram,
    prompt_tokens: Counter,
    completion_tokens: Counter,
    cost: Counter,
}

impl Handles {
    fn register(endpoint: &str, model: &str, status: &'static str) -> Handles {
        let (endpoint, model) = (endpoint.to_owned(), model.to_owned());
        Handles {
            requests: metrics::counter!("switchyard_requests_total", "endpoint" => endpoint.clone(), "model" => model.clone(), "status" => status),
            duration: metrics::histogram!("switchyard_request_duration_seconds", "endpoint" => endpoint, "model" => model.clone()),
            ttft: metrics::histogram!("switchyard_time_to_first_token_seconds", "model" => model.clone()),
            prompt_tokens: metrics::counter!("switchyard_tokens_total", "model" => model.clone(), "type" => "prompt"),
            completion_tokens: metrics::counter!("switchyard_tokens_total", "model" => model.clone(), "type" => "completion"),
            cost: metrics::counter!("switchyard_cost_nanousd_total", "model" => model),
        }
    }
}

/// Model → (endpoint, status, handles). Registered once per combination, so a finished
/// request costs a map lookup rather than six label allocations and registry searches.
type Registered = HashMap<String, Vec<(String, &'static str, Arc<Handles>)>>;

static HANDLES: LazyLock<ArcSwap<Registered>> = LazyLock::new(ArcSwap::default);

/// Combinations kept; beyond this (clients inventing model names) handles are registered per
/// request, as they were before the cache, rather than growing it without bound.
const MOST_HANDLES: usize = 4_096;

/// How many combinations `HANDLES` holds, so a full cache is known without counting it.
static KEPT: AtomicUsize = AtomicUsize::new(0);

fn handles(endpoint: &str, model: &str, status: &'static str) -> Arc<Handles> {
    let found = HANDLES.load().get(model).and_then(|entries| {
        entries
            .iter()
            .find(|(e, s, _)| e == endpoint && *s == status)
            .map(|(_, _, h)| h.clone())
    });
    if let Some(handles) = found {
        return handles;
    }
    let fresh = Arc::new(Handles::register(endpoint, model, status));
    if KEPT.load(Ordering::Relaxed) < MOST_HANDLES {
        // `rcu` may run the closure again if another thread swapped meanwhile; the value of
        // `added` is that of the run that was stored.
        let mut added = false;
        HANDLES.rcu(|registered| {
            let mut registered = Registered::clone(registered);
            let entries = registered.entry(model.to_owned()).or_default();
            added = !entries
                .iter()
                .any(|(e, s, _)| e == endpoint && *s == status);
            if added {
                entries.push((endpoint.to_owned(), status, fresh.clone()));
            }
            registered
        });
        if added {
            KEPT.fetch_add(1, Ordering::Relaxed);
        }
    }
    fresh
}

/// Records the metrics of one finished request.
pub fn request_finished(row: &RequestLog) {
    let handles = handles(&row.endpoint, &row.model, status_label(row.status));
    handles.requests.increment(1);
    handles.duration.record(row.latency_us as f64 / 1e6);
    if let Some(ttft) = row.ttft_us {
        handles.ttft.record(ttft as f64 / 1e6);
    }
    if row.prompt_tokens > 0 || row.completion_tokens > 0 {
        handles.prompt_tokens.increment(row.prompt_tokens);
        handles.completion_tokens.increment(row.completion_tokens);
    }
    if row.cost.0 > 0 {
        handles.cost.increment(row.cost.0.unsigned_abs());
    }
}

/// Records an upstream failure (transport, timeout, or an error status).
pub fn upstream_error(provider: &str, kind: &'static str) {
    metrics::counter!("switchyard_upstream_errors_total", "provider" => provider.to_owned(), "kind" => kind).increment(1);
}

/// A request tried another channel after a failure.
pub fn retried(model: &str) {
    metrics::counter!("switchyard_retries_total", "model" => model.to_owned()).increment(1);
}

/// A retry was not made because the model's retry budget was spent.
pub fn retry_budget_exhausted(model: &str) {
    metrics::counter!("switchyard_retry_budget_exhausted_total", "model" => model.to_owned())
        .increment(1);
}

/// The circuit breaker ejected a channel.
pub fn channel_ejected(model: &str, channel: &str) {
    metrics::counter!("switchyard_channel_ejections_total", "model" => model.to_owned(), "channel" => channel.to_owned())
        .increment(1);
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        413 => "413",
        429 => "429",
        499 => "499",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => match other / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_cache_keeps_at_most_its_limit_and_counts_what_it_keeps() {
        let first = handles("chat", "observe-test-kept", "200");
        assert!(Arc::ptr_eq(
            &first,
            &handles("chat", "observe-test-kept", "200")
        ));
        for i in 0..MOST_HANDLES + 100 {
            handles("chat", &format!("observe-test-invented-{i}"), "200");
        }
        let stored: usize = HANDLES.load().values().map(Vec::len).sum();
        assert_eq!(stored, MOST_HANDLES);
        assert_eq!(KEPT.load(Ordering::Relaxed), MOST_HANDLES);
        // Kept combinations are still served from the cache; new ones are not added.
        assert!(Arc::ptr_eq(
            &first,
            &handles("chat", "observe-test-kept", "200")
        ));
        let late = handles("chat", "observe-test-late", "200");
        assert!(!Arc::ptr_eq(
            &late,
            &handles("chat", "observe-test-late", "200")
        ));
    }
}
