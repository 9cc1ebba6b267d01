//! The mock's Gemini routes over real HTTP: key checks, validation, camelCase and snake_case
//! input, answers, SSE and array streaming, usage conventions and every fault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard_testkit::MockUpstream;
use switchyard_testkit::mock::THOUGHT_SIGNATURE;

mod reply;
use reply::{Reply, post};

/// The chunks of a Gemini SSE stream.
trait Chunks {
    fn chunks(&self) -> Vec<Value>;
}

impl Chunks for Reply {
    /// The JSON of every `data:` frame; frames end in `\r\n\r\n` and nothing else is sent.
    fn chunks(&self) -> Vec<Value> {
        assert!(!self.body.contains("[DONE]"));
        assert!(!self.body.contains("event:"));
        self.body
            .split("\r\n\r\n")
            .filter(|frame| !frame.is_empty())
            .map(|frame| {
                let data = frame.strip_prefix("data: ").expect("a data frame");
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }
}

/// Posts `body` to `{gemini base}/models/{route}` with `key` as `x-goog-api-key`, if any.
async fn post_as(mock: &MockUpstream, key: Option<&str>, route: &str, body: String) -> Reply {
    let url = format!("{}/models/{route}", mock.gemini_base_url());
    match key {
        Some(key) => post(&url, &[("x-goog-api-key", key)], body).await,
        None => post(&url, &[], body).await,
    }
}

async fn generate(mock: &MockUpstream, model: &str, body: Value) -> Reply {
    let key = mock.api_key().to_owned();
    post_as(
        mock,
        Some(&key),
        &format!("{model}:generateContent"),
        body.to_string(),
    )
    .await
}

async fn stream(mock: &MockUpstream, model: &str, body: Value) -> Reply {
    let key = mock.api_key().to_owned();
    let route = format!("{model}:streamGenerateContent?alt=sse");
    post_as(mock, Some(&key), &route, body.to_string()).await
}

fn ask(prompt: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]})
}

fn weather() -> Value {
    json!({
        "contents": [{"role": "user", "parts": [{"text": "What is the weather in Oslo?"}]}],
        "tools": [{"functionDeclarations": [
            {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": "get_time"}
        ]}]
    })
}

/// The text of a response's (or chunk's) first candidate.
fn text(response: &Value) -> String {
    response["candidates"][0]["content"]["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter_map(|part| part["text"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_key_goes_in_a_header_or_the_query_and_a_wrong_one_is_a_400() {
    let mock = MockUpstream::spawn().await;
    let body = ask("hi").to_string();
    let wrong = post_as(
        &mock,
        Some("nope"),
        "gemini-2.5-mock:generateContent",
        body.clone(),
    )
    .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.json(),
        json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}})
    );
    let missing = post_as(&mock, None, "gemini-2.5-mock:generateContent", body.clone()).await;
    assert_eq!(missing.status, 403);
    assert_eq!(missing.json()["error"]["status"], "PERMISSION_DENIED");
    let route = format!("gemini-2.5-mock:generateContent?key={}", mock.api_key());
    let by_query = post_as(&mock, None, &route, body).await;
    assert_eq!(by_query.status, 200, "{}", by_query.body);
    assert!(by_query.headers.get("x-ratelimit-limit-requests").is_none());
}

#[tokio::test]
async fn invalid_requests_get_400_invalid_argument() {
    let mock = MockUpstream::spawn().await;
    let call = |signed: bool| {
        let mut part = json!({"functionCall": {"name": "get_weather", "args": {}}});
        if signed {
            part["thoughtSignature"] = json!(THOUGHT_SIGNATURE);
        }
        json!({"role": "model", "parts": [part]})
    };
    let answer = |response: Value| json!({"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": response}}]});
    let user = json!({"role": "user", "parts": [{"text": "weather?"}]});
    let with_schema = |parameters: Value| json!({"contents": [user.clone()], "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}]});
    let cases = [
        (
            "gemini-2.5-mock",
            json!({"contents": []}),
            "contents is not specified",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            "valid role: user, model",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [{"role": "user", "parts": []}]}),
            "parts must not be empty",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [{"role": "user", "parts": [{"text": ""}]}]}),
            "empty text parameter",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [user.clone(), call(true), answer(json!("3C"))]}),
            "google.protobuf.Struct",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [user.clone(), call(true), user.clone()]}),
            "number of function response parts",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [user.clone(), answer(json!({}))]}),
            "immediately after a function call turn",
        ),
        (
            "gemini-3-mock",
            json!({"contents": [user.clone(), call(false), answer(json!({"r": 1}))]}),
            "thought_signature",
        ),
        (
            "gemini-2.5-mock",
            with_schema(json!({"type": "object", "additionalProperties": false})),
            "Unknown name \"additionalProperties\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(json!({"$schema": "x", "type": "object"})),
            "Unknown name \"$schema\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(
                json!({"type": "object", "properties": {"a": {"type": "string", "default": "x"}}}),
            ),
            "Unknown name \"default\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(json!({"type": "object", "properties": {"a": {"const": "x"}}})),
            "Unknown name \"const\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(json!({"$defs": {}, "type": "object"})),
            "Unknown name \"$defs\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(json!({"type": "object", "properties": {"a": {"$ref": "#/x"}}})),
            "Unknown name \"$ref\"",
        ),
        (
            "gemini-2.5-mock",
            with_schema(
                json!({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}),
            ),
            "Unknown name \"type\"",
        ),
        (
            "gemini-2.5-mock",
            json!({"contents": [user.clone()], "generationConfig": {"max_tokens": 5}}),
            "Unknown name \"max_tokens\"",
        ),
    ];
    for (model, body, expected) in cases {
        let reply = generate(&mock, model, body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        let error = reply.json();
        assert_eq!(error["error"]["code"], 400);
        assert_eq!(error["error"]["status"], "INVALID_ARGUMENT");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
    }
    // A property merely named like a forbidden key is fine, and a signed Gemini 3 replay passes.
    let named =
        with_schema(json!({"type": "object", "properties": {"default": {"type": "string"}}}));
    assert_eq!(generate(&mock, "gemini-2.5-mock", named).await.status, 200);
    let signed = json!({"contents": [user.clone(), call(true), answer(json!({"r": 1}))]});
    assert_eq!(generate(&mock, "gemini-3-mock", signed).await.status, 200);
}

#[tokio::test]
async fn an_answer_has_gemini_shape_and_snake_case_input_works_too() {
    let mock = MockUpstream::spawn().await;
    let camel = json!({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Tell me about the sea today please"}, {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}]}],
        "generationConfig": {"maxOutputTokens": 100, "temperature": 0.5}
    });
    let reply = generate(&mock, "gemini-2.5-mock", camel).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Mock answer to: Tell me about the sea"}]}, "index": 0, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 8, "totalTokenCount": 17},
        "modelVersion": "gemini-2.5-mock", "responseId": "gemini-mock-1"
    });
    assert_eq!(reply.json(), expected);

    let snake = json!({
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Tell me about the sea today please"}, {"inline_data": {"mime_type": "image/png", "data": "iVBOR"}}]}],
        "generation_config": {"max_output_tokens": 2}
    });
    let cut = generate(&mock, "gemini-2.5-mock", snake).await.json();
    assert_eq!(text(&cut), "Mock answer");
    assert_eq!(cut["candidates"][0]["finishReason"], "MAX_TOKENS");
    assert_eq!(cut["usageMetadata"]["promptTokenCount"], 9);
}

#[tokio::test]
async fn weather_is_a_whole_signed_function_call_without_an_id() {
    let mock = MockUpstream::spawn().await;
    let reply = generate(&mock, "gemini-3-mock", weather()).await.json();
    let candidate = &reply["candidates"][0];
    assert_eq!(candidate["finishReason"], "STOP");
    assert_eq!(
        candidate["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2lnLW1vY2s="}])
    );
    assert_eq!(reply["usageMetadata"]["candidatesTokenCount"], 8);

    // Replaying the call with its signature and a response gets an answer (snake_case this time).
    let mut next = weather();
    let contents = next["contents"].as_array_mut().unwrap();
    contents.push(candidate["content"].clone());
    contents.push(json!({"role": "user", "parts": [{"function_response": {"name": "get_weather", "response": {"result": "3 degrees"}}}]}));
    let answered = generate(&mock, "gemini-3-mock", next).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert_eq!(
        text(&answered.json()),
        "Mock answer to: What is the weather in"
    );

    let mut off = weather();
    off["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let plain = generate(&mock, "gemini-2.5-mock", off).await.json();
    assert!(text(&plain).starts_with("Mock answer to:"));
}

#[tokio::test]
async fn sse_streams_a_word_per_chunk_with_finish_and_usage_last() {
    let mock = MockUpstream::spawn().await;
    let reply = stream(&mock, "gemini-2.5-mock", ask("hello there")).await;
    assert_eq!(reply.status, 200);
    let chunks = reply.chunks();
    assert_eq!(chunks.len(), 5);
    let words: Vec<String> = chunks.iter().map(text).collect();
    assert_eq!(words, ["Mock", " answer", " to:", " hello", " there"]);
    for chunk in &chunks[..4] {
        assert!(chunk.get("usageMetadata").is_none());
        assert!(chunk["candidates"][0].get("finishReason").is_none());
        assert_eq!(chunk["responseId"], "gemini-mock-1");
        assert_eq!(chunk["modelVersion"], "gemini-2.5-mock");
    }
    let last = &chunks[4];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(
        last["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 5, "totalTokenCount": 7})
    );

    let calls = stream(&mock, "gemini-2.5-mock", weather()).await.chunks();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "get_weather"
    );
    assert_eq!(calls[0]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn without_alt_sse_the_stream_is_a_json_array_of_chunks() {
    let mock = MockUpstream::spawn().await;
    let key = mock.api_key().to_owned();
    let route = "gemini-2.5-mock:streamGenerateContent";
    let reply = post_as(&mock, Some(&key), route, ask("hi").to_string()).await;
    assert_eq!(reply.status, 200);
    let chunks = reply.json();
    let chunks = chunks.as_array().unwrap();
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        chunks.iter().map(text).collect::<String>(),
        "Mock answer to: hi"
    );
    let failed = post_as(
        &mock,
        Some(&key),
        "fault-500:streamGenerateContent",
        ask("hi").to_string(),
    )
    .await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json()[0]["error"]["status"], "INTERNAL");
}

#[tokio::test]
async fn reasoning_models_count_thoughts_apart_and_cache_models_inside_the_prompt() {
    let mock = MockUpstream::spawn().await;
    let thought = generate(&mock, "reasoning-gemini", ask("one two"))
        .await
        .json();
    assert_eq!(
        thought["usageMetadata"],
        json!({"promptTokenCount": 2, "candidatesTokenCount": 5, "thoughtsTokenCount": 1000, "totalTokenCount": 1007})
    );
    let cached = generate(&mock, "cache-gemini", ask("one two three"))
        .await
        .json();
    assert_eq!(
        cached["usageMetadata"],
        json!({"promptTokenCount": 13, "candidatesTokenCount": 6, "cachedContentTokenCount": 10, "totalTokenCount": 19})
    );
    let streamed = stream(&mock, "cache-gemini", ask("x")).await.chunks();
    assert_eq!(
        streamed.last().unwrap()["usageMetadata"]["cachedContentTokenCount"],
        10
    );
}

#[tokio::test]
async fn error_faults_answer_in_google_shape_stream_or_not() {
    let mock = MockUpstream::spawn().await;
    let cases = [
        ("fault-500", 500, "INTERNAL"),
        ("fault-503", 503, "UNAVAILABLE"),
        ("fault-529", 503, "UNAVAILABLE"),
        ("fault-429", 429, "RESOURCE_EXHAUSTED"),
        ("fault-400", 400, "INVALID_ARGUMENT"),
    ];
    for (model, status, grpc) in cases {
        for reply in [
            generate(&mock, model, ask("hi")).await,
            stream(&mock, model, ask("hi")).await,
        ] {
            assert_eq!(reply.status, status, "{model}");
            let error = reply.json();
            assert_eq!(error["error"]["code"], status, "{model}");
            assert_eq!(error["error"]["status"], grpc, "{model}");
        }
    }
    let limited = generate(&mock, "fault-429", ask("hi")).await.json();
    assert_eq!(
        limited["error"]["details"],
        json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}])
    );
}

#[tokio::test]
async fn blocked_prompts_get_200_with_prompt_feedback_and_no_candidates() {
    let mock = MockUpstream::spawn().await;
    for reply in [
        generate(&mock, "fault-blocked", ask("bad words"))
            .await
            .json(),
        stream(&mock, "fault-blocked", ask("bad words"))
            .await
            .chunks()
            .remove(0),
    ] {
        assert!(reply.get("candidates").is_none());
        assert_eq!(reply["promptFeedback"], json!({"blockReason": "SAFETY"}));
        assert_eq!(reply["usageMetadata"]["promptTokenCount"], 2);
    }
}

#[tokio::test]
async fn slow_first_byte_waits_and_hang_never_answers() {
    let mock = MockUpstream::spawn().await;
    let started = Instant::now();
    let reply = generate(&mock, "fault-slow-first-byte", ask("hello")).await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(text(&reply.json()), "Mock answer to: hello");

    let hung = reqwest::Client::new()
        .post(format!(
            "{}/models/fault-hang:generateContent",
            mock.gemini_base_url()
        ))
        .header("x-goog-api-key", mock.api_key())
        .json(&ask("hello"))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
}

#[tokio::test]
async fn stream_faults_cut_drop_usage_fail_in_band_or_slow_down() {
    let mock = MockUpstream::spawn().await;
    let cut = stream(&mock, "fault-cut-stream", ask("a b c d")).await;
    assert!(cut.cut);
    assert_eq!(cut.chunks().len(), 3);
    let whole = generate(&mock, "fault-cut-stream", ask("a b")).await;
    assert!(whole.cut);

    let plain = generate(&mock, "fault-no-usage", ask("hi")).await.json();
    assert!(plain.get("usageMetadata").is_none());
    let chunks = stream(&mock, "fault-no-usage", ask("hi")).await.chunks();
    assert!(
        chunks
            .iter()
            .all(|chunk| chunk.get("usageMetadata").is_none())
    );
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );

    let failed = stream(&mock, "fault-stream-error", ask("a b c"))
        .await
        .chunks();
    assert_eq!(failed.len(), 3);
    assert_eq!(
        failed[..2].iter().map(text).collect::<String>(),
        "Mock answer"
    );
    assert_eq!(failed[2]["error"]["status"], "INTERNAL");

    let started = Instant::now();
    let slow = stream(&mock, "fault-slow-stream", ask("hi")).await.chunks();
    assert_eq!(slow.len(), 4);
    assert!(started.elapsed() >= Duration::from_millis(600));
}

#[tokio::test]
async fn the_model_comes_from_the_path_and_the_request_is_recorded() {
    let mock = MockUpstream::spawn().await;
    let mut body = ask("hi");
    body["model"] = json!("fault-500");
    let reply = generate(&mock, "gemini-2.5-mock", body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["modelVersion"], "gemini-2.5-mock");
    stream(&mock, "gemini-2.5-mock", ask("hi")).await;
    let recorded = mock.last_request().unwrap();
    assert_eq!(
        recorded.path,
        "/v1beta/models/gemini-2.5-mock:streamGenerateContent"
    );
    assert_eq!(recorded.query.as_deref(), Some("alt=sse"));
    assert_eq!(recorded.header("x-goog-api-key"), Some(mock.api_key()));
}
