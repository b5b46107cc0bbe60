use std::process::ExitCode;
use std::time::Duration;

use api::config::Config;
use api::{App, telemetry};
use clap::{Parser, Subcommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// GraphQL to-do service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
    /// Exit 0 if the configured server answers /healthz, 1 otherwise
    /// (for container health checks: the image has no curl).
    Healthcheck,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Schema => {
            print!("{}", api::graphql::sdl());
            ExitCode::SUCCESS
        }
        Command::Healthcheck => match Config::from_env() {
            Ok(config) if healthcheck(&config).await => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(err) => {
                eprintln!("{err}");
                ExitCode::FAILURE
            }
        },
        Command::Serve => match serve().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!("{err}");
                eprintln!("error: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    tracing::info!(
        database = %api::config::redact(&config.database_url),
        "starting"
    );
    let app = App::build(&config).await?;
    let listener = TcpListener::bind(config.listen_addr())
        .await
        .map_err(|e| format!("cannot listen on {} (HOST/PORT): {e}", config.listen_addr()))?;
    tracing::info!(address = %config.listen_addr(), "listening");
    app.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

/// A bare HTTP/1.1 GET of /healthz: enough for a health probe, without
/// shipping an HTTP client in the image.
async fn healthcheck(config: &Config) -> bool {
    let mut addr = config.listen_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), probe).await,
        Ok(Some(true))
    )
}
