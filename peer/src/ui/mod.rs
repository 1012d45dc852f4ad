//! The local HTTP/WebSocket server (PROTOCOL.md §8): the page, its static files, the wasm
//! package, the vector files, `/healthz`, `/ws` and the file routes (`files_http`, §8.11), all
//! behind [`security::guard`].

pub mod actions;
pub mod file_actions;
pub mod files_http;
pub mod history_actions;
pub mod indicator_actions;
pub mod reach_actions;
pub mod security;
pub mod static_files;
pub mod ws;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Semaphore};

use crate::assets::Assets;
use crate::node::Node;

/// What the server needs.
pub struct UiConfig {
    /// The page and the vector files (built in, or `--web-dir`/`--vectors-dir`).
    pub assets: Assets,
    /// The per-launch token.
    pub token: String,
    /// The local API token (`api-token` in the data directory, PROTOCOL.md §8.11): a WebSocket
    /// presenting it may send files by path. `None`: no such WebSocket.
    pub api_token: Option<String>,
    /// The configured `--web-host` (also accepted as a Host name).
    pub web_host: String,
    /// The port the server is bound to.
    pub web_port: u16,
    /// Message size and client limits.
    pub limits: UiLimits,
    /// One permit per open WebSocket client (`limits.max_clients` in all).
    pub client_slots: Arc<Semaphore>,
}

/// Default largest WebSocket message from the page (64 KiB): room for a 16,000-character text
/// (at most 64,000 bytes of UTF-8) and its JSON wrapper; a larger chat would not fit one Noise
/// message (65,535 bytes) anyway.
pub const DEFAULT_MAX_WS_MESSAGE: usize = 64 * 1024;

/// Default UI WebSocket clients at once (tabs of the page).
pub const DEFAULT_MAX_UI_CLIENTS: usize = 16;

/// The UI server's limits.
#[derive(Debug, Clone, Copy)]
pub struct UiLimits {
    /// Largest WebSocket message accepted, in bytes.
    pub max_message: usize,
    /// WebSocket clients at once.
    pub max_clients: usize,
}

impl Default for UiLimits {
    fn default() -> Self {
        Self {
            max_message: DEFAULT_MAX_WS_MESSAGE,
            max_clients: DEFAULT_MAX_UI_CLIENTS,
        }
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The node.
    pub node: Node,
    /// Settings.
    pub config: Arc<UiConfig>,
    /// Becomes true at shutdown so WebSocket clients close.
    pub shutdown: watch::Receiver<bool>,
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    Router::new()
        .route("/", get(static_files::index))
        .route("/healthz", get(static_files::healthz))
        .route("/ws", get(ws::upgrade))
        .route("/files", post(files_http::upload))
        .route("/files/{key}", get(files_http::download))
        .route("/static/{*path}", get(static_files::web))
        .route("/pkg/{*path}", get(static_files::pkg))
        .route("/vectors/{*path}", get(static_files::vectors))
        .layer(axum::middleware::from_fn_with_state(
            config,
            security::guard,
        ))
        .with_state(state)
}
