//! `api transfer-owner`: hands one owner's tasks and categories to another,
//! through the service layer (so the move records its events), for turning
//! sign-in on over a database used in single-user mode.

use crate::StartupError;
use crate::auth;
use crate::config::Config;
use crate::db;
use crate::error::AppError;
use crate::events::Wake;
use crate::service::owners::{self, Transferred};
use crate::service::{Owner, Store};

/// `api transfer-owner`'s own options; the database and the rest come from
/// [`Config`].
#[derive(Debug, Clone, clap::Args)]
pub struct TransferArgs {
    /// The subject (a token's `sub`) that gets the rows; it must have no
    /// tasks or categories yet.
    #[arg(long, value_name = "SUBJECT")]
    pub to: String,
    /// Whose rows: default, the built-in single-user owner.
    #[arg(long, value_name = "OWNER", default_value = migration::SINGLE_USER_OWNER)]
    pub from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("--{flag} {value:?}: an owner is 1 to 255 bytes and not \"*\"")]
    Owner { flag: &'static str, value: String },
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("the transfer failed: {0}")]
    Service(#[from] AppError),
}

/// Connects and migrates as `api serve` does, then moves the rows.
pub async fn transfer_owner(
    config: &Config,
    args: &TransferArgs,
) -> Result<Transferred, TransferError> {
    let owner = |flag: &'static str, value: &str| {
        auth::owner_of_subject(value).ok_or_else(|| TransferError::Owner {
            flag,
            value: value.to_owned(),
        })
    };
    let to: Owner = owner("to", &args.to)?;
    let from: Owner = owner("from", &args.from)?;
    let db = db::open(config).await?;
    let store = Store {
        db: db.clone(),
        wake: Wake::default(),
        row_level_security: config.db_row_level_security,
        search_language: config.search_language.clone(),
    };
    let moved = owners::transfer(&store, &from, &to).await;
    if let Err(err) = db.close().await {
        tracing::warn!(error = %err, "closing the database pool failed");
    }
    Ok(moved?)
}
