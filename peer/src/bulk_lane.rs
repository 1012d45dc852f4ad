//! The second, lower-priority send queue of a session: file chunks (PROTOCOL.md §5.1, "Chats
//! first"). The session's writer takes from it only when its main queue (chats, acks, control
//! payloads) is empty, and it holds at most [`BULK_DEPTH`] chunks, so a chat queued during a
//! transfer waits behind at most the one write in progress (up to 4 chunks) plus the
//! receiver's window in the socket buffers. Several transfers on one session share it; each
//! waits for room.
//!
//! An idle session pays for one small allocation: the queue allocates only when a chunk comes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::session::Outgoing;

/// Chunks waiting to be written per session.
pub const BULK_DEPTH: usize = 4;

/// The low-priority queue of one session.
#[derive(Debug, Default)]
pub struct BulkLane {
    items: Mutex<VecDeque<Outgoing>>,
    closed: AtomicBool,
    /// A chunk was queued (the writer waits on it).
    ready: Notify,
    /// A chunk was taken or the lane closed (pushers wait on it).
    room: Notify,
}

impl BulkLane {
    /// An open, empty lane.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn items(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        self.items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item`, waiting for room; false once the session has ended.
    pub async fn push(&self, item: Outgoing) -> bool {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a chunk taken in between still wakes us.
            room.as_mut().enable();
            {
                let mut items = self.items();
                if self.closed.load(Ordering::Acquire) {
                    return false;
                }
                if items.len() < BULK_DEPTH {
                    items.push_back(item);
                    drop(items);
                    self.ready.notify_one();
                    return true;
                }
            }
            room.await;
        }
    }

    /// The next chunk, if one waits.
    pub fn try_pop(&self) -> Option<Outgoing> {
        let item = self.items().pop_front();
        if item.is_some() {
            self.room.notify_waiters();
        }
        item
    }

    /// Resolves when a chunk may have been queued (the writer then looks again).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The session ended: drops what waits and makes every push fail from now on.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.items().clear();
        self.room.notify_waiters();
    }

    /// Whether no chunk waits.
    pub fn is_empty(&self) -> bool {
        self.items().is_empty()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn pushes_wait_for_room_and_fail_once_closed() {
        let lane = BulkLane::new();
        for i in 0..BULK_DEPTH {
            assert!(lane.push(Arc::from(vec![i as u8])).await);
        }
        let waiting = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.push(Arc::from(vec![9u8])).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a full lane makes the pusher wait");
        assert_eq!(lane.try_pop().as_deref(), Some(&[0u8][..]));
        assert!(waiting.await.unwrap(), "room made by a pop lets it in");
        let blocked = {
            let lane = lane.clone();
            tokio::spawn(async move { lane.push(Arc::from(vec![10u8])).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        lane.close();
        assert!(
            !blocked.await.unwrap(),
            "closing wakes and fails a waiting pusher"
        );
        assert!(lane.try_pop().is_none());
        assert!(!lane.push(Arc::from(vec![1u8])).await);
    }
}
