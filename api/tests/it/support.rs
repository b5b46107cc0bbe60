//! Helpers for the failure tests: a throwaway PostgreSQL cluster the test can
//! stop and start, and the real `api` binary as a child process.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::prelude::Uuid;
use serde_json::{Value, json};

/// A port nothing listens on (at the time of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The database id inside a task's global id.
pub fn task_uuid(id: &Value) -> Uuid {
    let id = id.as_str().unwrap_or_else(|| panic!("not an id: {id}"));
    let raw = URL_SAFE_NO_PAD.decode(id).expect("base64 id");
    let text = String::from_utf8(raw).expect("utf-8 id");
    let uuid = text.strip_prefix("Task:").expect("a Task id");
    Uuid::try_parse(uuid).expect("uuid in id")
}

pub const CREATE_TASK: &str =
    "mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id version } } }";

/// The outcome of one GraphQL POST, as a client sees it.
#[derive(Debug)]
pub enum Outcome {
    /// 200 without errors: the `data`.
    Ok(Value),
    /// 200 with errors: the first error's `extensions.code`.
    Error(String),
    /// Anything else: a status other than 200, a body that is not a GraphQL
    /// JSON response, or no response at all (read through `Debug`).
    Broken(#[allow(dead_code)] String),
}

pub async fn post_graphql(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    variables: Value,
) -> Outcome {
    let response = match client
        .post(format!("{base}/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
    {
        Ok(response) => response,
        Err(err) => return Outcome::Broken(format!("no response: {err:?}")),
    };
    let status = response.status();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = match response.text().await {
        Ok(body) => body,
        Err(err) => return Outcome::Broken(format!("{status}: body cut off: {err:?}")),
    };
    if status != 200 || !media.starts_with("application/json") {
        return Outcome::Broken(format!("{status} {media}: {body}"));
    }
    let Ok(value) = serde_json::from_str::<Value>(&body) else {
        return Outcome::Broken(format!("not JSON: {body}"));
    };
    match value["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => Outcome::Error(code.to_owned()),
        None if value.get("errors").is_some() => {
            Outcome::Broken(format!("error without code: {value}"))
        }
        None => Outcome::Ok(value["data"].clone()),
    }
}

/// Runs `f` on a blocking-friendly thread of the test runtime.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A PostgreSQL cluster of its own: a data directory in a temp dir, its own
/// port on 127.0.0.1 and its socket in the temp dir. Stopped and removed when
/// dropped, whatever happened.
pub struct PgCluster {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

impl PgCluster {
    /// `initdb`s a new cluster (not started).
    pub fn init() -> Self {
        let bin = postgres_bin_dir();
        // initdb refuses to run as root: then the cluster belongs to `postgres`.
        let as_postgres = running_as_root();
        let dir = if as_postgres {
            let out = Command::new("runuser")
                .args([
                    "-u",
                    "postgres",
                    "--",
                    "mktemp",
                    "-d",
                    "/tmp/todo-pg-XXXXXX",
                ])
                .output()
                .expect("run runuser (initdb needs a non-root user)");
            assert!(out.status.success(), "mktemp as postgres: {out:?}");
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        } else {
            let dir = std::env::temp_dir().join(format!("todo-pg-{}", Uuid::now_v7().simple()));
            std::fs::create_dir_all(&dir).expect("create cluster dir");
            dir
        };
        let cluster = Self {
            port: free_port(),
            dir,
            bin,
            as_postgres,
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log_file()).unwrap_or_default()
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            self.port,
            self.dir.display()
        );
        let log = self.log_file().display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_dir(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// Stops the server: `mode` is pg_ctl's `fast` (sessions are terminated
    /// with an error message) or `immediate` (sessions are cut, no shutdown
    /// checkpoint: what was committed survives by WAL replay).
    pub fn stop(&self, mode: &str) {
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", mode, "-w", "-t", "60", "stop"],
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let program = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // Not running is fine.
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest PostgreSQL's binaries under /usr/lib/postgresql/*/bin (or
/// PG_BIN_DIR).
fn postgres_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or set PG_BIN_DIR)")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("initdb under /usr/lib/postgresql/*/bin")
}

/// The real `api` binary, with a clean environment and its output captured.
/// Killed when dropped if it is still running.
pub struct ApiProcess {
    pub port: u16,
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    _workdir: TempDir,
}

impl ApiProcess {
    /// Starts `api serve` on a free port with exactly these variables (plus
    /// PORT and PATH); returns at once.
    pub fn spawn(vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        // No `.env` of the developer's is picked up: the binary runs elsewhere.
        let workdir = TempDir::new("todo-api-run");
        let mut command = Command::new(env!("CARGO_BIN_EXE_api"));
        command
            .arg("serve")
            .current_dir(workdir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn the api binary");
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            // Drained all the time, so the child never blocks on a full pipe.
            readers.push(std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(mut output) = output.lock() {
                        output.push_str(&line);
                        output.push('\n');
                    }
                }
            }));
        }
        Self {
            port,
            child,
            output,
            readers,
            _workdir: workdir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process's working directory (where the default database goes).
    pub fn workdir(&self) -> &Path {
        self._workdir.path()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    pub fn count_in_output(&self, needle: &str) -> usize {
        self.output().matches(needle).count()
    }

    /// Waits (up to `deadline`) until `needle` has appeared `n` times.
    pub async fn wait_for_output(&self, needle: &str, n: usize, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.count_in_output(needle) < n {
            assert!(
                Instant::now() < until,
                "{needle:?} not seen {n} time(s) within {deadline:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The exit status if the process has exited; then its output is complete.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().expect("try_wait")?;
        let readers = std::mem::take(&mut self.readers);
        // The pipes are at their end: the last lines are read before we go on.
        blocking(|| readers.into_iter().for_each(|r| r.join().expect("reader")));
        Some(status)
    }

    /// The exit status, waiting up to `deadline` for it.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "the api did not exit within {deadline:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `path` answers `status`.
    pub async fn wait_for_status(&self, path: &str, status: u16, deadline: Duration) -> String {
        let client = reqwest::Client::new();
        let until = Instant::now() + deadline;
        loop {
            let last = match client
                .get(format!("{}{path}", self.base()))
                .timeout(Duration::from_secs(10))
                .send()
                .await
            {
                Ok(response) if response.status() == status => {
                    return response.text().await.unwrap_or_default();
                }
                Ok(response) => format!("{}", response.status()),
                Err(err) => format!("{err}"),
            };
            assert!(
                Instant::now() < until,
                "{path} did not answer {status} within {deadline:?} (last: {last}); output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until new TCP connections are refused.
    pub async fn wait_until_refused(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        loop {
            match tokio::net::TcpStream::connect(self.addr()).await {
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => return,
                // Caught in the accept queue as the listener closed: try again.
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(err) => panic!("connecting failed otherwise than refused: {err:?}"),
                Ok(stream) => drop(stream),
            }
            assert!(
                Instant::now() < until,
                "new connections still accepted {deadline:?} after the signal"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A temp dir removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
