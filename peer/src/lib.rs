//! The p2p-chat peer: a TCP node speaking the Noise-encrypted wire protocol of PROTOCOL.md, the
//! local HTTP/WebSocket UI server and the native CLI. All cryptography is in `crypto-core`;
//! this crate owns sockets, tasks, clocks and files.

pub mod admission;
pub mod app;
pub mod bidi;
pub mod chat_cli;
pub mod cli;
pub mod config;
pub mod confusable;
pub mod datadir;
pub mod event;
pub mod fingerprints;
pub mod framing;
pub mod handshake;
pub mod invite;
pub mod lan;
pub mod limits;
pub mod node;
pub mod persist;
pub mod session;
pub mod store;
pub mod ui;
pub mod vectors_cmd;
