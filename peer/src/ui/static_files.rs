//! The page's files over HTTP: `/`, `/static/*`, `/pkg/*`, `/vectors/*` from [`Assets`], with
//! their Content-Type, a strong `ETag` and `Cache-Control: no-cache`, so a browser revalidates
//! every load (`304` when unchanged) and never runs an old page against an upgraded peer. The
//! security headers come from [`super::security::guard`] like for every other response.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::assets::{AssetError, Tree};

/// `GET /`: the page.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&state, Tree::Web, "index.html", &headers)
}

/// `GET /static/{*path}`: anything under `web/`.
pub async fn web(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, Tree::Web, &path, &headers)
}

/// `GET /pkg/{*path}`: the wasm package, `web/pkg/`.
pub async fn pkg(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, Tree::Web, &format!("pkg/{path}"), &headers)
}

/// `GET /vectors/{*path}`: the vector files.
pub async fn vectors(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    serve(&state, Tree::Vectors, &path, &headers)
}

/// `GET /healthz`: `ok` for service managers and `p2p-chat url`; needs no token and says
/// nothing else about the peer.
pub async fn healthz() -> Response {
    (
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        "ok",
    )
        .into_response()
}

fn serve(state: &AppState, tree: Tree, path: &str, headers: &HeaderMap) -> Response {
    let asset = match state.config.assets.get(tree, path) {
        Ok(asset) => asset,
        Err(AssetError::NotFound(_) | AssetError::BadPath(_)) => {
            return (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        Err(e) => {
            tracing::warn!("{e}");
            return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the file\n").into_response();
        }
    };
    let revalidated = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == asset.etag || tag.trim() == "*")
        });
    let caching = [
        (ETAG, asset.etag.clone()),
        (CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if revalidated {
        return (StatusCode::NOT_MODIFIED, caching).into_response();
    }
    (
        caching,
        [(CONTENT_TYPE, asset.content_type)],
        asset.bytes.into_owned(),
    )
        .into_response()
}
