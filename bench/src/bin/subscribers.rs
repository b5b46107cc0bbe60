//! Many graphql-transport-ws subscribers against the api, for two figures:
//! what idle subscribers cost the server in memory, and how long a change
//! takes from its commit to every subscriber.
//!
//!   subscribers idle --api URL --pid PID --count N
//!   subscribers latency --api URL[,URL...] --writer URL --count N --mutations M [--kinds K,...]
//!
//! `idle` opens N subscriptions, reads the api's RSS (from /proc) before,
//! with them open, and 5 s and 30 s after they closed. `latency` spreads N
//! subscriptions over the given replicas, makes M changes one after the
//! other through `--writer`, and measures, for every delivery, the time from
//! the event's `occurredAt` (stamped by the server right before its commit,
//! on this machine's clock) to its arrival; with `--kinds CREATED` the
//! subscribers ask only for creations (other changes, such as a write load
//! of updates running meanwhile, pass them by). Output: one TSV line. The
//! client's own CPU time is printed too, to show it is not the bottleneck.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const QUERY: &str = "subscription($filter: TaskEventFilter) { \
    taskEvents(filter: $filter) { cursor occurredAt taskId } }";

struct Args {
    mode: String,
    apis: Vec<String>,
    writer: Option<String>,
    pid: Option<u32>,
    count: usize,
    mutations: usize,
    /// The subscriptions' `filter.kinds`; none: every event.
    kinds: Option<Vec<String>>,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or("usage: subscribers idle|latency ...")?;
    let mut args = Args {
        mode,
        apis: Vec::new(),
        writer: None,
        pid: None,
        count: 100,
        mutations: 100,
        kinds: None,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--api" => args.apis = value.split(',').map(str::to_owned).collect(),
            "--writer" => args.writer = Some(value),
            "--pid" => args.pid = Some(value.parse().map_err(|e| format!("--pid: {e}"))?),
            "--count" => args.count = value.parse().map_err(|e| format!("--count: {e}"))?,
            "--mutations" => {
                args.mutations = value.parse().map_err(|e| format!("--mutations: {e}"))?;
            }
            "--kinds" => args.kinds = Some(value.split(',').map(str::to_owned).collect()),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.apis.is_empty() {
        return Err("--api is required".into());
    }
    Ok(args)
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn cpu_secs() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second here).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(api: &str, kinds: Option<&[String]>) -> Result<Socket, String> {
    let url = format!("{}/graphql", api.replacen("http", "ws", 1));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("connect {api}: {e}"))?;
    let text = |v: Value| Message::text(v.to_string());
    socket
        .send(text(json!({ "type": "connection_init" })))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => return Err(format!("no ack: {other:?}")),
        }
    }
    socket
        .send(text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": QUERY,
                "variables": { "filter": kinds.map(|kinds| json!({ "kinds": kinds })) } } }),
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}

async fn open(
    apis: &[String],
    count: usize,
    kinds: Option<&[String]>,
) -> Result<Vec<Socket>, String> {
    let mut sockets = Vec::with_capacity(count);
    // A few at a time: the listen backlog is finite.
    for chunk in (0..count).collect::<Vec<_>>().chunks(200) {
        let opened = futures_util::future::join_all(
            chunk
                .iter()
                .map(|i| subscribe(&apis[i % apis.len()], kinds)),
        )
        .await;
        for socket in opened {
            sockets.push(socket?);
        }
    }
    Ok(sockets)
}

async fn idle(args: &Args) -> Result<(), String> {
    let pid = args.pid.ok_or("idle needs --pid")?;
    let before = rss_kb(pid).ok_or("no such pid")?;
    let sockets = open(&args.apis, args.count, args.kinds.as_deref()).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with = rss_kb(pid).ok_or("the api died")?;
    drop(sockets);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rss_kb(pid).ok_or("the api died")?;
    // Whatever the allocator gives back late (a purge delay, a collect
    // on idle) shows here.
    tokio::time::sleep(Duration::from_secs(25)).await;
    let after_30s = rss_kb(pid).ok_or("the api died")?;
    println!(
        "mode\tsubscribers\trss_before_kb\trss_with_kb\trss_after_kb\tper_subscriber_kb\trss_after_30s_kb"
    );
    println!(
        "idle\t{}\t{before}\t{with}\t{after}\t{:.1}\t{after_30s}",
        args.count,
        (with.saturating_sub(before)) as f64 / args.count as f64
    );
    Ok(())
}

async fn latency(args: &Args) -> Result<(), String> {
    let writer = args.writer.clone().ok_or("latency needs --writer")?;
    let sockets = open(&args.apis, args.count, args.kinds.as_deref()).await?;
    let lags: Arc<Mutex<Vec<f64>>> = Arc::default();
    let delivered = Arc::new(AtomicUsize::new(0));
    let expected = args.count * args.mutations;
    let cpu_start = cpu_secs();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            let (lags, delivered, mutations) = (lags.clone(), delivered.clone(), args.mutations);
            tokio::spawn(async move {
                let mut mine = Vec::with_capacity(mutations);
                while mine.len() < mutations {
                    // The server pings every WS_KEEPALIVE_SECS: a ping is
                    // not the end of the stream.
                    let text = match socket.next().await {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                            continue;
                        }
                        _ => break,
                    };
                    let arrived = chrono::Utc::now();
                    let Ok(message) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    let Some(at) = message["payload"]["data"]["taskEvents"]["occurredAt"]
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    else {
                        continue;
                    };
                    let lag = arrived - at.with_timezone(&chrono::Utc);
                    mine.push(lag.as_seconds_f64() * 1000.0);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                lags.lock().await.extend(mine);
            })
        })
        .collect();
    // Subscriptions are set up asynchronously by the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    for i in 0..args.mutations {
        let body = json!({
            "query": "mutation($d: String!) { createTask(input: {description: $d}) { task { id } } }",
            "variables": { "d": format!("latency {i}") },
        });
        client
            .post(format!("{writer}/graphql"))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        // Paced, so each delivery is measured alone.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for reader in readers {
        reader.abort();
        let _ = reader.await;
    }
    let mut lags = lags.lock().await.clone();
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        lags.get(((lags.len() as f64 * q) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let cpu = cpu_secs() - cpu_start;
    let wall = started.elapsed().as_secs_f64();
    println!(
        "mode\treplicas\tsubscribers\tmutations\tdelivered\texpected\tp50_ms\tp99_ms\tmax_ms\tclient_cpu_share"
    );
    println!(
        "latency\t{}\t{}\t{}\t{}\t{expected}\t{:.2}\t{:.2}\t{:.2}\t{:.2}",
        args.apis.len(),
        args.count,
        args.mutations,
        delivered.load(Ordering::Relaxed),
        pick(0.50),
        pick(0.99),
        lags.last().copied().unwrap_or(f64::NAN),
        cpu / wall,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let result = match args() {
        Ok(args) if args.mode == "idle" => idle(&args).await,
        Ok(args) if args.mode == "latency" => latency(&args).await,
        Ok(args) => Err(format!("unknown mode {}", args.mode)),
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("subscribers: {err}");
            ExitCode::FAILURE
        }
    }
}
