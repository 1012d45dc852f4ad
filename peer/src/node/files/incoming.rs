//! Receiving files (PROTOCOL.md §5.1, §8.11). An offer from a contact, within the size limit
//! and the quotas, is stored as a message and pulled: a worker thread per transfer (at most
//! [`MAX_ACTIVE_INCOMING`] at once, the others wait) checks every chunk against the offer's
//! Merkle root before it writes it, appends its leaf hash to the `.leaves` file beside the
//! partial file, and feeds the whole-file SHA-256; the transfer's driver task turns what the
//! worker reports into credits, progress and, at the end, the `ack`.
//!
//! Resuming: the worker re-reads the partial file and keeps the longest run of chunks whose
//! leaf hashes match the recorded ones (a chunk counts once its data and its leaf are written,
//! so a kill at any moment loses at most the chunk being written), then asks from there.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crypto_core::merkle::{empty_root, leaf_hash, verify_inclusion, Hash};
use crypto_core::primitives::{sha256, Sha256Stream};
use crypto_core::wire::Payload;
use crypto_core::PublicKey;
use tokio::sync::mpsc;

use crate::spare_buffers;

use super::background_sync::BackgroundSync;
use super::hashing::{read_full, read_leaves};
use super::names::{clean_file_name, numbered};
use super::progress::Meter;
use super::storage::{create_private, sync_dir, Dirs};
use super::{
    file_info, guard, progress_event, FilesConfig, CREDIT_STEP, MAX_ACTIVE_INCOMING,
    MAX_BAD_CHUNKS, WINDOW,
};
use crate::event::{now_ms, Event};
use crate::node::inbound::ack;
use crate::node::Node;
use crate::session::InboxReply;
use crate::store::{
    self, new_file_key, ChatMessage, Conversation, FileMeta, FileRecord, FileState, Store,
};

/// A `file` offer as received.
pub(super) struct Offer {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) size: u64,
    pub(super) media_type: String,
    pub(super) chunk_size: u32,
    pub(super) sha256: [u8; 32],
    pub(super) root: [u8; 32],
    pub(super) sent_at: u64,
    pub(super) room: Option<String>,
}

/// What the store made of an offer.
enum Stored {
    /// Stored now.
    New(FileRecord),
    /// Seen before: answer from where it stands.
    Known(FileRecord),
    /// Refused, with the reason for `file_cancel` and the words for the user.
    Refused(&'static str, String),
    /// A room we (or the sender) are not in: ignored like its chats.
    Ignored,
}

/// A chunk on its way to the worker.
struct Chunk {
    index: u64,
    proof: Vec<Hash>,
    data: Vec<u8>,
}

/// What the worker reports to the transfer's driver.
enum Report {
    /// Ready to receive from `offset` (after creating or re-reading the partial file).
    Ready(u64),
    /// `offset` bytes are verified and written: sent each [`CREDIT_STEP`] and at the end (the
    /// worker keeps `Active::stored` up to date after each write without waking the driver).
    Stored(u64),
    /// A chunk failed verification; `offset` is where to restart.
    Bad { offset: u64, in_a_row: u32 },
    /// The whole file is verified and in place under `name`.
    Done { name: String },
    /// It cannot complete (`reason` for `file_cancel`).
    Failed(&'static str),
}

/// One running transfer.
struct Active {
    seq: i64,
    key: String,
    chunk_size: u64,
    /// Chunks starting at or beyond this are outside the window and dropped unread.
    until: Arc<AtomicU64>,
    /// Bytes the worker verified and wrote (the worker alone writes it).
    stored: Arc<AtomicU64>,
    chunks: mpsc::Sender<Chunk>,
    paused: bool,
    /// Tells this transfer's driver from a later one of the same file.
    generation: u64,
    /// Set when the transfer is stopped: its worker writes nothing more.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Running and waiting incoming transfers.
#[derive(Default)]
pub(super) struct Incoming {
    /// By (sender, offer id).
    active: HashMap<(PublicKey, String), Active>,
    waiting: VecDeque<(PublicKey, String)>,
    generations: u64,
    /// One per file with a worker: a new worker of the same file waits until the last one
    /// has let go of the partial file.
    file_locks: HashMap<String, Arc<std::sync::Mutex<()>>>,
}

/// Chunks queued for a worker before the session's reader waits.
const CHUNK_QUEUE: usize = 64;

/// Verified chunks written to the file in one system call, at most (~480 KiB): only chunks
/// already queued are waited for, so a slow trickle is written chunk by chunk.
const WRITE_BATCH: usize = 8;

/// The reason for `file_cancel` when a refusal is about a limit.
fn refusal(reason: &'static str, words: String) -> Stored {
    Stored::Refused(reason, words)
}

/// A name for a new received file: cleaned, and not taken on disk or by another transfer.
fn free_name(s: &Store, dirs: &Dirs, name: &str) -> store::Result<String> {
    let cleaned = clean_file_name(name);
    let mut candidate = cleaned.clone();
    let mut n = 0;
    while s.received_name_taken(&candidate)? || dirs.received(&candidate).exists() {
        n += 1;
        candidate = numbered(&cleaned, n);
    }
    Ok(candidate)
}

/// The store's side of an offer: known, refused, or stored now.
fn store_offer(
    s: &mut Store,
    config: &FilesConfig,
    me: &PublicKey,
    peer: &PublicKey,
    offer: &Offer,
) -> store::Result<Stored> {
    if let Some(room) = &offer.room {
        if !s.is_room_member(room, me)? || !s.is_room_member(room, peer)? {
            return Ok(Stored::Ignored);
        }
    }
    if let Some(known) = s.file(peer, &offer.id)? {
        return Ok(Stored::Known(known));
    }
    if offer.size > config.max_file_size {
        return Ok(refusal(
            "too_large",
            format!("it is larger than the {}-byte limit", config.max_file_size),
        ));
    }
    let from_peer = s.received_file_bytes(Some(peer))?;
    if from_peer.saturating_add(offer.size) > config.quota_per_contact {
        return Ok(refusal(
            "quota",
            format!(
                "files from this contact would take more than the {}-byte quota per contact",
                config.quota_per_contact
            ),
        ));
    }
    let total = s.received_file_bytes(None)?;
    if total.saturating_add(offer.size) > config.quota_total {
        return Ok(refusal(
            "quota",
            format!(
                "received files would take more than the {}-byte quota",
                config.quota_total
            ),
        ));
    }
    let dirs = Dirs::of(config);
    let name = free_name(s, &dirs, &offer.name)?;
    let message = ChatMessage {
        conversation: Conversation::of_received(*peer, offer.room.clone(), false),
        sender: *peer,
        id: offer.id.clone(),
        text: name.clone(),
        sent_at: offer.sent_at,
        received_at: now_ms(),
        reply_to: None,
    };
    let meta = FileMeta {
        name,
        size: offer.size,
        media_type: offer.media_type.clone(),
        chunk_size: offer.chunk_size,
        sha256: offer.sha256,
        root: offer.root,
    };
    let key = new_file_key();
    // The insert and the read of what it stored land together: an offer stored but not
    // read back would be answered by nobody, and its repetition would then look known and
    // never reach the UI.
    s.atomically(|s| match s.insert_incoming_file(&message, &key, &meta)? {
        Some(seq) => Ok(s.file_of_message(seq)?.map_or(Stored::Ignored, Stored::New)),
        None => Ok(s
            .file(peer, &offer.id)?
            .map_or(Stored::Ignored, Stored::Known)),
    })
}

impl Node {
    /// A `file` offer from `peer` (PROTOCOL.md §5.1).
    pub(super) fn receive_offer(&self, peer: PublicKey, stranger: bool, offer: Offer) {
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let refuse = |reason: &'static str, words: String| {
                node.refuse_offer(peer, &offer.id, &offer.name, reason, words);
            };
            if stranger {
                refuse(
                    "not_contact",
                    "files are taken only from contacts (accept the request first)".into(),
                );
                return;
            }
            let Some(config) = node.files_config() else {
                refuse(
                    "no_storage",
                    "this peer keeps no files (--ephemeral)".into(),
                );
                return;
            };
            let offered_id = offer.id.clone();
            let offered_name = offer.name.clone();
            let stored = node
                .store()
                .call(move |s| store_offer(s, &config, &me, &peer, &offer))
                .await;
            match stored {
                Ok(Ok(Stored::New(record))) => {
                    node.emit(Event::PeerMessage {
                        peer_id: peer.to_base64(),
                        name: node
                            .inner
                            .sessions
                            .info(&peer)
                            .map(|i| i.name)
                            .unwrap_or_default(),
                        id: record.message.id.clone(),
                        text: record.meta.name.clone(),
                        sent_at: record.message.sent_at,
                        received_at: record.message.received_at,
                        conversation: record.message.conversation.ui_id(),
                        reply_to: None,
                        seq: Some(record.seq),
                        file: Some(Box::new(file_info(&record, FileState::Waiting, 0))),
                    });
                    node.start_or_queue(record);
                }
                Ok(Ok(Stored::Known(record))) => node.answer_known_offer(peer, record),
                Ok(Ok(Stored::Refused(reason, words))) => {
                    node.refuse_offer(peer, &offered_id, &offered_name, reason, words)
                }
                Ok(Ok(Stored::Ignored)) => {
                    tracing::info!("ignoring a file offer for a room we do not share");
                }
                Ok(Err(e)) => tracing::warn!("cannot store a file offer: {e}"),
                Err(e) => tracing::warn!("a file offer was not stored: {e}"),
            }
        });
    }

    /// Tells `peer` we will not take its file, and every UI why.
    fn refuse_offer(
        &self,
        peer: PublicKey,
        id: &str,
        name: &str,
        reason: &'static str,
        words: String,
    ) {
        self.push_control(
            peer,
            Payload::FileCancel {
                sender: peer.to_base64(),
                file: id.to_owned(),
                reason: reason.into(),
            },
        );
        let shown = clean_file_name(name);
        self.emit(Event::Error {
            message: format!(
                "refused the file {shown:?} from {}: {words}",
                self.inner
                    .sessions
                    .info(&peer)
                    .map(|i| i.name)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| peer.to_base64())
            ),
            action: None,
            req: None,
            code: Some("file_refused"),
            address: None,
        });
    }

    /// A repeated offer: answered from where its transfer stands.
    fn answer_known_offer(&self, peer: PublicKey, record: FileRecord) {
        match record.state {
            FileState::Complete => {
                let reply = ack(record.message.id.clone());
                let node = self.clone();
                tokio::spawn(async move {
                    node.push(&peer, reply).await;
                });
            }
            FileState::Paused => self.push_control(
                peer,
                Payload::FilePause {
                    sender: peer.to_base64(),
                    file: record.message.id.clone(),
                    paused: true,
                },
            ),
            FileState::Failed | FileState::Cancelled | FileState::Refused => self.push_control(
                peer,
                Payload::FileCancel {
                    sender: peer.to_base64(),
                    file: record.message.id.clone(),
                    reason: record.reason.clone().unwrap_or_else(|| "cancelled".into()),
                },
            ),
            FileState::Waiting | FileState::Receiving | FileState::Sending => {
                self.start_or_queue(record)
            }
        }
    }

    /// Starts the transfer of `record` now if a slot is free, else queues it.
    pub(super) fn start_or_queue(&self, record: FileRecord) {
        let sender = record.message.sender;
        let transfer = (sender, record.message.id.clone());
        {
            let mut incoming = guard(&self.inner.files.incoming);
            if incoming.active.contains_key(&transfer) {
                // Running: the sender came back (a new session) and needs asking again.
                drop(incoming);
                self.restart_active(&transfer);
                return;
            }
            if incoming.active.len() >= MAX_ACTIVE_INCOMING {
                if !incoming.waiting.contains(&transfer) {
                    incoming.waiting.push_back(transfer);
                }
                return;
            }
        }
        self.start_transfer(record);
    }

    /// Asks a running transfer's sender again, from what its worker has stored.
    pub(super) fn restart_active(&self, transfer: &(PublicKey, String)) {
        let (offset, until) = {
            let incoming = guard(&self.inner.files.incoming);
            let Some(active) = incoming.active.get(transfer) else {
                return;
            };
            if active.paused {
                return;
            }
            (
                active.stored.load(Ordering::Acquire),
                Arc::clone(&active.until),
            )
        };
        until.store(offset + WINDOW, Ordering::Release);
        self.push_control(
            transfer.0,
            Payload::FileWant {
                file: transfer.1.clone(),
                offset,
                until: offset + WINDOW,
            },
        );
    }

    /// Starts a worker and its driver for `record` (an empty file completes at once).
    fn start_transfer(&self, record: FileRecord) {
        let Some(config) = self.files_config() else {
            return;
        };
        let dirs = Dirs::of(&config);
        let sender = record.message.sender;
        let (chunk_tx, chunk_rx) = mpsc::channel(CHUNK_QUEUE);
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let until = Arc::new(AtomicU64::new(0));
        let stored = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (generation, file_lock) = {
            let mut incoming = guard(&self.inner.files.incoming);
            incoming.generations += 1;
            let generation = incoming.generations;
            let file_lock = Arc::clone(incoming.file_locks.entry(record.key.clone()).or_default());
            incoming.active.insert(
                (sender, record.message.id.clone()),
                Active {
                    seq: record.seq,
                    key: record.key.clone(),
                    chunk_size: u64::from(record.meta.chunk_size),
                    until: Arc::clone(&until),
                    stored: Arc::clone(&stored),
                    chunks: chunk_tx,
                    paused: false,
                    generation,
                    stop: Arc::clone(&stop),
                },
            );
            (generation, file_lock)
        };
        let job = Job {
            dirs,
            key: record.key.clone(),
            name: record.meta.name.clone(),
            size: record.meta.size,
            chunk_size: u64::from(record.meta.chunk_size),
            sha256: record.meta.sha256,
            root: record.meta.root,
            stored: Arc::clone(&stored),
            stop,
            file_lock,
        };
        let spawned = std::thread::Builder::new()
            .name("p2p-chat-file".into())
            .spawn(move || receive_file(job, chunk_rx, report_tx));
        if let Err(e) = spawned {
            tracing::warn!("cannot start a file worker: {e}");
            guard(&self.inner.files.incoming)
                .active
                .remove(&(sender, record.message.id.clone()));
            return;
        }
        let node = self.clone();
        tokio::spawn(async move { node.drive(record, until, report_rx, generation).await });
    }

    /// Turns the worker's reports into credits, progress, and the end of the transfer.
    async fn drive(
        self,
        record: FileRecord,
        until: Arc<AtomicU64>,
        mut reports: mpsc::UnboundedReceiver<Report>,
        generation: u64,
    ) {
        let me = self.inner.public;
        let sender = record.message.sender;
        let id = record.message.id.clone();
        let seq = record.seq;
        let mut meter = Meter::new(record.bytes);
        let mut credited = 0u64;
        let transfer = (sender, id.clone());
        while let Some(report) = reports.recv().await {
            let paused = guard(&self.inner.files.incoming)
                .active
                .get(&transfer)
                .is_some_and(|a| a.paused);
            match report {
                Report::Ready(offset) => {
                    credited = offset;
                    meter = Meter::new(offset);
                    let state = if paused {
                        FileState::Paused
                    } else {
                        FileState::Receiving
                    };
                    let _ = self
                        .store()
                        .call(move |s| s.set_received_state(seq, state, Some(offset), None))
                        .await;
                    self.emit(progress_event(
                        &record, &me, &sender, state, offset, 0, None,
                    ));
                    if !paused {
                        until.store(offset + WINDOW, Ordering::Release);
                        self.push_control(
                            sender,
                            Payload::FileWant {
                                file: id.clone(),
                                offset,
                                until: offset + WINDOW,
                            },
                        );
                    }
                }
                Report::Stored(offset) => {
                    if !paused && offset - credited >= CREDIT_STEP {
                        credited = offset;
                        until.store(offset + WINDOW, Ordering::Release);
                        self.push_control(
                            sender,
                            Payload::FileCredit {
                                file: id.clone(),
                                offset,
                                until: offset + WINDOW,
                            },
                        );
                    }
                    if meter.store_due() {
                        self.store().exec(move |s| {
                            let _ =
                                s.set_received_state(seq, FileState::Receiving, Some(offset), None);
                        });
                    }
                    if let Some(rate) = meter.update(offset) {
                        let state = if paused {
                            FileState::Paused
                        } else {
                            FileState::Receiving
                        };
                        self.emit(progress_event(
                            &record, &me, &sender, state, offset, rate, None,
                        ));
                    }
                }
                Report::Bad { offset, in_a_row } => {
                    tracing::warn!(peer = %sender.to_base64(), "a file chunk failed verification ({in_a_row} in a row)");
                    if in_a_row < MAX_BAD_CHUNKS {
                        until.store(offset + WINDOW, Ordering::Release);
                        credited = offset;
                        self.push_control(
                            sender,
                            Payload::FileWant {
                                file: id.clone(),
                                offset,
                                until: offset + WINDOW,
                            },
                        );
                    } else {
                        self.receive_failed(&record, "verification").await;
                        break;
                    }
                }
                Report::Done { name } => {
                    let size = record.meta.size;
                    let renamed = (name != record.meta.name).then(|| name.clone());
                    let kept = self
                        .store()
                        .call(move |s| -> store::Result<bool> {
                            if let Some(name) = &renamed {
                                s.rename_received(seq, name)?;
                            }
                            s.set_received_state(seq, FileState::Complete, Some(size), None)
                        })
                        .await;
                    match kept {
                        Ok(Ok(true)) => {
                            self.push(&sender, ack(id.clone())).await;
                            let mut done = record.clone();
                            done.meta.name = name;
                            self.emit(progress_event(
                                &done,
                                &me,
                                &sender,
                                FileState::Complete,
                                size,
                                meter.rate(),
                                None,
                            ));
                            tracing::info!(
                                "received a file of {size} bytes in {:.1} s",
                                meter.elapsed().as_secs_f64()
                            );
                        }
                        _ => {
                            // Its message was deleted meanwhile: so is the file.
                            if let Some(dirs) = self.file_dirs() {
                                let _ = std::fs::remove_file(dirs.received(&name));
                            }
                        }
                    }
                    break;
                }
                Report::Failed(reason) => {
                    self.receive_failed(&record, reason).await;
                    break;
                }
            }
        }
        self.finish_active(&transfer, generation);
    }

    /// The transfer ends without the file: recorded, the partial file removed, the sender and
    /// every UI told.
    async fn receive_failed(&self, record: &FileRecord, reason: &'static str) {
        let me = self.inner.public;
        let sender = record.message.sender;
        let seq = record.seq;
        let key = record.key.clone();
        let _ = self
            .store()
            .call(move |s| -> store::Result<()> {
                if s.set_received_state(seq, FileState::Failed, Some(0), Some(reason))? {
                    s.trash_paths(&key, &partial_paths(&key))?;
                }
                Ok(())
            })
            .await;
        self.push_control(
            sender,
            Payload::FileCancel {
                sender: sender.to_base64(),
                file: record.message.id.clone(),
                reason: reason.into(),
            },
        );
        self.emit(progress_event(
            record,
            &me,
            &sender,
            FileState::Failed,
            0,
            0,
            Some(reason.into()),
        ));
        let words = match reason {
            "hash_mismatch" => "its SHA-256 does not match the offer: it was deleted",
            "verification" => "its chunks kept failing verification",
            _ => reason,
        };
        self.emit(Event::Error {
            message: format!(
                "the file {:?} could not be received: {words}",
                record.meta.name
            ),
            action: None,
            req: None,
            code: Some("file_failed"),
            address: None,
        });
    }

    /// A transfer's worker ended: its slot goes to the next waiting one.
    fn finish_active(&self, transfer: &(PublicKey, String), generation: u64) {
        let next = {
            let mut incoming = guard(&self.inner.files.incoming);
            // Only this driver's transfer: a newer one of the same file (the sender came back
            // while this one drained) keeps running.
            if incoming
                .active
                .get(transfer)
                .is_some_and(|a| a.generation == generation)
            {
                incoming.active.remove(transfer);
            }
            // A file lock only this map holds is no worker's any more.
            incoming
                .file_locks
                .retain(|_, lock| Arc::strong_count(lock) > 1);
            let mut next = None;
            while incoming.active.len() < MAX_ACTIVE_INCOMING {
                let Some(candidate) = incoming.waiting.pop_front() else {
                    break;
                };
                if self.inner.sessions.contains(&candidate.0) {
                    next = Some(candidate);
                    break;
                }
            }
            next
        };
        if let Some((sender, id)) = next {
            let node = self.clone();
            tokio::spawn(async move {
                if let Ok(Ok(Some(record))) = node.store().call(move |s| s.file(&sender, &id)).await
                {
                    if !record.state.is_final() && record.state != FileState::Paused {
                        node.start_or_queue(record);
                    }
                }
            });
        }
    }

    /// A chunk from `peer`: handed to its transfer's worker if it is inside the window.
    pub(super) fn receive_chunk(
        &self,
        peer: PublicKey,
        file: String,
        index: u64,
        proof: Vec<Hash>,
        data: Vec<u8>,
    ) -> Option<InboxReply> {
        let chunks = {
            let incoming = guard(&self.inner.files.incoming);
            let active = incoming.active.get(&(peer, file))?;
            let offset = index.checked_mul(active.chunk_size)?;
            if offset >= active.until.load(Ordering::Acquire) {
                tracing::debug!("dropping a file chunk outside the window");
                return None;
            }
            active.chunks.clone()
        };
        let chunk = Chunk { index, proof, data };
        match chunks.try_send(chunk) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => None,
            // The worker is behind: the reader waits for it (TCP pushes back on the sender).
            Err(mpsc::error::TrySendError::Full(chunk)) => Some(Box::pin(async move {
                let _ = chunks.send(chunk).await;
                None
            })),
        }
    }

    /// Stops the workers of `peer`'s files (its session ended); they resume at its next offer.
    pub(super) fn stop_incoming_from(&self, peer: &PublicKey) {
        let mut incoming = guard(&self.inner.files.incoming);
        // Dropping a worker's chunk queue ends it once it has written what was queued.
        incoming.active.retain(|(sender, _), _| sender != peer);
        incoming.waiting.retain(|(sender, _)| sender != peer);
    }

    /// A received file `key` was deleted: its worker stops and its sender is told.
    pub(super) fn incoming_deleted(&self, key: &str) {
        let stopped: Vec<(PublicKey, String)> = {
            let mut incoming = guard(&self.inner.files.incoming);
            let transfers: Vec<(PublicKey, String)> = incoming
                .active
                .iter()
                .filter(|(_, a)| a.key == key)
                .map(|(t, _)| t.clone())
                .collect();
            for t in &transfers {
                incoming.active.remove(t);
            }
            transfers
        };
        for (sender, file) in stopped {
            self.push_control(
                sender,
                Payload::FileCancel {
                    sender: sender.to_base64(),
                    file,
                    reason: "deleted".into(),
                },
            );
        }
    }

    /// Marks a running transfer paused or not; returns its `seq` and `until` if it runs.
    pub(super) fn set_incoming_paused(
        &self,
        transfer: &(PublicKey, String),
        paused: bool,
    ) -> Option<(i64, Arc<AtomicU64>)> {
        let mut incoming = guard(&self.inner.files.incoming);
        let active = incoming.active.get_mut(transfer)?;
        active.paused = paused;
        Some((active.seq, Arc::clone(&active.until)))
    }

    /// The bytes a running transfer's worker has verified and written, if it runs (fresher
    /// than the database's, which is written once a second).
    pub(super) fn incoming_stored(&self, transfer: &(PublicKey, String)) -> Option<u64> {
        let incoming = guard(&self.inner.files.incoming);
        let active = incoming.active.get(transfer)?;
        Some(active.stored.load(Ordering::Acquire))
    }

    /// Stops a running transfer (cancelled or failed by one side), if it runs.
    pub(super) fn stop_incoming(&self, transfer: &(PublicKey, String)) {
        let mut incoming = guard(&self.inner.files.incoming);
        incoming.active.remove(transfer);
        incoming.waiting.retain(|t| t != transfer);
    }
}

/// The partial file and its leaves, as `file_trash` paths.
pub(super) fn partial_paths(key: &str) -> Vec<String> {
    vec![
        format!("partial/{key}.part"),
        format!("partial/{key}.leaves"),
    ]
}

/// What a worker needs to know about its file.
struct Job {
    dirs: Dirs,
    key: String,
    name: String,
    size: u64,
    chunk_size: u64,
    sha256: [u8; 32],
    root: [u8; 32],
    /// Bytes verified and written, updated after every write.
    stored: Arc<AtomicU64>,
    /// Set when the transfer was stopped.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Held while the worker runs (see `Incoming::file_locks`).
    file_lock: Arc<std::sync::Mutex<()>>,
}

/// The worker: creates or resumes the partial file, then verifies and writes chunks until the
/// file is whole (or its queue closes: the session ended, the transfer was stopped).
fn receive_file(
    job: Job,
    mut chunks: mpsc::Receiver<Chunk>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let lock = Arc::clone(&job.file_lock);
    let _only_worker = lock.lock().unwrap_or_else(|p| p.into_inner());
    let report = |r: Report| {
        let _ = reports.send(r);
    };
    let n = job.size.div_ceil(job.chunk_size);
    if job.size == 0 {
        // Nothing to pull: the offer itself must describe the empty file.
        if job.root != empty_root() || job.sha256 != sha256(&[]) {
            report(Report::Failed("hash_mismatch"));
            return;
        }
        match place(&job, None) {
            Ok(name) => report(Report::Done { name }),
            Err(e) => {
                tracing::warn!("cannot store a received file: {e}");
                report(Report::Failed("no_storage"));
            }
        }
        return;
    }
    if job.stop.load(Ordering::Acquire) {
        return;
    }
    let mut state = match Partial::open(&job) {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!("cannot open a partial file: {e}");
            report(Report::Failed("no_storage"));
            return;
        }
    };
    job.stored.store(state.offset, Ordering::Release);
    report(Report::Ready(state.offset));
    // Where the driver last heard of: it is told again a credit step later.
    let mut reported = state.offset;
    let mut in_a_row = 0u32;
    // Writes what is staged, then tells the driver (and the credit) how far the file is.
    let write = |state: &mut Partial, reported: &mut u64| -> bool {
        if let Err(e) = state.write_staged() {
            tracing::warn!("cannot write a received file: {e}");
            report(Report::Failed("no_storage"));
            return false;
        }
        job.stored.store(state.offset, Ordering::Release);
        if state.offset - *reported >= CREDIT_STEP || state.next == n {
            *reported = state.offset;
            report(Report::Stored(state.offset));
        }
        true
    };
    loop {
        // Chunks already queued are staged and written together (up to WRITE_BATCH); before
        // the worker sleeps, what is staged is written.
        let chunk = match chunks.try_recv() {
            Ok(chunk) => chunk,
            Err(_) => {
                if !write(&mut state, &mut reported) {
                    return;
                }
                match chunks.blocking_recv() {
                    Some(chunk) => chunk,
                    None => return,
                }
            }
        };
        if job.stop.load(Ordering::Acquire) {
            // Stopped (session over, cancelled, deleted): no further chunk is taken, and
            // what is staged is dropped (it is asked for again on a resume).
            return;
        }
        if chunk.index != state.next {
            // Not the one we expect (an old stream's, or a lie): not ours to write.
            continue;
        }
        let expected_len = if chunk.index + 1 == n {
            job.size - chunk.index * job.chunk_size
        } else {
            job.chunk_size
        };
        let leaf = leaf_hash(&chunk.data);
        if chunk.data.len() as u64 != expected_len
            || !verify_inclusion(&job.root, chunk.index, n, &leaf, &chunk.proof)
        {
            in_a_row += 1;
            // The good chunks before it are written first: the restart begins after them.
            if !write(&mut state, &mut reported) {
                return;
            }
            // Everything queued behind a bad chunk belongs to the abandoned stream. Dropped
            // before the report, which asks the sender to restart: a restarted chunk that
            // came back quickly was dropped with them, and the transfer stalled.
            while chunks.try_recv().is_ok() {}
            reported = state.offset;
            report(Report::Bad {
                offset: state.offset,
                in_a_row,
            });
            continue;
        }
        in_a_row = 0;
        state.stage(chunk.data, leaf);
        // Also due when it would take the file past the next credit step, so a batch never
        // holds back the credit the sender waits for.
        let due = state.staged.len() >= WRITE_BATCH
            || state.next == n
            || state.offset + state.staged_bytes - reported >= CREDIT_STEP;
        if due && !write(&mut state, &mut reported) {
            return;
        }
        if state.next == n {
            let Partial {
                file,
                whole,
                mut sync,
                ..
            } = state;
            if whole.finish() != job.sha256 {
                report(Report::Failed("hash_mismatch"));
                return;
            }
            match sync.wait().and_then(|()| place(&job, Some(file))) {
                Ok(name) => report(Report::Done { name }),
                Err(e) => {
                    tracing::warn!("cannot store a received file: {e}");
                    report(Report::Failed("no_storage"));
                }
            }
            return;
        }
    }
}

/// A partial file being written: its handle, its leaves file, the whole-file hash so far.
struct Partial {
    file: File,
    leaves: File,
    whole: Sha256Stream,
    /// The next chunk expected (staged ones counted).
    next: u64,
    /// Bytes verified and written.
    offset: u64,
    /// Verified chunks not written yet, with their leaves.
    staged: Vec<(Vec<u8>, Hash)>,
    /// The bytes of the staged chunks.
    staged_bytes: u64,
    /// Flushes the file to disk as it grows, beside the writing.
    sync: BackgroundSync,
}

impl Partial {
    /// Opens the partial file, keeping the longest run of chunks that match their recorded
    /// leaves (none when it is new).
    fn open(job: &Job) -> std::io::Result<Partial> {
        let path = job.dirs.partial(&job.key);
        let leaves_path = job.dirs.partial_leaves(&job.key);
        let recorded = match read_leaves(&leaves_path) {
            Ok(leaves) if path.exists() => leaves,
            _ => Vec::new(),
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        let mut whole = Sha256Stream::new();
        let mut buffer = vec![0u8; job.chunk_size as usize];
        let mut next = 0u64;
        let mut offset = 0u64;
        file.seek(SeekFrom::Start(0))?;
        for leaf in &recorded {
            let want = job.chunk_size.min(job.size - offset) as usize;
            let n = read_full(&mut file, &mut buffer[..want])?;
            if n != want || leaf_hash(&buffer[..n]) != *leaf {
                break;
            }
            whole.update(&buffer[..n]);
            next += 1;
            offset += n as u64;
            if offset >= job.size {
                break;
            }
        }
        // What follows the verified run is dropped, in the file and in the leaves.
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut leaves = create_private_append(&leaves_path)?;
        leaves.set_len(next * 32)?;
        leaves.seek(SeekFrom::Start(next * 32))?;
        if next > 0 {
            tracing::info!("resuming a received file at {offset} of {} bytes", job.size);
        }
        Ok(Partial {
            file,
            leaves,
            whole,
            next,
            offset,
            staged: Vec::with_capacity(WRITE_BATCH),
            staged_bytes: 0,
            sync: BackgroundSync::default(),
        })
    }

    /// Takes a verified chunk to write with the next [`Partial::write_staged`].
    fn stage(&mut self, data: Vec<u8>, leaf: Hash) {
        self.whole.update(&data);
        self.next += 1;
        self.staged_bytes += data.len() as u64;
        self.staged.push((data, leaf));
    }

    /// Writes the staged chunks in one system call, then their leaves: a leaf on disk vouches
    /// for data before it. (One write of several chunks costs the kernel about a third less
    /// than one write each: BENCHMARKS.md, "Files: chunks written together".)
    fn write_staged(&mut self) -> std::io::Result<()> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self
            .staged
            .iter()
            .map(|(data, _)| IoSlice::new(data))
            .collect();
        write_all_vectored(&mut self.file, &mut slices)?;
        let leaves: Vec<u8> = self.staged.iter().flat_map(|(_, leaf)| *leaf).collect();
        self.leaves.write_all(&leaves)?;
        let written = std::mem::take(&mut self.staged_bytes);
        self.offset += written;
        for (data, _) in self.staged.drain(..) {
            spare_buffers::give_back(data);
        }
        self.sync.wrote(&self.file, written)
    }
}

/// `write_all` of several buffers with `write_vectored` (the standard library's own is not
/// stable yet).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Opens (creating, mode 0600) a file for writing without truncating it.
fn create_private_append(path: &std::path::Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Puts the complete file in `files/received/` under its reserved name — or, should something
/// have taken that name on disk meanwhile, the next free one (never replacing a file) — and
/// removes the partial file's leaves. Returns the name used.
fn place(job: &Job, file: Option<File>) -> std::io::Result<String> {
    let partial = job.dirs.partial(&job.key);
    match file {
        Some(file) => file.sync_all()?,
        None => {
            create_private(&partial)?.sync_all()?;
        }
    }
    let mut name = job.name.clone();
    let mut n = 0;
    loop {
        let target: PathBuf = job.dirs.received(&name);
        // A hard link fails if the target exists, so nothing of the user's is replaced.
        match std::fs::hard_link(&partial, &target) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => {
                n += 1;
                name = numbered(&job.name, n);
            }
            Err(e) => return Err(e),
        }
    }
    sync_dir(&job.dirs.received_dir());
    let _ = std::fs::remove_file(&partial);
    let _ = std::fs::remove_file(job.dirs.partial_leaves(&job.key));
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Staged chunks count once written with their leaves; data written without its leaves
    /// (a crash between the two writes) is not trusted on a resume.
    #[test]
    fn staged_chunks_count_once_written_and_data_without_leaves_is_dropped_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = Dirs::of(&FilesConfig::new(dir.path().to_owned()));
        dirs.create().unwrap();
        let chunk = 1024u64;
        let bytes: Vec<u8> = (0..4 * chunk).map(|i| (i * 7 % 251) as u8).collect();
        let piece = |i: u64| bytes[(i * chunk) as usize..((i + 1) * chunk) as usize].to_vec();
        let job = Job {
            dirs,
            key: "k1".into(),
            name: "notes.bin".into(),
            size: 4 * chunk,
            chunk_size: chunk,
            sha256: sha256(&bytes),
            root: [0; 32],
            stored: Arc::default(),
            stop: Arc::default(),
            file_lock: Arc::default(),
        };
        let mut partial = Partial::open(&job).unwrap();
        for i in 0..2 {
            partial.stage(piece(i), leaf_hash(&piece(i)));
        }
        assert_eq!(
            (partial.offset, partial.next),
            (0, 2),
            "staged, not written"
        );
        partial.write_staged().unwrap();
        assert_eq!(partial.offset, 2 * chunk);
        assert!(partial.staged.is_empty() && partial.staged_bytes == 0);

        // The next two chunks' data reaches the file, their leaves never do.
        let (two, three) = (piece(2), piece(3));
        let mut slices = [IoSlice::new(&two), IoSlice::new(&three)];
        write_all_vectored(&mut partial.file, &mut slices).unwrap();
        drop(partial);
        assert_eq!(
            std::fs::metadata(job.dirs.partial(&job.key)).unwrap().len(),
            4 * chunk
        );

        let resumed = Partial::open(&job).unwrap();
        assert_eq!((resumed.offset, resumed.next), (2 * chunk, 2));
        assert_eq!(
            std::fs::metadata(job.dirs.partial(&job.key)).unwrap().len(),
            2 * chunk,
            "the unvouched data is cut off"
        );
    }

    fn offer(id: &str) -> Offer {
        Offer {
            id: id.into(),
            name: "notes.txt".into(),
            size: 5,
            media_type: "text/plain".into(),
            chunk_size: crypto_core::wire::MAX_CHUNK_SIZE,
            sha256: [1; 32],
            root: [2; 32],
            sent_at: 1,
            room: None,
        }
    }

    /// A store failure after the offer's insert (here, reading back what was stored) must
    /// not leave it stored: unanswered, it comes again, and only then is it new, with its
    /// event.
    #[test]
    fn an_offer_that_cannot_be_read_back_is_not_stored_and_is_new_when_it_comes_again() {
        let mut s = Store::open_in_memory().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig::new(dir.path().to_owned());
        let me = PublicKey::from_bytes([1; 32]);
        let bob = PublicKey::from_bytes([2; 32]);
        // The read-back fails: the stored message's sender is not a key.
        s.execute_for_test(&format!(
            "CREATE TEMP TRIGGER unreadable AFTER INSERT ON files BEGIN
                 UPDATE messages SET sender = '{}' WHERE seq = NEW.message;
             END;",
            "!".repeat(44)
        ));
        assert!(store_offer(&mut s, &config, &me, &bob, &offer("f1")).is_err());
        assert!(s.file(&bob, "f1").unwrap().is_none(), "stored unanswered");
        assert!(
            !s.received_name_taken("notes.txt").unwrap(),
            "nothing of it is left, under any sender"
        );

        s.execute_for_test("DROP TRIGGER unreadable");
        match store_offer(&mut s, &config, &me, &bob, &offer("f1")).unwrap() {
            Stored::New(record) => assert_eq!(record.meta.name, "notes.txt"),
            _ => panic!("the repeated offer is not new"),
        }
    }
}
