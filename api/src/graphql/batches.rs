//! The DataLoader batches of one operation run on the operation's own task,
//! as soon as the operation has nothing left to do but wait: no batch waits
//! for a time window, and none starts while sibling fields can still ask.
//!
//! async-graphql's DataLoader gathers keys until the batch it handed to its
//! spawner starts. On tokio with a delay (its default, 1 ms) every batch
//! waits that long, even when no other key can come: one `task(id:)`, or a
//! prefetch that already knows every key. With no delay, a batch spawned on
//! tokio starts as soon as a worker picks it up, while the operation may
//! still be resolving the rows of a list one after the other, and the number
//! of statements would depend on scheduling. Here the spawner only queues
//! the batch, and the operation's future starts the queued batches once the
//! operation is pending without having woken itself. (A list's rows do wake
//! themselves: async-graphql resolves fields in a `FuturesUnordered`, which
//! yields after polling every ready future once, so a list of rows takes
//! several polls to reach all of its fields.)

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered, Stream, StreamExt};

type Batch = BoxFuture<'static, ()>;

/// Polls of an operation that keeps waking itself before its batches start
/// anyway (and the task yields to the runtime): a list of 100 rows takes
/// about 50.
const MAX_ROUNDS: usize = 256;

/// The batches one operation's loaders asked for and not yet started.
#[derive(Clone, Default)]
pub(crate) struct Batches(Arc<Mutex<Vec<Batch>>>);

impl Batches {
    /// The DataLoader's spawner: the batch waits until the operation does.
    pub(crate) fn spawner(&self) -> impl Fn(Batch) + Send + Sync + 'static {
        let queue = self.0.clone();
        move |batch| lock(&queue).push(batch)
    }

    /// Runs `operation` and, on the same task, the batches it asks for.
    pub(crate) async fn run<F: Future>(self, operation: F) -> F::Output {
        let mut operation = pin!(operation);
        let mut driver = Driver::new(self);
        poll_fn(move |cx| driver.poll(cx, |cx| operation.as_mut().poll(cx))).await
    }

    /// The same for an operation that answers with a stream (subscriptions,
    /// and everything over WebSocket).
    pub(crate) fn run_stream<S>(self, mut stream: S) -> BoxStream<'static, S::Item>
    where
        S: Stream + Unpin + Send + 'static,
    {
        let mut driver = Driver::new(self);
        futures_util::stream::poll_fn(move |cx| driver.poll(cx, |cx| stream.poll_next_unpin(cx)))
            .boxed()
    }
}

fn lock(queue: &Mutex<Vec<Batch>>) -> std::sync::MutexGuard<'_, Vec<Batch>> {
    // Only pushes and drains happen under the lock: a poisoned queue is intact.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Driver {
    queued: Batches,
    running: FuturesUnordered<Batch>,
    waker: Option<(Arc<Flag>, Waker)>,
}

/// The waker the operation is polled with: tells a wake-up that came while
/// the driver was polling (the driver polls the operation again itself)
/// from one that came later (the task must be woken).
struct Flag {
    task: Waker,
    polling: AtomicBool,
    woken: AtomicBool,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // In this order, against `Driver::poll`'s: either the driver sees
        // `woken`, or this sees `polling` false and wakes the task.
        self.woken.store(true, SeqCst);
        if !self.polling.load(SeqCst) {
            self.task.wake_by_ref();
        }
    }
}

impl Driver {
    fn new(queued: Batches) -> Self {
        Self {
            queued,
            running: FuturesUnordered::new(),
            waker: None,
        }
    }

    fn flag(&mut self, task: &Waker) -> (Arc<Flag>, Waker) {
        match &self.waker {
            Some((flag, waker)) if flag.task.will_wake(task) => (flag.clone(), waker.clone()),
            _ => {
                let flag = Arc::new(Flag {
                    task: task.clone(),
                    polling: AtomicBool::new(false),
                    woken: AtomicBool::new(false),
                });
                let waker = Waker::from(flag.clone());
                self.waker = Some((flag.clone(), waker.clone()));
                (flag, waker)
            }
        }
    }

    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut operation: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let (flag, waker) = self.flag(cx.waker());
        let mut op_cx = Context::from_waker(&waker);
        flag.polling.store(true, SeqCst);
        let mut rounds = 0;
        let out = loop {
            flag.woken.store(false, SeqCst);
            if let Poll::Ready(out) = operation(&mut op_cx) {
                break Poll::Ready(out);
            }
            if flag.woken.load(SeqCst) && rounds < MAX_ROUNDS {
                // It yielded (or a result came in meanwhile): more of its
                // fields may still ask for keys.
                rounds += 1;
                continue;
            }
            // Waiting, or too busy to wait for: the batches go now. Their
            // results wake the operation through `flag`.
            self.running.extend(lock(&self.queued.0).drain(..));
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(cx) {}
            if flag.woken.load(SeqCst) && rounds < MAX_ROUNDS {
                rounds += 1;
                continue;
            }
            flag.polling.store(false, SeqCst);
            if flag.woken.swap(false, SeqCst) {
                if rounds < MAX_ROUNDS {
                    flag.polling.store(true, SeqCst);
                    rounds += 1;
                    continue;
                }
                // Yield to the other tasks; the runtime comes back.
                cx.waker().wake_by_ref();
            }
            break Poll::Pending;
        };
        flag.polling.store(false, SeqCst);
        out
    }
}
