//! The writer: request-log rows, ledger transfers and (for keys that capture it) request
//! content leave the hot path through one bounded channel and are written in batches by one
//! background task.
//!
//! Invariant: a record handed to [`LogSender`] is written before the writer task ends. The
//! task ends only when every sender is gone (the server stopped and every stream finished), and
//! drains the channel first; a failed write is retried, never dropped (every write is
//! idempotent). One channel keeps a request's hold ahead of its settlement.
//!
//! Holds are parked before they are written (`park.rs`): most requests settle within
//! [`WriterConfig::hold_write_delay`], and then one posted transfer is written instead of a
//! hold, its resolution and the open-hold bookkeeping between them.

mod park;

use crate::capture::Captured;
use crate::money::Money;
use crate::pipeline::now_millis;
use std::sync::Arc;
use std::time::Duration;
use switchyard_core::content::ContentLog;
use switchyard_core::ledger::Transfer;
use switchyard_core::log::RequestLog;
use switchyard_store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug)]
pub struct WriterConfig {
    /// Most records (log rows, transfers, content) in one batch.
    pub batch_size: usize,
    /// Longest a row waits for its batch to fill.
    pub flush_interval: Duration,
    /// Records queued before senders spill to a task (see `send`). Its last quarter is a
    /// reserve for requests already admitted: while less than that is free, new ones are
    /// refused (see [`LogSender::backlogged`]).
    pub queue: usize,
    /// How long a request's hold waits in memory before it is written to the ledger. Zero
    /// writes it with the batch that receives it (unless its settlement is in that batch).
    pub hold_write_delay: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: 2_048,
            flush_interval: Duration::from_millis(200),
            queue: 65_536,
            hold_write_delay: Duration::from_secs(2),
        }
    }
}

/// What the writer writes.
#[derive(Debug)]
pub enum Record {
    Log(Box<RequestLog>),
    Transfer(Box<Transfer>),
    /// A captured request and answer (`content_logs`).
    Content(Box<Captured>),
    /// Answered once everything queued before it is written.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// The hot path's handle. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct LogSender {
    tx: mpsc::Sender<Record>,
    /// Free room below which the queue counts as backlogged: a quarter of it.
    reserve: usize,
}

impl LogSender {
    pub fn send(&self, row: RequestLog) {
        self.send_record(Record::Log(Box::new(row)));
    }

    pub fn send_transfer(&self, transfer: Transfer) {
        self.send_record(Record::Transfer(Box::new(transfer)));
    }

    pub fn send_content(&self, captured: Captured) {
        self.send_record(Record::Content(Box::new(captured)));
    }

    /// True while less than the reserve (a quarter of the queue) is free: the store has fallen
    /// behind. The pipeline then refuses new requests, so the records of those already
    /// admitted always find room and memory stays bounded however long the store is away.
    /// One atomic load.
    pub fn backlogged(&self) -> bool {
        self.tx.capacity() < self.reserve
    }

    /// Records waiting in the queue now (its depth, for `/metrics`).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues the row of a request refused because of a backlog, if there is room now.
    /// Without room it is dropped and counted (`switchyard_log_rows_shed_total`): such a
    /// request moved no money, and keeping its row would need memory that a long outage
    /// would grow without bound.
    pub fn send_or_shed(&self, row: RequestLog) {
        if self.tx.try_send(Record::Log(Box::new(row))).is_err() {
            metrics::counter!("switchyard_log_rows_shed_total").increment(1);
        }
    }

    /// Returns once every record queued before this call is written.
    pub async fn flushed(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Record::Barrier(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Queues a record without waiting. If the queue is full (the store is slow), the record is
    /// handed to a task that waits for room: the request never blocks on the database, and the
    /// record is still never dropped.
    fn send_record(&self, row: Record) {
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
pub fn spawn(store: Store, config: WriterConfig, money: Arc<Money>) -> (LogSender, JoinHandle<()>) {
    let queue = config.queue.max(1);
    let (tx, rx) = mpsc::channel(queue);
    let handle = tokio::spawn(run(store, config, money, rx));
    let reserve = (queue / 4).max(1);
    (LogSender { tx, reserve }, handle)
}

/// How often a filling batch looks for new rows. Waking once per tick instead of once per
/// row keeps the writer off the hot path's scheduler: at 3,000 requests/s a tick gathers ~30.
const GATHER_TICK: Duration = Duration::from_millis(10);

async fn run(
    store: Store,
    config: WriterConfig,
    money: Arc<Money>,
    mut rx: mpsc::Receiver<Record>,
) {
    let mut batch = Vec::with_capacity(config.batch_size);
    let mut parked = park::Parked::default();
    let delay_ms = i64::try_from(config.hold_write_delay.as_millis()).unwrap_or(i64::MAX);
    loop {
        let due = parked.next_due(delay_ms);
        let open = next_batch(&mut rx, &mut batch, &config, due).await;
        let mut logs = Vec::new();
        let mut transfers = Vec::new();
        let mut contents = Vec::new();
        let mut barriers = Vec::new();
        for record in batch.drain(..) {
            match record {
                Record::Log(row) => logs.push(*row),
                Record::Transfer(t) => transfers.push(*t),
                // Bytes become text here, off the request path.
                Record::Content(c) => contents.push(c.into_row()),
                Record::Barrier(done) => barriers.push(done),
            }
        }
        // A barrier promises that everything queued before it is written, parked holds too;
        // so does the end of the channel.
        let everything = !open || !barriers.is_empty();
        let transfers = parked.take(transfers, now_millis(), delay_ms, everything);
        metrics::gauge!("switchyard_ledger_holds_parked").set(parked.len() as f64);
        // Transfers first: a crash between the two writes loses a log row, never a charge.
        write_transfers(&store, &money, &transfers).await;
        // The log rows carry the spend counters and rollups, counted once per row.
        write(&store, &logs).await;
        write_contents(&store, &contents).await;
        for done in barriers {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

/// Waits for the next batch: its first record (or, with holds parked, until the oldest is
/// `due`, Unix ms), then whatever else arrives within the flush interval, up to the batch
/// size. False once every sender is gone and the channel is empty.
async fn next_batch(
    rx: &mut mpsc::Receiver<Record>,
    batch: &mut Vec<Record>,
    config: &WriterConfig,
    due: Option<i64>,
) -> bool {
    // `recv_many` is cancel safe: a timeout loses no record.
    let received = match due {
        None => rx.recv_many(batch, config.batch_size).await,
        Some(due) => {
            let wait =
                Duration::from_millis(u64::try_from(due.saturating_sub(now_millis())).unwrap_or(0));
            match tokio::time::timeout(wait, rx.recv_many(batch, config.batch_size)).await {
                Ok(n) => n,
                // Time to write the holds that fell due; no record came.
                Err(_) => return true,
            }
        }
    };
    if received == 0 {
        return false;
    }
    let deadline = tokio::time::Instant::now() + config.flush_interval;
    let mut open = true;
    while open && batch.len() < config.batch_size {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break;
        }
        tokio::time::sleep(GATHER_TICK.min(deadline - now)).await;
        open = gather(rx, batch, config.batch_size);
    }
    true
}

/// Moves queued rows into `batch` without waiting. False once every sender is gone: the
/// batch is then written at once and the next `recv_many` drains the rest.
fn gather(rx: &mut mpsc::Receiver<Record>, batch: &mut Vec<Record>, max: usize) -> bool {
    while batch.len() < max {
        match rx.try_recv() {
            Ok(row) => batch.push(row),
            Err(mpsc::error::TryRecvError::Empty) => return true,
            Err(mpsc::error::TryRecvError::Disconnected) => return false,
        }
    }
    true
}

/// Runs `attempt` until it succeeds, waiting 50 ms after the first failure and twice as long
/// after each next one, up to 5 s. Every write it serves is idempotent, so a retry after an
/// ambiguous failure cannot write anything twice. `errors` counts the failures.
async fn until_written<T, E, F, Fut>(
    what: &str,
    records: usize,
    errors: &'static str,
    mut attempt: F,
) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(50);
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(e) => {
                metrics::counter!(errors).increment(1);
                tracing::warn!(error = %e, records, "{what} write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Applies a batch of transfers. A transfer the ledger refuses (a bug: the hot path builds
/// only valid ones) is reported and skipped.
async fn write_transfers(store: &Store, money: &Money, transfers: &[Transfer]) {
    if transfers.is_empty() {
        return;
    }
    let batch = until_written(
        "ledger",
        transfers.len(),
        "switchyard_ledger_write_errors_total",
        || money.write(store, transfers),
    )
    .await;
    metrics::counter!("switchyard_ledger_transfers_written_total")
        .increment(transfers.len() as u64);
    for (t, result) in transfers.iter().zip(&batch.results) {
        if let Err(e) = result {
            metrics::counter!("switchyard_ledger_transfers_refused_total").increment(1);
            tracing::error!(transfer = %t.id, error = %e, "the ledger refused a transfer");
        }
    }
}

/// Writes a batch of log rows. Rows have unique ids and the store skips duplicates.
async fn write(store: &Store, batch: &[RequestLog]) {
    if batch.is_empty() {
        return;
    }
    until_written(
        "request log",
        batch.len(),
        "switchyard_log_write_errors_total",
        || store.insert_request_logs(batch),
    )
    .await;
    metrics::counter!("switchyard_log_rows_written_total").increment(batch.len() as u64);
}

/// Writes a batch of captured content (duplicates are skipped, like the log rows').
async fn write_contents(store: &Store, batch: &[ContentLog]) {
    if batch.is_empty() {
        return;
    }
    until_written(
        "content log",
        batch.len(),
        "switchyard_content_write_errors_total",
        || store.insert_content_logs(batch),
    )
    .await;
    metrics::counter!("switchyard_content_rows_written_total").increment(batch.len() as u64);
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
            channel: None,
            jurisdiction: None,
            stream: false,
            prompt_tokens: 1,
            completion_tokens: 1,
            cached_tokens: 0,
            reasoning_tokens: 0,
            usage_source: UsageSource::Upstream,
            cost: Nanos(1),
            provider_cost: Nanos(1),
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
            ..WriterConfig::default()
        };
        let (tx, handle) = spawn(
            store.clone(),
            config,
            Arc::new(Money::new(Default::default())),
        );
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
    async fn the_last_quarter_of_the_queue_is_kept_for_admitted_requests() {
        // No writer: the queue only fills.
        let (tx, mut rx) = mpsc::channel(8);
        let log = LogSender { tx, reserve: 2 };
        for queued in 0..6 {
            assert!(!log.backlogged(), "{queued} of 8 queued");
            log.send(row());
        }
        assert!(!log.backlogged(), "two free: the reserve is still whole");
        log.send(row());
        assert!(log.backlogged(), "one free: less than the reserve");
        assert_eq!(log.queued(), 7);
        // A refused request's row takes the last slot, then is shed rather than spilled.
        log.send_or_shed(row());
        log.send_or_shed(row());
        assert_eq!(log.queued(), 8);
        // An admitted request's row is never shed: it waits for room in a task.
        log.send(row());
        for _ in 0..9 {
            assert!(matches!(rx.recv().await, Some(Record::Log(_))));
        }
        assert!(rx.try_recv().is_err(), "the shed row was not kept");
        assert!(!log.backlogged());
    }

    #[tokio::test]
    async fn a_lone_row_is_written_after_the_flush_interval() {
        let db = TestDb::create(Backend::Sqlite).await;
        let store = db.store().await;
        let config = WriterConfig {
            batch_size: 512,
            flush_interval: Duration::from_millis(50),
            queue: 16,
            ..WriterConfig::default()
        };
        let (tx, _handle) = spawn(
            store.clone(),
            config,
            Arc::new(Money::new(Default::default())),
        );
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

    #[tokio::test]
    async fn a_settled_request_writes_one_transfer_and_a_long_one_its_hold() {
        use switchyard_core::ledger::{AccountId, Phase};
        let db = TestDb::create(Backend::Sqlite).await;
        let store = db.store().await;
        let config = WriterConfig {
            flush_interval: Duration::from_millis(20),
            hold_write_delay: Duration::from_millis(200),
            ..WriterConfig::default()
        };
        let (tx, _handle) = spawn(
            store.clone(),
            config,
            Arc::new(Money::new(Default::default())),
        );
        let user = switchyard_core::UserId::new();
        let (quick, long) = (RequestId::new(), RequestId::new());
        let now = now_millis();
        tx.send_transfer(Transfer::hold(quick, user, Nanos(100), now, 60_000));
        tx.send_transfer(Transfer::hold(long, user, Nanos(100), now, 60_000));
        tx.send_transfer(Transfer::settle(quick, user, Nanos(30), now));
        // Nothing else arrives: the writer wakes by itself when the long hold falls due.
        let me = AccountId::user(user);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while store
            .open_holds(Some(&me), None, 10)
            .await
            .unwrap()
            .is_empty()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the running request's hold was never written"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let written = store.transfers_of(&me, None, 10).await.unwrap();
        let phases: Vec<_> = written.iter().map(|e| e.transfer.phase.clone()).collect();
        assert_eq!(written.len(), 2, "{phases:?}");
        let settled = written
            .iter()
            .find(|e| e.transfer.phase == Phase::Posted)
            .expect("the settled request as one posted transfer");
        assert_eq!(settled.transfer.amount, Nanos(30));
        assert!(
            written
                .iter()
                .any(|e| matches!(e.transfer.phase, Phase::Pending { .. })),
            "{phases:?}"
        );
        assert_eq!(store.verify_ledger().await.unwrap(), Vec::<String>::new());
        drop(tx);
    }
}
