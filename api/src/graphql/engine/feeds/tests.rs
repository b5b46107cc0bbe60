//! The feed's guarantees against a stand-in execution whose every result
//! is an event at a known position.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::Value;
use tokio::sync::watch;

use super::*;

/// A stand-in for the schema's execution: results 1, 2, ... for events
/// at those positions, each taken only when asked for (as async-graphql
/// resolves a subscription), up to what the test released.
struct Log {
    released: watch::Sender<i64>,
    shared_runs: AtomicUsize,
    own_runs: AtomicUsize,
}

impl Log {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            released: watch::Sender::new(0),
            shared_runs: AtomicUsize::new(0),
            own_runs: AtomicUsize::new(0),
        })
    }

    fn execute(self: &Arc<Self>) -> Execute {
        let log = Arc::clone(self);
        Arc::new(move |tap: FeedTap| {
            match &tap.taken {
                Some(_) => log.shared_runs.fetch_add(1, Ordering::SeqCst),
                None => log.own_runs.fetch_add(1, Ordering::SeqCst),
            };
            let released = log.released.subscribe();
            futures_util::stream::iter(tap.start + 1..)
                .then(move |position| {
                    let mut released = released.clone();
                    let taken = tap.taken.clone();
                    async move {
                        let _ = released.wait_for(|r| *r >= position).await;
                        if let Some(taken) = taken {
                            taken.record(position, 0);
                        }
                        Response::new(Value::from(position))
                    }
                })
                .boxed()
        })
    }

    fn release_through(&self, position: i64) {
        self.released.send_replace(position);
    }
}

fn key() -> Key {
    Key {
        owner: Owner::new("a"),
        document: 1,
        operation_name: None,
        variables: "{}".into(),
    }
}

fn subscribe(feeds: &Arc<Feeds>, log: &Arc<Log>, head: i64) -> BoxStream<'static, Response> {
    feeds.subscribe(key(), Arc::new(()), head, log.execute())
}

async fn positions(stream: &mut BoxStream<'static, Response>, count: usize) -> Vec<i64> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let response = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
            .await
            .expect("a result within 5 s")
            .expect("the stream goes on");
        let Value::Number(n) = response.data else {
            panic!("not a position: {:?}", response.data)
        };
        seen.push(n.as_i64().expect("an integer"));
    }
    seen
}

#[tokio::test]
async fn members_share_one_execution_and_each_get_every_event_once() {
    let (feeds, log) = (Arc::new(Feeds::default()), Log::new());
    let mut a = subscribe(&feeds, &log, 0);
    let mut b = subscribe(&feeds, &log, 0);
    log.release_through(10);
    assert_eq!(positions(&mut a, 10).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(positions(&mut b, 10).await, (1..=10).collect::<Vec<_>>());
    assert_eq!(log.shared_runs.load(Ordering::SeqCst), 1);
    assert_eq!(log.own_runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_member_hears_only_of_events_after_it_joined() {
    let (feeds, log) = (Arc::new(Feeds::default()), Log::new());
    let mut a = subscribe(&feeds, &log, 0);
    log.release_through(5);
    assert_eq!(positions(&mut a, 5).await, vec![1, 2, 3, 4, 5]);
    // The head is 7 (6 and 7 did not match, say): it joins, from 7.
    let mut b = subscribe(&feeds, &log, 7);
    log.release_through(9);
    assert_eq!(positions(&mut a, 4).await, vec![6, 7, 8, 9]);
    assert_eq!(positions(&mut b, 2).await, vec![8, 9]);
    assert_eq!(log.shared_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_feed_past_the_joiners_position_is_not_joined() {
    let (feeds, log) = (Arc::new(Feeds::default()), Log::new());
    let mut a = subscribe(&feeds, &log, 0);
    log.release_through(8);
    assert_eq!(positions(&mut a, 8).await.len(), 8);
    // A head read before the feed took 8: joining would miss 6..8.
    let mut b = subscribe(&feeds, &log, 5);
    assert_eq!(log.shared_runs.load(Ordering::SeqCst), 2);
    assert_eq!(positions(&mut b, 3).await, vec![6, 7, 8]);
}

#[tokio::test]
async fn a_slow_member_is_detached_and_goes_on_from_where_it_was() {
    let (feeds, log) = (Arc::new(Feeds::default()), Log::new());
    let mut fast = subscribe(&feeds, &log, 0);
    let mut slow = subscribe(&feeds, &log, 0);
    let total = QUEUE as i64 * 3;
    log.release_through(total);
    // The fast one reads all while the slow one reads nothing.
    let expected: Vec<i64> = (1..=total).collect();
    assert_eq!(positions(&mut fast, total as usize).await, expected);
    assert_eq!(positions(&mut slow, total as usize).await, expected);
    // What its queue held, then its own execution from there.
    assert_eq!(
        log.own_runs.load(Ordering::SeqCst),
        1,
        "the slow one was detached"
    );
    // Still one feed, still serving the fast one.
    log.release_through(total + 1);
    assert_eq!(positions(&mut fast, 1).await, vec![total + 1]);
    assert_eq!(positions(&mut slow, 1).await, vec![total + 1]);
    assert_eq!(log.shared_runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_last_member_leaving_closes_the_feed() {
    let (feeds, log) = (Arc::new(Feeds::default()), Log::new());
    let a = subscribe(&feeds, &log, 0);
    let b = subscribe(&feeds, &log, 0);
    drop(a);
    tokio::task::yield_now().await;
    assert_eq!(lock(&feeds.open).len(), 1, "one member is left");
    drop(b);
    for _ in 0..100 {
        if lock(&feeds.open).is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(lock(&feeds.open).is_empty(), "the feed closed");
    let mut c = subscribe(&feeds, &log, 0);
    log.release_through(1);
    assert_eq!(positions(&mut c, 1).await, vec![1]);
    assert_eq!(log.shared_runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_error_without_an_event_reaches_every_member_and_ends_them() {
    let feeds = Arc::new(Feeds::default());
    let execute: Execute = Arc::new(|_tap: FeedTap| {
        futures_util::stream::once(async {
            Response::from_errors(vec![async_graphql::ServerError::new("refused", None)])
        })
        .boxed()
    });
    let mut a = feeds.subscribe(key(), Arc::new(()), 3, Arc::clone(&execute));
    let mut b = feeds.subscribe(key(), Arc::new(()), 3, execute);
    for member in [&mut a, &mut b] {
        let response = member.next().await.expect("the error");
        assert_eq!(response.errors.len(), 1);
        assert!(member.next().await.is_none(), "and then the end");
    }
}
