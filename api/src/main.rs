use std::cell::Cell;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use api::admin::{TransferArgs, TransferError};
use api::config::Config;
use api::seed::SeedArgs;
use api::telemetry;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

/// mimalloc instead of the system allocator: GraphQL execution allocates a
/// lot of small, short-lived values, and glibc's malloc and free took a
/// large share of a list request's CPU time (bench/RESULTS.md, "Changes made
/// for performance", has the profile and what mimalloc gained).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// At most how often a runtime worker collects its allocator heap as it
/// goes idle (`collect_when_idle`).
const COLLECT_EVERY: Duration = Duration::from_secs(1);

/// Runs as a runtime worker is about to park: hands the pages freed since
/// back to the OS. mimalloc frees a page only through the thread that owns
/// it; blocks freed from another thread (a closed socket's buffers, dropped
/// wherever its task last ran) wait in the owner's list until that thread
/// allocates or collects, and a worker parked after a burst of closes does
/// neither, so idle sockets' memory stayed after they left (bench/RESULTS.md,
/// "Memory after 10000 idle sockets leave"). At most once a second per
/// thread, as a busy server parks its workers often; a park that limit
/// skips is made up for at a later one, since the event tail's 1 s poll
/// wakes the workers of an idle server.
fn collect_when_idle() {
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    LAST.with(|last| {
        if last
            .get()
            .is_some_and(|at| now.duration_since(at) < COLLECT_EVERY)
        {
            return;
        }
        last.set(Some(now));
        // Not forced: a forced collect gave back no more (same section).
        #[allow(unsafe_code)]
        // SAFETY: mi_collect takes no pointer and works on the calling
        // thread's own heap, which is what it is for.
        unsafe {
            libmimalloc_sys::mi_collect(false);
        }
    });
}

/// GraphQL to-do service. Every setting is an environment variable (also
/// read from `.env`); `api serve --help` lists them with their defaults.
///
/// Without sign-in (no AUTH_JWT_SECRET, AUTH_JWKS_URL or AUTH_JWKS_FILE)
/// everything belongs to the built-in owner "default". Turning sign-in on
/// leaves those rows with it, invisible to every token, until `api
/// transfer-owner --to SUBJECT` hands them to a token's subject.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args)]
struct SeedCommand {
    #[command(flatten)]
    seed: SeedArgs,
    #[command(flatten)]
    config: Config,
}

#[derive(clap::Args)]
struct SchemaCommand {
    /// The Apollo Federation v2 subgraph SDL (`@key` entities, `@link`) a
    /// gateway composes, instead of the client schema.
    #[arg(long)]
    federation: bool,
}

#[derive(clap::Args)]
struct TransferCommand {
    #[command(flatten)]
    transfer: TransferArgs,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<Config>),
    /// Print the GraphQL schema (SDL) and exit.
    Schema(SchemaCommand),
    /// Fill the configured database with a sample of tasks and categories
    /// for one owner (refused, exit 3, if the owner has tasks already).
    Seed(Box<SeedCommand>),
    /// Hand every task and category of the built-in single-user owner
    /// (or of --from OWNER) to SUBJECT, the `sub` of a sign-in token. For
    /// turning sign-in on over a database used without it: the built-in
    /// owner's rows stay its own, invisible to every token, until moved.
    /// The move records its events: SUBJECT's subscribers hear each task
    /// created, the previous owner's hear it deleted. Refused (exit 3) if
    /// SUBJECT has tasks or categories already.
    TransferOwner(Box<TransferCommand>),
    /// Exit 0 if the configured server answers /healthz, 1 otherwise
    /// (for container health checks: the image has no curl).
    Healthcheck(Box<Config>),
}

fn main() -> ExitCode {
    // Before the environment is read, and before any thread exists.
    api::config::load_dotenv();
    let command = match Cli::try_parse().map(|cli| cli.command) {
        Ok(Some(command)) => command,
        Ok(None) => match Config::from_env() {
            Ok(config) => Command::Serve(Box::new(config)),
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        },
        Err(err) => match api::config::describe_error(&err) {
            Some(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
            None => err.exit(),
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(collect_when_idle)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run(command));
    // Whatever outlived the shutdown grace period is dropped, not waited for.
    runtime.shutdown_timeout(Duration::from_millis(250));
    code
}

async fn run(command: Command) -> ExitCode {
    match command {
        Command::Schema(schema) => {
            if schema.federation {
                print!("{}", api::graphql::federation_sdl());
            } else {
                print!("{}", api::graphql::sdl());
            }
            ExitCode::SUCCESS
        }
        Command::Healthcheck(config) if healthcheck(&config).await => ExitCode::SUCCESS,
        Command::Healthcheck(_) => ExitCode::FAILURE,
        Command::Seed(command) => match settings_checked(&command.config) {
            Ok(()) => seed(&command).await,
            Err(code) => code,
        },
        Command::TransferOwner(command) => match settings_checked(&command.config) {
            Ok(()) => transfer_owner(&command).await,
            Err(code) => code,
        },
        Command::Serve(config) => match settings_checked(&config) {
            Ok(()) => match serve(Arc::new(*config)).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    tracing::error!("{err}");
                    eprintln!("error: {err}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
    }
}

/// Every setting checked before anything listens or opens the database.
fn settings_checked(config: &Config) -> Result<(), ExitCode> {
    api::check_settings(config).map_err(|err| {
        eprintln!("error: invalid configuration: {err}");
        ExitCode::FAILURE
    })
}

async fn transfer_owner(command: &TransferCommand) -> ExitCode {
    let _telemetry = telemetry::init(&command.config);
    match api::admin::transfer_owner(&command.config, &command.transfer).await {
        Ok(moved) => {
            println!(
                "moved {} task(s) and {} categories from \"{}\" to \"{}\"",
                moved.tasks, moved.categories, command.transfer.from, command.transfer.to
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            // 3: the receiving owner has rows already (nothing changed).
            match err {
                TransferError::Service(api::error::AppError::Conflict {
                    field: Some(_), ..
                }) => ExitCode::from(3),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Listens first (so `/healthz` and `/readyz` answer while the database is
/// awaited), then serves until SIGTERM or SIGINT.
async fn serve(config: Arc<Config>) -> Result<(), Box<dyn std::error::Error>> {
    let _telemetry = telemetry::init(&config);
    // Before anything slow: a signal during start must stop us cleanly.
    let signals = ShutdownSignals::install()?;
    tracing::info!(
        database = %api::config::redact(config.database_url.expose()),
        "starting"
    );
    if config.graphiql_enabled() {
        api::http::graphiql::log_source(config.graphiql.assets_url.0.as_deref());
    } else if config.graphiql.assets_url.0.is_some() {
        tracing::warn!(
            "GRAPHIQL_ASSETS_URL is set but GraphiQL is off (GRAPHIQL=false, or \
             APP_ENV=production without GRAPHIQL=true): it does nothing"
        );
    }
    let listener = TcpListener::bind(config.listen_addr())
        .await
        .map_err(|e| format!("cannot listen on {} (HOST/PORT): {e}", config.listen_addr()))?;
    tracing::info!(address = %config.listen_addr(), "listening");
    api::server::run(config, listener, signals.recv()).await?;
    Ok(())
}

async fn seed(command: &SeedCommand) -> ExitCode {
    let _telemetry = telemetry::init(&command.config);
    match api::seed::run(&command.config, &command.seed).await {
        Ok(seeded) => {
            println!("{seeded}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

struct ShutdownSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn recv(mut self) {
        let name = tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutdown requested");
    }

    #[cfg(not(unix))]
    async fn recv(self) {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!(signal = "ctrl-c", "shutdown requested");
    }
}

/// GET /healthz on this config's address (loopback for an unspecified
/// one), with the HTTP client the api links anyway (reqwest): 200 within
/// 3 s is healthy.
async fn healthcheck(config: &Config) -> bool {
    let mut addr = config.listen_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()
    else {
        return false;
    };
    client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_ok_and(|answer| answer.status() == reqwest::StatusCode::OK)
}
