//! `p2p-chat send-file HOST:PORT|INVITE PATH [--data-dir DIR]` (PROTOCOL.md §8.11): sends a file
//! as the identity of a data directory and waits until the receiver has verified all of it.
//!
//! When the peer of that data directory runs, the file is handed to it over its local API (a
//! WebSocket presenting the `api-token` of the data directory), so one key never has two
//! sessions; the peer then keeps sending even if this command is interrupted. Otherwise this
//! command runs the node itself on the data directory's database. Either way the file is
//! referenced, not copied, and running the command again finds the unfinished transfer and
//! resumes it. A progress bar (bytes the receiver verified) goes to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::StorageArgs;
use crate::event::Event;
use crate::node::{clean_file_name, FilesConfig, Node, NodeConfig, SendSource, Target};

/// Options of `send-file`.
pub struct SendFileOptions {
    /// The receiver: `HOST:PORT` or an invite.
    pub address: String,
    /// The file.
    pub path: PathBuf,
    /// The sending identity's data directory.
    pub storage: StorageArgs,
    /// The P2P port whose default data directory to use.
    pub port: u16,
    /// Handshake deadline.
    pub handshake_timeout: Duration,
}

/// How a transfer ended.
enum Outcome {
    Complete,
    Stopped(String),
    /// Ctrl-C: what becomes of the transfer.
    Interrupted(String),
}

/// Why a transfer stopped, in words that say what to do (`state`: `failed`, `cancelled` or
/// `refused`; `reason` as in PROTOCOL.md §8.11).
fn stopped_words(state: &str, reason: &str) -> String {
    let advice = match reason {
        "not_contact" => {
            "they have not accepted you as a contact yet: they see a message request from \
             you; once they accept it, run this command again"
        }
        "quota" => {
            "their file quota is full; they can delete received files and you can run this \
             command again"
        }
        "too_large" => "the file is larger than they accept (their --max-file-size)",
        "no_storage" => "their peer keeps no files (it runs with --ephemeral)",
        _ => return format!("{state}: {reason}"),
    };
    format!("{state}: {advice}")
}

fn bar(size: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(size), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:32}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Runs the command.
pub async fn run(options: SendFileOptions) -> anyhow::Result<ExitCode> {
    let dir = crate::config::data_dir(&options.storage, options.port)?
        .context("send-file needs a data directory")?;
    let path = std::fs::canonicalize(&options.path)
        .with_context(|| format!("cannot read {}", options.path.display()))?;
    let meta = std::fs::metadata(&path)?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let name = clean_file_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let progress = bar(meta.len());
    progress.set_message(name.clone());
    let outcome = match running_peer(&dir) {
        Some((authority, token, api)) => {
            eprintln!("handing {name} to the peer running with {}", dir.display());
            tokio::select! {
                outcome = via_running_peer(&authority, &token, &api, &path, &options.address, &progress) => outcome?,
                _ = tokio::signal::ctrl_c() => Outcome::Interrupted(
                    "the running peer keeps sending it; run the command again to follow it".into(),
                ),
            }
        }
        None => in_process(&options, &dir, &path, &progress).await?,
    };
    match outcome {
        Outcome::Complete => {
            progress.finish();
            eprintln!("{name}: {} bytes, verified by the receiver", meta.len());
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Stopped(why) => {
            progress.abandon();
            eprintln!("{name}: {why}");
            Ok(ExitCode::FAILURE)
        }
        Outcome::Interrupted(what) => {
            progress.abandon();
            eprintln!("{name}: interrupted; {what}");
            // 128 + SIGINT, as shells report a command stopped by Ctrl-C.
            Ok(ExitCode::from(130))
        }
    }
}

/// The running peer's UI authority, launch token and local API token, if it runs.
fn running_peer(dir: &std::path::Path) -> Option<(String, String, String)> {
    let url = crate::ui_url::running_url(dir).ok()?;
    let api = crate::api_token::read(dir)?;
    let rest = url.strip_prefix("http://")?;
    let (authority, query) = rest.split_once('/')?;
    let token = query.strip_prefix("?token=")?;
    Some((authority.to_owned(), token.to_owned(), api))
}

/// Sends through the running peer's local API and follows the transfer's `file_progress`.
async fn via_running_peer(
    authority: &str,
    token: &str,
    api: &str,
    path: &std::path::Path,
    address: &str,
    progress: &ProgressBar,
) -> anyhow::Result<Outcome> {
    let mut request = format!("ws://{authority}/ws?token={token}").into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("origin", format!("http://{authority}").parse()?);
    headers.insert(crate::ui::ws::API_TOKEN_HEADER, api.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .context("cannot reach the running peer's local API")?;
    let action = json!({
        "action": "send_file",
        "path": path.to_string_lossy(),
        "dial": address,
        "req": "send-file",
    });
    ws.send(Message::Text(action.to_string().into())).await?;
    let size = std::fs::metadata(path)?.len();
    let name = clean_file_name(
        &path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let mut id: Option<String> = None;
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let event: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
        match event["type"].as_str() {
            Some("error") if event["req"] == "send-file" => {
                return Ok(Outcome::Stopped(
                    event["message"].as_str().unwrap_or("failed").to_owned(),
                ));
            }
            Some("message_sent") if id.is_none() => {
                let file = &event["file"];
                if file["name"] == name.as_str() && file["size"] == size {
                    id = event["id"].as_str().map(str::to_owned);
                    progress.set_position(file["bytes"].as_u64().unwrap_or(0));
                }
            }
            Some("file_progress") if id.is_some() && event["id"].as_str() == id.as_deref() => {
                progress.set_position(event["bytes"].as_u64().unwrap_or(0));
                match event["state"].as_str() {
                    Some("complete") => return Ok(Outcome::Complete),
                    Some(state @ ("failed" | "cancelled" | "refused")) => {
                        return Ok(Outcome::Stopped(stopped_words(
                            state,
                            event["reason"].as_str().unwrap_or(""),
                        )))
                    }
                    Some("paused") => progress.set_message(format!("{name} (paused)")),
                    _ => progress.set_message(name.clone()),
                }
            }
            _ => {}
        }
    }
    Ok(Outcome::Stopped(
        "the running peer closed the connection; run the command again to follow it".into(),
    ))
}

/// Runs the node on the data directory itself: dials, sends, waits.
async fn in_process(
    options: &SendFileOptions,
    dir: &std::path::Path,
    path: &std::path::Path,
    progress: &ProgressBar,
) -> anyhow::Result<Outcome> {
    if !dir.join(crate::config::IDENTITY_FILE).exists() {
        // Perhaps a mistyped --data-dir: the receiver would see a stranger.
        progress.suspend(|| {
            eprintln!(
                "{}: no identity here yet, so a new one is made; the receiver sees it as a \
                 message request, and takes files from it only once they accept it",
                dir.display()
            )
        });
    }
    let (identity, _) = crate::config::load_identity(&options.storage, options.port)?;
    let store = crate::store::Store::open(dir.join(crate::config::DATABASE_FILE))
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let name = store.own_name().ok().flatten().unwrap_or_default();
    let node = Node::new(NodeConfig {
        identity,
        name,
        handshake_timeout: options.handshake_timeout,
        store: crate::persist::StoreHandle::spawn(store)?,
    });
    node.enable_files(FilesConfig::new(dir.join("files")))?;
    let mut events = node.subscribe();
    let key = dial(&node, &options.address).await?;
    let sent = node
        .send_file(SendSource::Path(path.to_owned()), Target::Peer(key))
        .await;
    let id = match sent {
        Ok(Event::MessageSent { id, file, .. }) => {
            progress.set_position(file.map_or(0, |f| f.bytes));
            id
        }
        Ok(_) => bail!("unexpected answer to send_file"),
        Err(e) => {
            node.shutdown().await;
            return Ok(Outcome::Stopped(e.to_string()));
        }
    };
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let outcome = loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = &mut interrupted => {
                break Outcome::Interrupted(format!(
                    "the receiver has verified {} of {} bytes; run the command again to resume",
                    progress.position(),
                    progress.length().unwrap_or(0),
                ));
            }
        };
        match event {
            Ok(Event::FileProgress(p)) if p.id == id && p.peer_id == key.to_base64() => {
                progress.set_position(p.bytes);
                match p.state {
                    "complete" => break Outcome::Complete,
                    "failed" | "cancelled" | "refused" => {
                        break Outcome::Stopped(stopped_words(
                            p.state,
                            p.reason.as_deref().unwrap_or(""),
                        ))
                    }
                    _ => {}
                }
            }
            Ok(Event::PeerDisconnected {
                peer_id, reason, ..
            }) if peer_id == key.to_base64() => {
                break Outcome::Stopped(format!(
                    "disconnected ({reason}); run the command again to resume"
                ));
            }
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break Outcome::Stopped("stopped".into()),
        }
    };
    node.shutdown().await;
    node.flush_store().await;
    Ok(outcome)
}

/// Dials the receiver; its key.
async fn dial(node: &Node, address: &str) -> anyhow::Result<crypto_core::PublicKey> {
    if address.starts_with(crate::invite::SCHEME) {
        let invite = crate::invite::Invite::parse(address)?;
        node.connect_invite(&invite).await?;
        return Ok(invite.key);
    }
    let addr = tokio::net::lookup_host(address)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .with_context(|| format!("cannot resolve {address:?} (expected HOST:PORT)"))?;
    let expected = node.peer_at(addr).await;
    let info = node.connect_expecting(addr, expected).await?;
    Ok(crypto_core::PublicKey::from_base64(&info.public_key)?)
}
