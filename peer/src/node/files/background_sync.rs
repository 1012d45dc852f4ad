//! Flushing a file that is being written without stopping its writer. A received file is
//! flushed every [`SYNC_EVERY`] bytes, so no single large flush holds up the disk (and every
//! chat commit behind it) at the end of a transfer. Done in line, each flush also stopped the
//! transfer's worker, and with it the credits that keep the sender going, for as long as the
//! disk took (BENCHMARKS.md, "Files: binary frames and the flush off the chunk path").
//!
//! Here a flush runs on a thread of its own while the worker writes the next step; the worker
//! waits only if the flush before is still running when it has written another step, so at
//! most two steps of the file wait in the page cache and a disk slower than the network still
//! slows the sender down. A transfer never leaves its flush running behind it (`Drop`).

use std::fs::File;
use std::io;
use std::thread::JoinHandle;

use super::SYNC_EVERY;

/// The flush in progress of one file being written, if any.
#[derive(Default)]
pub struct BackgroundSync {
    running: Option<JoinHandle<io::Result<()>>>,
    unsynced: u64,
}

impl BackgroundSync {
    /// Notes that `written` more bytes went into `file`; every [`SYNC_EVERY`] bytes starts a
    /// flush of them, first waiting for the one before.
    pub fn wrote(&mut self, file: &File, written: u64) -> io::Result<()> {
        self.unsynced += written;
        if self.unsynced < SYNC_EVERY {
            return Ok(());
        }
        self.unsynced = 0;
        self.wait()?;
        let handle = file.try_clone()?;
        self.running = Some(
            std::thread::Builder::new()
                .name("p2p-chat-sync".into())
                .spawn(move || handle.sync_data())?,
        );
        Ok(())
    }

    /// Waits for the flush in progress and returns its error, if it failed.
    pub fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            None => Ok(()),
            Some(flush) => flush
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the flush thread panicked"))),
        }
    }
}

impl Drop for BackgroundSync {
    /// A transfer that ends early (stopped, cancelled, failed) still waits for its flush, so
    /// no flush thread outlives its transfer and a failed flush is at least logged.
    fn drop(&mut self) {
        if let Err(e) = self.wait() {
            tracing::warn!("flushing a received file failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flushes_each_step_in_the_background_and_reports_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("f")).unwrap();
        let mut sync = BackgroundSync::default();
        let step = vec![7u8; usize::try_from(SYNC_EVERY).unwrap() / 2];
        file.write_all(&step).unwrap();
        sync.wrote(&file, step.len() as u64).unwrap();
        assert!(sync.running.is_none(), "half a step starts no flush");
        file.write_all(&step).unwrap();
        sync.wrote(&file, step.len() as u64).unwrap();
        assert!(sync.running.is_some(), "a whole step starts one");
        assert_eq!(sync.unsynced, 0);
        sync.wait().unwrap();
        assert!(sync.running.is_none());
        assert_eq!(
            std::fs::metadata(dir.path().join("f")).unwrap().len(),
            SYNC_EVERY
        );
    }
}
