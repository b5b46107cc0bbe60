//! What the rest of the code records through: the event sinks' and the
//! connections' counters, and guards that count a request, a WebSocket or
//! a subscription while they are held; the bounded label values of an
//! operation's name and outcome.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ::metrics::{counter, gauge};
use async_graphql::Response;

use super::names::*;

/// A configured sink's series, present from the first scrape.
pub(crate) fn sink_configured(sink: &'static str, reasons: &[&'static str]) {
    counter!(EVENT_SINK_PUBLISHED, "sink" => sink).increment(0);
    for reason in reasons {
        counter!(EVENT_SINK_FAILURES, "sink" => sink, "reason" => *reason).increment(0);
    }
    gauge!(EVENT_SINK_LAG_EVENTS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_LAG_SECONDS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_LAST_SUCCESS, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_STOPPED, "sink" => sink).set(0.0);
    gauge!(EVENT_SINK_PUBLISHING, "sink" => sink).set(0.0);
}

pub(crate) fn sink_published(sink: &'static str, events: usize) {
    counter!(EVENT_SINK_PUBLISHED, "sink" => sink).increment(events as u64);
}

pub(crate) fn sink_failed(sink: &'static str, reason: &'static str) {
    counter!(EVENT_SINK_FAILURES, "sink" => sink, "reason" => reason).increment(1);
}

pub(crate) fn sink_publishing(sink: &'static str, publishing: bool) {
    gauge!(EVENT_SINK_PUBLISHING, "sink" => sink).set(f64::from(u8::from(publishing)));
}

/// What every replica reads from the database every few seconds.
pub(crate) fn sink_status(
    sink: &'static str,
    lag_events: i64,
    lag_seconds: f64,
    last_success: Option<f64>,
    stopped: bool,
) {
    gauge!(EVENT_SINK_LAG_EVENTS, "sink" => sink).set(lag_events.max(0) as f64);
    gauge!(EVENT_SINK_LAG_SECONDS, "sink" => sink).set(lag_seconds.max(0.0));
    gauge!(EVENT_SINK_LAST_SUCCESS, "sink" => sink).set(last_success.unwrap_or(0.0));
    gauge!(EVENT_SINK_STOPPED, "sink" => sink).set(f64::from(u8::from(stopped)));
}

/// A connection accepted and counted open; [`connection_closed`] when it goes.
pub(crate) fn connection_opened() {
    gauge!(HTTP_CONNECTIONS_OPEN).increment(1.0);
}

pub(crate) fn connection_closed() {
    gauge!(HTTP_CONNECTIONS_OPEN).decrement(1.0);
}

/// A connection closed at once for a cap (`REFUSED_*`).
pub(crate) fn connection_refused(reason: &'static str) {
    counter!(HTTP_CONNECTIONS_REFUSED, "reason" => reason).increment(1);
}

/// A connection closed by a timeout: `headers` or `idle`.
pub(crate) fn connection_timed_out(phase: &'static str) {
    counter!(HTTP_CONNECTIONS_TIMED_OUT, "phase" => phase).increment(1);
}

/// An operation refused with RATE_LIMITED (`TRANSPORT_*`).
pub(crate) fn rate_limited(transport: &'static str) {
    counter!(HTTP_RATE_LIMITED, "transport" => transport).increment(1);
}

pub(crate) fn rate_limit_clients(clients: usize) {
    gauge!(RATE_LIMIT_CLIENTS).set(clients as f64);
}

pub(crate) fn rate_limit_overflow() {
    counter!(RATE_LIMIT_OVERFLOW).increment(1);
}

/// An HTTP request being served: counted in flight until dropped, when its
/// response status (if [`InFlight::finish`] was called) is counted too.
pub(crate) struct InFlight {
    _private: (),
}

impl InFlight {
    pub(crate) fn start() -> Self {
        gauge!(HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
        Self { _private: () }
    }

    pub(crate) fn finish(self, status: u16) {
        let class = match status {
            100..=199 => STATUS_CLASSES[0],
            200..=299 => STATUS_CLASSES[1],
            300..=399 => STATUS_CLASSES[2],
            400..=499 => STATUS_CLASSES[3],
            _ => STATUS_CLASSES[4],
        };
        counter!(HTTP_REQUESTS_TOTAL, "status" => class).increment(1);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);
    }
}

/// An open GraphQL WebSocket: hold it for the socket's life.
pub(crate) struct WsConnection {
    _private: (),
}

impl WsConnection {
    pub(crate) fn open() -> Self {
        counter!(WS_CONNECTIONS_TOTAL).increment(1);
        gauge!(WS_CONNECTIONS).increment(1.0);
        Self { _private: () }
    }
}

impl WsConnection {
    /// Runs a socket's whole life as an open connection.
    pub(crate) async fn track<F: std::future::Future>(socket: F) -> F::Output {
        let _connection = Self::open();
        socket.await
    }
}

impl Drop for WsConnection {
    fn drop(&mut self) {
        gauge!(WS_CONNECTIONS).decrement(1.0);
    }
}

/// An active subscription: hold it while the subscription streams.
pub(crate) struct Subscription {
    _private: (),
}

impl Subscription {
    pub(crate) fn start() -> Self {
        counter!(SUBSCRIPTIONS_TOTAL).increment(1);
        gauge!(SUBSCRIPTIONS).increment(1.0);
        Self { _private: () }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        gauge!(SUBSCRIPTIONS).decrement(1.0);
    }
}

/// The label for an operation name: the name itself while fewer than
/// [`MAX_OPERATION_NAMES`] distinct names were seen, else [`OTHER`].
/// Names must be GraphQL names (callers pass names from a parsed document).
pub(crate) fn operation_label(name: Option<&str>) -> String {
    static NAMES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let Some(name) = name else {
        return OTHER.to_owned();
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_OPERATION_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name != OTHER;
    if !valid {
        return OTHER.to_owned();
    }
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if names.contains(name) {
        return name.to_owned();
    }
    if names.len() < MAX_OPERATION_NAMES {
        names.insert(name.into());
        return name.to_owned();
    }
    OTHER.to_owned()
}

/// `ok`, or the first error's `extensions.code` (`error` if it has none).
pub(crate) fn outcome(response: &Response) -> String {
    let Some(error) = response.errors.first() else {
        return "ok".to_owned();
    };
    let code = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.as_str()),
            _ => None,
        });
    match code {
        // Codes are set by the server (graphql/engine/codes.rs); the shape check
        // keeps the label bounded whatever happens there.
        Some(code)
            if !code.is_empty()
                && code.len() <= 40
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
        {
            code.to_owned()
        }
        _ => "error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(operation_label(None), OTHER);
        assert_eq!(operation_label(Some("")), OTHER);
        assert_eq!(operation_label(Some("other")), OTHER);
        assert_eq!(operation_label(Some("not a name")), OTHER);
        assert_eq!(operation_label(Some(&"A".repeat(101))), OTHER);
        assert_eq!(operation_label(Some("LabelKept")), "LabelKept");
        for i in 0..MAX_OPERATION_NAMES {
            operation_label(Some(&format!("Filler{i}")));
        }
        assert_eq!(operation_label(Some("OneTooMany")), OTHER);
        assert_eq!(operation_label(Some("LabelKept")), "LabelKept");
    }

    #[test]
    fn outcomes_are_ok_or_a_code() {
        assert_eq!(outcome(&Response::new(async_graphql::Value::Null)), "ok");
        let mut error = async_graphql::ServerError::new("boom", None);
        assert_eq!(
            outcome(&Response::from_errors(vec![error.clone()])),
            "error"
        );
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "NOT_FOUND");
        assert_eq!(
            outcome(&Response::from_errors(vec![error.clone()])),
            "NOT_FOUND"
        );
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "user text <script>");
        assert_eq!(outcome(&Response::from_errors(vec![error])), "error");
    }
}
