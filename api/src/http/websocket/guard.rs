//! The protocol rules async-graphql leaves out, checked on every message
//! of one socket: what may come before `connection_init`, unique ids, the
//! cap on running operations, rate limits per `subscribe`, and which
//! results are refusals to send as `error` messages.

use std::collections::{HashMap, HashSet};

use async_graphql::http::WebSocketProtocols;

use super::close;
use crate::http::throttle::{Throttle, rate_limited_error};
use crate::metrics::TRANSPORT_WEBSOCKET;
use crate::rate_limit::Verdict as RateVerdict;

/// What the client says, as far as the guard needs to know.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<serde_json::Value>,
}

/// What async-graphql sends, as far as the guard needs to know: every
/// subscription event passes here, so its payload is skipped, not built.
#[derive(serde::Deserialize)]
struct ServerEnvelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

pub(super) enum Verdict {
    /// `connection_init`: authenticate its payload, then hand it on.
    Init(Option<serde_json::Value>),
    /// Hand the frame to async-graphql.
    Forward,
    /// Answer the client ourselves, keep the socket.
    Reply(String),
    Close(u16, String),
}

/// Protocol state the guard tracks for one socket.
pub(super) struct Guard {
    protocol: WebSocketProtocols,
    pub(super) init_received: bool,
    /// Running operations, each counted in the subscriptions gauge.
    running: HashMap<String, crate::metrics::Subscription>,
    max_running: usize,
    /// Operations that have not sent a result yet.
    fresh: HashSet<String>,
    /// Operations refused with an `error` message: no `complete` follows.
    refused: HashSet<String>,
    /// Running operations that are subscriptions (the rest are queries and
    /// mutations): their first result tells a refusal apart differently.
    subscriptions: HashSet<String>,
    /// Rate limits: every `subscribe` takes one operation.
    pub(super) throttle: Option<Throttle>,
}

impl Guard {
    pub(super) fn new(
        protocol: WebSocketProtocols,
        max_running: usize,
        throttle: Option<Throttle>,
    ) -> Self {
        Self {
            protocol,
            init_received: false,
            running: HashMap::new(),
            max_running,
            fresh: HashSet::new(),
            refused: HashSet::new(),
            subscriptions: HashSet::new(),
            throttle,
        }
    }

    pub(super) fn on_client_text(&mut self, text: &str) -> Verdict {
        let Ok(message) = serde_json::from_str::<Envelope>(text) else {
            return Verdict::Close(close::BAD_REQUEST, "Invalid message received".into());
        };
        let modern = self.protocol == WebSocketProtocols::GraphQLWS;
        match (message.kind.as_str(), modern) {
            ("connection_init", _) => {
                self.init_received = true;
                Verdict::Init(message.payload)
            }
            ("subscribe", true) | ("start", false) => {
                let has_query = message
                    .payload
                    .as_ref()
                    .and_then(|p| p.get("query"))
                    .is_some_and(serde_json::Value::is_string);
                if !has_query {
                    return Verdict::Close(
                        close::BAD_REQUEST,
                        "Invalid message received: the payload needs a query string".into(),
                    );
                }
                let subscription = message.payload.as_ref().is_some_and(is_subscription);
                self.on_subscribe(message.id, subscription)
            }
            ("complete", true) | ("stop", false) => {
                if let Some(id) = &message.id {
                    self.running.remove(id);
                }
                Verdict::Forward
            }
            ("ping" | "pong", true) | ("connection_terminate", false) => Verdict::Forward,
            (other, _) => Verdict::Close(
                close::BAD_REQUEST,
                format!("Invalid message received: unknown type {other:?}"),
            ),
        }
    }

    fn on_subscribe(&mut self, id: Option<String>, subscription: bool) -> Verdict {
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return Verdict::Close(close::BAD_REQUEST, "Invalid message received: no id".into());
        };
        if !self.init_received {
            return Verdict::Close(close::UNAUTHORIZED, "Unauthorized".into());
        }
        if self.running.contains_key(&id) {
            return Verdict::Close(
                close::DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            );
        }
        if let Some(throttle) = &self.throttle
            && let RateVerdict::Refused(refusal) = throttle.check(1)
        {
            crate::metrics::rate_limited(TRANSPORT_WEBSOCKET);
            return Verdict::Reply(self.error_reply(&id, rate_limited_error(refusal)));
        }
        if self.running.len() >= self.max_running {
            let error = serde_json::json!({
                "message": format!(
                    "at most {} operations may run at once on one connection",
                    self.max_running
                ),
                "extensions": { "code": "LIMIT_EXCEEDED", "limit": "subscriptions" },
            });
            return Verdict::Reply(self.error_reply(&id, error));
        }
        self.fresh.insert(id.clone());
        if subscription {
            self.subscriptions.insert(id.clone());
        } else {
            self.subscriptions.remove(&id);
        }
        self.running
            .insert(id, crate::metrics::Subscription::start());
        Verdict::Forward
    }

    /// An `error` message for operation `id`; the socket stays open.
    fn error_reply(&self, id: &str, error: serde_json::Value) -> String {
        // graphql-transport-ws sends a list of errors; the legacy protocol one.
        let payload = if self.protocol == WebSocketProtocols::GraphQLWS {
            serde_json::json!([error])
        } else {
            error
        };
        serde_json::json!({ "type": "error", "id": id, "payload": payload }).to_string()
    }

    /// What to send for a message from async-graphql, if anything. An
    /// operation that finished no longer counts against the cap; one that
    /// could not start (parse, validation, limits, a subscription that
    /// refused to open) gets the protocol's `error` message instead of a
    /// `next` and a `complete`. Errors raised while a query or mutation ran
    /// (they have a `path`) stay in its `next`, beside its `data`, as the
    /// same operation over HTTP answers them.
    pub(super) fn on_server_text(&mut self, text: String) -> Option<String> {
        let Ok(message) = serde_json::from_str::<ServerEnvelope>(&text) else {
            return Some(text);
        };
        let Some(id) = message.id else {
            return Some(text);
        };
        match message.kind.as_str() {
            "complete" | "error" => {
                self.running.remove(&id);
                self.fresh.remove(&id);
                self.subscriptions.remove(&id);
                if self.refused.remove(&id) {
                    return None;
                }
            }
            // `next` in graphql-transport-ws, `data` in the legacy protocol.
            "next" | "data" if self.fresh.remove(&id) => {
                // Only an operation's first result can be a refusal.
                let first: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                let subscription = self.subscriptions.contains(&id);
                if let Some(errors) = first
                    .get("payload")
                    .and_then(|payload| refusal_errors(payload, subscription))
                {
                    self.running.remove(&id);
                    self.subscriptions.remove(&id);
                    self.refused.insert(id.clone());
                    let reply = serde_json::json!({ "type": "error", "id": id, "payload": errors });
                    return Some(reply.to_string());
                }
            }
            _ => {}
        }
        Some(text)
    }
}

/// The errors of a first result that means the operation never started: no
/// data, and every error a request error (no `path`: parse, validation,
/// limits). A subscription's source stream failing to open (a refused
/// cursor) is a request error too, though async-graphql gives it the root
/// field's path.
fn refusal_errors(payload: &serde_json::Value, subscription: bool) -> Option<&serde_json::Value> {
    let errors = payload.get("errors")?;
    let no_data = payload.get("data").is_none_or(serde_json::Value::is_null);
    let before_execution = errors.as_array()?.iter().all(|e| {
        match e.get("path").and_then(serde_json::Value::as_array) {
            None => true,
            Some(path) => subscription && path.len() <= 1,
        }
    });
    (no_data && before_execution).then_some(errors)
}

/// Whether a `subscribe` (or legacy `start`) payload runs a subscription:
/// its document's operation, chosen by `operationName` when it has several.
/// A document that does not parse is refused later as a request error.
fn is_subscription(payload: &serde_json::Value) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    let Some(query) = payload.get("query").and_then(serde_json::Value::as_str) else {
        return false;
    };
    // Queries and mutations (most of what a socket sends besides the one
    // subscription) skip the second parse: without the keyword, none of
    // the document's operations is a subscription.
    if !query.contains("subscription") {
        return false;
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return false;
    };
    let name = payload
        .get("operationName")
        .and_then(serde_json::Value::as_str);
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => name.and_then(|name| operations.get(name)),
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Subscription)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::rate_limit::ClientKey;
    use crate::service::Owner;

    fn guard(protocol: WebSocketProtocols) -> Guard {
        Guard::new(protocol, 2, None)
    }

    fn closes_with(verdict: Verdict) -> Option<u16> {
        match verdict {
            Verdict::Close(code, _) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn enforces_graphql_transport_ws_order_and_ids() {
        let mut g = guard(WebSocketProtocols::GraphQLWS);
        let subscribe = |id: &str| {
            format!(r#"{{"type":"subscribe","id":"{id}","payload":{{"query":"{{a}}"}}}}"#)
        };
        assert_eq!(closes_with(g.on_client_text(&subscribe("1"))), Some(4401));
        assert!(matches!(
            g.on_client_text(r#"{"type":"connection_init"}"#),
            Verdict::Init(None)
        ));
        assert!(matches!(
            g.on_client_text(&subscribe("1")),
            Verdict::Forward
        ));
        assert_eq!(closes_with(g.on_client_text(&subscribe("1"))), Some(4409));
        assert!(matches!(
            g.on_client_text(&subscribe("2")),
            Verdict::Forward
        ));
        assert!(matches!(
            g.on_client_text(&subscribe("3")),
            Verdict::Reply(_)
        ));
        assert!(
            g.on_server_text(r#"{"type":"complete","id":"2"}"#.into())
                .is_some()
        );
        assert!(matches!(
            g.on_client_text(&subscribe("3")),
            Verdict::Forward
        ));
        assert_eq!(closes_with(g.on_client_text("{nope")), Some(4400));
        assert_eq!(
            closes_with(g.on_client_text(r#"{"type":"start","id":"9"}"#)),
            Some(4400)
        );
        assert_eq!(
            closes_with(g.on_client_text(r#"{"type":"subscribe","payload":{"query":"{a}"}}"#)),
            Some(4400)
        );
        assert_eq!(
            closes_with(g.on_client_text(r#"{"type":"subscribe","id":"8"}"#)),
            Some(4400)
        );
    }

    #[test]
    fn results_that_never_ran_become_error_messages() {
        let mut g = guard(WebSocketProtocols::GraphQLWS);
        g.init_received = true;
        let _ = g.on_client_text(r#"{"type":"subscribe","id":"1","payload":{"query":"{"}}"#);
        let refused = g
            .on_server_text(
                r#"{"type":"next","id":"1","payload":{"data":null,"errors":[{"message":"x"}]}}"#
                    .into(),
            )
            .expect("a message");
        let refused: serde_json::Value = serde_json::from_str(&refused).expect("JSON");
        assert_eq!(refused["type"], "error");
        assert_eq!(refused["payload"][0]["message"], "x");
        assert!(
            g.on_server_text(r#"{"type":"complete","id":"1"}"#.into())
                .is_none()
        );
        assert!(g.running.is_empty());
        // So does a subscription whose stream refused to open (its root
        // field failed before producing anything).
        let _ = g.on_client_text(
            r#"{"type":"subscribe","id":"3","payload":{"query":"subscription S {a}","operationName":"S"}}"#,
        );
        let failed = r#"{"type":"next","id":"3","payload":{"data":null,"errors":[{"message":"x","path":["a"]}]}}"#;
        assert!(
            g.on_server_text(failed.into())
                .is_some_and(|m| m.contains("\"error\""))
        );
        // A query or mutation that ran and failed at its root field (a
        // missing id, a stale version) answers with `next` and `complete`,
        // as over HTTP.
        for query in ["{a}", "mutation {a}", "query Q {a} subscription S {a}"] {
            let subscribe = serde_json::json!({ "type": "subscribe", "id": "4",
                "payload": { "query": query, "operationName": "Q" } });
            let _ = g.on_client_text(&subscribe.to_string());
            let ran = r#"{"type":"next","id":"4","payload":{"data":null,"errors":[{"message":"x","path":["a"]}]}}"#;
            assert_eq!(
                g.on_server_text(ran.into()).as_deref(),
                Some(ran),
                "{query}"
            );
            let complete = r#"{"type":"complete","id":"4"}"#;
            assert_eq!(g.on_server_text(complete.into()).as_deref(), Some(complete));
        }
        // A field error below the root stays a `next`.
        let _ = g.on_client_text(r#"{"type":"subscribe","id":"2","payload":{"query":"{a}"}}"#);
        let next = r#"{"type":"next","id":"2","payload":{"data":{"a":null},"errors":[{"message":"x","path":["a","b"]}]}}"#;
        assert_eq!(g.on_server_text(next.into()).as_deref(), Some(next));
    }

    #[test]
    fn the_legacy_protocol_refuses_with_error_and_answers_with_data() {
        let mut g = guard(WebSocketProtocols::SubscriptionsTransportWS);
        g.init_received = true;
        let _ = g.on_client_text(r#"{"type":"start","id":"1","payload":{"query":"{"}}"#);
        let refused = g
            .on_server_text(
                r#"{"type":"data","id":"1","payload":{"data":null,"errors":[{"message":"x"}]}}"#
                    .into(),
            )
            .expect("a message");
        assert!(refused.contains(r#""type":"error""#), "{refused}");
        assert!(
            g.on_server_text(r#"{"type":"complete","id":"1"}"#.into())
                .is_none()
        );
        let _ = g.on_client_text(r#"{"type":"start","id":"2","payload":{"query":"mutation {a}"}}"#);
        let ran = r#"{"type":"data","id":"2","payload":{"data":null,"errors":[{"message":"x","path":["a"]}]}}"#;
        assert_eq!(g.on_server_text(ran.into()).as_deref(), Some(ran));
    }

    #[test]
    fn subscribes_over_the_rate_limit_get_an_error_message() {
        let limiter = Arc::new(crate::rate_limit::RateLimiter::new(0.01, 1, 10).expect("limiter"));
        for protocol in [
            WebSocketProtocols::GraphQLWS,
            WebSocketProtocols::SubscriptionsTransportWS,
        ] {
            let mut g = guard(protocol);
            g.init_received = true;
            g.throttle = Some(Throttle {
                limiter: limiter.clone(),
                key: ClientKey::Owner(Owner::new(&format!("{protocol:?}"))),
            });
            let kind = if protocol == WebSocketProtocols::GraphQLWS {
                "subscribe"
            } else {
                "start"
            };
            let subscribe = |id: &str| {
                format!(r#"{{"type":"{kind}","id":"{id}","payload":{{"query":"{{a}}"}}}}"#)
            };
            assert!(matches!(
                g.on_client_text(&subscribe("1")),
                Verdict::Forward
            ));
            let Verdict::Reply(reply) = g.on_client_text(&subscribe("2")) else {
                panic!("a second subscribe passed a burst of 1");
            };
            let reply: serde_json::Value = serde_json::from_str(&reply).expect("JSON");
            assert_eq!(reply["type"], "error");
            assert_eq!(reply["id"], "2");
            let error = if protocol == WebSocketProtocols::GraphQLWS {
                &reply["payload"][0]
            } else {
                &reply["payload"]
            };
            assert_eq!(error["extensions"]["code"], "RATE_LIMITED");
            assert!(error["extensions"]["retryAfter"].as_u64() >= Some(1));
            assert!(!g.running.contains_key("2"));
        }
    }
}
