//! `p2p-chat chat HOST:PORT`: a terminal chat with one peer, no web server, no listener.
//!
//! Incoming messages go to stdout as `<name>: <text>` (control characters escaped, so a peer
//! cannot drive the terminal, and bidi formatting characters too, so it cannot disguise text);
//! status goes to stderr. With `--files-dir DIR`, files the peer sends are received into DIR
//! (each announced as `<name>: [file NAME (N bytes)]`); without it they are refused. When stdin ends the chat waits (up to five seconds) for the peer to
//! acknowledge everything it sent, lingers if asked, and exits 0.
//! If the peer disconnects first it exits 1.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crypto_core::{fingerprint, Identity};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast::error::RecvError;

use crate::bidi::is_bidi_control;
use crate::event::Event;
use crate::node::{Node, NodeConfig};

/// How long to wait for acknowledgements after stdin ends.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// File names remembered for the line that says where a received file landed.
const MAX_FILE_NAMES: usize = 1024;

/// Makes peer-supplied text safe to print on a terminal: control characters (which could
/// drive it), bidirectional formatting characters (which could make text read as something
/// else, PROTOCOL.md §8.3) and the line and paragraph separators are printed escaped.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else if is_bidi_control(c) || matches!(c, '\u{2028}' | '\u{2029}') {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Options of the `chat` subcommand.
pub struct ChatOptions {
    /// `HOST:PORT` of the peer.
    pub address: String,
    /// Our display name.
    pub name: String,
    /// Extra time to keep printing after stdin ends.
    pub linger: Duration,
    /// Handshake deadline.
    pub handshake_timeout: Duration,
    /// Where files the peer sends are accepted (`None`: they are refused).
    pub files_dir: Option<std::path::PathBuf>,
    /// Largest file accepted.
    pub max_file_size: u64,
}

/// Runs the chat.
pub async fn run(options: ChatOptions) -> ExitCode {
    // The terminal chat keeps nothing: an in-memory store the node's inbox and outbox use.
    let store = match crate::store::Store::open_in_memory() {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot open an in-memory store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match crate::persist::StoreHandle::spawn(store) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("cannot start the store thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    let node = Node::new(NodeConfig {
        identity: Identity::generate(),
        name: options.name,
        handshake_timeout: options.handshake_timeout,
        store,
    });
    if let Some(dir) = &options.files_dir {
        // Received files land in the directory itself; partial files wait in a hidden one.
        let config = crate::node::FilesConfig {
            dir: dir.join(".p2p-chat-files"),
            max_file_size: options.max_file_size,
            received_dir: Some(dir.clone()),
            ..crate::node::FilesConfig::new(dir.clone())
        };
        if let Err(e) = node.enable_files(config) {
            eprintln!("cannot use {} for files: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    let received_dir = node.received_files_dir();
    let mut events = node.subscribe();
    let (target, expected) = if options.address.starts_with(crate::invite::SCHEME) {
        match crate::invite::Invite::parse(&options.address) {
            Ok(invite) => (
                if invite.host.contains(':') {
                    format!("[{}]:{}", invite.host, invite.port)
                } else {
                    format!("{}:{}", invite.host, invite.port)
                },
                Some(invite.key),
            ),
            Err(e) => {
                eprintln!("bad invite: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        (options.address.clone(), None)
    };
    let addr = match tokio::net::lookup_host(target.as_str()).await {
        Ok(mut addrs) => addrs.next(),
        Err(_) => None,
    };
    let Some(addr) = addr else {
        eprintln!("cannot resolve {:?} (expected HOST:PORT)", options.address);
        return ExitCode::FAILURE;
    };
    let dialled = match expected {
        Some(key) => node.connect_invite_at(addr, key).await,
        None => node.connect(addr).await,
    };
    let peer = match dialled {
        Ok(peer) => peer,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let shown_name = if peer.name.is_empty() {
        peer.peer_id.chars().take(8).collect()
    } else {
        printable(&peer.name)
    };
    eprintln!(
        "connected to {shown_name} at {addr}; their fingerprint: {}",
        crypto_core::PublicKey::from_base64(&peer.public_key)
            .map(|key| node.fingerprint_of(&key))
            .unwrap_or_default()
    );
    eprintln!("your fingerprint: {}", fingerprint(&node.public_key()));
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut unacked: HashSet<String> = HashSet::new();
    // Names of the files being received, by message id.
    let mut file_names: HashMap<String, String> = HashMap::new();
    let mut stdin_open = true;
    let mut deadline: Option<tokio::time::Instant> = None;
    let code = loop {
        if !stdin_open && deadline.is_none() && unacked.is_empty() {
            deadline = Some(tokio::time::Instant::now() + options.linger);
        }
        let sleep_until =
            deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match node.send_message(&line, None).await {
                        Ok(Event::MessageSent { id, .. }) => {
                            unacked.insert(id);
                        }
                        Ok(_) => {}
                        Err(e) => eprintln!("not sent: {e}"),
                    }
                }
                Ok(None) | Err(_) => {
                    stdin_open = false;
                    if !unacked.is_empty() {
                        deadline = Some(tokio::time::Instant::now() + ACK_WAIT);
                    }
                }
            },
            event = events.recv() => match event {
                Ok(Event::PeerMessage { name, peer_id, id, text, file, .. }) => {
                    let name = if name.is_empty() { peer_id.chars().take(8).collect() } else { printable(&name) };
                    match file {
                        Some(file) => {
                            print_line(&format!(
                                "{name}: [file {} ({} bytes)]",
                                printable(&file.name),
                                file.size
                            ));
                            // For the line that says where it landed (bounded: a sender
                            // could offer without end).
                            if file_names.len() < MAX_FILE_NAMES {
                                file_names.insert(id, file.name.clone());
                            }
                        }
                        None => print_line(&format!("{name}: {}", printable(&text))),
                    }
                }
                Ok(Event::FileProgress(p))
                    if p.direction == "in" && matches!(p.state, "complete" | "failed" | "cancelled") =>
                {
                    let shown = file_names.remove(&p.id).map_or_else(|| p.id.clone(), |n| printable(&n));
                    match (p.state, &received_dir) {
                        ("complete", Some(dir)) => eprintln!("file {shown} received into {}", dir.display()),
                        _ => eprintln!("file {shown} {}: {}", p.state, printable(p.reason.as_deref().unwrap_or(""))),
                    }
                }
                Ok(Event::Error { code: Some("file_refused" | "file_failed"), message, .. }) => {
                    eprintln!("{}", printable(&message));
                }
                Ok(Event::Delivered { id, .. }) => {
                    if unacked.remove(&id) && !stdin_open && unacked.is_empty() {
                        deadline = Some(tokio::time::Instant::now() + options.linger);
                    }
                }
                Ok(Event::PeerDisconnected { reason, .. }) => {
                    eprintln!("disconnected: {reason}");
                    break ExitCode::FAILURE;
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break ExitCode::FAILURE,
            },
            _ = tokio::time::sleep_until(sleep_until), if deadline.is_some() => {
                if !unacked.is_empty() {
                    eprintln!("{} message(s) not acknowledged", unacked.len());
                    break ExitCode::FAILURE;
                }
                break ExitCode::SUCCESS;
            }
        }
    };
    node.shutdown().await;
    code
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(
            printable("invoice_\u{202e}fdp.exe"),
            "invoice_\\u{202e}fdp.exe"
        );
        assert_eq!(
            printable("\u{2066}\u{200f}\u{061c}"),
            "\\u{2066}\\u{200f}\\u{61c}"
        );
        assert_eq!(
            printable("李雷 Ελένη bob\u{200b}"),
            "李雷 Ελένη bob\u{200b}"
        );
    }
}
