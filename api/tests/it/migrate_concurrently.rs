//! Several processes migrating one fresh database at once (api processes with
//! AUTO_MIGRATE=true, SQLite always, and `migration up`): every one of them
//! succeeds and each migration is applied once. The test holds the migration
//! lock itself while they start, so each of them must get as far as the lock
//! and wait for it, whatever the timing; then it lets go.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use migration::lock::{POSTGRES_LOCK_KEY, sqlite_lock_path};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::{Connection, PgConnection};
use sea_orm::{ConnectionTrait, Statement};

use crate::common::{Backend, TestDb};
use crate::support::{ApiProcess, TempDir, blocking};

const WAITING: &str = "waiting for another process to finish migrating";
const APPLYING: &str = "applying database migrations";
const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_apis_and_two_migration_ups_at_once() {
    starters_at_once(Backend::Postgres, 3, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_three_apis_and_two_migration_ups_on_one_file_at_once() {
    starters_at_once(Backend::Sqlite, 3, 2).await;
}

async fn starters_at_once(backend: Backend, apis: usize, migration_ups: usize) {
    let test_db = TestDb::new(backend).await;
    let binary = migration_binary();
    let lock = HeldLock::take(backend, &test_db).await;

    let vars = [
        ("DATABASE_URL", test_db.url.as_str()),
        ("AUTO_MIGRATE", "true"),
    ];
    let api_processes: Vec<ApiProcess> = (0..apis).map(|_| ApiProcess::spawn(&vars)).collect();
    let mut migration_processes: Vec<MigrationUp> = (0..migration_ups)
        .map(|_| MigrationUp::spawn(&binary, &test_db.url))
        .collect();

    for api in &api_processes {
        api.wait_for_output(WAITING, 1, DEADLINE).await;
    }
    for up in &migration_processes {
        up.wait_for_output(WAITING).await;
    }
    let db = test_db.connect().await;
    let all = Migrator::migrations().len();
    assert_eq!(
        Migrator::get_pending_migrations_read_only(&db)
            .await
            .expect("pending migrations")
            .len(),
        all,
        "nothing was migrated while the lock was held"
    );

    lock.release().await;

    for api in &api_processes {
        api.wait_for_status("/readyz", 200, DEADLINE).await;
    }
    for up in &mut migration_processes {
        let status = up.wait_exit().await;
        assert!(status.success(), "migration up: {status}\n{}", up.output());
    }

    let mut expected: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    expected.sort();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .expect("read seaql_migrations");
    let applied: Vec<String> = rows
        .iter()
        .map(|row| row.try_get("", "version").expect("version"))
        .collect();
    assert_eq!(applied, expected, "one row per migration");

    let outputs: Vec<String> = api_processes
        .iter()
        .map(ApiProcess::output)
        .chain(migration_processes.iter().map(MigrationUp::output))
        .collect();
    let applying = outputs.iter().filter(|o| o.contains(APPLYING)).count();
    assert_eq!(
        applying,
        1,
        "exactly one process applied the migrations; outputs:\n{}",
        outputs.join("\n----\n")
    );
    db.close().await.ok();
}

/// The migration lock, held by the test as another migrator would hold it.
enum HeldLock {
    Postgres(PgConnection),
    File(File),
}

impl HeldLock {
    async fn take(backend: Backend, test_db: &TestDb) -> Self {
        match backend {
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&test_db.url).await.expect("connect");
                let locked: bool = sea_orm::sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(POSTGRES_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await
                    .expect("pg_try_advisory_lock");
                assert!(locked, "nobody else holds the lock of a fresh database");
                Self::Postgres(conn)
            }
            Backend::Sqlite => {
                // As `sqlite://<path>?mode=rwc` names it (an absolute path).
                let database = test_db
                    .url
                    .strip_prefix("sqlite://")
                    .and_then(|rest| rest.split('?').next())
                    .map(PathBuf::from)
                    .expect("a SQLite file URL");
                let file = File::create(sqlite_lock_path(&database)).expect("create lock file");
                file.try_lock().expect("lock the lock file");
                Self::File(file)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Postgres(mut conn) => {
                let unlocked: bool = sea_orm::sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                    .bind(POSTGRES_LOCK_KEY)
                    .fetch_one(&mut conn)
                    .await
                    .expect("pg_advisory_unlock");
                assert!(unlocked);
                conn.close().await.expect("close");
            }
            Self::File(file) => file.unlock().expect("unlock the lock file"),
        }
    }
}

/// The `migration` binary, built as the workspace builds it (an api test
/// cannot name another package's binary, and a `target/debug/migration` left
/// from an earlier build may be stale).
pub fn migration_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    blocking(|| {
        BINARY
            .get_or_init(|| {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
                let mut command = Command::new(cargo);
                // Without what cargo set for this test (build scripts that
                // watch those would rebuild for this build and again for the
                // next `cargo test`).
                for (var, _) in std::env::vars_os() {
                    let Some(var) = var.to_str() else { continue };
                    if var.starts_with("CARGO_PKG_")
                        || var.starts_with("CARGO_BIN_EXE_")
                        || [
                            "CARGO_MANIFEST_DIR",
                            "CARGO_MANIFEST_PATH",
                            "CARGO_CRATE_NAME",
                            "CARGO_PRIMARY_PACKAGE",
                            "CARGO_TARGET_TMPDIR",
                            "OUT_DIR",
                        ]
                        .contains(&var)
                    {
                        command.env_remove(var);
                    }
                }
                let out = command
                    .args([
                        "build",
                        "--quiet",
                        "--locked",
                        "-p",
                        "migration",
                        "--bin",
                        "migration",
                        "--message-format=json",
                    ])
                    .current_dir(env!("CARGO_MANIFEST_DIR"))
                    .stderr(Stdio::inherit())
                    .output()
                    .expect("run cargo build -p migration");
                assert!(out.status.success(), "cargo build -p migration failed");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                    .filter(|message| message["target"]["name"] == "migration")
                    .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                    .expect("cargo reported the migration executable")
            })
            .clone()
    })
}

/// `migration up` as a process in a directory of its own (no developer's
/// `.env`), its output going to a file.
struct MigrationUp {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl MigrationUp {
    fn spawn(binary: &PathBuf, url: &str) -> Self {
        let dir = TempDir::new("todo-migration-run");
        let log = dir.path().join("output.log");
        let file = File::create(&log).expect("create log file");
        let child = Command::new(binary)
            .arg("up")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", url)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log file"))
            .stderr(file)
            .spawn()
            .expect("spawn migration up");
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_output(&self, needle: &str) {
        let until = Instant::now() + DEADLINE;
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < until,
                "{needle:?} not seen within {DEADLINE:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < until,
                "migration up did not exit within {DEADLINE:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MigrationUp {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
