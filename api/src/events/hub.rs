//! One replica's view of the event log, shared by all its subscribers.
//!
//! A single tail task reads newly numbered events from the table once (woken
//! by this replica's sequencer or commits, PostgreSQL's NOTIFY and a
//! periodic check) into a bounded ring of recent events, and publishes the
//! newest position it holds.
//! Every subscriber keeps its own cursor and takes the events after it from
//! the ring; one that fell behind the ring (or replays from an old cursor)
//! reads them from the table, a page at a time, until it is back in the
//! ring. So memory is bounded, nobody is skipped, and the switch from
//! replay to live is only a change of where the next events come from.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::Stream;
use sea_orm::{DatabaseConnection, DatabaseExecutor, TransactionTrait};
use tokio::sync::watch;

use super::log::{self, Event, EventFilter};
use crate::error::{AppError, AppResult};
use crate::store::{Scoped, Wake, set_every_owner};

/// Events a subscriber takes (or the tail reads) at once.
pub const PAGE: u64 = 256;

/// Events a `Query.taskEvents` page holds unless the client asks otherwise.
pub const DEFAULT_POLL_PAGE: u64 = 50;
/// Events a `Query.taskEvents` page holds at most: the cap of every other
/// connection (`service::page::MAX_PAGE_SIZE`), so a page costs what theirs
/// do against the complexity limit.
pub const MAX_POLL_PAGE: u64 = 100;

/// One page of an owner's events, for a client that polls.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// More matching events follow (up to the head when the page was read).
    pub has_next_page: bool,
    /// Where the next page starts: the last event's cursor, or the client's
    /// `after` when the page is empty (`None` if it gave none).
    pub end_cursor: Option<String>,
}

/// The page size a client asked for as `first`, checked.
pub fn poll_page_size(first: Option<i32>) -> AppResult<u64> {
    match first {
        None => Ok(DEFAULT_POLL_PAGE),
        Some(n) if n >= 1 && i64::from(n) <= MAX_POLL_PAGE as i64 => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(
            "first",
            format!("`first` must be between 1 and {MAX_POLL_PAGE}"),
        )),
    }
}

pub struct Hub {
    db: DatabaseConnection,
    /// PostgreSQL's row-level security is on: reads name every owner.
    row_level_security: bool,
    ring: Mutex<Ring>,
    /// Events kept in the ring at most.
    capacity: usize,
    head: watch::Sender<i64>,
    /// Wakes the tail: new events have positions.
    wake: Wake,
    /// What this replica's writers wake after they commit.
    commits: Wake,
    /// Other replicas' commits, announced to the sequencer (PostgreSQL).
    announced: Wake,
    /// Whether live wake-ups arrive from the database (always on SQLite).
    listening: AtomicBool,
    /// When this replica last heard the sequencer number a batch, in
    /// milliseconds after `opened` (0: never).
    numbering_heard: AtomicU64,
    opened: Instant,
}

/// Every numbered event with `floor < position <= head` (the newest `head`).
struct Ring {
    floor: i64,
    events: VecDeque<Arc<Event>>,
}

impl Hub {
    /// A hub positioned at the end of the log as it is now; writers wake
    /// `commits` after they commit.
    pub async fn open(
        db: DatabaseConnection,
        row_level_security: bool,
        capacity: usize,
        commits: Wake,
    ) -> AppResult<Arc<Self>> {
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let row_level_security = row_level_security && postgres;
        // On SQLite a commit numbers its own events: it wakes the tail itself.
        let wake = if postgres {
            Wake::default()
        } else {
            commits.clone()
        };
        let head = read(&db, row_level_security, async |db| {
            log::last_position(db).await
        })
        .await?;
        Ok(Arc::new(Self {
            db,
            row_level_security,
            capacity: capacity.max(1),
            ring: Mutex::new(Ring {
                floor: head,
                events: VecDeque::new(),
            }),
            head: watch::Sender::new(head),
            wake,
            commits,
            announced: Wake::default(),
            listening: AtomicBool::new(false),
            numbering_heard: AtomicU64::new(0),
            opened: Instant::now(),
        }))
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn row_level_security(&self) -> bool {
        self.row_level_security
    }

    async fn read<T>(
        &self,
        f: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> AppResult<T>,
    ) -> AppResult<T> {
        read(&self.db, self.row_level_security, f).await
    }

    /// Wakes the tail.
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// What this replica's writers wake after a commit.
    pub fn commits(&self) -> &Wake {
        &self.commits
    }

    /// Wakes the sequencer for another replica's commits.
    pub fn announced(&self) -> &Wake {
        &self.announced
    }

    /// When the first event after `position` happened (`None`: none yet).
    pub async fn oldest_after(
        &self,
        position: i64,
    ) -> AppResult<Option<chrono::DateTime<chrono::Utc>>> {
        self.read(async |db| log::oldest_after(db, position).await)
            .await
    }

    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Relaxed);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// The sequencer's notification of a numbered batch arrived.
    pub fn heard_numbering(&self) {
        let since = self.opened.elapsed().as_millis() as u64;
        self.numbering_heard.store(since.max(1), Ordering::Relaxed);
    }

    /// Whether the sequencer was heard numbering within `window`.
    pub fn numbering_heard_within(&self, window: Duration) -> bool {
        match self.numbering_heard.load(Ordering::Relaxed) {
            0 => false,
            heard => {
                let now = self.opened.elapsed().as_millis() as u64;
                now.saturating_sub(heard) < window.as_millis() as u64
            }
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads everything numbered since the last call into the ring;
    /// returns how many events arrived.
    pub async fn catch_up(&self) -> AppResult<usize> {
        let mut arrived = 0;
        loop {
            let head = self.head();
            let batch = self
                .read(async |db| log::read_after(db, head, PAGE).await)
                .await?;
            let Some(last) = batch.last().map(|e| e.position) else {
                return Ok(arrived);
            };
            arrived += batch.len();
            let full = batch.len() as u64 == PAGE;
            {
                let mut ring = self.ring();
                ring.events.extend(batch.into_iter().map(Arc::new));
                while ring.events.len() > self.capacity {
                    if let Some(oldest) = ring.events.pop_front() {
                        ring.floor = oldest.position;
                    }
                }
            }
            self.head.send_replace(last);
            if !full {
                return Ok(arrived);
            }
        }
    }

    /// Up to a page of events after `cursor`: from the ring when it still
    /// holds them, else from the table.
    async fn after(&self, cursor: i64) -> AppResult<Vec<Arc<Event>>> {
        {
            let ring = self.ring();
            if cursor >= ring.floor {
                // Positions ascend: skip to the first one past the cursor.
                let start = ring.events.partition_point(|e| e.position <= cursor);
                return Ok(ring
                    .events
                    .range(start..)
                    .take(PAGE as usize)
                    .cloned()
                    .collect());
            }
        }
        let events = self
            .read(async |db| log::read_after(db, cursor, PAGE).await)
            .await?;
        Ok(events.into_iter().map(Arc::new).collect())
    }

    /// Where a new subscription starts: after the client's cursor (checked
    /// against retention), or at the end of the log.
    pub async fn start(&self, after: Option<&str>) -> AppResult<i64> {
        let Some(after) = after else {
            return Ok(self.head());
        };
        let cursor = super::cursor::decode(after, "after")?;
        let pruned = self.read(async |db| log::pruned_through(db).await).await?;
        if cursor < pruned {
            return Err(AppError::CursorExpired);
        }
        Ok(cursor)
    }

    /// A page of `scope`'s owner's events matching `filter`: after the
    /// client's cursor `after` (checked against retention), or from the
    /// oldest retained event; `first` of them at most (see
    /// [`poll_page_size`]). Never past the head this replica has read, so a
    /// poller sees the log in order and without gaps, as a subscriber does.
    /// The owner is a condition of the statement, which runs in the
    /// owner's own scope (row-level security included).
    pub async fn page(
        &self,
        scope: &Scoped<'_>,
        after: Option<&str>,
        filter: &EventFilter,
        first: Option<i32>,
    ) -> AppResult<EventPage> {
        let limit = poll_page_size(first)?;
        let cursor = after
            .map(|after| super::cursor::decode(after, "after"))
            .transpose()?;
        let from = cursor.unwrap_or(0);
        let through = self.head();
        let mut events = if from < through {
            scope
                .read(async |db| {
                    log::read_owner_after(db, scope.owner(), from, through, filter, limit + 1).await
                })
                .await?
        } else {
            Vec::new()
        };
        if cursor.is_some() {
            // Read after the events: if nothing after the cursor had been
            // pruned by now, nothing was missing when they were read.
            let pruned = self.read(async |db| log::pruned_through(db).await).await?;
            if from < pruned {
                return Err(AppError::CursorExpired);
            }
        }
        let has_next_page = events.len() as u64 > limit;
        events.truncate(limit as usize);
        let end_cursor = match events.last() {
            Some(last) => Some(super::cursor::encode(last.position)),
            None => after.map(str::to_owned),
        };
        Ok(EventPage {
            events,
            has_next_page,
            end_cursor,
        })
    }

    /// Every event after `cursor`, in order, then every new one as it
    /// commits. A failed read ends the stream with its error (the client
    /// resubscribes from its last cursor).
    pub fn events(
        self: &Arc<Self>,
        cursor: i64,
    ) -> impl Stream<Item = AppResult<Arc<Event>>> + use<> {
        let state = Subscriber {
            hub: self.clone(),
            cursor,
            pending: VecDeque::new(),
            head: self.head.subscribe(),
            failed: false,
        };
        futures_util::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(event) = s.pending.pop_front() {
                    return Some((Ok(event), s));
                }
                if s.failed {
                    return None;
                }
                match s.hub.after(s.cursor).await {
                    Ok(batch) if !batch.is_empty() => {
                        if let Some(last) = batch.last() {
                            s.cursor = last.position;
                        }
                        s.pending.extend(batch);
                    }
                    Ok(_) => {
                        let cursor = s.cursor;
                        // The hub is gone (shutdown): the stream ends.
                        s.head.wait_for(|head| *head > cursor).await.ok()?;
                    }
                    Err(err) => {
                        s.failed = true;
                        return Some((Err(err), s));
                    }
                }
            }
        })
    }
}

/// Reads of the whole log: on the pool, or with row-level security in a
/// transaction that names every owner.
async fn read<T>(
    db: &DatabaseConnection,
    row_level_security: bool,
    f: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> AppResult<T>,
) -> AppResult<T> {
    if !row_level_security {
        return f(&DatabaseExecutor::from(db)).await;
    }
    let txn = db.begin().await?;
    set_every_owner(&txn).await?;
    let out = f(&DatabaseExecutor::from(&txn)).await?;
    txn.commit().await?;
    Ok(out)
}

struct Subscriber {
    hub: Arc<Hub>,
    cursor: i64,
    pending: VecDeque<Arc<Event>>,
    head: watch::Receiver<i64>,
    failed: bool,
}
