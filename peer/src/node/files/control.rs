//! Pause, resume, cancel and retry (PROTOCOL.md §5.1, §8.11): from our user (`pause_file`,
//! `resume_file`, `cancel_file`, `retry_file`) and from the other side (`file_pause`,
//! `file_cancel`). Each change is recorded, reaches the other side and every UI.

use crypto_core::wire::Payload;
use crypto_core::PublicKey;

use super::incoming::partial_paths;
use super::send::{mtime_ns, offer_payload};
use super::{progress_event, FileError};
use crate::event::Event;
use crate::node::{MessageAuthor, Node};
use crate::session::Outgoing;
use crate::store::{self, FileRecord, FileState, MessageDirection};

/// `reason` of a transfer our user paused (the other side's pause is [`PAUSED_THERE`]).
pub const PAUSED_HERE: &str = "paused here";
/// `reason` of a transfer the other side paused.
pub const PAUSED_THERE: &str = "paused by the other side";
/// `reason` of a transfer our user cancelled.
pub const CANCELLED_HERE: &str = "cancelled here";

/// What our user does to a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileControl {
    /// Stop moving bytes for now.
    Pause,
    /// Move them again.
    Resume,
    /// End it for good.
    Cancel,
    /// Start a failed, refused or cancelled one again.
    Retry,
}

impl FileControl {
    /// The UI action's name.
    pub fn action(self) -> &'static str {
        match self {
            Self::Pause => "pause_file",
            Self::Resume => "resume_file",
            Self::Cancel => "cancel_file",
            Self::Retry => "retry_file",
        }
    }
}

/// The state a receiver's `file_cancel` reason puts our transfer in.
fn state_of_cancel(reason: &str) -> FileState {
    match reason {
        "refused" | "not_contact" | "too_large" | "quota" | "no_storage" => FileState::Refused,
        "verification" | "hash_mismatch" | "changed" => FileState::Failed,
        _ => FileState::Cancelled,
    }
}

impl Node {
    /// Our user's pause, resume, cancel or retry of the file message (`from`, `id`); for our
    /// own file in a room, `peer` names one member's transfer (else all of them).
    pub async fn file_control(
        &self,
        from: MessageAuthor,
        id: String,
        peer: Option<PublicKey>,
        op: FileControl,
    ) -> Result<(), FileError> {
        let sender = match from {
            MessageAuthor::Me => self.inner.public,
            MessageAuthor::Peer(key) => key,
        };
        let lookup = id.clone();
        let (record, sends) = self
            .store()
            .call(move |s| -> store::Result<_> {
                let Some(record) = s.file(&sender, &lookup)? else {
                    return Ok(None);
                };
                let sends = s.file_sends(record.seq)?;
                Ok(Some((record, sends)))
            })
            .await??
            .ok_or(FileError::NoTransfer)?;
        match record.direction {
            MessageDirection::Outgoing => {
                let targets: Vec<_> = sends
                    .into_iter()
                    .filter(|s| peer.is_none_or(|p| p == s.recipient))
                    .collect();
                if targets.is_empty() {
                    return Err(FileError::NoTransfer);
                }
                let mut changed = 0;
                for send in targets {
                    if self
                        .control_ours(
                            &record,
                            send.recipient,
                            (send.state, send.bytes),
                            send.reason.as_deref(),
                            op,
                        )
                        .await?
                    {
                        changed += 1;
                    }
                }
                if changed == 0 {
                    return Err(FileError::WrongState(state_words(op)));
                }
                Ok(())
            }
            MessageDirection::Incoming => self.control_theirs(record, op).await,
        }
    }

    /// One recipient's transfer of our file; false if `op` does not apply to its state.
    async fn control_ours(
        &self,
        record: &FileRecord,
        recipient: PublicKey,
        (state, stored_bytes): (FileState, u64),
        reason: Option<&str>,
        op: FileControl,
    ) -> Result<bool, FileError> {
        let me = self.inner.public;
        let id = record.message.id.clone();
        let (next, why) = match (op, state) {
            (FileControl::Pause, FileState::Waiting | FileState::Sending) => {
                (FileState::Paused, Some(PAUSED_HERE))
            }
            (FileControl::Resume, FileState::Paused) if reason == Some(PAUSED_HERE) => {
                (FileState::Waiting, None)
            }
            (FileControl::Cancel, s) if !s.is_final() => {
                (FileState::Cancelled, Some(CANCELLED_HERE))
            }
            (FileControl::Retry, FileState::Failed | FileState::Cancelled | FileState::Refused) => {
                let unchanged = record.source.as_ref().is_some_and(|src| {
                    std::fs::metadata(&src.path)
                        .is_ok_and(|m| m.len() == record.meta.size && mtime_ns(&m) == src.mtime_ns)
                });
                if !unchanged {
                    return Err(FileError::WrongState(
                        "gone: the file changed since it was sent",
                    ));
                }
                (FileState::Waiting, None)
            }
            _ => return Ok(false),
        };
        let seq = record.seq;
        // What the recipient holds: its stream knows it best (the database lags a second).
        let held = self
            .stop_stream(&id, &recipient)
            .unwrap_or(0)
            .max(stored_bytes);
        let (bytes, shown) = match op {
            FileControl::Retry => (Some(0), 0),
            FileControl::Pause => (Some(held), held),
            FileControl::Resume | FileControl::Cancel => (None, held),
        };
        self.store()
            .call(move |s| s.set_send_state(seq, &recipient, next, bytes, why))
            .await??;
        match op {
            FileControl::Pause | FileControl::Resume => self.push_control(
                recipient,
                Payload::FilePause {
                    sender: me.to_base64(),
                    file: id.clone(),
                    paused: op == FileControl::Pause,
                },
            ),
            FileControl::Cancel => self.push_control(
                recipient,
                Payload::FileCancel {
                    sender: me.to_base64(),
                    file: id.clone(),
                    reason: "cancelled".into(),
                },
            ),
            FileControl::Retry => {
                let payload: Outgoing = offer_payload(record).to_bytes().into();
                if self.push_chat(&recipient, &id, payload).await {
                    self.mark_sent(recipient, id.clone());
                }
            }
        }
        self.emit(progress_event(
            record,
            &me,
            &recipient,
            next,
            shown,
            0,
            why.map(str::to_owned),
        ));
        Ok(true)
    }

    /// Our user's control of a file we receive.
    async fn control_theirs(&self, record: FileRecord, op: FileControl) -> Result<(), FileError> {
        let me = self.inner.public;
        let sender = record.message.sender;
        let id = record.message.id.clone();
        let transfer = (sender, id.clone());
        let seq = record.seq;
        let (next, why) = match (op, record.state) {
            (FileControl::Pause, FileState::Waiting | FileState::Receiving) => {
                (FileState::Paused, Some(PAUSED_HERE))
            }
            (FileControl::Resume, FileState::Paused)
                if record.reason.as_deref() == Some(PAUSED_HERE) =>
            {
                (FileState::Receiving, None)
            }
            (FileControl::Cancel, s) if !s.is_final() => {
                (FileState::Cancelled, Some(CANCELLED_HERE))
            }
            (FileControl::Retry, FileState::Failed | FileState::Cancelled) => {
                if !self.is_online(&sender) {
                    return Err(FileError::WrongState(
                        "waiting for its sender: retry when it is connected",
                    ));
                }
                (FileState::Waiting, None)
            }
            _ => return Err(FileError::WrongState(state_words(op))),
        };
        let key = record.key.clone();
        // What we hold: the worker knows it best (the database lags a second).
        let held = self
            .incoming_stored(&transfer)
            .unwrap_or(0)
            .max(record.bytes);
        let (bytes, shown) = match op {
            FileControl::Retry | FileControl::Cancel => (Some(0), 0),
            FileControl::Pause => (Some(held), held),
            FileControl::Resume => (None, held),
        };
        self.store()
            .call(move |s| -> store::Result<()> {
                s.set_received_state(seq, next, bytes, why)?;
                if matches!(op, FileControl::Cancel | FileControl::Retry) {
                    s.trash_paths(&key, &partial_paths(&key))?;
                }
                Ok(())
            })
            .await??;
        match op {
            FileControl::Pause => {
                self.set_incoming_paused(&transfer, true);
                self.push_control(
                    sender,
                    Payload::FilePause {
                        sender: sender.to_base64(),
                        file: id,
                        paused: true,
                    },
                );
            }
            FileControl::Resume => {
                self.push_control(
                    sender,
                    Payload::FilePause {
                        sender: sender.to_base64(),
                        file: id,
                        paused: false,
                    },
                );
                if self.set_incoming_paused(&transfer, false).is_some() {
                    self.restart_active(&transfer);
                } else {
                    let mut resumed = record.clone();
                    resumed.state = FileState::Receiving;
                    self.start_or_queue(resumed);
                }
            }
            FileControl::Cancel => {
                self.stop_incoming(&transfer);
                self.push_control(
                    sender,
                    Payload::FileCancel {
                        sender: sender.to_base64(),
                        file: id,
                        reason: "cancelled".into(),
                    },
                );
            }
            FileControl::Retry => {
                let mut again = record.clone();
                again.state = FileState::Waiting;
                again.bytes = 0;
                self.start_or_queue(again);
            }
        }
        self.emit(progress_event(
            &record,
            &me,
            &sender,
            next,
            shown,
            0,
            why.map(str::to_owned),
        ));
        Ok(())
    }

    /// The receiver of our file `file` paused (or resumed) it.
    pub(super) fn receiver_paused(&self, peer: PublicKey, file: String, paused: bool) {
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let Some((record, send)) = node.our_send(peer, &file).await else {
                return;
            };
            if send.state.is_final() {
                return;
            }
            let (next, why) = if paused {
                (FileState::Paused, Some(PAUSED_THERE))
            } else if send.reason.as_deref() == Some(PAUSED_HERE) {
                // Our own pause still holds.
                return;
            } else {
                (FileState::Waiting, None)
            };
            let held = if paused {
                node.stop_stream(&file, &peer).unwrap_or(0).max(send.bytes)
            } else {
                send.bytes
            };
            let seq = record.seq;
            let _ = node
                .store()
                .call(move |s| s.set_send_state(seq, &peer, next, Some(held), why))
                .await;
            node.emit(progress_event(
                &record,
                &me,
                &peer,
                next,
                held,
                0,
                why.map(str::to_owned),
            ));
        });
    }

    /// The receiver of our file `file` ended or refused it.
    pub(super) fn receiver_cancelled(&self, peer: PublicKey, file: String, reason: String) {
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let Some((record, send)) = node.our_send(peer, &file).await else {
                return;
            };
            if send.state.is_final() {
                return;
            }
            node.stop_stream(&file, &peer);
            let state = state_of_cancel(&reason);
            let seq = record.seq;
            let why = reason.clone();
            let _ = node
                .store()
                .call(move |s| s.set_send_state(seq, &peer, state, None, Some(&why)))
                .await;
            node.emit(progress_event(
                &record,
                &me,
                &peer,
                state,
                send.bytes,
                0,
                Some(reason.clone()),
            ));
            if state == FileState::Refused {
                node.emit(Event::Error {
                    message: format!(
                        "{} refused the file {:?}: {reason}",
                        node.inner
                            .sessions
                            .info(&peer)
                            .map(|i| i.name)
                            .filter(|n| !n.is_empty())
                            .unwrap_or_else(|| peer.to_base64()),
                        record.meta.name
                    ),
                    action: None,
                    req: None,
                    code: Some("file_refused"),
                    address: None,
                });
            }
        });
    }

    /// The sender of a file we receive paused (or resumed) it.
    pub(super) fn sender_paused(&self, peer: PublicKey, file: String, paused: bool) {
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let id = file.clone();
            let Ok(Ok(Some(record))) = node.store().call(move |s| s.file(&peer, &id)).await else {
                return;
            };
            if record.direction != MessageDirection::Incoming || record.state.is_final() {
                return;
            }
            if !paused && record.reason.as_deref() == Some(PAUSED_HERE) {
                return;
            }
            let transfer = (peer, file);
            let (next, why) = if paused {
                (FileState::Paused, Some(PAUSED_THERE))
            } else {
                (FileState::Receiving, None)
            };
            let held = node
                .incoming_stored(&transfer)
                .unwrap_or(0)
                .max(record.bytes);
            let seq = record.seq;
            let _ = node
                .store()
                .call(move |s| s.set_received_state(seq, next, Some(held), why))
                .await;
            if paused {
                node.set_incoming_paused(&transfer, true);
            } else if node.set_incoming_paused(&transfer, false).is_some() {
                node.restart_active(&transfer);
            } else {
                let mut resumed = record.clone();
                resumed.state = FileState::Receiving;
                node.start_or_queue(resumed);
            }
            node.emit(progress_event(
                &record,
                &me,
                &peer,
                next,
                held,
                0,
                why.map(str::to_owned),
            ));
        });
    }

    /// The sender of a file we receive ended it.
    pub(super) fn sender_cancelled(&self, peer: PublicKey, file: String, reason: String) {
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let transfer = (peer, file.clone());
            node.stop_incoming(&transfer);
            let id = file.clone();
            let state = if reason == "changed" {
                FileState::Failed
            } else {
                FileState::Cancelled
            };
            let why = reason.clone();
            let found = node
                .store()
                .call(move |s| -> store::Result<Option<FileRecord>> {
                    let Some(record) = s.file(&peer, &id)? else {
                        return Ok(None);
                    };
                    if record.direction != MessageDirection::Incoming || record.state.is_final() {
                        return Ok(None);
                    }
                    s.set_received_state(record.seq, state, Some(0), Some(&why))?;
                    s.trash_paths(&record.key, &partial_paths(&record.key))?;
                    Ok(Some(record))
                })
                .await;
            if let Ok(Ok(Some(record))) = found {
                node.emit(progress_event(
                    &record,
                    &me,
                    &peer,
                    state,
                    0,
                    0,
                    Some(reason),
                ));
            }
        });
    }

    /// Our file `id` and its transfer to `peer`.
    async fn our_send(&self, peer: PublicKey, id: &str) -> Option<(FileRecord, store::FileSend)> {
        let me = self.inner.public;
        let id = id.to_owned();
        self.store()
            .call(move |s| -> store::Result<_> {
                let Some(record) = s.file(&me, &id)? else {
                    return Ok(None);
                };
                if record.direction != MessageDirection::Outgoing {
                    return Ok(None);
                }
                let send = s
                    .file_sends(record.seq)?
                    .into_iter()
                    .find(|x| x.recipient == peer);
                Ok(send.map(|send| (record, send)))
            })
            .await
            .ok()?
            .ok()?
    }
}

/// Why `op` does not apply (an `error`'s words).
fn state_words(op: FileControl) -> &'static str {
    match op {
        FileControl::Pause => "not moving: nothing to pause",
        FileControl::Resume => "not paused here: nothing to resume",
        FileControl::Cancel => "over already",
        FileControl::Retry => "not failed, refused or cancelled: nothing to retry",
    }
}
