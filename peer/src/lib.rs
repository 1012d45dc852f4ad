//! The p2p-chat peer: a TCP node speaking the Noise-encrypted wire protocol of PROTOCOL.md, the
//! local HTTP/WebSocket UI server and the native CLI. All cryptography is in `crypto-core`;
//! this crate owns sockets, tasks, clocks and files.

pub mod app;
pub mod chat_cli;
pub mod cli;
pub mod config;
pub mod event;
pub mod fingerprints;
pub mod framing;
pub mod handshake;
pub mod invite;
pub mod limits;
pub mod node;
pub mod persist;
pub mod reach;
pub mod session;
pub mod store;
pub mod ui;
pub mod vectors_cmd;
