//! The page's uploads (`POST /files`, PROTOCOL.md §8.11) and downloads (`GET /files/<key>`).
//! An upload streams to `files/uploads/<key>.part` and becomes `files/uploads/<key>` when whole;
//! `send_file` then moves it to `files/sent/`. At most [`MAX_PENDING_UPLOADS`] wait to be sent:
//! a newer one deletes the oldest; none survives a restart.

use std::collections::VecDeque;
use std::path::PathBuf;

use super::storage::{is_key, Dirs};
use super::{guard, FileError};
use crate::node::Node;
use crate::store::{new_file_key, FileState, MessageDirection};

/// Uploads kept waiting for `send_file`.
pub const MAX_PENDING_UPLOADS: usize = 16;

/// The uploads not sent yet, oldest first.
#[derive(Default)]
pub(super) struct Uploads {
    pending: VecDeque<String>,
}

/// Deletes whatever an earlier run left in `files/uploads/`.
pub(super) fn clear_uploads(dirs: &Dirs) {
    if let Ok(entries) = std::fs::read_dir(dirs.uploads_dir()) {
        for entry in entries.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A file the UI may download: where it is, its name and size.
#[derive(Debug, Clone)]
pub struct Download {
    /// The file on disk.
    pub path: PathBuf,
    /// Its cleaned name (for `Content-Disposition`).
    pub name: String,
    /// Its size.
    pub size: u64,
}

impl Node {
    /// A new upload: its id and the path to stream it to (`<id>.part`). Refused without a
    /// files directory. Makes room by deleting the oldest upload beyond the limit.
    pub fn begin_upload(&self) -> Result<(String, PathBuf), FileError> {
        let dirs = self.file_dirs().ok_or(FileError::NoStorage)?;
        let key = new_file_key();
        let mut uploads = guard(&self.inner.files.uploads);
        while uploads.pending.len() >= MAX_PENDING_UPLOADS {
            if let Some(old) = uploads.pending.pop_front() {
                let _ = std::fs::remove_file(dirs.upload(&old));
                let _ = std::fs::remove_file(part(&dirs, &old));
            }
        }
        uploads.pending.push_back(key.clone());
        Ok((key.clone(), part(&dirs, &key)))
    }

    /// The upload `key` arrived whole: it may be sent from now on.
    pub fn finish_upload(&self, key: &str) -> Result<(), FileError> {
        let dirs = self.file_dirs().ok_or(FileError::NoStorage)?;
        std::fs::rename(part(&dirs, key), dirs.upload(key))?;
        Ok(())
    }

    /// An upload that failed or was refused: forgotten and deleted.
    pub fn abandon_upload(&self, key: &str) {
        if let Some(dirs) = self.file_dirs() {
            let _ = std::fs::remove_file(part(&dirs, key));
            let _ = std::fs::remove_file(dirs.upload(key));
        }
        guard(&self.inner.files.uploads)
            .pending
            .retain(|k| k != key);
    }

    /// Moves upload `upload` to `files/sent/<key>` for sending; its new path.
    pub(super) fn take_upload(
        &self,
        dirs: &Dirs,
        upload: &str,
        key: &str,
    ) -> Result<PathBuf, FileError> {
        if !is_key(upload) {
            return Err(FileError::NoUpload);
        }
        let mut uploads = guard(&self.inner.files.uploads);
        if !uploads.pending.iter().any(|k| k == upload) {
            return Err(FileError::NoUpload);
        }
        let target = dirs.sent_copy(key);
        std::fs::rename(dirs.upload(upload), &target).map_err(|_| FileError::NoUpload)?;
        uploads.pending.retain(|k| k != upload);
        Ok(target)
    }

    /// The file named `key` if the UI may download it: a received file once complete and
    /// verified, or one of ours.
    pub async fn file_for_download(&self, key: String) -> Option<Download> {
        if !is_key(&key) {
            return None;
        }
        let dirs = self.file_dirs()?;
        let record = self
            .store()
            .call(move |s| s.file_by_key(&key))
            .await
            .ok()?
            .ok()??;
        let path = match record.direction {
            MessageDirection::Incoming if record.state == FileState::Complete => {
                dirs.received(&record.meta.name)
            }
            MessageDirection::Incoming => return None,
            MessageDirection::Outgoing => record.source?.path,
        };
        Some(Download {
            path,
            name: record.meta.name,
            size: record.meta.size,
        })
    }
}

fn part(dirs: &Dirs, key: &str) -> PathBuf {
    dirs.uploads_dir().join(format!("{key}.part"))
}
