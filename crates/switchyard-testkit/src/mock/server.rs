//! The accept loop: one task owns every connection, so stopping it closes them all.
//!
//! `axum::serve` detaches its connection tasks, which would let a `fault-hang` request outlive
//! the mock; here the connections live in a `JoinSet` that is dropped, and so aborted, together
//! with the loop.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::MockOptions;
use super::faults::Models;
use super::record::Recorder;
use super::route;

/// State every connection of one mock shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) options: MockOptions,
    pub(crate) recorder: Recorder,
    /// Requests per model name and the outages tests switched on.
    pub(crate) models: Models,
    /// Numbers requests from 1; ids derived from it are deterministic for sequential tests.
    seq: AtomicU64,
    /// Requests being handled whose response head is not out yet (a `fault-hang` request stays
    /// here until its client goes away).
    pub(crate) awaiting_head: AtomicU64,
}

impl Shared {
    pub(crate) fn new(options: MockOptions) -> Self {
        Self {
            recorder: Recorder::new(options.record),
            models: Models::default(),
            awaiting_head: AtomicU64::new(0),
            options,
            seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Accepts connections until the task running it is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors under a benchmark, or a peer that reset before we
                // accepted: wait a moment instead of spinning, then keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    // Streams are many small writes; Nagle's algorithm would hold each frame back.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route::handle(&shared, request).await) }
    });
    // An error here is a client that went away or a fault that cut the body on purpose.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
