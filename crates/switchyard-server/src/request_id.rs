//! Gives every request an id (a UUIDv7, also the log row's id) and returns it as
//! `x-request-id` on every response, errors and 404s included.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use switchyard_core::RequestId;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = RequestId::new();
    request.extensions_mut().insert(id);
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
