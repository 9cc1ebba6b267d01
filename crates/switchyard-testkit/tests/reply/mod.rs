//! One HTTP exchange with the mock through reqwest, kept whole even when the mock cuts the
//! connection mid-body, for the per-dialect test files.

#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;

/// What came back for one request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// The connection broke before the body ended.
    pub cut: bool,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// POSTs `body` to `url` with `headers` (and a JSON content type) and reads the whole answer.
pub async fn post(url: &str, headers: &[(&str, &str)], body: String) -> Reply {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut bytes = Vec::new();
    let mut cut = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes).unwrap(),
        cut,
    }
}
