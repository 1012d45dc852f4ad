//! The p2p-chat peer: a TCP node speaking the Noise-encrypted wire protocol of PROTOCOL.md, the
//! local HTTP/WebSocket UI server and the native CLI. All cryptography is in `crypto-core`;
//! this crate owns sockets, tasks, clocks and files.
//!
//! * [`node`] — the peer itself: sessions, trust, sending, receiving, rooms, redial (its own
//!   module map says which file does what).
//! * [`handshake`] / [`session`] / [`framing`] — one connection on the wire: the Noise XX
//!   handshake with hellos, then the reader and writer of a session over newline-delimited
//!   frames (PROTOCOL.md §3–§5), with the session timers and rates of PROTOCOL.md §9.2;
//!   [`bulk_lane`] — the session's low-priority queue for file chunks.
//! * [`store`] — the SQLite database (contacts, message requests, history, outbox, rooms, key
//!   changes, settings); [`persist`] — the thread it runs on, with group commit; [`datadir`] —
//!   the data directory's permissions.
//! * [`event`] — what the node tells the UI (PROTOCOL.md §8); [`ui`] — the local HTTP and
//!   WebSocket server that carries it, and its defences (SECURITY.md); [`assets`] — the page and
//!   the vector files built into the binary (or read from `--web-dir`).
//! * [`limits`], [`admission`] — every bound a remote party could otherwise push: rates, the
//!   fair pending-handshake table, per-address stranger sessions (PROTOCOL.md §9, SECURITY.md).
//! * [`remote_log`] — the one budget for log lines a remote party can cause per frame.
//! * [`confusable`], [`bidi`] — names that look alike (PROTOCOL.md §8.3) and the bidirectional
//!   controls that can disguise text.
//! * [`invite`], [`fingerprints`] — invite strings and QR codes, the fingerprint cache.
//! * [`reach`] — how other computers reach us: our addresses with their kinds, the dual-stack
//!   listener, the router port mapping, LAN discovery (mDNS) and the people nearby.
//! * [`app`], [`cli`], [`config`], [`chat_cli`], [`vectors_cmd`], [`ui_url`], [`launch_file`],
//!   [`browser`], [`version`] — the `p2p-chat` binary: the daemon, its options and data directory, the
//!   terminal chat, the test-vector command, `p2p-chat url`, `--open`, `--version`.
//! * [`history_cli`] — `p2p-chat search` and `p2p-chat export` on a stopped peer's database.
//! * [`send_file_cli`], [`api_token`] — `p2p-chat send-file`, through the running peer's local
//!   API (its `api-token`) or with a session of its own.

pub mod admission;
pub mod api_token;
pub mod app;
pub mod assets;
pub mod bidi;
pub mod browser;
pub mod bulk_lane;
pub mod chat_cli;
pub mod cli;
pub mod config;
pub mod confusable;
pub mod datadir;
pub mod event;
pub mod fingerprints;
pub mod framing;
pub mod handshake;
pub mod history_cli;
pub mod invite;
pub mod launch_file;
pub mod limits;
pub mod node;
pub mod persist;
pub mod reach;
pub mod remote_log;
pub mod send_file_cli;
pub mod session;
pub mod spare_buffers;
pub mod store;
pub mod ui;
pub mod ui_url;
pub mod vectors_cmd;
pub mod version;
