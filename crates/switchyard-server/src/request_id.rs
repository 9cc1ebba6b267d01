//! Gives every request an id (a UUIDv7, also the log row's id) and returns it as
//! `x-request-id` on every response, errors and 404s included.
//!
//! A tower layer of its own rather than `axum::middleware::from_fn`: every request passes
//! through it, the inference API's too, and `from_fn` clones and boxes the inner service and
//! boxes its future on each call. This one inserts the id and wraps the inner future in place.

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use switchyard_core::RequestId;
use tower_layer::Layer;
use tower_service::Service;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The layer: `Router::layer(RequestIds)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestIds;

impl<S> Layer<S> for RequestIds {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> WithRequestId<S> {
        WithRequestId { inner }
    }
}

/// A service that runs `inner` with a fresh [`RequestId`] in the request's extensions.
#[derive(Clone, Debug)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for WithRequestId<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Stamped<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Stamped<S::Future> {
        let id = RequestId::new();
        request.extensions_mut().insert(id);
        Stamped {
            inner: self.inner.call(request),
            id,
        }
    }
}

pin_project! {
    /// The inner service's future; its response leaves with the id's header.
    pub struct Stamped<F> {
        #[pin]
        inner: F,
        id: RequestId,
    }
}

impl<F, E> Future for Stamped<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Ok(value) = HeaderValue::from_str(&this.id.to_string()) {
            response.headers_mut().insert(HEADER, value);
        }
        Poll::Ready(Ok(response))
    }
}
