//! Sending a file (PROTOCOL.md §8.11 `send_file`): hash it, commit the offer to the outbox with
//! one transfer per recipient, tell the UI, and offer it to every recipient whose session is
//! ready; the others get it with their backlog when their session comes up
//! ([`Node::offer_pending_files`]), and again at every session until they acknowledge it.

use std::path::{Path, PathBuf};

use crypto_core::merkle::Tree;
use crypto_core::wire::{is_media_type, Payload, OCTET_STREAM};
use crypto_core::PublicKey;

use super::hashing::{hash_file, write_leaves};
use super::storage::Dirs;
use super::{file_info, FileError, CHUNK_SIZE};
use crate::event::{now_ms, Event};
use crate::node::{Node, Target};
use crate::session::Outgoing;
use crate::store::{
    self, new_file_key, ChatMessage, Conversation, FileMeta, FileRecord, FileSource, FileState,
};

/// What to send.
#[derive(Debug, Clone)]
pub enum SendSource {
    /// An upload of the page (`POST /files`), with the name and media type it gave.
    Upload {
        /// The upload's id.
        upload: String,
        /// The file's name (cleaned here).
        name: String,
        /// Its media type, if the page knew it.
        media_type: Option<String>,
    },
    /// A file on disk, referenced where it is (the local API, `p2p-chat send-file`).
    Path(PathBuf),
}

/// Modification time in ns since the epoch (0 if the platform has none).
pub(super) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The media type of a file sent by path: from its extension.
fn guess_media_type(path: &Path) -> String {
    mime_guess::from_path(path)
        .first_raw()
        .filter(|t| is_media_type(t))
        .unwrap_or(OCTET_STREAM)
        .to_owned()
}

/// The `file` offer of one of our file messages.
pub(super) fn offer_payload(record: &FileRecord) -> Payload {
    Payload::File {
        id: record.message.id.clone(),
        name: record.meta.name.clone(),
        size: record.meta.size,
        media_type: record.meta.media_type.clone(),
        chunk_size: record.meta.chunk_size,
        sha256: record.meta.sha256,
        root: record.meta.root,
        sent_at: record.message.sent_at,
        room: match &record.message.conversation {
            Conversation::Room(room) => Some(room.clone()),
            _ => None,
        },
    }
}

impl Node {
    /// Sends a file to a contact or a room (PROTOCOL.md §8.11). Returns the `message_sent`
    /// event (already emitted). A file sent by path that is already on its way, unchanged, to
    /// the same single recipient is not sent again: the answer names that message.
    pub async fn send_file(&self, source: SendSource, target: Target) -> Result<Event, FileError> {
        let config = self.files_config().ok_or(FileError::NoStorage)?;
        let dirs = Dirs::of(&config);
        let me = self.inner.public;
        let (conversation, recipients) = self.file_recipients(target).await?;
        let key = new_file_key();
        let (path, name, media_type, owned) = match source {
            SendSource::Upload {
                upload,
                name,
                media_type,
            } => {
                let path = self.take_upload(&dirs, &upload, &key)?;
                let media_type = media_type
                    .filter(|t| is_media_type(t))
                    .unwrap_or_else(|| OCTET_STREAM.to_owned());
                (path, name, media_type, true)
            }
            SendSource::Path(path) => {
                if !path.is_absolute() {
                    return Err(FileError::BadPath(format!(
                        "{}: not an absolute path",
                        path.display()
                    )));
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let media_type = guess_media_type(&path);
                (path, name, media_type, false)
            }
        };
        let meta = std::fs::metadata(&path)
            .map_err(|e| FileError::BadPath(format!("{}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(FileError::BadPath(format!(
                "{}: not a regular file",
                path.display()
            )));
        }
        if meta.len() > config.max_file_size {
            if owned {
                let _ = std::fs::remove_file(&path);
            }
            return Err(FileError::TooLarge {
                size: meta.len(),
                max: config.max_file_size,
            });
        }
        let mtime = mtime_ns(&meta);
        let len = meta.len();
        if let ([recipient], false) = (recipients.as_slice(), owned) {
            let (recipient, again) = (*recipient, path.clone());
            let existing = self
                .store()
                .call(move |s| s.unfinished_send_of(&again, mtime, len, &recipient))
                .await??;
            if let Some(record) = existing {
                return Ok(self.resend_existing(record, recipient).await);
            }
        }
        let leaves_path = dirs.sent_leaves(&key);
        let hashing = path.clone();
        let hashed = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let hashed = hash_file(&hashing, CHUNK_SIZE)?;
            write_leaves(&leaves_path, &hashed.leaves)?;
            Ok(hashed)
        })
        .await
        .map_err(|e| FileError::Io(std::io::Error::other(e)))??;
        if hashed.size != len {
            return Err(FileError::BadPath(format!(
                "{}: changed while it was read",
                path.display()
            )));
        }
        // Our own copy of an upload: its streams may skip the leaf checks while it keeps this
        // stamp (see `Stamp` for why a file sent by path never may).
        if let (Some(stamp), true) = (hashed.stamp, owned) {
            super::guard(&self.inner.files.outgoing).remember_stamp(&key, stamp);
        }
        let root = Tree::from_leaves(hashed.leaves).root();
        let name = super::clean_file_name(&name);
        let file_meta = FileMeta {
            name: name.clone(),
            size: hashed.size,
            media_type,
            chunk_size: CHUNK_SIZE,
            sha256: hashed.sha256,
            root,
        };
        let id = self.inner.outbox.message_id();
        let sent_at = now_ms();
        let message = ChatMessage {
            conversation: conversation.clone(),
            sender: me,
            id: id.clone(),
            text: name,
            sent_at,
            received_at: sent_at,
            reply_to: None,
        };
        let source = FileSource {
            path: path.clone(),
            owned,
            mtime_ns: mtime,
        };
        let node = self.clone();
        let to = recipients.clone();
        let (record, direct) = self
            .store()
            .call(move |s| -> Result<_, FileError> {
                let seq = s.enqueue_file(&message, &key, &file_meta, &source, &to)?;
                let record = s
                    .file_of_message(seq)?
                    .ok_or_else(|| FileError::Store(store::StoreError::Invalid("lost".into())))?;
                Ok((record, node.inner.outbox.ready_among(&to)))
            })
            .await??;
        let event = Event::MessageSent {
            id: id.clone(),
            text: record.meta.name.clone(),
            sent_at,
            conversation: conversation.ui_id(),
            recipients: recipients.iter().map(PublicKey::to_base64).collect(),
            state: "queued".into(),
            reply_to: None,
            seq: Some(record.seq),
            file: Some(Box::new(file_info(&record, FileState::Waiting, 0))),
        };
        self.emit(event.clone());
        for peer in &recipients {
            self.emit(super::progress_event(
                &record,
                &me,
                peer,
                FileState::Waiting,
                0,
                0,
                None,
            ));
        }
        let payload: Outgoing = offer_payload(&record).to_bytes().into();
        for peer in direct {
            if self.push_chat(&peer, &id, payload.clone()).await {
                self.mark_sent(peer, id.clone());
            }
        }
        Ok(event)
    }

    /// The conversation and recipients of a file to `target`: a contact, or the other members
    /// of a room we are in.
    async fn file_recipients(
        &self,
        target: Target,
    ) -> Result<(Conversation, Vec<PublicKey>), FileError> {
        let me = self.inner.public;
        match target {
            Target::Everyone => Err(FileError::BadTarget),
            Target::Peer(key) => {
                let contact = self.store().call(move |s| s.contact(&key)).await??;
                if contact.is_none_or(|c| c.replaced_by.is_some())
                    || self.inner.sessions.is_stranger(&key)
                {
                    return Err(FileError::BadTarget);
                }
                Ok((Conversation::Peer(key), vec![key]))
            }
            Target::Room(id) => {
                let room_id = id.clone();
                let members = self
                    .store()
                    .call(move |s| s.room_members(&room_id))
                    .await??;
                if !members.contains(&me) {
                    return Err(FileError::NoRoom(id));
                }
                let others = members.into_iter().filter(|k| *k != me).collect();
                Ok((Conversation::Room(id), others))
            }
        }
    }

    /// The answer to sending again a file already on its way: its `message_sent`, and the
    /// offer once more if the recipient is online (it then asks from where it stands).
    async fn resend_existing(&self, record: FileRecord, recipient: PublicKey) -> Event {
        let sends = {
            let seq = record.seq;
            self.store()
                .call(move |s| s.file_sends(seq))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default()
        };
        let (state, bytes) = sends
            .iter()
            .find(|s| s.recipient == recipient)
            .map_or((FileState::Waiting, 0), |s| (s.state, s.bytes));
        let event = Event::MessageSent {
            id: record.message.id.clone(),
            text: record.meta.name.clone(),
            sent_at: record.message.sent_at,
            conversation: record.message.conversation.ui_id(),
            recipients: vec![recipient.to_base64()],
            state: "queued".into(),
            reply_to: None,
            seq: Some(record.seq),
            file: Some(Box::new(file_info(&record, state, bytes))),
        };
        self.emit(event.clone());
        let me = self.inner.public;
        self.emit(super::progress_event(
            &record, &me, &recipient, state, bytes, 0, None,
        ));
        if self.is_online(&recipient) && state != FileState::Paused {
            let payload: Outgoing = offer_payload(&record).to_bytes().into();
            self.push_chat(&recipient, &record.message.id, payload)
                .await;
        }
        event
    }

    /// A contact's session came up: offer it every file still owed to it (after its chats),
    /// and say again which of them our user paused.
    pub(in crate::node) async fn offer_pending_files(&self, remote: PublicKey) {
        let pending = self
            .store()
            .call(move |s| s.pending_files_for(&remote))
            .await;
        let pending = match pending {
            Ok(Ok(pending)) => pending,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the files owed: {e}");
                return;
            }
            Err(_) => return,
        };
        let me = self.inner.public.to_base64();
        for (record, send) in pending {
            let payload: Outgoing = offer_payload(&record).to_bytes().into();
            if !self.push_chat(&remote, &record.message.id, payload).await {
                return;
            }
            self.mark_sent(remote, record.message.id.clone());
            if send.state == FileState::Paused
                && send.reason.as_deref() == Some(super::control::PAUSED_HERE)
            {
                let pause = Payload::FilePause {
                    sender: me.clone(),
                    file: record.message.id.clone(),
                    paused: true,
                };
                if !self.push(&remote, pause.to_bytes().into()).await {
                    return;
                }
            }
        }
    }
}
