//! Serving our files (PROTOCOL.md §5.1): a receiver's `file_want` starts (or restarts) a stream
//! of chunks from its offset; each `file_credit` moves the limit the stream may reach. A stream
//! reads a few chunks at a time on a blocking thread, makes sure each is what it offered (a
//! changed file is never sent: [`read_batch`]), attaches the proof and queues it on the
//! session's bulk lane, which the writer serves only when no chat, ack or control payload
//! waits. Memory per stream: the lane's 4 chunks and the tree (64 bytes per chunk, shared by a
//! file's streams).

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crypto_core::merkle::Tree;
use crypto_core::wire::{chunk_header_into, Payload};
use crypto_core::PublicKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::hashing::{load_tree, Stamp};
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

/// Trusted stamps kept at most (one per file our user sent since the peer started; one
/// forgotten only costs its streams the leaf checks).
const MAX_STAMPS: usize = 4096;

/// Our running streams and the trees they read proofs from.
#[derive(Default)]
pub(super) struct Outgoing {
    /// By (our message id, receiver).
    streams: HashMap<(String, PublicKey), Stream>,
    trees: HashMap<String, Arc<Tree>>,
    /// By file key: the stamp each of our files had when it was hashed, if trusted.
    stamps: HashMap<String, Stamp>,
}

impl Outgoing {
    /// Remembers that file `key` was hashed with `stamp`.
    pub(super) fn remember_stamp(&mut self, key: &str, stamp: Stamp) {
        if self.stamps.len() >= MAX_STAMPS {
            if let Some(old) = self.stamps.keys().next().cloned() {
                self.stamps.remove(&old);
            }
        }
        self.stamps.insert(key.to_owned(), stamp);
    }

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
        let trusted = guard(&self.inner.files.outgoing)
            .stamps
            .get(&record.key)
            .copied();
        let task = tokio::spawn(async move {
            let end = run_stream(
                &streamed,
                &source.path,
                tree,
                trusted,
                offset,
                until_rx,
                lane,
            )
            .await;
            if let Err(StreamEnd::Changed) = end {
                // In a task of its own: `stream_failed` ends the stream, which aborts this
                // task, and the receiver and our UI were never told.
                tokio::spawn(async move { node.stream_failed(&streamed, peer, "changed").await });
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

    /// Stops the stream of our file `id` to `peer`, if one runs; the bytes its receiver last
    /// said it holds (fresher than the database's, which is written once a second).
    pub(super) fn stop_stream(&self, id: &str, peer: &PublicKey) -> Option<u64> {
        let mut outgoing = guard(&self.inner.files.outgoing);
        let stopped = outgoing
            .streams
            .remove(&(id.to_owned(), *peer))
            .map(|stream| {
                stream.task.abort();
                stream.meter.bytes()
            });
        outgoing.prune_trees();
        stopped
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
            outgoing.stamps.remove(key);
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
/// of the file; `Gone` when the session ends or the stream is replaced. `trusted` is the stamp
/// the file had when it was hashed, if it can be trusted (see [`read_batch`]).
async fn run_stream(
    record: &FileRecord,
    path: &std::path::Path,
    tree: Arc<Tree>,
    trusted: Option<Stamp>,
    offset: u64,
    mut until: watch::Receiver<u64>,
    lane: Arc<crate::bulk_lane::BulkLane>,
) -> Result<(), StreamEnd> {
    let file = std::fs::File::open(path).map_err(|_| StreamEnd::Changed)?;
    // Not the file that was hashed, or not as it was: every chunk is checked.
    let mut check_leaves = trusted.is_none() || Stamp::of(&file).ok() != trusted;
    let file = Arc::new(file);
    let chunk = u64::from(record.meta.chunk_size);
    let size = record.meta.size;
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
        let (batch, checked) = {
            let file = Arc::clone(&file);
            let tree = Arc::clone(&tree);
            let id = record.message.id.clone();
            let at = Span {
                next,
                count,
                chunk,
                size,
            };
            tokio::task::spawn_blocking(move || {
                read_batch(&file, &tree, &id, at, trusted, check_leaves)
            })
            .await
            .map_err(|_| StreamEnd::Gone)??
        };
        check_leaves = checked;
        for (bytes, len) in batch {
            if !lane.push(bytes).await {
                return Err(StreamEnd::Gone);
            }
            next += len;
        }
    }
    Ok(())
}

/// Which chunks a batch reads: `count` from offset `next`, of a file of `size` bytes.
#[derive(Debug, Clone, Copy)]
struct Span {
    next: u64,
    count: u64,
    chunk: u64,
    size: u64,
}

/// Reads a batch of chunks as `file_chunk` payloads with their lengths, and whether the next
/// batch must check its leaves. A chunk goes out only if it is what was offered: either its
/// leaf hash is checked, or the file's stamp after the read is still `trusted`, the stamp our
/// own copy of an upload had when it was hashed (its stamp did not move while it was hashed;
/// see `Stamp`). Once the stamp differs — a write, or only a `chmod` or a rename — the batch
/// is read again with its leaves checked, and so is the rest of the stream: a changed chunk
/// stops it as `changed`, while a change of metadata only costs the hashing. This spares the
/// sender a second SHA-256 pass over every byte of an upload (BENCHMARKS.md, "Files: fewer
/// passes and wake-ups"); the receiver checks every chunk against the root in any case.
fn read_batch(
    file: &std::fs::File,
    tree: &Tree,
    id: &str,
    at: Span,
    trusted: Option<Stamp>,
    check_leaves: bool,
) -> Result<(Vec<(Payloadbytes, u64)>, bool), StreamEnd> {
    if !check_leaves {
        let batch = read_chunks(file, tree, id, at, false)?;
        if trusted.is_some() && Stamp::of(file).ok() == trusted {
            return Ok((batch, false));
        }
    }
    Ok((read_chunks(file, tree, id, at, true)?, true))
}

/// Reads the chunks of `at`, each checked against its offered leaf if `check_leaves`.
fn read_chunks(
    file: &std::fs::File,
    tree: &Tree,
    id: &str,
    at: Span,
    check_leaves: bool,
) -> Result<Vec<(Payloadbytes, u64)>, StreamEnd> {
    let Span {
        next,
        count,
        chunk,
        size,
    } = at;
    let mut out = Vec::with_capacity(count as usize);
    // One payload buffer for the batch: the header, then the file's bytes read in after it,
    // then one copy into the shared payload the writer seals.
    let mut payload = Vec::with_capacity(chunk as usize + 4096);
    let mut at = next;
    for _ in 0..count {
        if at >= size {
            break;
        }
        let len = chunk.min(size - at);
        let index = at / chunk;
        let proof = tree.proof(index).ok_or(StreamEnd::Changed)?;
        payload.clear();
        chunk_header_into(id, index, &proof, &mut payload);
        let start = payload.len();
        payload.resize(start + len as usize, 0);
        let data = &mut payload[start..];
        file.read_exact_at(data, at)
            .map_err(|_| StreamEnd::Changed)?;
        if check_leaves
            && tree.leaves().get(index as usize) != Some(&crypto_core::merkle::leaf_hash(data))
        {
            return Err(StreamEnd::Changed);
        }
        out.push((Payloadbytes::from(&payload[..]), len));
        at += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::{Duration, SystemTime};

    const CHUNK: u64 = 1024;

    /// A file of three chunks, last modified an hour ago, and its tree.
    fn settled_file(dir: &std::path::Path) -> (std::path::PathBuf, Tree) {
        let path = dir.join("notes.bin");
        let bytes: Vec<u8> = (0..3 * CHUNK).map(|i| i as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        set_modified(&path, 3600);
        let leaves = bytes
            .chunks(CHUNK as usize)
            .map(crypto_core::merkle::leaf_hash)
            .collect();
        (path, Tree::from_leaves(leaves))
    }

    fn set_modified(path: &std::path::Path, seconds_ago: u64) {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(seconds_ago))
            .unwrap();
    }

    fn batch(
        file: &std::fs::File,
        tree: &Tree,
        trusted: Option<Stamp>,
        check_leaves: bool,
    ) -> Result<(usize, bool), StreamEnd> {
        let at = Span {
            next: 0,
            count: 3,
            chunk: CHUNK,
            size: 3 * CHUNK,
        };
        read_batch(file, tree, "f1", at, trusted, check_leaves).map(|(b, c)| (b.len(), c))
    }

    #[test]
    fn an_untouched_file_is_sent_unhashed_and_a_written_one_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (path, tree) = settled_file(dir.path());
        let file = std::fs::File::open(&path).unwrap();
        let trusted = Some(Stamp::of(&file).unwrap());
        assert_eq!(batch(&file, &tree, trusted, false).unwrap(), (3, false));

        // Written in place, same length: its modification time moves.
        let mut writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        writer.write_all(b"changed").unwrap();
        drop(writer);
        assert!(matches!(
            batch(&file, &tree, trusted, false),
            Err(StreamEnd::Changed)
        ));
    }

    #[test]
    fn a_stamp_that_moved_without_a_write_only_turns_the_leaf_checks_on() {
        let dir = tempfile::tempdir().unwrap();
        let (path, tree) = settled_file(dir.path());
        let file = std::fs::File::open(&path).unwrap();
        let trusted = Some(Stamp::of(&file).unwrap());
        // Only the metadata changes (as `touch -d` or a copy that keeps times would).
        set_modified(&path, 7200);
        assert_eq!(batch(&file, &tree, trusted, false).unwrap(), (3, true));
        // No trusted stamp (a file hashed while it changed, or before a restart): checked.
        assert_eq!(batch(&file, &tree, None, true).unwrap(), (3, true));
        std::fs::write(&path, vec![0u8; 3 * CHUNK as usize]).unwrap();
        assert!(matches!(
            batch(&file, &tree, None, true),
            Err(StreamEnd::Changed)
        ));
    }
}
