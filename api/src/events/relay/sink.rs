//! What every sink is to the relay: something that publishes a batch of
//! messages in order and says how much of it the broker acknowledged. One
//! more broker is one more implementation of [`Sink`].

use futures_util::future::BoxFuture;

use super::envelope::Message;

pub trait Sink: Send {
    /// The sink's name: its row in `event_sinks` and its metrics label.
    fn name(&self) -> &'static str;

    /// Publishes `batch` in order, connecting first if need be. `Ok` once
    /// the broker acknowledged every message; on failure, how many leading
    /// messages it did acknowledge (the rest is published again, so a
    /// broker may see a message twice, always with the same id).
    fn publish<'a>(&'a mut self, batch: &'a [Message]) -> BoxFuture<'a, Result<(), Failure>>;
}

#[derive(Debug)]
pub struct Failure {
    /// Leading messages of the batch the broker acknowledged.
    pub delivered: usize,
    pub reason: Reason,
    /// For the log; may name the broker's host, never a password.
    pub error: String,
}

impl Failure {
    pub fn new(reason: Reason, delivered: usize, error: impl std::fmt::Display) -> Self {
        Self {
            delivered,
            reason,
            error: error.to_string(),
        }
    }
}

/// Why a publish failed: the `reason` label of the failure metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No connection, or it broke.
    Unreachable,
    /// The broker answered, and not with an acknowledgement.
    Rejected,
    /// No answer in time.
    Timeout,
    /// The receiver said it is gone for good (a webhook's 410): the sink
    /// stops until an operator starts it again.
    Gone,
}

impl Reason {
    pub const ALL: [Self; 4] = [Self::Unreachable, Self::Rejected, Self::Timeout, Self::Gone];

    pub fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Rejected => "rejected",
            Self::Timeout => "timeout",
            Self::Gone => "gone",
        }
    }
}
