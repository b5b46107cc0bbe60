//! The `migration` CLI: sea-orm-migration's commands that apply to this
//! service's schema (`up`, `down`, `status`, `fresh`, `refresh`, `reset`;
//! not `init` and `generate`, which write a migration crate's source), with
//! the migration lock around every command that changes the schema.
//! `status` takes no lock and creates nothing. The database is the api's:
//! `DATABASE_URL` (or `-u`), by default the api's own default,
//! `sqlite://todo.db` in the working directory, created if missing as the
//! api creates it. `SEARCH_LANGUAGE` (or `--search-language`) is the
//! language the task search index is built in, as the api reads it.

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use migration::lock::with_lock;
use migration::{
    DEFAULT_DATABASE_URL, Migrator, MigratorTrait, SearchLanguage, with_search_language,
};
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Schema migrations of the to-do service. Commands that change the schema
/// wait while another process migrates the same database. Without a
/// command: `up`.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Show debug messages.
    #[arg(short = 'v', long, global = true)]
    verbose: bool,

    /// The api's database: sqlite:PATH or postgres://USER@HOST/DB. Default:
    /// the api's, todo.db in the working directory (created if missing).
    #[arg(global = true, short = 'u', long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL,
          hide_env_values = true)]
    database_url: String,

    /// PostgreSQL only: the schema to migrate.
    #[arg(
        global = true,
        short = 's',
        long,
        env = "DATABASE_SCHEMA",
        default_value = "public"
    )]
    database_schema: String,

    /// Language of the task search index (a text search configuration:
    /// english, simple, german, ...; SQLite: english or simple). The api
    /// must get the same SEARCH_LANGUAGE.
    #[arg(global = true, long, env = "SEARCH_LANGUAGE", default_value = SearchLanguage::DEFAULT,
          value_parser = SearchLanguage::parse)]
    search_language: SearchLanguage,

    #[command(subcommand)]
    command: Option<Command>,
}

/// sea-orm-migration's commands (same names and options) that apply here.
#[derive(Subcommand, Clone, Copy)]
enum Command {
    /// Apply pending migrations.
    Up {
        /// Number of pending migrations to apply (default: all).
        #[arg(short, long)]
        num: Option<u32>,
    },
    /// Roll back applied migrations.
    Down {
        /// Number of applied migrations to roll back.
        #[arg(short, long, default_value_t = 1)]
        num: u32,
    },
    /// Show which migrations are applied (takes no lock, creates nothing).
    Status,
    /// Drop all tables, then apply all migrations.
    Fresh,
    /// Roll back all applied migrations, then apply them all again.
    Refresh,
    /// Roll back all applied migrations.
    Reset,
}

#[tokio::main]
async fn main() -> ExitCode {
    dotenvy::dotenv().ok();
    let cli = Cli::parse();
    setup_tracing(cli.verbose);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    // No command is `up`, as in sea-orm-migration's CLI.
    let command = cli.command.unwrap_or(Command::Up { num: None });
    let url = cli.database_url.trim();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err("DATABASE_URL: expected sqlite:PATH or postgres://USER@HOST/DB".into());
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.set_schema_search_path(cli.database_schema.clone());
    // As the api: a missing SQLite file is created, except by `status`,
    // which only looks.
    let create = !matches!(command, Command::Status);
    options.map_sqlx_sqlite_opts(move |opts| opts.create_if_missing(create));
    let db = match Database::connect(options).await {
        Ok(db) => db,
        Err(err) if !create && url.starts_with("sqlite:") => {
            return Err(format!("{err}: is there a database at {url}? (`up` creates it)").into());
        }
        Err(err) => return Err(err.into()),
    };
    let language = cli.search_language.clone();
    let result = with_search_language(language, migrate(&db, command)).await;
    let _ = db.close().await;
    Ok(result?)
}

async fn migrate(db: &DatabaseConnection, command: Command) -> Result<(), DbErr> {
    match command {
        Command::Up { num } => up(db, num).await,
        Command::Status => status(db).await,
        Command::Down { num } => {
            with_lock(db, async |db| Migrator::down(db, Some(num)).await).await
        }
        Command::Fresh => with_lock(db, async |db| Migrator::fresh(db).await).await,
        Command::Refresh => with_lock(db, async |db| Migrator::refresh(db).await).await,
        Command::Reset => with_lock(db, async |db| Migrator::reset(db).await).await,
    }
}

async fn up(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    if migration::up_locked(db, steps).await? == 0 {
        tracing::info!("No pending migrations");
    }
    Ok(())
}

/// sea-orm-migration's `status`, without creating the migrations table: it
/// runs beside migrations of other processes and takes no lock.
async fn status(db: &DatabaseConnection) -> Result<(), DbErr> {
    tracing::info!("Checking migration status");
    for migration in Migrator::get_migration_with_status_read_only(db).await? {
        tracing::info!("Migration '{}'... {}", migration.name(), migration.status());
    }
    Ok(())
}

/// As sea-orm-migration's CLI logs, and this crate's lock messages too.
/// Colours only on a terminal (a Job's log keeps no escape codes).
fn setup_tracing(verbose: bool) {
    let ansi = std::io::stdout().is_terminal();
    if verbose {
        tracing_subscriber::registry()
            .with(EnvFilter::new("debug"))
            .with(tracing_subscriber::fmt::layer().with_ansi(ansi))
            .init();
    } else {
        tracing_subscriber::registry()
            .with(EnvFilter::new("sea_orm_migration=info,migration=info"))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_level(false)
                    .without_time()
                    .with_ansi(ansi),
            )
            .init();
    }
}
