//! The `migration` CLI: sea-orm-migration's own interface (`up`, `down`,
//! `status`, `fresh`, `refresh`, `reset`, `init`, `generate`; `DATABASE_URL`
//! or `-u`, `DATABASE_SCHEMA` or `-s`, `-v`), with the migration lock around
//! every command that changes the schema. `status` takes no lock and
//! creates nothing. `SEARCH_LANGUAGE` (or `--search-language`) is the
//! language the task search index is built in, as the api reads it.

use std::error::Error;
use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use migration::lock::with_lock;
use migration::{Migrator, MigratorTrait, SearchLanguage, with_search_language};
use sea_orm_cli::MigrateSubcommands;
use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Where `init` and `generate` write, as in sea-orm-migration's CLI.
const MIGRATION_DIR: &str = "./";

// The same arguments as sea-orm-migration's `cli::Cli` (whose fields are
// private, so it cannot be parsed and then run differently).
/// Schema migrations of the to-do service. Commands that change the schema
/// wait while another process migrates the same database.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[arg(short = 'v', long, global = true, help = "Show debug messages")]
    verbose: bool,

    #[arg(
        global = true,
        short = 's',
        long,
        env = "DATABASE_SCHEMA",
        long_help = "Database schema\n \
                    - For MySQL and SQLite, this argument is ignored.\n \
                    - For PostgreSQL, this argument is optional with default value 'public'.\n"
    )]
    database_schema: Option<String>,

    #[arg(
        global = true,
        short = 'u',
        long,
        env = "DATABASE_URL",
        help = "Database URL"
    )]
    database_url: Option<String>,

    #[arg(
        global = true,
        long,
        env = "SEARCH_LANGUAGE",
        default_value = SearchLanguage::DEFAULT,
        value_parser = SearchLanguage::parse,
        help = "Language of the task search index (a text search configuration: english, simple, german, ...)"
    )]
    search_language: SearchLanguage,

    #[command(subcommand)]
    command: Option<MigrateSubcommands>,
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
    let connect = async || -> Result<DatabaseConnection, Box<dyn Error>> {
        let url = cli
            .database_url
            .clone()
            .ok_or("Environment variable 'DATABASE_URL' not set")?;
        let schema = cli
            .database_schema
            .clone()
            .unwrap_or_else(|| "public".to_owned());
        let options = ConnectOptions::new(url)
            .set_schema_search_path(schema)
            .to_owned();
        Ok(Database::connect(options).await?)
    };
    match &cli.command {
        Some(MigrateSubcommands::Init) => sea_orm_cli::run_migrate_init(MIGRATION_DIR),
        Some(MigrateSubcommands::Generate {
            migration_name,
            universal_time: _,
            local_time,
        }) => sea_orm_cli::run_migrate_generate(MIGRATION_DIR, migration_name, !*local_time),
        command => {
            let db = connect().await?;
            let language = cli.search_language.clone();
            let result = with_search_language(language, migrate(&db, command.as_ref())).await;
            let _ = db.close().await;
            Ok(result?)
        }
    }
}

async fn migrate(
    db: &DatabaseConnection,
    command: Option<&MigrateSubcommands>,
) -> Result<(), DbErr> {
    use MigrateSubcommands::*;
    match command {
        // No command is `up`, as in sea-orm-migration's CLI.
        None => up(db, None).await,
        Some(Up { num }) => up(db, *num).await,
        Some(Status) => status(db).await,
        Some(Down { num }) => with_lock(db, async |db| Migrator::down(db, Some(*num)).await).await,
        Some(Fresh) => with_lock(db, async |db| Migrator::fresh(db).await).await,
        Some(Refresh) => with_lock(db, async |db| Migrator::refresh(db).await).await,
        Some(Reset) => with_lock(db, async |db| Migrator::reset(db).await).await,
        // Handled before connecting.
        Some(Init | Generate { .. }) => Ok(()),
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
