//! The store's own thread: [`Store`] is `Send` but not `Sync` and every call may fsync, so it
//! lives on one dedicated OS thread fed by a channel of jobs. Async code never blocks on it:
//! [`StoreHandle::call`] queues the job at once (jobs run in the order they were queued) and
//! returns a future of the answer.

use std::future::Future;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::store::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// The store thread stopped (it only does when every handle is gone, or a job panicked).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the message store is not running")]
pub struct StoreGone;

/// A handle to the store thread; cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
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
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("p2p-chat-store".into())
            .spawn(move || {
                let mut store = store;
                while let Ok(job) = queue.recv() {
                    job(&mut store);
                }
                if let Err(e) = store.close() {
                    tracing::warn!("closing the database: {e}");
                }
            })?;
        Ok(StoreHandle { jobs })
    }

    /// Queues `job` without waiting for it.
    pub fn exec(&self, job: impl FnOnce(&mut Store) + Send + 'static) {
        if self.jobs.send(Box::new(job)).is_err() {
            tracing::error!("the message store is not running; a write was dropped");
        }
    }

    /// Queues `job` now and returns a future of its result.
    pub fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Store) -> R + Send + 'static,
    ) -> impl Future<Output = Result<R, StoreGone>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        self.exec(move |store| {
            let _ = tx.send(job(store));
        });
        async move { rx.await.map_err(|_| StoreGone) }
    }

    /// Resolves once every job queued before it has finished (used at shutdown).
    pub async fn flush(&self) {
        let _ = self.call(|_| ()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_off_the_runtime() {
        let handle = StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap();
        let first = handle.call(|s| s.list_contacts().map(|c| c.len()));
        let name = handle.call(|_| std::thread::current().name().map(str::to_owned));
        assert_eq!(first.await.unwrap().unwrap(), 0);
        assert_eq!(name.await.unwrap().as_deref(), Some("p2p-chat-store"));
    }
}
