//! Serving our files (PROTOCOL.md §5.1): a receiver's `file_want` starts (or restarts) a stream
//! of chunks from its offset; each `file_credit` moves the limit the stream may reach. A stream
//! reads a few chunks at a time on a blocking thread, checks after each read that the file is
//! still the one it opened (a changed file is not streamed on), attaches the proof and queues it
//! on the session's bulk lane, which the writer serves only when no chat, ack or control payload waits. Memory
//! per stream: the lane's 4 chunks and the tree (64 bytes per chunk, shared by a file's
//! streams).

use std::collections::HashMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use crypto_core::merkle::Tree;
use crypto_core::wire::{chunk_bytes, Payload};
use crypto_core::PublicKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::hashing::load_tree;
use super::progress::Meter;
use super::storage::Dirs;
use super::{guard, progress_event};
use crate::node::Node;
use crate::session::Outgoing as Payloadbytes;
use crate::store::{FileRecord, FileState, MessageDirection};

/// Chunks read per trip to the blocking pool.
const READ_BATCH: u64 = 4;

/// Why a stream stopped before its end.
#[derive(Debug)]
enum StreamEnd {
    /// The session ended or a newer `file_want` replaced it.
    Gone,
    /// The file is not what was offered any more.
    Changed,
}

/// One running stream of our file to one receiver.
struct Stream {
    /// The file's key (several recipients of a room file share it).
    key: String,
    /// The receiver's limit.
    until: watch::Sender<u64>,
    task: JoinHandle<()>,
    meter: Meter,
}

/// Our running streams and the trees they read proofs from.
#[derive(Default)]
pub(super) struct Outgoing {
    /// By (our message id, receiver).
    streams: HashMap<(String, PublicKey), Stream>,
    trees: HashMap<String, Arc<Tree>>,
}

impl Outgoing {
    /// Drops trees no stream uses any more.
    fn prune_trees(&mut self) {
        let used: Vec<String> = self.streams.values().map(|s| s.key.clone()).collect();
        self.trees.retain(|key, _| used.contains(key));
    }
}

impl Node {
    /// A receiver asks for our file `file` from `offset` up to `until`.
    pub(super) fn receive_want(&self, peer: PublicKey, file: String, offset: u64, until: u64) {
        let Some(config) = self.files_config() else {
            return;
        };
        let dirs = Dirs::of(&config);
        let node = self.clone();
        tokio::spawn(async move {
            let me = node.inner.public;
            let id = file.clone();
            let found = node
                .store()
                .call(move |s| -> crate::store::Result<_> {
                    let Some(record) = s.file(&me, &id)? else {
                        return Ok(None);
                    };
                    let send = s
                        .file_sends(record.seq)?
                        .into_iter()
                        .find(|x| x.recipient == peer);
                    Ok(send.map(|send| (record, send)))
                })
                .await;
            let Ok(Ok(Some((record, send)))) = found else {
                tracing::info!("ignoring a file_want for a file we did not send it");
                return;
            };
            if record.direction != MessageDirection::Outgoing {
                return;
            }
            let chunk = u64::from(record.meta.chunk_size);
            if offset % chunk != 0 || offset > record.meta.size {
                tracing::info!("ignoring a file_want with a bad offset");
                return;
            }
            let reopen = match send.state {
                FileState::Complete => false,
                FileState::Cancelled => {
                    send.reason.as_deref() != Some(super::control::CANCELLED_HERE)
                }
                FileState::Paused => send.reason.as_deref() != Some(super::control::PAUSED_HERE),
                _ => true,
            };
            if !reopen {
                let reason = match send.state {
                    FileState::Paused => {
                        node.push_control(
                            peer,
                            Payload::FilePause {
                                sender: me.to_base64(),
                                file,
                                paused: true,
                            },
                        );
                        return;
                    }
                    FileState::Complete => return,
                    _ => "cancelled",
                };
                node.push_control(
                    peer,
                    Payload::FileCancel {
                        sender: me.to_base64(),
                        file,
                        reason: reason.into(),
                    },
                );
                return;
            }
            node.start_stream(dirs, record, peer, offset, until, send.bytes)
                .await;
        });
    }

    /// Starts a stream of `record` to `peer` at `offset`, replacing a running one.
    async fn start_stream(
        &self,
        dirs: Dirs,
        record: FileRecord,
        peer: PublicKey,
        offset: u64,
        until: u64,
        verified: u64,
    ) {
        let me = self.inner.public;
        let key = record.key.clone();
        let tree = match self.tree_of(&dirs, &record).await {
            Some(tree) => tree,
            None => {
                self.stream_failed(&record, peer, "changed").await;
                return;
            }
        };
        let Some(source) = record.source.clone() else {
            return;
        };
        // The file must still be what we offered: same size, same modification time.
        let unchanged = std::fs::metadata(&source.path).is_ok_and(|m| {
            m.len() == record.meta.size && super::send::mtime_ns(&m) == source.mtime_ns
        });
        if !unchanged {
            self.stream_failed(&record, peer, "changed").await;
            return;
        }
        let Some(lane) = self.inner.sessions.bulk_lane(&peer) else {
            return;
        };
        let (until_tx, until_rx) = watch::channel(until);
        let node = self.clone();
        let streamed = record.clone();
        let task = tokio::spawn(async move {
            let end = run_stream(&streamed, &source.path, tree, offset, until_rx, lane).await;
            if let Err(StreamEnd::Changed) = end {
                node.stream_failed(&streamed, peer, "changed").await;
            }
        });
        {
            let mut outgoing = guard(&self.inner.files.outgoing);
            if let Some(old) = outgoing.streams.insert(
                (record.message.id.clone(), peer),
                Stream {
                    key,
                    until: until_tx,
                    task,
                    meter: Meter::new(verified),
                },
            ) {
                old.task.abort();
            }
        }
        let seq = record.seq;
        let _ = self
            .store()
            .call(move |s| s.set_send_state(seq, &peer, FileState::Sending, Some(verified), None))
            .await;
        self.emit(progress_event(
            &record,
            &me,
            &peer,
            FileState::Sending,
            verified,
            0,
            None,
        ));
    }

    /// The tree of our file, from its leaf file (shared by its streams).
    async fn tree_of(&self, dirs: &Dirs, record: &FileRecord) -> Option<Arc<Tree>> {
        if let Some(tree) = guard(&self.inner.files.outgoing).trees.get(&record.key) {
            return Some(Arc::clone(tree));
        }
        let path = dirs.sent_leaves(&record.key);
        let root = record.meta.root;
        let tree = tokio::task::spawn_blocking(move || load_tree(&path, &root))
            .await
            .ok()?
            .ok()??;
        let tree = Arc::new(tree);
        guard(&self.inner.files.outgoing)
            .trees
            .insert(record.key.clone(), Arc::clone(&tree));
        Some(tree)
    }

    /// The receiver stored more of our file: move its limit, show its progress.
    pub(super) fn receive_credit(&self, peer: PublicKey, file: &str, offset: u64, until: u64) {
        let rate = {
            let mut outgoing = guard(&self.inner.files.outgoing);
            let Some(stream) = outgoing.streams.get_mut(&(file.to_owned(), peer)) else {
                return;
            };
            stream.until.send_if_modified(|limit| {
                let moved = until > *limit;
                if moved {
                    *limit = until;
                }
                moved
            });
            let store = stream.meter.store_due();
            (stream.meter.update(offset), store)
        };
        let me = self.inner.public;
        let (event_due, store_due) = rate;
        if event_due.is_none() && !store_due {
            return;
        }
        let node = self.clone();
        let id = file.to_owned();
        tokio::spawn(async move {
            let found = node
                .store()
                .call(move |s| -> crate::store::Result<_> {
                    let Some(record) = s.file(&me, &id)? else {
                        return Ok(None);
                    };
                    if store_due {
                        s.set_send_state(
                            record.seq,
                            &peer,
                            FileState::Sending,
                            Some(offset),
                            None,
                        )?;
                    }
                    Ok(Some(record))
                })
                .await;
            if let (Ok(Ok(Some(record))), Some(rate)) = (found, event_due) {
                node.emit(progress_event(
                    &record,
                    &me,
                    &peer,
                    FileState::Sending,
                    offset,
                    rate,
                    None,
                ));
            }
        });
    }

    /// Our file changed (or its leaves are gone): the transfer fails, the receiver is told.
    async fn stream_failed(&self, record: &FileRecord, peer: PublicKey, reason: &str) {
        let me = self.inner.public;
        self.stop_stream(&record.message.id, &peer);
        let seq = record.seq;
        let why = reason.to_owned();
        let _ = self
            .store()
            .call(move |s| s.set_send_state(seq, &peer, FileState::Failed, None, Some(&why)))
            .await;
        self.push_control(
            peer,
            Payload::FileCancel {
                sender: me.to_base64(),
                file: record.message.id.clone(),
                reason: reason.into(),
            },
        );
        self.emit(progress_event(
            record,
            &me,
            &peer,
            FileState::Failed,
            0,
            0,
            Some(reason.into()),
        ));
        tracing::info!("stopped sending a file: {reason}");
    }

    /// Stops the stream of our file `id` to `peer`, if one runs.
    pub(super) fn stop_stream(&self, id: &str, peer: &PublicKey) {
        let mut outgoing = guard(&self.inner.files.outgoing);
        if let Some(stream) = outgoing.streams.remove(&(id.to_owned(), *peer)) {
            stream.task.abort();
        }
        outgoing.prune_trees();
    }

    /// Stops every stream to `peer` (its session ended).
    pub(super) fn stop_streams_to(&self, peer: &PublicKey) {
        let mut outgoing = guard(&self.inner.files.outgoing);
        outgoing.streams.retain(|(_, to), stream| {
            let keep = to != peer;
            if !keep {
                stream.task.abort();
            }
            keep
        });
        outgoing.prune_trees();
    }

    /// Our file `key` was deleted: its streams stop and their receivers are told.
    pub(super) fn outgoing_deleted(&self, key: &str) {
        let me = self.inner.public.to_base64();
        let stopped: Vec<(String, PublicKey)> = {
            let mut outgoing = guard(&self.inner.files.outgoing);
            let ids: Vec<(String, PublicKey)> = outgoing
                .streams
                .iter()
                .filter(|(_, s)| s.key == key)
                .map(|(k, _)| k.clone())
                .collect();
            for id in &ids {
                if let Some(stream) = outgoing.streams.remove(id) {
                    stream.task.abort();
                }
            }
            outgoing.trees.remove(key);
            ids
        };
        for (file, peer) in stopped {
            self.push_control(
                peer,
                Payload::FileCancel {
                    sender: me.clone(),
                    file,
                    reason: "deleted".into(),
                },
            );
        }
    }
}

/// Sends chunks of `record` from `offset` while the receiver's limit allows, until the end
/// of the file; `Gone` when the session ends or the stream is replaced.
async fn run_stream(
    record: &FileRecord,
    path: &std::path::Path,
    tree: Arc<Tree>,
    offset: u64,
    mut until: watch::Receiver<u64>,
    lane: Arc<crate::bulk_lane::BulkLane>,
) -> Result<(), StreamEnd> {
    let file = std::fs::File::open(path).map_err(|_| StreamEnd::Changed)?;
    let stamp = Stamp::of(&file).map_err(|_| StreamEnd::Changed)?;
    let chunk = u64::from(record.meta.chunk_size);
    let size = record.meta.size;
    if stamp.len != size {
        return Err(StreamEnd::Changed);
    }
    let file = Arc::new((file, stamp));
    let mut next = offset;
    while next < size {
        let limit = *until.borrow_and_update();
        if next >= limit {
            if until.changed().await.is_err() {
                return Err(StreamEnd::Gone);
            }
            continue;
        }
        // Up to READ_BATCH chunks that start before the limit.
        let count = ((limit - next).div_ceil(chunk)).min(READ_BATCH);
        let batch = {
            let file = Arc::clone(&file);
            let tree = Arc::clone(&tree);
            let id = record.message.id.clone();
            tokio::task::spawn_blocking(move || {
                let (file, stamp) = &*file;
                read_chunks(file, stamp, &tree, &id, next, count, chunk, size)
            })
            .await
            .map_err(|_| StreamEnd::Gone)??
        };
        for (bytes, len) in batch {
            if !lane.push(bytes).await {
                return Err(StreamEnd::Gone);
            }
            next += len;
        }
    }
    Ok(())
}

/// What tells a file that was written to from one that was not, without reading it: its
/// length, modification time and status-change time. A write moves the last two before its
/// bytes can be read, and only the kernel sets the status-change time, so a file whose stamp
/// is the same after a read gave the bytes it had when the stream opened it (up to the clock's
/// resolution: two writes within one tick, the first before the stream opened the file, look
/// like one). The receiver checks every chunk against the offered Merkle root in any case, so
/// this check is for a clear `changed` rather than for safety; it replaced a second SHA-256
/// pass over every byte sent (BENCHMARKS.md, "Files: fewer passes and wake-ups").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(file: &std::fs::File) -> std::io::Result<Stamp> {
        let meta = file.metadata()?;
        Ok(Stamp {
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Reads `count` chunks from `offset` as `file_chunk` payloads with their lengths, then checks
/// that the file's stamp is still `stamp` (else the bytes read may be a changed file's).
#[allow(clippy::too_many_arguments)]
fn read_chunks(
    file: &std::fs::File,
    stamp: &Stamp,
    tree: &Tree,
    id: &str,
    offset: u64,
    count: u64,
    chunk: u64,
    size: u64,
) -> Result<Vec<(Payloadbytes, u64)>, StreamEnd> {
    let mut out = Vec::with_capacity(count as usize);
    let mut buffer = vec![0u8; chunk as usize];
    let mut at = offset;
    for _ in 0..count {
        if at >= size {
            break;
        }
        let len = chunk.min(size - at);
        let data = &mut buffer[..len as usize];
        file.read_exact_at(data, at)
            .map_err(|_| StreamEnd::Changed)?;
        let index = at / chunk;
        let proof = tree.proof(index).ok_or(StreamEnd::Changed)?;
        out.push((chunk_bytes(id, index, &proof, data).into(), len));
        at += len;
    }
    if Stamp::of(file).ok().as_ref() != Some(stamp) {
        return Err(StreamEnd::Changed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CHUNK: u64 = 1024;

    fn chunks_of(
        file: &std::fs::File,
        stamp: &Stamp,
        tree: &Tree,
        size: u64,
    ) -> Result<usize, StreamEnd> {
        read_chunks(file, stamp, tree, "f1", 0, 3, CHUNK, size).map(|batch| batch.len())
    }

    #[test]
    fn a_file_written_to_after_the_stream_opened_it_is_not_streamed_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.bin");
        let bytes: Vec<u8> = (0..3 * CHUNK).map(|i| i as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let tree = Tree::from_leaves(
            bytes
                .chunks(CHUNK as usize)
                .map(crypto_core::merkle::leaf_hash)
                .collect(),
        );
        let file = std::fs::File::open(&path).unwrap();
        let stamp = Stamp::of(&file).unwrap();
        let size = bytes.len() as u64;
        assert_eq!(chunks_of(&file, &stamp, &tree, size).unwrap(), 3);

        // Past the clock's tick, the same length written in place.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"changed").unwrap();
        drop(writer);
        assert!(matches!(
            chunks_of(&file, &stamp, &tree, size),
            Err(StreamEnd::Changed)
        ));
        // A stamp taken now reads again: only a change after the stamp stops it.
        let now = Stamp::of(&file).unwrap();
        assert_eq!(chunks_of(&file, &now, &tree, size).unwrap(), 3);
    }
}
