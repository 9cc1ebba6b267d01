//! Log rows and paged reads shared by the suites of the dashboard's JSON pages.

#![allow(dead_code)]

use switchyard_core::log::RequestLog;
use switchyard_core::usage::UsageSource;
use switchyard_core::{KeyId, Nanos, RequestId, UserId};
use switchyard_testkit::TestApp;

/// A log row of `user` at `created_at`, its counts and cost varying with the time.
pub fn row(
    created_at: i64,
    user: UserId,
    key: Option<KeyId>,
    model: &str,
    status: u16,
) -> RequestLog {
    RequestLog {
        id: RequestId::new(),
        created_at,
        user_id: Some(user),
        key_id: key,
        endpoint: "chat.completions".into(),
        model: model.into(),
        provider: Some("demo".into()),
        upstream_model: Some(model.into()),
        channel: Some("demo".into()),
        jurisdiction: Some("US".into()),
        stream: status == 200,
        prompt_tokens: 10 + (created_at % 7) as u64,
        completion_tokens: 20,
        cached_tokens: 3,
        reasoning_tokens: 1,
        usage_source: UsageSource::Upstream,
        cost: Nanos(1_000 + created_at % 13),
        provider_cost: Nanos(900),
        latency_us: 5_000 + (created_at % 11) as u64 * 1_000,
        ttft_us: (status == 200).then_some(1_500),
        status,
        error_code: (status != 200).then(|| "upstream_error".to_owned()),
        client_ip: None,
    }
}

/// Every id `path` (a query without `cursor` and `limit`) lists, following `next_cursor`.
pub async fn page_through(app: &TestApp, key: &str, path: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = app.get_json(&url, key).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= limit as usize);
        ids.extend(data.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(data.len(), limit as usize, "only a full page has a next");
                cursor = Some(next.to_owned());
            }
            None => return ids,
        }
    }
    panic!("paging did not end");
}
