//! Custom scalars, described for the clients that read the schema.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// An instant, as chrono keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DateTime(pub chrono::DateTime<Utc>);

/// A point in time: an RFC 3339 date-time string with an offset, such as
/// `2026-12-01T09:30:00Z` or `2026-12-01T10:30:00+01:00`. Always sent in
/// UTC (`Z`), to the microsecond at most, so a value reads back as stored.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://scalars.graphql.org/andimarek/date-time"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            // chrono's own reading (RFC 3339, also with years beyond 9999,
            // which the service then refuses naming the field).
            Value::String(s) => s.parse::<chrono::DateTime<Utc>>().map(Self).map_err(|_| {
                InputValueError::custom(
                    "expected an RFC 3339 date-time with an offset, e.g. 2026-12-01T09:30:00Z",
                )
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        Self(t)
    }
}

impl From<DateTime> for chrono::DateTime<Utc> {
    fn from(t: DateTime) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_and_writes_utc() {
        let parsed = DateTime::parse(Value::String("2026-12-01T10:30:00.5+01:00".into())).unwrap();
        assert_eq!(
            parsed.to_value(),
            Value::String("2026-12-01T09:30:00.500Z".into())
        );
        for bad in ["2026-12-01", "2026-12-01T10:30:00", "tomorrow", ""] {
            assert!(DateTime::parse(Value::String(bad.into())).is_err(), "{bad}");
        }
        assert!(DateTime::parse(Value::Number(1.into())).is_err());
    }
}
