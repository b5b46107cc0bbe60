//! Recurring tasks: an RFC 5545 RRULE (the `rrule` crate) reckoned in an
//! IANA zone (chrono-tz), anchored at the first `dueAt` of the series.
//!
//! The rule is the value of an RRULE line (`FREQ=WEEKLY;BYDAY=MO`, an
//! `RRULE:` prefix is accepted and dropped). It carries no DTSTART: the
//! series starts at the task's `dueAt`. UNTIL is accepted as a UTC
//! date-time (`UNTIL=20270401T000000Z`), the form RFC 5545 requires with a
//! zoned DTSTART; any other form is refused. Occurrences are counted from
//! the series' start (`series_start`), so COUNT and UNTIL end the series
//! however many occurrences were completed.

use chrono::{DateTime, Utc};
use rrule::{RRule, Tz, Unvalidated};

use crate::error::{AppError, AppResult};

pub(crate) use entity::task::DEFAULT_TIME_ZONE;
/// Longest rule accepted, in characters.
const MAX_RULE_CHARS: usize = 500;
/// Occurrences looked through from the series' start for the next one: an
/// hourly rule reaches more than ten years.
const MAX_STEPS: usize = 100_000;

/// The canonical name of an IANA zone, or BAD_USER_INPUT on `timeZone`.
pub(crate) fn parse_zone(name: &str) -> AppResult<chrono_tz::Tz> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        AppError::bad_input(
            "timeZone",
            format!("timeZone `{name}` is not an IANA time zone name such as Europe/Berlin"),
        )
    })
}

/// A rule as stored: trimmed, without the `RRULE:` prefix. BAD_USER_INPUT
/// on `recurrence` when it does not parse.
pub(crate) fn normalize_rule(text: &str) -> AppResult<String> {
    let trimmed = text.trim();
    let value = match trimmed.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("RRULE:") => trimmed[6..].trim(),
        _ => trimmed,
    };
    if value.is_empty() {
        return Err(bad("recurrence must not be empty (null clears it)"));
    }
    if value.chars().count() > MAX_RULE_CHARS {
        return Err(bad(format!(
            "recurrence must be at most {MAX_RULE_CHARS} characters"
        )));
    }
    if value.contains(['\r', '\n']) {
        return Err(bad("recurrence must be one RRULE value, not several lines"));
    }
    if value.to_ascii_uppercase().contains("DTSTART") {
        return Err(bad(
            "recurrence must not carry DTSTART: the series starts at dueAt",
        ));
    }
    parse(value)?;
    Ok(value.to_owned())
}

fn parse(rule: &str) -> AppResult<RRule<Unvalidated>> {
    rule.parse::<RRule<Unvalidated>>()
        .map_err(|e| bad(format!("recurrence is not an RFC 5545 RRULE: {e}")))
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::bad_input("recurrence", message)
}

/// The first occurrence of `rule` strictly after `after`, the series
/// starting at `start` in `zone`; `None` once COUNT or UNTIL have ended it
/// (or no occurrence comes within `MAX_STEPS`).
pub(crate) fn next_after(
    rule: &str,
    zone: &str,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    let zone = parse_zone(zone)?;
    let series = parse(rule)?
        .build(start.with_timezone(&Tz::Tz(zone)))
        .map_err(|e| {
            bad(format!(
                "recurrence cannot run from dueAt in {zone}: {e} (UNTIL must be a UTC date-time such as 20270401T000000Z)"
            ))
        })?;
    Ok((&series)
        .into_iter()
        .take(MAX_STEPS)
        .map(|at| at.with_timezone(&Utc))
        .find(|at| *at > after))
}

/// Checks a task's recurrence as it will be stored: a parsing rule with a
/// due date, and an occurrence after that due date.
pub(crate) fn validate(
    rule: Option<&str>,
    zone: &str,
    series_start: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
) -> AppResult<()> {
    let Some(rule) = rule else {
        return Ok(());
    };
    let Some(due) = due_at else {
        return Err(bad(
            "a recurrence needs a dueAt: the series starts at the due date",
        ));
    };
    if next_after(rule, zone, series_start.unwrap_or(due), due)?.is_none() {
        return Err(bad("recurrence has no occurrence after dueAt"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn weekly_keeps_local_time_across_dst() {
        let start = at("2027-03-22T08:00:00Z");
        let next = next_after("FREQ=WEEKLY;BYDAY=MO", "Europe/Berlin", start, start).unwrap();
        assert_eq!(next, Some(at("2027-03-29T07:00:00Z")));
    }

    #[test]
    fn count_and_until_end_the_series() {
        let start = at("2027-01-04T09:00:00Z");
        let third = at("2027-01-06T09:00:00Z");
        assert_eq!(
            next_after("FREQ=DAILY;COUNT=3", "UTC", start, third).unwrap(),
            None
        );
        let until = "FREQ=DAILY;UNTIL=20270105T090000Z";
        assert_eq!(
            next_after(until, "UTC", start, start).unwrap(),
            Some(at("2027-01-05T09:00:00Z"))
        );
        assert_eq!(
            next_after(until, "UTC", start, at("2027-01-05T09:00:00Z")).unwrap(),
            None
        );
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        assert!(normalize_rule("FREQ=SOMETIMES").is_err());
        assert!(normalize_rule("DTSTART:20270101T000000Z\nRRULE:FREQ=DAILY").is_err());
        assert_eq!(normalize_rule(" RRULE:FREQ=DAILY ").unwrap(), "FREQ=DAILY");
        let start = at("2027-01-04T09:00:00Z");
        assert!(
            next_after(
                "FREQ=DAILY;UNTIL=20270105T090000",
                "Europe/Berlin",
                start,
                start
            )
            .is_err()
        );
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
