//! Connections with real sockets against the real binary (its own process:
//! its file descriptors and its metrics are its own): slow request heads
//! and idle keep-alive connections are cut off, connections over the caps
//! are closed at once while probes still answer, and early refusals (413,
//! 429) are readable by clients that write their whole body first.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{ApiProcess, blocking};

const READY: Duration = Duration::from_secs(60);

async fn spawn(vars: &[(&str, &str)]) -> ApiProcess {
    let api = ApiProcess::spawn(vars);
    api.wait_for_status("/readyz", 200, READY).await;
    api
}

/// A connection to the api from `source` (any address of 127.0.0.0/8).
async fn connect_from(source: &str, api: &ApiProcess) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    let source: IpAddr = source.parse().expect("source address");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind the source address");
    socket.connect(api.addr()).await.expect("connect")
}

/// One response: status and body (read by Content-Length).
async fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if data.len() >= end + 4 + length {
                    let status = head.split(' ').nth(1)?.parse().ok()?;
                    let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]);
                    return Some((status, body.into_owned()));
                }
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            data.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .ok()
        .flatten()
}

/// Sends a keep-alive request and reads its response.
async fn request(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    read_response(stream).await
}

/// Whether the server closes the connection within `within` (end of
/// stream or a reset), without being sent anything.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, stream.read(&mut byte)).await {
        Ok(Ok(0) | Err(_)) => true,
        Ok(Ok(_)) => panic!("the server sent data instead of closing"),
        Err(_) => false,
    }
}

/// A metric of the api process, read on a connection of its own; `None`
/// when the api closed that connection unanswered (it is still at its cap).
async fn try_metric(api: &ApiProcess, series: &str) -> Option<f64> {
    let mut stream = connect_from("127.0.0.1", api).await;
    let (status, body) = request(&mut stream, "GET", "/metrics", "").await?;
    assert_eq!(status, 200);
    Some(
        body.lines()
            .find_map(|line| line.strip_prefix(&format!("{series} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
    )
}

/// A metric of the api process, read on a connection of its own.
async fn metric(api: &ApiProcess, series: &str) -> f64 {
    try_metric(api, series).await.expect("/metrics answers")
}

/// Waits until the api holds no connection but the one asking. Connections
/// a test just dropped still count until the server has read their close,
/// and while they hold the cap the probe itself may be turned away: both
/// are retried, within a bound.
async fn until_alone(api: &ApiProcess) {
    let until = Instant::now() + Duration::from_secs(30);
    while !matches!(try_metric(api, "http_connections_open").await, Some(open) if open <= 1.0) {
        assert!(Instant::now() < until, "connections stayed open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a loaded machine may add to a timeout before the close is seen.
/// Measured on a 2-core machine running a benchmark, 15 runs, 10 of them two
/// at once: the 300 slow heads of each run were cut 0.997 s to 1.027 s
/// after connecting (timeout 1 s), the idle connection 4.000 s to 4.004 s
/// after its response (timeout 4 s).
const SLACK: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_and_idle_connections_are_cut_off() {
    const SLOW: usize = 300;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
    const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
    let api = spawn(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HTTP_KEEPALIVE_TIMEOUT_SECS", "4"),
    ])
    .await;
    // Each sends a request line, then a header line every 300 ms, for ever.
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let mut stream = connect_from(&format!("127.0.0.{}", 2 + i % 50), &api).await;
        let connected = Instant::now();
        slow.push(tokio::spawn(async move {
            let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\n").await;
            let deadline = connected + HEADER_TIMEOUT + SLACK;
            while Instant::now() < deadline {
                if closed_within(&mut stream, Duration::from_millis(300)).await
                    || stream.write_all(b"X-Slow: 1\r\n").await.is_err()
                {
                    return Some(connected.elapsed());
                }
            }
            None
        }));
    }
    // Meanwhile, a client that sends its request is served.
    let mut prompt = connect_from("127.0.0.1", &api).await;
    assert_eq!(
        request(&mut prompt, "GET", "/healthz", "")
            .await
            .map(|r| r.0),
        Some(200)
    );
    for (i, connection) in slow.into_iter().enumerate() {
        let lasted = connection.await.expect("slow client");
        let lasted = lasted.unwrap_or_else(|| {
            panic!(
                "slow connection {i} still open {:?} after connecting",
                HEADER_TIMEOUT + SLACK
            )
        });
        assert!(
            lasted >= Duration::from_millis(900),
            "closed after {lasted:?}"
        );
    }
    // An idle keep-alive connection outlives the header timeout, not the
    // idle one.
    let mut idle = connect_from("127.0.0.1", &api).await;
    assert_eq!(
        request(&mut idle, "GET", "/healthz", "").await.map(|r| r.0),
        Some(200)
    );
    // Its idle time runs from the response; the server starts it a moment
    // before the client has read that response, hence half a second less.
    let answered = Instant::now();
    let open_until = answered + IDLE_TIMEOUT - Duration::from_millis(500);
    assert!(
        !closed_within(&mut idle, open_until - Instant::now()).await,
        "the idle connection was closed {:?} after its response",
        answered.elapsed()
    );
    let closed_by = answered + IDLE_TIMEOUT + SLACK;
    assert!(
        closed_within(
            &mut idle,
            closed_by.saturating_duration_since(Instant::now())
        )
        .await,
        "the idle connection was still open {:?} after its response",
        answered.elapsed()
    );
    let headers = metric(&api, "http_connections_timed_out_total{phase=\"headers\"}").await;
    assert!(headers >= SLOW as f64, "{headers}");
    assert!(metric(&api, "http_connections_timed_out_total{phase=\"idle\"}").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_cap_connections_are_closed_at_once_and_probes_still_answer() {
    const MAX: usize = 20;
    const RESERVE: usize = api::server::PROBE_RESERVE;
    let api = spawn(&[("HTTP_MAX_CONNECTIONS", "20")]).await;
    until_alone(&api).await;
    let mut full = Vec::new();
    for _ in 0..MAX {
        let mut stream = connect_from("127.0.0.2", &api).await;
        assert_eq!(
            request(&mut stream, "GET", "/healthz", "")
                .await
                .map(|r| r.0),
            Some(200)
        );
        full.push(stream);
    }
    // At the cap, probes are answered (on a connection of their own that
    // then closes), and nothing else.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let mut probe = connect_from("127.0.0.3", &api).await;
        let answer = request(&mut probe, "GET", path, "").await;
        assert_eq!(answer.map(|r| r.0), Some(200), "{path}");
        assert!(closed_within(&mut probe, Duration::from_secs(5)).await);
    }
    let mut query = connect_from("127.0.0.3", &api).await;
    let (status, body) = request(
        &mut query,
        "POST",
        "/graphql",
        r#"{"query":"{ __typename }"}"#,
    )
    .await
    .expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("SERVICE_UNAVAILABLE"), "{body}");
    drop(query);
    // With the probes' reserve taken too, a connection is closed at once.
    let mut reserve = Vec::new();
    for _ in 0..RESERVE {
        reserve.push(connect_from("127.0.0.3", &api).await);
    }
    let mut over = connect_from("127.0.0.4", &api).await;
    assert!(closed_within(&mut over, Duration::from_secs(1)).await);
    drop(reserve);
    drop(full);
    until_alone(&api).await;
    let refused = metric(
        &api,
        "http_connections_refused_total{reason=\"max_connections\"}",
    )
    .await;
    assert!(refused >= 2.0, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_is_capped_and_trusted_proxies_are_not() {
    let api = spawn(&[
        ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "5"),
        ("TRUSTED_PROXIES", "127.0.0.4"),
    ])
    .await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut stream = connect_from("127.0.0.2", &api).await;
        assert_eq!(
            request(&mut stream, "GET", "/healthz", "")
                .await
                .map(|r| r.0),
            Some(200)
        );
        open.push(stream);
    }
    let mut sixth = connect_from("127.0.0.2", &api).await;
    assert!(closed_within(&mut sixth, Duration::from_secs(1)).await);
    // Other addresses are served; so is a trusted proxy, however many.
    let mut other = connect_from("127.0.0.3", &api).await;
    assert_eq!(
        request(&mut other, "GET", "/healthz", "")
            .await
            .map(|r| r.0),
        Some(200)
    );
    for _ in 0..10 {
        let mut stream = connect_from("127.0.0.4", &api).await;
        assert_eq!(
            request(&mut stream, "GET", "/healthz", "")
                .await
                .map(|r| r.0),
            Some(200)
        );
        open.push(stream);
    }
    let refused = metric(
        &api,
        "http_connections_refused_total{reason=\"max_connections_per_client\"}",
    )
    .await;
    assert!(refused >= 1.0, "{refused}");
}

/// A client's send buffer as on a real network, where most of a large body
/// is still on its way when the server answers (on loopback the kernel
/// would otherwise take megabytes at once).
const SEND_BUFFER: u32 = 64 * 1024;

/// A POST written in full before anything is read, as urllib and many
/// HTTP libraries do; returns the status line read afterwards.
async fn write_all_then_read(
    addr: SocketAddr,
    head: String,
    body: Vec<u8>,
) -> Result<String, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .set_send_buffer_size(SEND_BUFFER)
        .map_err(|e| e.to_string())?;
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let stream = stream.into_std().map_err(|e| e.to_string())?;
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    blocking(move || write_then_read(stream, &head, &body))
}

fn write_then_read(
    mut stream: std::net::TcpStream,
    head: &str,
    body: &[u8],
) -> Result<String, String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("writing the body failed: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    let response = String::from_utf8_lossy(&response);
    Ok(response.lines().next().unwrap_or_default().to_owned())
}

/// A POST's head from the client `forwarded_for` (through the trusted
/// proxy 127.0.0.1).
fn post_head(length: usize, forwarded_for: &str) -> String {
    format!(
        "POST /graphql HTTP/1.1\r\nHost: api\r\nConnection: close\r\nX-Forwarded-For: {forwarded_for}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_are_read_by_clients_that_write_their_whole_body_first() {
    let api = spawn(&[
        ("RATE_LIMIT_PER_SECOND", "0.001"),
        ("RATE_LIMIT_BURST", "1"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let addr = api.addr();
    // Over HTTP_MAX_BODY_BYTES (256 KiB): 413 before the body is read.
    // Each attempt is another client (the rate limit has a burst of 1).
    let big = vec![b' '; 900 * 1024];
    for attempt in 0..3 {
        let head = post_head(big.len(), &format!("198.51.100.{attempt}"));
        let status = write_all_then_read(addr, head, big.clone()).await;
        assert_eq!(
            status.as_deref(),
            Ok("HTTP/1.1 413 Payload Too Large"),
            "attempt {attempt}"
        );
    }
    // Over the rate limit: 429 before the body is read. The first request
    // uses this client's only operation.
    let small = br#"{"query":"{ __typename }"}"#;
    let head = post_head(small.len(), "198.51.100.100");
    let status = write_all_then_read(addr, head, small.to_vec()).await;
    assert_eq!(status.as_deref(), Ok("HTTP/1.1 200 OK"));
    let mut padded = small.to_vec();
    padded.resize(250 * 1024, b' ');
    let head = post_head(padded.len(), "198.51.100.100");
    let status = write_all_then_read(addr, head, padded).await;
    assert_eq!(status.as_deref(), Ok("HTTP/1.1 429 Too Many Requests"));

    // Python's urllib, the client the issue names.
    let script = r#"
import socket, sys, urllib.request, urllib.error
# A send buffer as on a real network (see SEND_BUFFER).
connect = socket.create_connection
def create_connection(*args, **kwargs):
    sock = connect(*args, **kwargs)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, int(sys.argv[2]))
    return sock
socket.create_connection = create_connection
request = urllib.request.Request(sys.argv[1], data=b" " * (900 * 1024),
                                 headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(request, timeout=30)
    print("no error")
except urllib.error.HTTPError as error:
    print(error.code)
except Exception as error:
    print(type(error).__name__, error)
"#;
    let url = format!("{}/graphql", api.base());
    let output = blocking(|| {
        std::process::Command::new("python3")
            .args(["-c", script, &url, &SEND_BUFFER.to_string()])
            .output()
            .expect("python3 (the tests need it, as deploy/validate does)")
    });
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "413",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
