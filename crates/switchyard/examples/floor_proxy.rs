//! The floor of Switchyard's stack (`bench/README.md`, "Where the floor is"): the smallest
//! proxy built of the parts Switchyard is built of (tokio's multi-threaded runtime, `axum::serve`,
//! hyper-util's pooled client, mimalloc) and nothing of its own work: no key, no routing, no
//! metering, no log. `bench/run.sh` runs it as the `floor` target beside `nginx` and
//! `switchyard`, so one table shows what the machine, the stack and Switchyard each cost.
//!
//!     cargo run --release -p switchyard --example floor_proxy -- 127.0.0.1:9000 http://127.0.0.1:8001/v1
//!
//! It forwards `POST /v1/chat/completions` to `{upstream}/chat/completions` with the client's
//! `authorization` header, and streams the answer back as it arrives. `RUNTIME=single` runs
//! one worker thread instead of one per core.

// A benchmark, not product code: a failed set-up is a failed run, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;

// The allocator of the `switchyard` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
    chat: axum::http::Uri,
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut outgoing = hyper::Request::post(upstream.chat.clone()).header(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(auth) = parts.headers.get(header::AUTHORIZATION) {
        outgoing = outgoing.header(header::AUTHORIZATION, auth);
    }
    let outgoing = outgoing.body(Full::new(body.to_bytes())).unwrap();
    match upstream.client.request(outgoing).await {
        Ok(answer) => {
            let (parts, incoming) = answer.into_parts();
            Response::from_parts(parts, Body::new(incoming))
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(base)) = (args.next(), args.next()) else {
        eprintln!("usage: floor_proxy LISTEN_ADDR UPSTREAM_BASE_URL");
        std::process::exit(2);
    };
    let mut runtime = if std::env::var("RUNTIME").as_deref() == Ok("single") {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().build().unwrap().block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let upstream = Arc::new(Upstream {
            client: Client::builder(TokioExecutor::new()).build(http),
            chat: format!("{}/chat/completions", base.trim_end_matches('/'))
                .parse()
                .unwrap(),
        });
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(forward))
            .with_state(upstream);
        let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
        println!("http://{}", listener.local_addr().unwrap());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.unwrap();
    });
}
