//! The store's own thread: [`Store`] is `Send` but not `Sync` and every commit fsyncs, so it
//! lives on one dedicated OS thread fed by a channel of jobs. Async code never blocks on it:
//! [`StoreHandle::call`] queues the job at once (jobs run in the order they were queued) and
//! returns a future of the answer.
//!
//! When no job has come for a moment, the thread indexes newly stored messages for search in
//! small batches (`store/search.rs` says why that is not done per insert), and runs the full
//! integrity check a large database did not finish at open (`store/mod.rs`). It also deletes
//! disappearing messages when they expire (`store/timers.rs`): it sleeps until the next expiry
//! the store knows of, sweeps at start what expired while the peer was stopped, and never polls.
//!
//! Group commit: the thread takes every job already queued (up to [`MAX_GROUP`]) and runs them
//! in one transaction, then answers them all once that transaction is committed. A burst of
//! incoming chats from many sessions costs one fsync, and an answer — which is what lets a
//! session acknowledge a message — never precedes the commit that made it durable.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::store::Store;

/// The most jobs committed together; bounds the latency a long burst adds to its first job.
pub const MAX_GROUP: usize = 1024;

/// How long the thread must have had no job before it indexes stored messages for search.
const INDEX_WHEN_IDLE_FOR: std::time::Duration = std::time::Duration::from_millis(200);

/// Text indexed per idle step, in bytes (a few ms of work: ~650 chats of 100 B, or four of
/// 16 KiB), so a job arriving meanwhile waits little.
const INDEX_BATCH: usize = 64 * 1024;

/// The longest the thread sleeps towards an expiry before looking at the clock again: the wall
/// clock may jump (suspend, a correction) while a monotonic timeout runs.
const EXPIRY_RECHECK: Duration = Duration::from_secs(60);

/// When the next stored message expires (wall clock, Unix ms), as the store last said.
struct Expiry {
    next: Option<u64>,
}

impl Expiry {
    fn read(store: &Store) -> Self {
        let next = store.next_expiry().unwrap_or_else(|e| {
            tracing::warn!("cannot read when messages expire: {e}");
            None
        });
        Self { next }
    }

    fn due(&self) -> bool {
        self.next.is_some_and(|at| at <= crate::event::now_ms())
    }

    /// How long to sleep before it is due (at most [`EXPIRY_RECHECK`]); `None`: nothing expires.
    fn wait(&self) -> Option<Duration> {
        let at = self.next?;
        let left = at.saturating_sub(crate::event::now_ms());
        Some(Duration::from_millis(left).min(EXPIRY_RECHECK))
    }

    /// Deletes one batch of expired messages, scrubs, and reads the next expiry.
    fn sweep(&mut self, store: &mut Store) {
        match store.sweep_expired(crate::event::now_ms()) {
            Ok(n) => {
                if n > 0 {
                    tracing::info!("{n} disappearing message(s) expired and were deleted");
                }
                store.scrub_if_needed();
                *self = Self::read(store);
            }
            Err(e) => {
                tracing::warn!("cannot delete expired messages: {e}");
                // Try again later rather than spin on a failing statement.
                self.next = Some(crate::event::now_ms() + EXPIRY_RECHECK.as_millis() as u64);
            }
        }
    }
}

/// Runs after the group's commit; `true` if it committed.
type Answer = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&mut Store) -> Option<Answer> + Send>;

/// Jobs collected by one producer and queued together with [`StoreHandle::submit`]: a
/// session hands over a whole burst of chats at once, so the store thread wakes once per
/// burst instead of once per chat.
#[derive(Default)]
pub struct StoreBatch {
    jobs: Vec<Job>,
}

impl StoreBatch {
    /// Adds `job`; see [`StoreHandle::exec`].
    pub fn exec(&mut self, job: impl FnOnce(&mut Store) + Send + 'static) {
        self.jobs.push(fire_and_forget(job));
    }

    /// Adds `job` and returns a future of its result; see [`StoreHandle::call`]. The future
    /// resolves only after the batch has been submitted.
    pub fn call<R: Send + 'static>(
        &mut self,
        job: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, StoreUnavailable>> + Send + 'static {
        let (job, answer) = answered(job);
        self.jobs.push(job);
        answer
    }

    /// Whether nothing was added since the last submit.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

fn fire_and_forget(job: impl FnOnce(&mut Store) + Send + 'static) -> Job {
    Box::new(move |store| {
        job(store);
        None
    })
}

/// `job` with an answer sent after its group commits, and the future of that answer.
fn answered<R: Send + 'static>(
    job: impl FnOnce(&mut Store) -> R + Send + 'static,
) -> (
    Job,
    impl Future<Output = Result<R, StoreUnavailable>> + Send + 'static,
) {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |store| {
        let result = job(store);
        Some(Box::new(move |committed: bool| {
            let _ = tx.send(if committed {
                Ok(result)
            } else {
                Err(StoreUnavailable::NotCommitted)
            });
        }) as Answer)
    });
    (job, async move {
        rx.await.unwrap_or(Err(StoreUnavailable::Gone))
    })
}

/// Why a queued job has no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreUnavailable {
    /// The thread stopped (every handle is gone, or a job panicked).
    #[error("the message store is not running")]
    Gone,
    /// The job ran but the transaction holding it could not be committed (disk full, I/O
    /// error), so nothing it wrote persists.
    #[error("the message store could not commit")]
    NotCommitted,
}

/// A handle to the store thread; cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Vec<Job>>,
    /// Batches queued and not yet taken by the thread: what interrupts idle-time work.
    waiting: Arc<AtomicUsize>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreHandle")
    }
}

impl StoreHandle {
    /// Moves `store` onto its own thread. The thread ends (closing the database) when the
    /// last handle is dropped.
    pub fn spawn(store: Store) -> std::io::Result<StoreHandle> {
        let (jobs, queue) = mpsc::channel::<Vec<Job>>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let handle = StoreHandle {
            jobs,
            waiting: waiting.clone(),
        };
        std::thread::Builder::new()
            .name("p2p-chat-store".into())
            .spawn(move || {
                let mut store = store;
                let mut group = Vec::new();
                // Messages wait for the search index until the thread is idle (store/search.rs).
                let mut backlog = true;
                let mut idle_since = Instant::now();
                // The next message to disappear (store/timers.rs): swept when due, at start
                // too (what expired while the peer was stopped), never polled for.
                let mut expiry = Expiry::read(&store);
                loop {
                    if expiry.due() {
                        expiry.sweep(&mut store);
                        continue;
                    }
                    let idle_work = backlog || store.integrity_pending();
                    let index_in =
                        idle_work.then(|| INDEX_WHEN_IDLE_FOR.saturating_sub(idle_since.elapsed()));
                    let wait = match (index_in, expiry.wait()) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let first = match wait {
                        Some(wait) => match queue.recv_timeout(wait) {
                            Ok(first) => first,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                if store.integrity_pending()
                                    && idle_since.elapsed() >= INDEX_WHEN_IDLE_FOR
                                {
                                    check_integrity(&mut store, &waiting);
                                    idle_since = Instant::now();
                                    continue;
                                }
                                if backlog && idle_since.elapsed() >= INDEX_WHEN_IDLE_FOR {
                                    backlog =
                                        store.index_backlog(INDEX_BATCH).unwrap_or_else(|e| {
                                            tracing::warn!("cannot update the search index: {e}");
                                            false
                                        });
                                    // One step per idle interval, as before expiry shared
                                    // this wait.
                                    idle_since = Instant::now();
                                }
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        },
                        None => match queue.recv() {
                            Ok(first) => first,
                            Err(_) => break,
                        },
                    };
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    group.extend(first);
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(batch) => {
                                waiting.fetch_sub(1, Ordering::Relaxed);
                                group.extend(batch);
                            }
                            Err(_) => break,
                        }
                    }
                    // Any job may have stored messages (to index, or with an expiry).
                    backlog = true;
                    run_group(&mut store, &mut group);
                    idle_since = Instant::now();
                    expiry = Expiry::read(&store);
                }
                if let Err(e) = store.close() {
                    tracing::warn!("closing the database: {e}");
                }
            })?;
        Ok(handle)
    }

    /// Queues `job` without waiting for it. Its effects are durable once the group it runs in
    /// commits; nothing tells the caller when (use [`StoreHandle::call`] for that).
    pub fn exec(&self, job: impl FnOnce(&mut Store) + Send + 'static) {
        self.queue(vec![fire_and_forget(job)]);
    }

    /// Queues `job` now and returns a future of its result, resolved after the transaction
    /// that ran it has committed.
    pub fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, StoreUnavailable>> + Send + 'static {
        let (job, answer) = answered(job);
        self.queue(vec![job]);
        answer
    }

    /// Queues every job of `batch` (in order, leaving it empty) with one wake-up of the thread.
    pub fn submit(&self, batch: &mut StoreBatch) {
        if !batch.is_empty() {
            self.queue(std::mem::take(&mut batch.jobs));
        }
    }

    /// Resolves once every job queued before it has finished (used at shutdown).
    pub async fn flush(&self) {
        let _ = self.call(|_| ()).await;
    }

    fn queue(&self, jobs: Vec<Job>) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(jobs).is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("the message store is not running; a write was dropped");
        }
    }
}

/// The full integrity check of a database too large to check at open (`store/mod.rs`), given
/// way to any job that arrives meanwhile (it starts over at the next idle moment). A damaged
/// file is reported in the log; what is stored keeps being served as far as it can.
fn check_integrity(store: &mut Store, waiting: &Arc<AtomicUsize>) {
    let started = Instant::now();
    let waiting = waiting.clone();
    match store.check_integrity(move || waiting.load(Ordering::Relaxed) > 0) {
        Ok(true) => tracing::info!(
            "database integrity check passed in {} ms",
            started.elapsed().as_millis()
        ),
        Ok(false) => tracing::debug!("integrity check interrupted by a job; it runs again later"),
        Err(e) => tracing::error!(
            "the database is damaged ({e}); stop p2p-chat and restore it from a backup"
        ),
    }
}

/// Runs `jobs` (draining it) in one transaction and answers them after its commit. A lone job
/// runs without the extra `BEGIN`/`COMMIT`: its own statements commit as they go.
fn run_group(store: &mut Store, jobs: &mut Vec<Job>) {
    let mut grouped = jobs.len() > 1 && begin(store);
    let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
    for job in jobs.drain(..) {
        answers.extend(job(store));
        if grouped && !store.in_group() {
            // SQLite rolled the whole transaction back: nothing answered so far persists.
            tracing::warn!("the store rolled back a group of {} jobs", answers.len());
            answers.drain(..).for_each(|answer| answer(false));
            grouped = begin(store);
        }
    }
    let committed = !grouped
        || match store.commit_group() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("cannot commit {} stored jobs: {e}", answers.len());
                false
            }
        };
    // A delete in this group: its old pages leave the WAL now that it has committed, before
    // anyone is told it is done.
    store.scrub_if_needed();
    answers.into_iter().for_each(|answer| answer(committed));
}

fn begin(store: &mut Store) -> bool {
    match store.begin_group() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!("cannot start a group transaction: {e}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::{ChatMessage, Conversation};
    use crypto_core::Identity;

    /// Holds the store thread until released, so the jobs queued meanwhile form one group.
    fn hold(handle: &StoreHandle) -> std::sync::mpsc::Sender<()> {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        handle.exec(move |_| {
            let _ = wait.recv();
        });
        release
    }

    fn chat(sender: crypto_core::PublicKey, id: &str) -> ChatMessage {
        ChatMessage {
            conversation: Conversation::Peer(sender),
            sender,
            id: id.into(),
            text: "hello".into(),
            sent_at: 1,
            received_at: 2,
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn queued_jobs_commit_as_one_group_and_answer_after_it() {
        let handle = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
        let sender = *Identity::generate().public_key();
        let release = hold(&handle);
        let answers: Vec<_> = (0..5)
            .map(|i| {
                let message = chat(sender, &format!("m{i}"));
                handle.call(move |s| (s.in_group(), s.insert_incoming(&message).unwrap()))
            })
            .collect();
        release.send(()).unwrap();
        for answer in answers {
            assert_eq!(answer.await.unwrap(), (true, true));
        }
        // A lone job runs outside any group, and the group above was committed.
        let (in_group, stored) = handle
            .call(move |s| (s.in_group(), s.message(&sender, "m4").unwrap().is_some()))
            .await
            .unwrap();
        assert!(!in_group);
        assert!(stored);
    }

    #[tokio::test]
    async fn a_rolled_back_group_answers_not_committed_and_the_rest_still_commits() {
        let handle = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
        let sender = *Identity::generate().public_key();
        let release = hold(&handle);
        let first = chat(sender, "lost");
        let lost = handle.call(move |s| s.insert_incoming(&first).unwrap());
        handle.exec(|s| s.abort_group_for_test());
        let second = chat(sender, "kept");
        let kept = handle.call(move |s| s.insert_incoming(&second).unwrap());
        release.send(()).unwrap();
        assert_eq!(lost.await, Err(StoreUnavailable::NotCommitted));
        assert_eq!(kept.await, Ok(true));
        let present = handle
            .call(move |s| {
                (
                    s.message(&sender, "lost").unwrap().is_some(),
                    s.message(&sender, "kept").unwrap().is_some(),
                )
            })
            .await
            .unwrap();
        assert_eq!(present, (false, true));
    }

    #[tokio::test]
    async fn stored_messages_are_indexed_for_search_once_the_thread_is_idle() {
        let handle = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
        let sender = *Identity::generate().public_key();
        let message = chat(sender, "m1");
        let waiting = handle
            .call(move |s| {
                s.insert_incoming(&message).unwrap();
                // Probing with a batch of 0 indexes nothing.
                s.index_backlog(0).unwrap()
            })
            .await
            .unwrap();
        assert!(waiting, "the insert itself does not index");
        tokio::time::sleep(INDEX_WHEN_IDLE_FOR * 3).await;
        let waiting = handle.call(|s| s.index_backlog(0).unwrap()).await.unwrap();
        assert!(!waiting, "indexed while idle");
    }

    #[tokio::test]
    async fn an_expired_message_is_deleted_when_due_and_what_expired_before_start_at_once() {
        let sender = *Identity::generate().public_key();
        let conv = Conversation::Peer(sender);
        let mut store = Store::open_in_memory().unwrap();
        store.set_timer_unit_ms(1);
        store.apply_timer(&conv, &sender, 300, 1).unwrap();
        // Expired while "stopped": stored long ago.
        store
            .insert_incoming(&ChatMessage {
                received_at: 1_000,
                ..chat(sender, "old")
            })
            .unwrap();
        let (told, gone) = std::sync::mpsc::channel();
        store.set_expiry_listener(Box::new(move |expired| {
            for m in expired {
                let _ = told.send((m.id, Instant::now()));
            }
        }));
        let handle = StoreHandle::spawn(store).unwrap();
        let (id, _) = gone.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(id, "old", "swept at start");
        let stored_at = Instant::now();
        let fresh = ChatMessage {
            received_at: crate::event::now_ms(),
            ..chat(sender, "fresh")
        };
        handle
            .call(move |s| s.insert_incoming(&fresh).unwrap())
            .await
            .unwrap();
        // No job comes: the thread wakes for the expiry itself (300 ms of test seconds).
        let (id, at) = gone.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(id, "fresh");
        let waited = at - stored_at;
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        let left = handle
            .call(move |s| s.history(&conv, None, 10).unwrap().len())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn jobs_run_in_order_off_the_runtime() {
        let handle = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
        let first = handle.call(|s| s.list_contacts().map(|c| c.len()));
        let name = handle.call(|_| std::thread::current().name().map(str::to_owned));
        assert_eq!(first.await.unwrap().unwrap(), 0);
        assert_eq!(name.await.unwrap().as_deref(), Some("p2p-chat-store"));
    }
}
