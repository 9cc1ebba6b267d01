//! The request-log writer: rows leave the hot path through a bounded channel and are written
//! in batches by one background task.
//!
//! Invariant: a row handed to [`LogSender::send`] is written before the writer task ends. The
//! task ends only when every sender is gone (the server stopped and every stream finished), and
//! drains the channel first; a failed write is retried, never dropped.

use std::time::Duration;
use switchyard_core::log::RequestLog;
use switchyard_store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug)]
pub struct WriterConfig {
    /// Most rows in one INSERT transaction.
    pub batch_size: usize,
    /// Longest a row waits for its batch to fill.
    pub flush_interval: Duration,
    /// Rows queued before senders spill to a task (see `send`).
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: 512,
            flush_interval: Duration::from_millis(200),
            queue: 65_536,
        }
    }
}

/// The hot path's handle. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct LogSender {
    tx: mpsc::Sender<RequestLog>,
}

impl LogSender {
    /// Queues a row without waiting. If the queue is full (the store is slow), the row is
    /// handed to a task that waits for room: the request never blocks on the database, and the
    /// row is still never dropped.
    pub fn send(&self, row: RequestLog) {
        match self.tx.try_send(row) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(row)) => {
                metrics::counter!("switchyard_log_queue_full_total").increment(1);
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    if tx.send(row).await.is_err() {
                        tracing::error!("request log row lost: writer stopped");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("request log row lost: writer stopped");
            }
        }
    }
}

/// Starts the writer. Await the handle after dropping every `LogSender` to flush everything.
pub fn spawn(store: Store, config: WriterConfig) -> (LogSender, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let handle = tokio::spawn(run(store, config, rx));
    (LogSender { tx }, handle)
}

async fn run(store: Store, config: WriterConfig, mut rx: mpsc::Receiver<RequestLog>) {
    let mut batch = Vec::with_capacity(config.batch_size);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + config.flush_interval;
        while batch.len() < config.batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(row)) => batch.push(row),
                // Channel closed (shutdown) or the interval passed: write what we have.
                Ok(None) | Err(_) => break,
            }
        }
        write(&store, &batch).await;
        batch.clear();
    }
}

/// Writes one batch, retrying with backoff until it succeeds. Rows have unique ids and the
/// store ignores duplicates, so a retry after an ambiguous failure cannot double a row.
async fn write(store: &Store, batch: &[RequestLog]) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match store.insert_request_logs(batch).await {
            Ok(()) => {
                metrics::counter!("switchyard_log_rows_written_total")
                    .increment(batch.len() as u64);
                return;
            }
            Err(e) => {
                metrics::counter!("switchyard_log_write_errors_total").increment(1);
                tracing::warn!(error = %e, rows = batch.len(), "request log write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
