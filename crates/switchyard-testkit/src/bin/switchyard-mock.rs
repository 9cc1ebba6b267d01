//! `switchyard-mock`: the mock upstream as a standalone server, for benchmarks.
//!
//! It prints the base URL of the OpenAI and Anthropic routes on stdout once it accepts
//! connections (the Gemini routes are under `/v1beta` on the same port) and stops on SIGINT or
//! SIGTERM.
//! Requests are neither logged nor recorded, so the mock costs the benchmark as little as it can.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use switchyard_testkit::{MockOptions, MockUpstream};

/// A mock upstream speaking OpenAI, Anthropic and Gemini (see the `mock` module of
/// switchyard-testkit for the routes and the fault models).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; loopback only, since the mock accepts a publicly known key.
    #[arg(long, default_value = "127.0.0.1:18090")]
    listen: SocketAddr,
    /// Delay before every response head, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between the frames of a stream, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    /// Worker threads of the runtime; defaults to one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// The key requests must carry (Bearer, `x-api-key` or `x-goog-api-key`, by route).
    #[arg(long, default_value = switchyard_testkit::mock::DEFAULT_API_KEY)]
    api_key: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: the mock serves only loopback addresses such as 127.0.0.1",
            args.listen
        );
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        if threads == 0 {
            bail!("--threads must be at least 1");
        }
        runtime.worker_threads(threads);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let options = MockOptions {
        latency: Duration::from_millis(args.latency_ms),
        chunk_delay: Duration::from_millis(args.chunk_delay_ms),
        record: false,
        api_key: args.api_key,
        ..MockOptions::default()
    };
    let mock = MockUpstream::bind(args.listen, options)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", mock.base_url()).context("write the base URL to stdout")?;
    stdout.flush().context("flush stdout")?;
    drop(stdout);

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listen for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listen for SIGINT")?,
        _ = terminate.recv() => {}
    }
    mock.shutdown().await;
    Ok(())
}
