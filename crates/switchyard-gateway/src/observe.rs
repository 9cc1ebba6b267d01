//! Prometheus metrics of the hot path. Names are part of the operator's contract.

use switchyard_core::log::RequestLog;

/// Records the metrics of one finished request.
pub fn request_finished(row: &RequestLog) {
    let status = status_label(row.status);
    let endpoint = row.endpoint.clone();
    let model = row.model.clone();
    metrics::counter!("switchyard_requests_total", "endpoint" => endpoint.clone(), "model" => model.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("switchyard_request_duration_seconds", "endpoint" => endpoint, "model" => model.clone())
        .record(row.latency_us as f64 / 1e6);
    if let Some(ttft) = row.ttft_us {
        metrics::histogram!("switchyard_time_to_first_token_seconds", "model" => model.clone())
            .record(ttft as f64 / 1e6);
    }
    if row.prompt_tokens > 0 || row.completion_tokens > 0 {
        metrics::counter!("switchyard_tokens_total", "model" => model.clone(), "type" => "prompt")
            .increment(row.prompt_tokens);
        metrics::counter!("switchyard_tokens_total", "model" => model.clone(), "type" => "completion")
            .increment(row.completion_tokens);
    }
    if row.cost.0 > 0 {
        metrics::counter!("switchyard_cost_nanousd_total", "model" => model)
            .increment(row.cost.0.unsigned_abs());
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
