//! The local HTTP/WebSocket server (PROTOCOL.md §8): the page, its static files, the wasm
//! package, the vector files and `/ws`, all behind [`security::guard`].

pub mod actions;
pub mod security;
pub mod ws;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tower_http::services::ServeDir;

use crate::node::Node;

/// What the server needs.
pub struct UiConfig {
    /// The page's directory (`web/`).
    pub web_dir: PathBuf,
    /// The vector files (`tests/vectors/`).
    pub vectors_dir: PathBuf,
    /// The per-launch token.
    pub token: String,
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

/// Shown when `web/index.html` does not exist yet.
const PLACEHOLDER_PAGE: &str = "<!doctype html><meta charset=utf-8><title>p2p-chat</title>\
<p>The p2p-chat page is not built (no <code>web/index.html</code>).";

async fn index(State(state): State<AppState>) -> Response {
    let path = state.config.web_dir.join("index.html");
    let body = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(_) => PLACEHOLDER_PAGE.as_bytes().to_vec(),
    };
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

/// The complete router.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    Router::new()
        .route("/", get(index))
        .route("/ws", get(ws::upgrade))
        .nest_service("/static", ServeDir::new(&config.web_dir))
        .nest_service("/pkg", ServeDir::new(config.web_dir.join("pkg")))
        .nest_service("/vectors", ServeDir::new(&config.vectors_dir))
        .layer(axum::middleware::from_fn_with_state(
            config,
            security::guard,
        ))
        .with_state(state)
}
