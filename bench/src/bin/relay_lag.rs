//! A JetStream consumer that measures the event relay: for every message,
//! the time from the event's commit (its CloudEvents `time`, stamped by
//! the api right before the commit, on this machine's clock) to its
//! arrival here, and how many arrive per second.
//!
//!   relay-lag --nats URL --stream NAME [--expect N] [--idle SECS] [--timeout SECS] [--live-only] [--delete]
//!
//! Reads the stream from its start with an ordered consumer until `--expect`
//! distinct events arrived, or nothing came for `--idle` seconds after the
//! first message (or `--timeout` passed). Output: one TSV line: messages,
//! distinct ids, p50, p99 and max lag in ms, the arrival rate (messages
//! per second between the first and the last), the seconds from the start
//! to the last message, and how many events were committed before this
//! consumer started (with `--live-only` they are left out of the lag
//! figures: a backlog republished from an earlier run, not live lag).
//! `--delete` removes the stream afterwards.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use clap::Parser;
use futures_util::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long)]
    nats: String,
    #[arg(long)]
    stream: String,
    /// Stop once this many distinct events arrived.
    #[arg(long)]
    expect: Option<usize>,
    /// Stop when nothing arrived for this long after the first message.
    #[arg(long, default_value = "5")]
    idle: f64,
    /// Stop after this long whatever arrived.
    #[arg(long, default_value = "600")]
    timeout: f64,
    /// Delete the stream at the end.
    #[arg(long)]
    delete: bool,
    /// Leave out of the lag figures events committed before this consumer
    /// started (a backlog from an earlier run, republished): counted apart.
    #[arg(long)]
    live_only: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("relay-lag: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<String, Box<dyn std::error::Error>> {
    let client = async_nats::connect(args.nats.as_str()).await?;
    let context = jetstream::new(client);
    let started = Instant::now();
    let began = chrono::Utc::now();
    let deadline = started + Duration::from_secs_f64(args.timeout);
    // The api creates the stream when it first connects: wait for it.
    let stream = loop {
        match context.get_stream(&args.stream).await {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => return Err(err.into()),
        }
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    // For a caller that waits until the consumer is there before it writes.
    eprintln!("relay-lag: consuming {}", args.stream);
    let idle = Duration::from_secs_f64(args.idle);
    let mut lags_ms: Vec<f64> = Vec::new();
    let mut ids = HashSet::new();
    let mut earlier = 0usize;
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    loop {
        let wait = match first {
            Some(_) => idle,
            None => deadline.saturating_duration_since(Instant::now()),
        };
        let next = tokio::time::timeout(wait, messages.next()).await;
        let Ok(Some(message)) = next else { break };
        let message = message?;
        let now = chrono::Utc::now();
        let arrived = Instant::now();
        first.get_or_insert(arrived);
        last = Some(arrived);
        let event: serde_json::Value = serde_json::from_slice(&message.payload)?;
        let time = event["time"].as_str().ok_or("a message without time")?;
        let at = chrono::DateTime::parse_from_rfc3339(time)?;
        let at = at.with_timezone(&chrono::Utc);
        if args.live_only && at < began {
            earlier += 1;
        } else {
            lags_ms.push((now - at).as_seconds_f64() * 1000.0);
        }
        ids.insert(event["id"].as_str().unwrap_or_default().to_owned());
        if args.expect.is_some_and(|n| ids.len() >= n) || Instant::now() > deadline {
            break;
        }
    }
    if args.delete {
        context.delete_stream(&args.stream).await?;
    }
    lags_ms.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if lags_ms.is_empty() {
            return 0.0;
        }
        lags_ms[((lags_ms.len() as f64 * q).ceil() as usize).clamp(1, lags_ms.len()) - 1]
    };
    let span = match (first, last) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span > 0.0 {
        lags_ms.len() as f64 / span
    } else {
        0.0
    };
    let until_last = last.map_or(0.0, |l| (l - started).as_secs_f64());
    Ok(format!(
        "{}\t{}\t{:.1}\t{:.1}\t{:.1}\t{:.0}\t{:.2}\t{}",
        lags_ms.len() + earlier,
        ids.len(),
        quantile(0.5),
        quantile(0.99),
        lags_ms.last().copied().unwrap_or(0.0),
        rate,
        until_last,
        earlier
    ))
}
