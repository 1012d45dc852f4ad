//! Command-line interface (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// A peer-to-peer chat: Noise-encrypted TCP sessions between peers, a local web UI.
///
/// Without a subcommand, runs a peer: P2P on --host:--port, the UI on --web-host:--web-port.
#[derive(Debug, Parser)]
#[command(name = "p2p-chat", version = crate::version::LONG)]
pub struct Cli {
    /// What to do (default: run a peer).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for running a peer.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where the identity lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Data directory (default: p2p-chat/peer-<port> in the platform's data directory:
    /// $XDG_DATA_HOME, else ~/.local/share, on Linux; ~/Library/Application Support on macOS;
    /// %APPDATA% on Windows). The identity is kept there in identity.key
    /// (base64 of the 32-byte secret key, mode 0600); contacts, messages, the outbox and rooms
    /// in p2p-chat.db (SQLite).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory: a new identity and an empty database (up to ~2 GiB) every
    /// launch, nothing written to disk.
    #[arg(long, conflicts_with = "data_dir")]
    pub ephemeral: bool,
}

/// Running a peer.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Address the P2P listener binds (`::` = every interface, IPv6 and IPv4).
    #[arg(long, default_value = "::")]
    pub host: String,
    /// Do not ask the router to forward the P2P port (UPnP-IGD, NAT-PMP, PCP). Port mapping
    /// only ever happens when listening on a non-loopback address.
    #[arg(long)]
    pub no_port_mapping: bool,
    /// Do not announce this peer on the LAN or look for others there (mDNS,
    /// `_p2p-chat._tcp.local`). LAN discovery only ever happens when listening on a
    /// non-loopback address.
    #[arg(long)]
    pub no_mdns: bool,
    /// LAN discovery on the loopback interface only, announcing 127.0.0.1 (tests only: peers
    /// on one computer find each other without a packet leaving it).
    #[arg(long, hide = true)]
    pub mdns_loopback: bool,
    /// P2P port (0 = any free port; the bound address is printed).
    #[arg(long, default_value_t = 6000)]
    pub port: u16,
    /// Address the web UI binds (keep it loopback).
    #[arg(long, default_value = "127.0.0.1")]
    pub web_host: String,
    /// Web UI port (0 = any free port).
    #[arg(long, default_value_t = 8000)]
    pub web_port: u16,
    /// Display name sent to peers.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Identity storage.
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Serve the page from this directory instead of the copy built into the binary (page
    /// development: edits show on reload; it must contain pkg/ with the built wasm).
    #[arg(long, env = "P2P_CHAT_WEB_DIR", value_name = "DIR")]
    pub web_dir: Option<PathBuf>,
    /// Serve /vectors/ from this directory instead of the built-in vector files.
    #[arg(long, env = "P2P_CHAT_VECTORS_DIR", value_name = "DIR")]
    pub vectors_dir: Option<PathBuf>,
    /// Open the UI in the default browser [default: yes when started from an interactive
    /// terminal in a desktop session].
    #[arg(long, overrides_with = "no_open")]
    pub open: bool,
    /// Do not open the browser.
    #[arg(long, overrides_with = "open")]
    pub no_open: bool,
    /// Handshake deadline in milliseconds (tests only; the protocol says 10 s).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_HANDSHAKE_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub handshake_timeout_ms: u64,
    /// First redial delay in milliseconds of a contact the peer keeps connected (doubles to
    /// 5 min; tests only).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_REDIAL_BASE_MS",
        default_value_t = 1_000
    )]
    pub redial_base_ms: u64,
    /// How long one second of a disappearing-message timer lasts, in milliseconds (tests
    /// only: 1 makes "5 minutes" 300 ms).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_TIMER_UNIT_MS",
        default_value_t = 1_000
    )]
    pub timer_unit_ms: u64,
    /// How long an edit or delete that arrived before its message is kept for it, in
    /// milliseconds (24 h; tests only).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_EARLY_AMENDMENT_MS",
        default_value_t = crate::store::EARLY_MAX_AGE_MS
    )]
    pub early_amendment_ms: u64,
    /// How often the interface addresses are listed again to notice a network change, in
    /// milliseconds (tests only).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_INTERFACE_POLL_MS",
        default_value_t = 10_000
    )]
    pub interface_poll_ms: u64,
    /// Resource limits.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Files and pictures.
    #[command(flatten)]
    pub files: FileArgs,
}

/// Files and pictures (PROTOCOL.md §8.11): kept under the data directory, `files/received/`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Files")]
pub struct FileArgs {
    /// Largest file sent or received (bytes; K, M, G suffixes are powers of 1024).
    #[arg(long, default_value = "4G", value_parser = parse_size, value_name = "SIZE")]
    pub max_file_size: u64,
    /// Most bytes of received files kept from one contact; a larger offer is refused.
    #[arg(long, default_value = "8G", value_parser = parse_size, value_name = "SIZE")]
    pub file_quota_per_contact: u64,
    /// Most bytes of received files kept in all; a larger offer is refused.
    #[arg(long, default_value = "32G", value_parser = parse_size, value_name = "SIZE")]
    pub file_quota: u64,
}

impl FileArgs {
    /// The node's files settings with files under `dir`.
    pub fn config(&self, dir: PathBuf) -> crate::node::FilesConfig {
        crate::node::FilesConfig {
            dir,
            max_file_size: self.max_file_size,
            quota_per_contact: self.file_quota_per_contact,
            quota_total: self.file_quota,
            received_dir: None,
        }
    }
}

/// A byte count: digits, optionally followed by K, M, G or T (with or without `iB`/`B`),
/// each a power of 1024.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4G, 512M, 1048576)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => return Err(format!("unknown size unit {other:?} (use K, M, G or T)")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Resource limits of a running peer (see SECURITY.md).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitArgs {
    /// Live P2P sessions at most; connections beyond it are closed before the handshake.
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_SESSIONS, value_name = "N")]
    pub max_sessions: usize,
    /// Inbound handshakes in progress at most; when the table is full, the oldest pending
    /// handshake of the address holding the most slots is closed to make room.
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_PENDING_HANDSHAKES, value_name = "N")]
    pub max_pending_handshakes: usize,
    /// Inbound handshakes in progress from one address (IPv6: one /64) at most; a newcomer
    /// beyond it closes that address's oldest. Loopback is exempt unless --rate-limit-loopback.
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_PENDING_PER_IP, value_name = "N")]
    pub max_pending_per_ip: usize,
    /// Sessions of strangers (keys that are not contacts) from one address at most; a
    /// handshake completing beyond it is closed. Loopback is exempt unless
    /// --rate-limit-loopback.
    #[arg(long, default_value_t = crate::limits::DEFAULT_MAX_STRANGER_SESSIONS_PER_IP, value_name = "N")]
    pub max_stranger_sessions_per_ip: usize,
    /// Inbound connections per second allowed from one IP address (token bucket; 0 = no
    /// limit). Loopback addresses are exempt unless --rate-limit-loopback.
    #[arg(long, default_value_t = crate::limits::DEFAULT_HANDSHAKE_RATE, value_name = "PER_SEC")]
    pub handshake_rate: f64,
    /// Burst size of the per-IP bucket: connections accepted back to back from one address.
    #[arg(long, default_value_t = crate::limits::DEFAULT_HANDSHAKE_BURST, value_name = "N")]
    pub handshake_burst: u32,
    /// Apply the per-IP rate to loopback addresses too (off by default so local peers,
    /// tests and benchmarks can open thousands of connections from 127.0.0.1).
    #[arg(long)]
    pub rate_limit_loopback: bool,
    /// Largest WebSocket message accepted from the page, in bytes; a larger one closes that
    /// UI connection (close code 1009).
    #[arg(long, default_value_t = crate::ui::DEFAULT_MAX_WS_MESSAGE, value_name = "BYTES")]
    pub max_ws_message: usize,
    /// UI WebSocket clients at once; one more is refused with 503.
    #[arg(long, default_value_t = crate::ui::DEFAULT_MAX_UI_CLIENTS, value_name = "N")]
    pub max_ui_clients: usize,
    /// Idle timeout of a stranger's session in milliseconds (tests only; 5 min).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_STRANGER_IDLE_MS",
        default_value_t = 300_000
    )]
    pub stranger_idle_ms: u64,
    /// Idle timeout of a contact's session in milliseconds (tests only; 15 min).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_CONTACT_IDLE_MS",
        default_value_t = 900_000
    )]
    pub contact_idle_ms: u64,
    /// Keepalive interval in milliseconds (tests only; 60 s).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_KEEPALIVE_MS",
        default_value_t = 60_000
    )]
    pub keepalive_ms: u64,
    /// Deadline of a started line after the handshake in milliseconds (tests only; 30 s).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_LINE_DEADLINE_MS",
        default_value_t = 30_000
    )]
    pub line_deadline_ms: u64,
    /// Events queued for the UI clients before one that lags gets `resync` (tests only;
    /// 4,096).
    #[arg(
        long,
        hide = true,
        env = "P2P_CHAT_EVENT_CAPACITY",
        default_value_t = crate::limits::DEFAULT_EVENT_CAPACITY
    )]
    pub event_capacity: usize,
}

impl LimitArgs {
    /// The node's share of these limits.
    pub fn node_limits(&self) -> crate::limits::NodeLimits {
        crate::limits::NodeLimits {
            max_sessions: self.max_sessions,
            max_pending_handshakes: self.max_pending_handshakes,
            handshake_rate: (self.handshake_rate > 0.0 && self.handshake_rate.is_finite())
                .then_some(crate::limits::RateSpec {
                    per_second: self.handshake_rate,
                    burst: self.handshake_burst,
                }),
            rate_limit_loopback: self.rate_limit_loopback,
            max_pending_per_ip: self.max_pending_per_ip,
            max_stranger_sessions_per_ip: self.max_stranger_sessions_per_ip,
            session: crate::limits::SessionLimits {
                keepalive: Duration::from_millis(self.keepalive_ms.max(1)),
                stranger_idle: Duration::from_millis(self.stranger_idle_ms.max(1)),
                contact_idle: Duration::from_millis(self.contact_idle_ms.max(1)),
                line_deadline: Duration::from_millis(self.line_deadline_ms.max(1)),
                ..crate::limits::SessionLimits::default()
            },
            event_capacity: self.event_capacity.max(1),
        }
    }

    /// The UI server's share of these limits.
    pub fn ui_limits(&self) -> crate::ui::UiLimits {
        crate::ui::UiLimits {
            max_message: self.max_ws_message,
            max_clients: self.max_ui_clients,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print this peer's public key and fingerprint (creating the identity if needed).
    Id {
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// Identity storage.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print this peer's invite, `p2p-chat://HOST:PORT/KEY` (the key base64url): whoever
    /// connects with it refuses any peer that does not hold this identity.
    Invite {
        /// The address others reach this peer at [default: this computer's address on its
        /// network, or 127.0.0.1 when it has none].
        #[arg(long)]
        host: Option<String>,
        /// The P2P port this peer listens on (and whose default data directory to use).
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// Identity storage.
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Terminal chat with one peer: stdin lines go out, incoming messages print as
    /// `<name>: <text>` on stdout; status goes to stderr. Exits when stdin ends (after the
    /// peer acknowledged what was sent) or when the peer disconnects (exit status 1).
    Chat {
        /// The peer's P2P address, or an invite (`p2p-chat://…`, then the peer must hold the
        /// invite's key).
        #[arg(value_name = "HOST:PORT|INVITE")]
        address: String,
        /// Display name sent to the peer.
        #[arg(long, default_value = "terminal")]
        name: String,
        /// After stdin ends and everything is acknowledged, keep printing incoming messages
        /// for this many milliseconds before exiting.
        #[arg(long, default_value_t = 0, value_name = "MS")]
        linger_ms: u64,
        /// Handshake deadline in milliseconds.
        #[arg(long, hide = true, default_value_t = 10_000)]
        handshake_timeout_ms: u64,
        /// Accept files the peer sends into this directory (without it, files are refused).
        #[arg(long, value_name = "DIR")]
        files_dir: Option<PathBuf>,
        /// Largest file accepted (bytes; K, M, G suffixes).
        #[arg(long, default_value = "4G", value_parser = parse_size, value_name = "SIZE")]
        max_file_size: u64,
    },
    /// Send a file to a peer as the identity of a data directory (the receiver knows it as a
    /// contact). When the peer of that data directory is running, it sends the file (through
    /// its local API); otherwise this command does, with a session of its own. Waits until the
    /// receiver has verified the whole file; run it again after an interruption to resume.
    /// Progress goes to stderr.
    SendFile {
        /// The receiver's P2P address, or its invite (`p2p-chat://…`).
        #[arg(value_name = "HOST:PORT|INVITE")]
        address: String,
        /// The file.
        path: PathBuf,
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// The sending peer's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Handshake deadline in milliseconds.
        #[arg(long, hide = true, default_value_t = 10_000)]
        handshake_timeout_ms: u64,
    },
    /// Print the UI address (with its token) of the peer running with this data directory,
    /// e.g. to get back in after closing the tab.
    Url {
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// The running peer's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Search the message history of a stopped peer's data directory (a running peer: search
    /// from its page). Prints one line per match, newest first: time (UTC), conversation,
    /// sender and the text around the match. Exit status as grep's: 0 when something matched,
    /// 1 when nothing did, 2 when the search could not run.
    Search {
        /// What to look for: every word must occur in the message (any part of a word, any
        /// script; case is ignored).
        query: String,
        /// Only this conversation: `everyone`, a peer_id or `room:<id>`.
        #[arg(long, value_name = "ID")]
        conversation: Option<String>,
        /// Most matches to print (1-200).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=200))]
        limit: u16,
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// The peer's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// List the conversations of a stopped peer's data directory, one per line: the id (what
    /// `--conversation` takes), the name, how many messages and when the newest arrived (UTC).
    Conversations {
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// The peer's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Write the message history of a stopped peer's data directory to stdout, oldest first
    /// (README, "Export format").
    Export {
        /// Only this conversation: `everyone`, a peer_id or `room:<id>`.
        #[arg(long, value_name = "ID")]
        conversation: Option<String>,
        /// `json` (one document, stable and versioned) or `txt` (one line per message).
        #[arg(long, value_enum, default_value = "json")]
        format: crate::history_cli::ExportFormat,
        /// The P2P port whose default data directory to use.
        #[arg(long, default_value_t = 6000)]
        port: u16,
        /// The peer's data directory.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Run every test-vector suite natively and print the counts; optionally write the
    /// parity JSON that the node tests compare with the wasm build.
    Vectors {
        /// The vector directory (default: the vector files built into the binary).
        #[arg(long, env = "P2P_CHAT_VECTORS_DIR", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Write crypto-core's parity report (compact JSON) to this file.
        #[arg(long, value_name = "FILE")]
        parity_out: Option<PathBuf>,
    },
}
