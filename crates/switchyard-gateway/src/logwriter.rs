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

/// How often a filling batch looks for new rows. Waking once per tick instead of once per
/// row keeps the writer off the hot path's scheduler: at 3,000 requests/s a tick gathers ~30.
const GATHER_TICK: Duration = Duration::from_millis(10);

async fn run(store: Store, config: WriterConfig, mut rx: mpsc::Receiver<RequestLog>) {
    let mut batch = Vec::with_capacity(config.batch_size);
    // `recv_many` waits for the first row of a batch and takes whatever else is queued.
    while rx.recv_many(&mut batch, config.batch_size).await > 0 {
        let deadline = tokio::time::Instant::now() + config.flush_interval;
        let mut open = true;
        while open && batch.len() < config.batch_size {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            tokio::time::sleep(GATHER_TICK.min(deadline - now)).await;
            open = gather(&mut rx, &mut batch, config.batch_size);
        }
        write(&store, &batch).await;
        batch.clear();
    }
}

/// Moves queued rows into `batch` without waiting. False once every sender is gone: the
/// batch is then written at once and the next `recv_many` drains the rest.
fn gather(rx: &mut mpsc::Receiver<RequestLog>, batch: &mut Vec<RequestLog>, max: usize) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(row) => batch.push(row),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::usage::UsageSource;
    use switchyard_core::{Nanos, RequestId};
    use switchyard_store::test_support::TestDb;
    use switchyard_store::{Backend, LogFilter};

    fn row() -> RequestLog {
        RequestLog {
            id: RequestId::new(),
            created_at: 1,
            user_id: None,
            key_id: None,
            endpoint: "chat.completions".into(),
            model: "m".into(),
            provider: None,
            upstream_model: None,
            stream: false,
            prompt_tokens: 1,
            completion_tokens: 1,
            cached_tokens: 0,
            reasoning_tokens: 0,
            usage_source: UsageSource::Upstream,
            cost: Nanos(1),
            latency_us: 1,
            ttft_us: None,
            status: 200,
            error_code: None,
            client_ip: None,
        }
    }

    async fn count(store: &Store) -> usize {
        let filter = LogFilter {
            limit: 100_000,
            ..LogFilter::default()
        };
        store.list_request_logs(&filter).await.unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_row_is_written_before_the_writer_ends() {
        let db = TestDb::create(Backend::Sqlite).await;
        let store = db.store().await;
        let config = WriterConfig {
            batch_size: 64,
            flush_interval: Duration::from_secs(30),
            // Smaller than the load, so senders also spill to waiting tasks.
            queue: 100,
        };
        let (tx, handle) = spawn(store.clone(), config);
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for _ in 0..500 {
                        tx.send(row());
                    }
                })
            })
            .collect();
        for sender in senders {
            sender.await.unwrap();
        }
        drop(tx);
        // Spilled rows hold a sender until they are queued; the writer outlives them all.
        tokio::time::timeout(Duration::from_secs(20), handle)
            .await
            .expect("the writer drains and ends")
            .unwrap();
        assert_eq!(count(&store).await, 2_000);
    }

    #[tokio::test]
    async fn a_lone_row_is_written_after_the_flush_interval() {
        let db = TestDb::create(Backend::Sqlite).await;
        let store = db.store().await;
        let config = WriterConfig {
            batch_size: 512,
            flush_interval: Duration::from_millis(50),
            queue: 16,
        };
        let (tx, _handle) = spawn(store.clone(), config);
        tx.send(row());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while count(&store).await == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the row was never flushed while the sender lives"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(count(&store).await, 1);
        drop(tx);
    }
}
