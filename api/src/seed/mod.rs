//! Seeding, two ways. `api seed` (here) fills the configured database with
//! a realistic sample (categories, tasks with steps, priorities, start and
//! due dates, some done) for one owner. Everything is written through the
//! service layer, with the functions the GraphQL mutations call, so each
//! change records its event as any other would and a running api's
//! subscribers see them. The bench's `seed` loads [`bulk`]'s fixed data set
//! of up to millions of rows straight into the tables instead.

pub mod bulk;
mod sample;

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::prelude::Uuid;

use sample::CATEGORIES;

use crate::StartupError;
use crate::auth;
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::events::Wake;
use crate::service::categories::{self, CategoryFilter, CategoryListQuery};
use crate::service::page::PageArgs;
use crate::service::tasks::{self, NewTask, TaskFilter};
use crate::service::{Owner, Scoped, Store};

/// The most tasks one run creates.
pub(crate) const MAX_TASKS: u32 = 1_000_000;
/// From this many tasks on, a progress bar shows how far it got.
const PROGRESS_FROM: u32 = 200;
/// `setTasksDone` takes at most this many ids at once; so does the seed.
const DONE_BATCH: usize = 100;

/// `api seed`'s own options; the database and the rest come from [`Config`].
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// How many tasks to create, steps (sub-tasks) included.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TASKS)))]
    pub(crate) tasks: u32,
    /// Whose tasks: a token's `sub`. Default: the single user's, the owner
    /// of everything when no sign-in is configured.
    #[arg(long, value_name = "SUBJECT")]
    pub(crate) owner: Option<String>,
    /// The same seed gives the same tasks (dates are relative to the day
    /// it runs). Default: a new one, printed at the end.
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
    /// Add the sample even when the owner already has tasks (categories of
    /// the same name are reused).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "the owner \"{owner}\" already has {tasks} task(s); nothing was changed. \
         Pass --force to add the sample anyway"
    )]
    NotEmpty { owner: String, tasks: u64 },
    #[error("--owner {0:?}: an owner is 1 to 255 bytes and not \"*\"")]
    Owner(String),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("seeding failed: {}", describe(.0))]
    Service(#[from] AppError),
}

impl SeedError {
    /// 3 when the owner already had tasks, so that a script can tell
    /// "already seeded" from a failure (1).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NotEmpty { .. } => 3,
            _ => 1,
        }
    }
}

/// What one run created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub(crate) owner: String,
    pub(crate) seed: u64,
    pub(crate) tasks: usize,
    pub(crate) sub_tasks: usize,
    pub(crate) done: usize,
    pub(crate) categories: usize,
}

impl std::fmt::Display for Seeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seeded {} task(s) ({} of them steps of another, {} done) in {} categories \
             for owner \"{}\"; --seed {} gives the same sample again",
            self.tasks, self.sub_tasks, self.done, self.categories, self.owner, self.seed
        )
    }
}

/// Connects and migrates as `api serve` does, then writes the sample.
pub async fn run(config: &Config, args: &SeedArgs) -> Result<Seeded, SeedError> {
    let owner = match &args.owner {
        Some(subject) => {
            auth::owner_of_subject(subject).ok_or_else(|| SeedError::Owner(subject.clone()))?
        }
        None => Owner::single_user(),
    };
    let db = db::open(config).await?;
    let store = Store {
        db: db.clone(),
        wake: Wake::default(),
        row_level_security: config.db_row_level_security,
        search_language: config.search_language.clone(),
    };
    let seeded = seed(&store.scoped(&owner), args).await;
    if let Err(err) = db.close().await {
        tracing::warn!(error = %err, "closing the database pool failed");
    }
    seeded
}

async fn seed(scope: &Scoped<'_>, args: &SeedArgs) -> Result<Seeded, SeedError> {
    let existing = tasks::count(scope, &TaskFilter::default()).await?.n;
    if existing > 0 && !args.force {
        return Err(SeedError::NotEmpty {
            owner: scope.owner().to_owned(),
            tasks: existing,
        });
    }
    let seed = args.seed.unwrap_or_else(new_seed);
    let sample = sample::tasks(seed, args.tasks as usize, today());

    let mut category_ids = Vec::with_capacity(CATEGORIES.len());
    for (name, _) in CATEGORIES {
        category_ids.push(category(scope, name).await?);
    }
    let progress = progress_bar(args.tasks);
    let mut ids: Vec<Uuid> = Vec::with_capacity(sample.len());
    for task in &sample {
        let created = tasks::create(
            scope,
            NewTask {
                description: task.description.clone(),
                priority: Some(task.priority),
                start_at: task.start_at,
                due_at: task.due_at,
                // Parents come first, so theirs is already created.
                parent_id: task.parent.and_then(|i| ids.get(i).copied()),
                category_ids: task
                    .categories
                    .iter()
                    .filter_map(|&c| category_ids.get(c).copied())
                    .collect(),
                recurrence: None,
                time_zone: None,
                remind_at: None,
                before: None,
                after: None,
            },
        )
        .await?;
        ids.push(created.id);
        progress.inc(1);
    }
    let done: Vec<Uuid> = sample
        .iter()
        .zip(&ids)
        .filter_map(|(task, id)| task.done.then_some(*id))
        .collect();
    for batch in done.chunks(DONE_BATCH) {
        tasks::set_done(scope, batch.to_vec(), true).await?;
    }
    progress.finish_and_clear();
    Ok(Seeded {
        owner: scope.owner().to_owned(),
        seed,
        tasks: sample.len(),
        sub_tasks: sample.iter().filter(|t| t.parent.is_some()).count(),
        done: done.len(),
        categories: category_ids.len(),
    })
}

/// The category named `name`: created, or the owner's existing one.
async fn category(scope: &Scoped<'_>, name: &str) -> Result<Uuid, AppError> {
    match categories::create(scope, name).await {
        Ok(created) => Ok(created.id),
        Err(AppError::Conflict { .. }) => {
            let query = CategoryListQuery::new(
                CategoryFilter {
                    search: Some(name.to_owned()),
                },
                Vec::new(),
                &PageArgs::new(Some(100), None, None, None),
            )?;
            let key = name.to_lowercase();
            categories::list(scope, &query)
                .await?
                .items
                .into_iter()
                .find(|(_, c)| c.name_key == key)
                .map(|(_, c)| c.id)
                .ok_or_else(|| AppError::not_found_in("Category", "name"))
        }
        Err(err) => Err(err),
    }
}

/// Midnight (UTC) today: the sample's dates are relative to it, so a seed
/// gives the same sample all day.
fn today() -> DateTime<Utc> {
    Utc::now().date_naive().and_time(NaiveTime::MIN).and_utc()
}

/// A seed for a run that named none; it is printed, so the run can be
/// repeated.
fn new_seed() -> u64 {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    // Spread the clock's bits so that nearby runs differ everywhere.
    (nanos as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

fn progress_bar(tasks: u32) -> ProgressBar {
    if tasks < PROGRESS_FROM {
        return ProgressBar::hidden();
    }
    // Drawn on stderr, and only when it is a terminal.
    let bar = ProgressBar::new(u64::from(tasks));
    if let Ok(style) =
        ProgressStyle::with_template("seeding {bar:40.cyan/blue} {pos}/{len} tasks, {eta} left")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// An error with its causes: the operator running the seed sees what the
/// database said (a client of the api never does).
fn describe(err: &AppError) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
