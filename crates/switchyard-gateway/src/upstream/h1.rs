//! Plain-HTTP/1.1 upstream connections driven by the request's own task.
//!
//! hyper-util's pooled client runs every connection as a task of its own: the request reaches
//! that task through a channel, and the head and each body chunk come back through others, so
//! one exchange wakes two tasks several times. For `http://` upstreams (a local vLLM or Ollama,
//! a sidecar that terminates TLS, the mock of the tests and benchmarks) this pool keeps idle
//! connections and lets the task that sends a request poll the connection itself: while it
//! waits for the head, and then through [`Body`] while the body is read. A connection goes
//! back to the pool only once its body was read to the end; a body dropped early closes it,
//! as hyper does. TLS and HTTP/2 stay on the pooled client.
//!
//! **Invariant:** a connection is polled by one task at a time and never after it finished.
//! **Boundary:** a request is retried on a new connection only when hyper hands it back
//! unsent (the idle connection had closed); one already written is never sent twice.

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

type Io = TokioIo<TcpStream>;

/// The state machine that does a connection's I/O, pinned once when it is opened.
type Driver = Pin<Box<http1::Connection<Io, Full<Bytes>>>>;

/// Idle connections kept per upstream, like the pooled client's `pool_max_idle_per_host`.
const MAX_IDLE: usize = 1024;

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// One HTTP/1.1 connection: the handle requests are sent through and the state machine that
/// does the I/O, polled by whoever holds it.
struct Conn {
    send: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection finished (closed by either side or failed).
    io: Option<Driver>,
    idle_since: Instant,
}

impl Conn {
    /// Moves the connection's I/O forward; false once it finished.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(io) = &mut self.io
            && io.as_mut().poll(cx).is_ready()
        {
            self.io = None;
        }
        self.io.is_some()
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be opened.
    Connect(String),
    /// The connection failed before the response head.
    Exchange(hyper::Error),
}

/// The idle connections to one `http://` origin.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: HttpConnector,
    /// The upstream's URL; the connector dials its host and port and ignores the path.
    origin: Uri,
    host: HeaderValue,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// A pool for the host and port of `origin` (an `http://` URL, whose path is not used),
    /// dialled with `connector`.
    pub fn new(origin: Uri, connector: HttpConnector) -> Result<Pool, String> {
        let authority = origin
            .authority()
            .ok_or_else(|| format!("`{origin}` names no host"))?;
        // Host and port only: a user and password in the URL never go into a header.
        let host = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        let host = HeaderValue::from_str(&host)
            .map_err(|_| format!("`{host}` is not a valid Host header"))?;
        Ok(Pool {
            inner: Arc::new(Inner {
                connector,
                origin,
                host,
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Sends `request` (its URI in origin form, `/path?query`) and returns the head, with a
    /// body that drives the connection while it is read.
    pub async fn send(&self, mut request: Request<Full<Bytes>>) -> Result<Response<Body>, Failure> {
        request
            .headers_mut()
            .insert(http::header::HOST, self.inner.host.clone());
        loop {
            let (mut conn, reused) = match self.checkout() {
                Some(conn) => (conn, true),
                None => (self.connect().await?, false),
            };
            let mut response = pin!(conn.send.try_send_request(request));
            let head = poll_fn(|cx| {
                conn.drive(cx);
                response.as_mut().poll(cx)
            })
            .await;
            match head {
                Ok(head) => {
                    let pool = self.clone();
                    return Ok(head.map(|incoming| Body {
                        incoming,
                        conn: Some(conn),
                        pool,
                    }));
                }
                Err(mut e) => match e.take_message() {
                    // An idle connection the server had closed: nothing was sent on it.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(Failure::Exchange(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open, if any.
    fn checkout(&self) -> Option<Conn> {
        loop {
            let mut conn = self.idle().pop()?;
            if conn.idle_since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // One poll reads what arrived while the connection sat idle: a close from the
            // server finishes it here, before a request is trusted to it.
            let mut cx = Context::from_waker(Waker::noop());
            if conn.drive(&mut cx) && !conn.send.is_closed() {
                return Some(conn);
            }
        }
    }

    fn checkin(&self, mut conn: Conn) {
        conn.idle_since = Instant::now();
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    /// The idle list. A panic while it was held cannot leave it inconsistent (a push or a
    /// pop), so a poisoned lock is used as it is.
    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let mut connector = self.inner.connector.clone();
        let io = tower_service::Service::call(&mut connector, self.inner.origin.clone())
            .await
            .map_err(|e| Failure::Connect(super::remote::error_chain(&e)))?;
        let (send, io) = http1::handshake(io).await.map_err(Failure::Exchange)?;
        Ok(Conn {
            send,
            io: Some(Box::pin(io)),
            idle_since: Instant::now(),
        })
    }
}

/// A response body that drives its connection while it is read, and returns the connection to
/// the pool when it reaches its end.
pub struct Body {
    incoming: Incoming,
    /// `None` once returned to the pool.
    conn: Option<Conn>,
    pool: Pool,
}

impl Stream for Body {
    type Item = Result<Bytes, hyper::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(conn) = &mut this.conn {
                conn.drive(cx);
            }
            match Pin::new(&mut this.incoming).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    if let Some(conn) = this.conn.take()
                        && conn.io.is_some()
                    {
                        this.pool.checkin(conn);
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// How the test server answers each request on a connection.
    #[derive(Clone, Copy)]
    enum Answer {
        /// `ok`, then the connection stays open.
        KeepAlive,
        /// `ok`, then the server closes the connection without saying so in a header.
        ThenClose,
        /// A chunked body in three parts, 20 ms apart.
        Chunked,
    }

    /// A server on a random port that counts the connections it accepted.
    async fn server(answer: Answer) -> (Uri, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        // A request is a head and a `content-length` body; read both.
                        let mut chunk = [0u8; 4096];
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buffer).to_string();
                        let Some(end) = text.find("\r\n\r\n") else {
                            continue;
                        };
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buffer.len() < end + 4 + length {
                            continue;
                        }
                        assert!(text.starts_with("POST /v1/chat HTTP/1.1\r\n"), "{text}");
                        assert!(text.contains("\r\nhost: 127.0.0.1:"), "{text}");
                        buffer.drain(..end + 4 + length);
                        match answer {
                            Answer::KeepAlive | Answer::ThenClose => {
                                socket
                                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                                    .await
                                    .unwrap();
                                if matches!(answer, Answer::ThenClose) {
                                    return;
                                }
                            }
                            Answer::Chunked => {
                                socket
                                    .write_all(
                                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                                    )
                                    .await
                                    .unwrap();
                                for part in ["a", "b", "c"] {
                                    tokio::time::sleep(Duration::from_millis(20)).await;
                                    let frame = format!("1\r\n{part}\r\n");
                                    socket.write_all(frame.as_bytes()).await.unwrap();
                                }
                                socket.write_all(b"0\r\n\r\n").await.unwrap();
                            }
                        }
                    }
                });
            }
        });
        (origin, accepted)
    }

    #[test]
    fn the_host_header_names_host_and_port_never_a_password() {
        let pool = Pool::new(
            "http://user:secret@models.internal:8000/".parse().unwrap(),
            HttpConnector::new(),
        )
        .unwrap();
        assert_eq!(pool.inner.host, "models.internal:8000");
        let pool = Pool::new("http://localhost/v1".parse().unwrap(), HttpConnector::new()).unwrap();
        assert_eq!(pool.inner.host, "localhost");
    }

    fn pool(origin: Uri) -> Pool {
        Pool::new(origin, HttpConnector::new()).unwrap()
    }

    fn request() -> Request<Full<Bytes>> {
        Request::post("/v1/chat")
            .body(Full::new(Bytes::from_static(b"{\"model\":\"m\"}")))
            .unwrap()
    }

    async fn body_of(pool: &Pool) -> String {
        let response = pool.send(request()).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut text = String::new();
        while let Some(chunk) = body.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        text
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_body_was_read() {
        let (origin, accepted) = server(Answer::KeepAlive).await;
        let pool = pool(origin);
        for _ in 0..5 {
            assert_eq!(body_of(&pool).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_closes_its_connection() {
        let (origin, accepted) = server(Answer::Chunked).await;
        let pool = pool(origin);
        let response = pool.send(request()).await.unwrap();
        drop(response);
        assert_eq!(body_of(&pool).await, "abc");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // The connection whose body was read to the end is the one reused.
        assert_eq!(body_of(&pool).await, "abc");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_sent_in_parts_arrives_whole_while_the_reader_drives_it() {
        let (origin, _) = server(Answer::Chunked).await;
        let pool = pool(origin);
        let response = pool.send(request()).await.unwrap();
        let mut body = response.into_body();
        let mut parts = Vec::new();
        while let Some(chunk) = body.next().await {
            parts.push(chunk.unwrap());
        }
        assert_eq!(parts.concat(), b"abc");
        assert!(parts.len() >= 2, "the parts arrived 20 ms apart: {parts:?}");
    }

    #[tokio::test]
    async fn an_idle_connection_the_server_closed_is_not_reused() {
        let (origin, accepted) = server(Answer::ThenClose).await;
        let pool = pool(origin);
        for round in 1..=3 {
            // Give the server's close time to arrive, as it would between real requests.
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(body_of(&pool).await, "ok", "round {round}");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn many_requests_at_once_each_get_their_own_answer() {
        let (origin, accepted) = server(Answer::Chunked).await;
        let pool = pool(origin);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { body_of(&pool).await })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), "abc");
        }
        let opened = accepted.load(Ordering::SeqCst);
        assert!(opened <= 16, "{opened}");
        // Afterwards the idle connections serve without opening more.
        for _ in 0..16 {
            assert_eq!(body_of(&pool).await, "abc");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), opened);
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_failure() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin: Uri = format!("http://{}/", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        drop(listener);
        match pool(origin).send(request()).await {
            Err(Failure::Connect(text)) => assert!(!text.is_empty()),
            other => panic!(
                "expected a connect failure, got {:?}",
                other.map(|r| r.status())
            ),
        }
    }
}
