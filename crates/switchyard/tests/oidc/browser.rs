//! The browser of the OpenID Connect suite: one cookie, the CSRF token, and no redirects
//! followed, so each `303` and its `Location` can be checked.

use serde_json::Value;
use switchyard_testkit::TestApp;

/// A browser: keeps the session cookie, sends the CSRF token it learnt from `/api/auth/me`,
/// and never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            csrf: None,
        }
    }

    /// Takes in the response's `Set-Cookie`, as a browser would (an empty value or
    /// `Max-Age=0` deletes the cookie).
    fn keep(&mut self, response: &reqwest::Response) {
        for header in response.headers().get_all("set-cookie") {
            let header = header.to_str().unwrap();
            let pair = header.split(';').next().unwrap().trim();
            let (name, value) = pair.split_once('=').unwrap();
            assert_eq!(name, "sy_session", "the only cookie Switchyard sets");
            self.cookie = if value.is_empty() || header.contains("Max-Age=0") {
                None
            } else {
                Some(pair.to_owned())
            };
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    pub async fn get(&mut self, url: &str) -> reqwest::Response {
        let request = self.http.get(url);
        self.send(request).await
    }

    /// A same-origin request of the web UI, with the CSRF token when it has one.
    pub async fn call(
        &mut self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, url)
            .header("sec-fetch-site", "same-origin");
        if let Some(csrf) = &self.csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// `GET /api/auth/me`: the signed-in user's id and email (learning the CSRF token), or
    /// `None` when not signed in.
    pub async fn me(&mut self, app: &TestApp) -> Option<(String, String)> {
        let response = self.get(&app.url("/api/auth/me")).await;
        if response.status() == 401 {
            return None;
        }
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        self.csrf = body["csrf_token"].as_str().map(str::to_owned);
        Some((
            body["user"]["id"].as_str().unwrap().to_owned(),
            body["user"]["email"].as_str().unwrap().to_owned(),
        ))
    }
}
