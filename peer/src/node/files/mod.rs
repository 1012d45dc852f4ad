//! Files and pictures (PROTOCOL.md §5.1, §8.11). A file is a message: our user's file is hashed
//! (SHA-256 and a Merkle tree over its chunks), committed with its offer to the outbox and
//! offered to each recipient at every session until that recipient acknowledges it — which it
//! does only once it holds the whole file, verified. Each receiver pulls the chunks itself
//! through a bounded window, checks every chunk against the offer's root before writing it,
//! and resumes from what it verified after any disconnect, restart or kill.
//!
//! * [`send`] — `send_file`: from an upload or (local API) a path, to a contact or a room.
//! * [`outgoing`] — serving a receiver's `file_want`: reading, checking and queueing chunks
//!   on the session's bulk lane (`crate::bulk_lane`), credit by credit.
//! * [`incoming`] — offers: accepting or refusing them (contacts only, size, quotas), the
//!   worker thread that verifies and writes chunks, credits, completion, resuming.
//! * [`control`] — pause, resume, cancel and retry, from our user or the other side.
//! * [`names`], [`hashing`], [`storage`], [`progress`] — cleaned names, hashing and leaf files,
//!   the layout on disk, rates and how often the UI hears of them.
//! * [`upload`] — the page's uploads (`POST /files`) and downloads (`GET /files/<key>`).

mod background_sync;
mod control;
mod hashing;
mod incoming;
mod names;
mod outgoing;
mod progress;
mod send;
mod storage;
mod upload;

use std::sync::{Arc, Mutex, RwLock};

use crypto_core::wire::Payload;
use crypto_core::PublicKey;
use tokio::sync::broadcast;

use super::{lock, Node};
use crate::event::{Event, FileInfo};
use crate::persist::StoreUnavailable;
use crate::session::InboxReply;
use crate::store::{self, FileRecord, FileState, MessageDirection, Store, StoreError};

pub use control::FileControl;
pub use names::clean_file_name;
pub use send::SendSource;
pub use storage::create_private as create_private_file;
pub use upload::{Download, MAX_PENDING_UPLOADS};

/// Default largest file sent or received (`--max-file-size`).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 << 30;
/// Default bytes of received files kept from one sender (`--file-quota-per-contact`).
pub const DEFAULT_FILE_QUOTA_PER_CONTACT: u64 = 8 << 30;
/// Default bytes of received files kept in all (`--file-quota`).
pub const DEFAULT_FILE_QUOTA: u64 = 32 << 30;

/// The chunk size this version offers (the largest the protocol allows).
pub const CHUNK_SIZE: u32 = crypto_core::wire::MAX_CHUNK_SIZE;

/// How far ahead of what it stored a receiver lets the sender go (PROTOCOL.md §5.1). A chat
/// arriving during a transfer waits behind at most this much of the file; at 2 MiB that was
/// ~15 ms of the receiver's work, at no gain in throughput over loopback.
pub const WINDOW: u64 = 1 << 20;

/// A receiver credits the sender again each time it stored this much more.
pub const CREDIT_STEP: u64 = 512 << 10;

/// How much of a file being written (received, or uploaded by the page) may wait in the page
/// cache before it is flushed to disk. Flushing as it arrives keeps every flush short: left to
/// the end, the flush of a 1 GiB file held the disk for over a second, and every chat commit
/// (an fsync) of the peer — and of any other program — waited behind it; every 8 MiB, a chat
/// still waited up to ~20 ms (BENCHMARKS.md, "Files and history at scale: the fixed wait
/// found"). The flush runs beside the writing ([`background_sync`]).
pub const SYNC_EVERY: u64 = 2 << 20;

/// Failed chunks in a row after which a receiver gives up.
pub const MAX_BAD_CHUNKS: u32 = 3;

/// Incoming transfers running at once; more wait for a slot.
pub const MAX_ACTIVE_INCOMING: usize = 8;

/// Where files are kept and how much.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// The files directory (`<data dir>/files`; the terminal chat's own directory).
    pub dir: std::path::PathBuf,
    /// Largest file sent or received.
    pub max_file_size: u64,
    /// Bytes of received files kept from one sender.
    pub quota_per_contact: u64,
    /// Bytes of received files kept in all.
    pub quota_total: u64,
    /// Where complete received files go, if not `dir/received` (the terminal chat's
    /// `--files-dir`).
    pub received_dir: Option<std::path::PathBuf>,
}

impl FilesConfig {
    /// The defaults, with files under `dir`.
    pub fn new(dir: std::path::PathBuf) -> Self {
        Self {
            dir,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            quota_per_contact: DEFAULT_FILE_QUOTA_PER_CONTACT,
            quota_total: DEFAULT_FILE_QUOTA,
            received_dir: None,
        }
    }
}

/// Why a file action failed (an `error` event; PROTOCOL.md §8.11).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Files need a place on disk (not `--ephemeral`).
    #[error("files need a data directory (this peer runs with --ephemeral)")]
    NoStorage,
    /// Over `--max-file-size`.
    #[error("the file is {size} bytes, over the {max}-byte limit (--max-file-size)")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not an upload we hold.
    #[error("no such upload")]
    NoUpload,
    /// The path is not an absolute path to a readable regular file.
    #[error("cannot send {0}")]
    BadPath(String),
    /// Not a contact (or a request), or "everyone".
    #[error("files go to a contact or a room")]
    BadTarget,
    /// A room we are not in.
    #[error("no room {0:?} that we are in")]
    NoRoom(String),
    /// No transfer of that file (with that peer).
    #[error("no such file transfer")]
    NoTransfer,
    /// The transfer's state does not allow it.
    #[error("the transfer is {0}")]
    WrongState(&'static str),
    /// Reading or writing the file failed.
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error("message store: {0}")]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// The files part of the node.
#[derive(Default)]
pub(super) struct Files {
    config: RwLock<Option<Arc<FilesConfig>>>,
    incoming: Mutex<incoming::Incoming>,
    outgoing: Mutex<outgoing::Outgoing>,
    uploads: Mutex<upload::Uploads>,
}

/// `"me"` for our key, else the key.
fn who(key: &PublicKey, me: &PublicKey) -> String {
    if key == me {
        "me".to_owned()
    } else {
        key.to_base64()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `file` of a file message as the UI sees it.
pub(super) fn file_info(record: &FileRecord, state: FileState, bytes: u64) -> FileInfo {
    FileInfo {
        key: record.key.clone(),
        name: record.meta.name.clone(),
        size: record.meta.size,
        media_type: record.meta.media_type.clone(),
        sha256: hex(&record.meta.sha256),
        state: state.as_str(),
        bytes,
    }
}

/// The `file` of message `seq` for a `history` entry, if it is a file message: ours shows its
/// least advanced recipient.
pub(super) fn file_info_of(
    s: &Store,
    seq: i64,
    _me: &PublicKey,
) -> store::Result<Option<FileInfo>> {
    let Some(record) = s.file_of_message(seq)? else {
        return Ok(None);
    };
    let (state, bytes) = match record.direction {
        MessageDirection::Outgoing => s.least_send(seq)?.unwrap_or((FileState::Waiting, 0)),
        MessageDirection::Incoming => (record.state, record.bytes),
    };
    Ok(Some(file_info(&record, state, bytes)))
}

/// A `file_progress` event.
pub(super) fn progress_event(
    record: &FileRecord,
    me: &PublicKey,
    peer: &PublicKey,
    state: FileState,
    bytes: u64,
    rate: u64,
    reason: Option<String>,
) -> Event {
    Event::FileProgress(Box::new(crate::event::FileProgressInfo {
        conversation: record.message.conversation.ui_id(),
        from: who(&record.message.sender, me),
        id: record.message.id.clone(),
        peer_id: peer.to_base64(),
        direction: match record.direction {
            MessageDirection::Outgoing => "out",
            MessageDirection::Incoming => "in",
        },
        state: state.as_str(),
        bytes,
        size: record.meta.size,
        rate,
        reason,
    }))
}

/// Called in the store job of an owed `ack`: if `id` is our file sent to `peer`, that
/// recipient now holds it whole (PROTOCOL.md §5.1), and every UI hears so.
pub(super) fn delivered(
    s: &mut Store,
    peer: &PublicKey,
    id: &str,
    events: &broadcast::Sender<Event>,
) {
    let seq = match s.file_delivered(peer, id) {
        Ok(Some(seq)) => seq,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("cannot record a delivered file: {e}");
            return;
        }
    };
    if let Ok(Some(record)) = s.file_of_message(seq) {
        let me = record.message.sender;
        let _ = events.send(progress_event(
            &record,
            &me,
            peer,
            FileState::Complete,
            record.meta.size,
            0,
            None,
        ));
    }
}

impl Node {
    /// Keeps files under `config.dir` from now on (without it, offers are refused with
    /// `no_storage` and `send_file` fails): creates the directories, deletes uploads left by an
    /// earlier run and whatever a crash left in the trash, and lets deletes stop transfers.
    pub fn enable_files(&self, config: FilesConfig) -> std::io::Result<()> {
        let dirs = storage::Dirs::of(&config);
        dirs.create()?;
        upload::clear_uploads(&dirs);
        *self
            .inner
            .files
            .config
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(config));
        let node = self.clone();
        let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel();
        let root = dirs.root().to_owned();
        self.store().exec(move |s| {
            s.set_files_dir(Some(root));
            s.set_file_trash_listener(Box::new(move |gone| {
                let _ = gone_tx.send(gone);
            }));
            // Files of rows deleted just before a crash.
            match s.empty_file_trash() {
                Ok(gone) if !gone.is_empty() => {
                    tracing::info!("removed the files of {} deleted messages", gone.len())
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot empty the file trash: {e}"),
            }
        });
        tokio::spawn(async move {
            while let Some(gone) = gone_rx.recv().await {
                for file in gone {
                    node.file_deleted(&file.key);
                }
            }
        });
        Ok(())
    }

    /// The files settings, if files are kept.
    pub(super) fn files_config(&self) -> Option<Arc<FilesConfig>> {
        self.inner
            .files
            .config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The files directory's layout, if files are kept.
    fn file_dirs(&self) -> Option<storage::Dirs> {
        self.files_config().map(|c| storage::Dirs::of(&c))
    }

    /// Where received files land (README), if files are kept.
    pub fn received_files_dir(&self) -> Option<std::path::PathBuf> {
        self.file_dirs().map(|d| d.received_dir())
    }

    /// One of the file payloads of PROTOCOL.md §5.1 arrived on `peer`'s session.
    pub(super) fn receive_file_payload(
        &self,
        peer: PublicKey,
        stranger: bool,
        payload: Payload,
    ) -> Option<InboxReply> {
        let me = self.inner.public;
        match payload {
            Payload::File {
                id,
                name,
                size,
                media_type,
                chunk_size,
                sha256,
                root,
                sent_at,
                room,
            } => {
                let offer = incoming::Offer {
                    id,
                    name,
                    size,
                    media_type,
                    chunk_size,
                    sha256,
                    root,
                    sent_at,
                    room,
                };
                self.receive_offer(peer, stranger, offer);
                None
            }
            Payload::FileChunk {
                file,
                index,
                proof,
                data,
            } => self.receive_chunk(peer, file, index, proof, data),
            Payload::FileWant {
                file,
                offset,
                until,
            } => {
                if !stranger {
                    self.receive_want(peer, file, offset, until);
                }
                None
            }
            Payload::FileCredit {
                file,
                offset,
                until,
            } => {
                self.receive_credit(peer, &file, offset, until);
                None
            }
            Payload::FilePause {
                sender,
                file,
                paused,
            } => {
                match PublicKey::from_base64(&sender) {
                    Ok(sender) if sender == me => self.receiver_paused(peer, file, paused),
                    Ok(sender) if sender == peer => self.sender_paused(peer, file, paused),
                    _ => tracing::info!("ignoring a file_pause naming a third key"),
                }
                None
            }
            Payload::FileCancel {
                sender,
                file,
                reason,
            } => {
                match PublicKey::from_base64(&sender) {
                    Ok(sender) if sender == me => self.receiver_cancelled(peer, file, reason),
                    Ok(sender) if sender == peer => self.sender_cancelled(peer, file, reason),
                    _ => tracing::info!("ignoring a file_cancel naming a third key"),
                }
                None
            }
            _ => None,
        }
    }

    /// `peer`'s session ended: its transfers stop (and resume at the next session).
    pub(super) fn files_session_gone(&self, peer: &PublicKey) {
        self.stop_incoming_from(peer);
        self.stop_streams_to(peer);
    }

    /// A file's row was deleted (its message deleted, expired or deleted for everyone): its
    /// transfers end, and the other sides are told (`file_cancel`, reason `deleted`).
    fn file_deleted(&self, key: &str) {
        self.incoming_deleted(key);
        self.outgoing_deleted(key);
    }

    /// The largest file sent or received, if files are kept.
    pub fn max_file_size(&self) -> Option<u64> {
        self.files_config().map(|c| c.max_file_size)
    }

    /// Whether `key` has a live session.
    pub fn is_connected(&self, key: &PublicKey) -> bool {
        self.is_online(key)
    }

    /// The key answering at `addr`: a live session dialled there (or whose peer listens
    /// there), else a contact last reached there.
    pub async fn peer_at(&self, addr: std::net::SocketAddr) -> Option<PublicKey> {
        for (key, info) in self.inner.sessions.infos() {
            let dialled = info.address.parse::<std::net::SocketAddr>().ok();
            if dialled == Some(addr)
                || (dialled.is_some_and(|d| d.ip() == addr.ip()) && info.listen_port == addr.port())
            {
                return Some(key);
            }
        }
        let wanted = addr.to_string();
        let contacts = self.store().call(|s| s.list_contacts()).await.ok()?.ok()?;
        contacts
            .into_iter()
            .find(|c| c.replaced_by.is_none() && c.last_address.as_deref() == Some(wanted.as_str()))
            .map(|c| c.public_key)
    }

    /// Pushes a control payload on `peer`'s session, if it has one.
    fn push_control(&self, peer: PublicKey, payload: Payload) {
        let node = self.clone();
        tokio::spawn(async move {
            node.push(&peer, payload.to_bytes().into()).await;
        });
    }
}

/// `lock` for the files' own mutexes.
fn guard<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock(mutex)
}
