//! What every task change checks before it touches the database: the
//! description, the dates and the zone.

use chrono::{DateTime, Utc};

use super::recurrence::{self, DEFAULT_TIME_ZONE};
use crate::error::{AppError, AppResult};

pub(crate) const MAX_DESCRIPTION_CHARS: usize = 1000;

pub(crate) fn validate_description(description: &str) -> AppResult<String> {
    let trimmed = description.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(AppError::bad_input(
            "description",
            "description must not be empty",
        ));
    }
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(AppError::bad_input(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// RFC 3339, which clients parse our dates with, has four-digit years.
pub(super) fn validate_year(field: &str, date: Option<DateTime<Utc>>) -> AppResult<()> {
    match date {
        Some(date) if !(1..=9999).contains(&chrono::Datelike::year(&date)) => {
            Err(AppError::bad_input(
                field,
                format!("{field} must be a date in the years 0001 to 9999"),
            ))
        }
        _ => Ok(()),
    }
}

pub(super) fn validate_dates(
    start_at: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    validate_year("startAt", start_at)?;
    validate_year("dueAt", due_at)?;
    match (start_at, due_at) {
        (Some(start), Some(due)) if start > due => Err(AppError::bad_input(
            "startAt",
            "startAt must not be after dueAt",
        )),
        _ => Ok(()),
    }
}

/// A zone as stored: its canonical IANA name.
pub(super) fn canonical_zone(zone: Option<&str>) -> AppResult<Option<String>> {
    Ok(zone
        .map(recurrence::parse_zone)
        .transpose()?
        .map(|z| z.name().to_owned()))
}

pub(super) fn zone_of(time_zone: &Option<String>) -> &str {
    time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)
}
