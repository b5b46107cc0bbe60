//! Event cursors: opaque to clients, ordered like the log.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

const PREFIX: &str = "ev1:";

pub fn encode(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{PREFIX}{id}"))
}

/// The event id in a cursor a client sent as `field`.
pub fn decode(cursor: &str, field: &str) -> AppResult<i64> {
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid event cursor"));
    let raw = URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .map_err(|_| invalid())?;
    let text = std::str::from_utf8(&raw).map_err(|_| invalid())?;
    text.strip_prefix(PREFIX)
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id >= 0)
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for id in [0, 1, 42, i64::MAX] {
            assert_eq!(decode(&encode(id), "after").unwrap(), id);
        }
        for bad in ["", "x", "ZXYxOi0x", "ZXYxOmFi", "VGFzazox", "!!"] {
            let err = decode(bad, "after").unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad}");
        }
    }
}
