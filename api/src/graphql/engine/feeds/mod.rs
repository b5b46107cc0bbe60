//! Shared live subscriptions. Every socket of a replica that subscribes to
//! the same live `taskEvents` (one owner, one document, one operation, the
//! same variables) is served by one execution, a *feed*: each event is read,
//! matched and resolved once, and its result handed to every member's
//! queue. A thousand dashboards open on one person's list cost one
//! execution per event, not a thousand.
//!
//! Exactly once, in order, per member:
//! - A member hears only of events after the position where it joined (the
//!   head when it subscribed, as an unshared subscription starts). It may
//!   join a running feed only while the feed has taken no event after that
//!   position, checked under the lock results are handed out under.
//! - A member whose queue is full (a slow socket) is not waited for: it is
//!   detached, drains what it was given, and continues with an execution of
//!   its own from the last event it got, reading the log as any subscriber
//!   that fell behind does.
//!
//! A subscription that resumes (`after:`), holds other root fields or
//! directives, runs unshared, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::Response;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use futures_util::stream::{BoxStream, StreamExt};
use tokio::sync::{Notify, mpsc, oneshot};

use super::super::subscription::{FeedTap, Taken, record_delivery_lags};
use crate::service::Owner;

/// Results queued per member before it counts as slow and is detached.
const QUEUE: usize = 256;

/// Starts an execution of a feed's subscription from a position: shared
/// (its results tell their event through the tap's `taken`) or a detached
/// member's own.
pub(crate) type Execute = Arc<dyn Fn(FeedTap) -> BoxStream<'static, Response> + Send + Sync>;

/// Whether the operation `operation_name` selects in `document` is a live
/// `taskEvents` subscription that can be shared: its only root selection
/// is that field, without `after` or directives.
pub(crate) fn shareable(document: &ExecutableDocument, operation_name: Option<&str>) -> bool {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => match operations.get(name) {
            Some(operation) => operation,
            None => return false,
        },
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            match operations.values().next() {
                Some(operation) => operation,
                None => return false,
            }
        }
        _ => return false,
    };
    if operation.node.ty != OperationType::Subscription || !operation.node.directives.is_empty() {
        return false;
    }
    let [item] = operation.node.selection_set.node.items.as_slice() else {
        return false;
    };
    let Selection::Field(field) = &item.node else {
        return false;
    };
    field.node.name.node == "taskEvents"
        && field.node.directives.is_empty()
        && !field
            .node
            .arguments
            .iter()
            .any(|(name, _)| name.node == "after")
}

/// What makes two subscriptions the same.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) owner: Owner,
    /// The parsed document's address: the feed holds the document, so the
    /// address cannot be reused while the feed is open.
    pub(crate) document: usize,
    pub(crate) operation_name: Option<String>,
    /// The variables as JSON.
    pub(crate) variables: String,
}

/// This replica's open feeds.
#[derive(Default)]
pub(crate) struct Feeds {
    open: Mutex<HashMap<Key, Arc<Feed>>>,
}

pub(crate) struct Feed {
    key: Key,
    /// Keeps the document (and so the key's address) alive.
    _document: Arc<dyn Send + Sync>,
    execute: Execute,
    taken: Arc<Taken>,
    members: Mutex<Members>,
    /// Wakes the feed's task when a member left.
    left: Notify,
}

#[derive(Default)]
struct Members {
    by_id: HashMap<u64, Member>,
    next_id: u64,
    /// The execution ended: nobody joins any more.
    closed: bool,
}

struct Member {
    /// It hears of events after this position only.
    start: i64,
    /// The last event queued to it.
    queued_through: i64,
    queue: mpsc::Sender<Arc<Response>>,
    /// Where its own execution takes over, if it falls behind.
    detach: Option<oneshot::Sender<i64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single insert or removal: a
    // poisoned map is intact.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Feeds {
    /// A subscription from `head` (the log's head as this replica read it
    /// just now) as a member of the feed for `key`, opening one if need be.
    pub(crate) fn subscribe(
        self: &Arc<Self>,
        key: Key,
        document: Arc<dyn Send + Sync>,
        head: i64,
        execute: Execute,
    ) -> BoxStream<'static, Response> {
        let mut open = lock(&self.open);
        if let Some(feed) = open.get(&key)
            && let Some(member) = feed.join(head)
        {
            return member;
        }
        let feed = Arc::new(Feed {
            key: key.clone(),
            _document: document,
            execute,
            taken: Arc::new(Taken::starting_at(head)),
            members: Mutex::default(),
            left: Notify::new(),
        });
        // A fresh feed has taken nothing: joining cannot fail.
        let member = feed.join(head);
        let results = (feed.execute)(FeedTap {
            start: head,
            taken: Some(Arc::clone(&feed.taken)),
        });
        // A feed that could not be joined (closed) is replaced.
        open.insert(key, Arc::clone(&feed));
        drop(open);
        tokio::spawn(Arc::clone(self).run(feed, results));
        member.unwrap_or_else(|| futures_util::stream::empty().boxed())
    }

    /// Hands out the feed's results until its execution ends or its last
    /// member left, then closes it.
    async fn run(self: Arc<Self>, feed: Arc<Feed>, mut results: BoxStream<'static, Response>) {
        let (mut handed_through, _) = feed.taken.latest();
        loop {
            let next = tokio::select! {
                next = results.next() => next,
                () = feed.left.notified() => {
                    if self.close_if_empty(&feed) {
                        return;
                    }
                    continue;
                }
            };
            let Some(response) = next else { break };
            let (position, occurred_at) = feed.taken.latest();
            // A result without a new event (a refusal, a failed read) is
            // everyone's: it ends the subscription.
            let event = (position > handed_through).then_some((position, occurred_at));
            if let Some((position, _)) = event {
                handed_through = position;
            }
            feed.hand_out(Arc::new(response), event);
        }
        self.close(&feed);
    }

    fn close_if_empty(&self, feed: &Arc<Feed>) -> bool {
        let mut open = lock(&self.open);
        let mut members = lock(&feed.members);
        if !members.by_id.is_empty() {
            return false;
        }
        members.closed = true;
        remove(&mut open, feed);
        true
    }

    fn close(&self, feed: &Arc<Feed>) {
        let mut open = lock(&self.open);
        let mut members = lock(&feed.members);
        members.closed = true;
        // Their queues end: each member's stream ends after what it holds.
        members.by_id.clear();
        remove(&mut open, feed);
    }
}

fn remove(open: &mut HashMap<Key, Arc<Feed>>, feed: &Arc<Feed>) {
    if open.get(&feed.key).is_some_and(|f| Arc::ptr_eq(f, feed)) {
        open.remove(&feed.key);
    }
}

impl Feed {
    /// A new member hearing of events after `start`, or `None` when the feed
    /// already took a later event (or closed) and cannot serve it.
    fn join(self: &Arc<Self>, start: i64) -> Option<BoxStream<'static, Response>> {
        let mut members = lock(&self.members);
        // Under the lock results are handed out under: an event taken
        // after this check is handed out after the member is in.
        let (taken, _) = self.taken.latest();
        if members.closed || taken > start {
            return None;
        }
        let (queue, queued) = mpsc::channel(QUEUE);
        let (detach, detached) = oneshot::channel();
        let id = members.next_id;
        members.next_id += 1;
        members.by_id.insert(
            id,
            Member {
                start,
                queued_through: start,
                queue,
                detach: Some(detach),
            },
        );
        let membership = Membership {
            feed: Arc::clone(self),
            id,
        };
        Some(member_stream(membership, queued, detached))
    }

    /// Queues `response` to every member it is for; detaches the slow ones.
    fn hand_out(&self, response: Arc<Response>, event: Option<(i64, i64)>) {
        let occurred_at =
            event.and_then(|(_, micros)| chrono::DateTime::from_timestamp_micros(micros));
        let mut members = lock(&self.members);
        let mut slow = Vec::new();
        let mut gone = Vec::new();
        let mut delivered = 0;
        for (id, member) in &mut members.by_id {
            if event.is_some_and(|(position, _)| position <= member.start) {
                continue;
            }
            match member.queue.try_send(Arc::clone(&response)) {
                Ok(()) => {
                    if let Some((position, _)) = event {
                        member.queued_through = position;
                    }
                    delivered += 1;
                }
                Err(mpsc::error::TrySendError::Full(_)) => slow.push(*id),
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in slow {
            if let Some(mut member) = members.by_id.remove(&id)
                && let Some(detach) = member.detach.take()
            {
                // Before its queue closes (the member is dropped after this).
                let _ = detach.send(member.queued_through);
            }
        }
        for id in gone {
            members.by_id.remove(&id);
        }
        drop(members);
        if let Some(at) = occurred_at {
            record_delivery_lags(at, delivered);
        }
    }
}

/// A member's place in its feed, given up when its stream is dropped.
struct Membership {
    feed: Arc<Feed>,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut members = lock(&self.feed.members);
        if members.by_id.remove(&self.id).is_some() && members.by_id.is_empty() {
            self.feed.left.notify_one();
        }
    }
}

enum Source {
    Shared {
        membership: Membership,
        queued: mpsc::Receiver<Arc<Response>>,
        detached: oneshot::Receiver<i64>,
    },
    Own(BoxStream<'static, Response>),
}

fn member_stream(
    membership: Membership,
    queued: mpsc::Receiver<Arc<Response>>,
    detached: oneshot::Receiver<i64>,
) -> BoxStream<'static, Response> {
    let source = Source::Shared {
        membership,
        queued,
        detached,
    };
    futures_util::stream::unfold(source, |mut source| async move {
        loop {
            match &mut source {
                Source::Shared {
                    membership,
                    queued,
                    detached,
                } => match queued.recv().await {
                    Some(response) => return Some((copy(&response), source)),
                    None => {
                        // The queue ended: the feed closed, or this member
                        // fell behind and goes on with its own execution.
                        let Ok(from) = detached.try_recv() else {
                            return None;
                        };
                        let own = (membership.feed.execute)(FeedTap {
                            start: from,
                            taken: None,
                        });
                        source = Source::Own(own);
                    }
                },
                Source::Own(own) => return own.next().await.map(|response| (response, source)),
            }
        }
    })
    .boxed()
}

/// A copy of a shared result for one socket (async-graphql's `Response`
/// is not `Clone`).
fn copy(response: &Response) -> Response {
    let mut copy = Response::new(response.data.clone());
    copy.extensions = response.extensions.clone();
    copy.cache_control = response.cache_control;
    copy.errors = response.errors.clone();
    copy.http_headers = response.http_headers.clone();
    copy
}

#[cfg(test)]
mod tests;
