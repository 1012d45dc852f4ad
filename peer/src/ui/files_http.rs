//! `POST /files` (an upload, streamed to disk) and `GET /files/<key>` (a file's bytes), PROTOCOL.md
//! §8.11. Both need the launch token in the `X-P2P-Chat-Token` header — never in the URL — so no
//! other site can make a browser load a file with `<img src>` or a link, and a cross-site upload
//! would need a custom header, which a browser only sends after a CORS preflight this server
//! never answers. The upload also needs an `Origin` equal to `http://<Host>`, like the WebSocket.
//! The Host check and the security headers come from [`super::security::guard`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::security::token_matches;
use super::AppState;

/// The header that carries the launch token for these routes.
pub const TOKEN_HEADER: &str = "x-p2p-chat-token";

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, "forbidden\n").into_response()
}

/// Whether the request carries the launch token in [`TOKEN_HEADER`].
fn has_token(state: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| token_matches(&state.config.token, t))
}

/// Whether `Origin` is present and equals `http://<Host>`.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    matches!((host, origin), (Some(host), Some(origin)) if origin == format!("http://{host}"))
}

/// `POST /files`: streams the body to a new upload; `201 {"upload", "size"}`.
pub async fn upload(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !has_token(&state, &headers) || !same_origin(&headers) {
        tracing::info!("refused an upload without the token or from another origin");
        return forbidden();
    }
    let node = &state.node;
    let Some(max) = node.max_file_size() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this peer keeps no files (--ephemeral)\n",
        )
            .into_response();
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max) {
        return too_large(max);
    }
    let (key, path) = match node.begin_upload() {
        Ok(upload) => upload,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    let written = async {
        let mut file = tokio::fs::File::from_std(
            crate::node::create_private_file(&path)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        );
        let (mut size, mut unsynced) = (0u64, 0u64);
        let mut stream = body.into_data_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
            size += piece.len() as u64;
            if size > max {
                return Err((StatusCode::PAYLOAD_TOO_LARGE, String::new()));
            }
            file.write_all(&piece)
                .await
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            unsynced += piece.len() as u64;
            if unsynced >= crate::node::SYNC_EVERY {
                file.sync_data()
                    .await
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                unsynced = 0;
            }
        }
        file.sync_all()
            .await
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(size)
    }
    .await;
    match written {
        Ok(size) => match node.finish_upload(&key) {
            Ok(()) => (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({"upload": key, "size": size}).to_string(),
            )
                .into_response(),
            Err(e) => {
                node.abandon_upload(&key);
                (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response()
            }
        },
        Err((status, why)) => {
            node.abandon_upload(&key);
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                return too_large(max);
            }
            tracing::info!("an upload failed: {why}");
            (status, "upload failed\n").into_response()
        }
    }
}

fn too_large(max: u64) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is larger than the {max}-byte limit (--max-file-size)\n"),
    )
        .into_response()
}

/// `GET /files/{key}`: the bytes of a complete received file or one of ours, as an attachment.
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !has_token(&state, &headers) {
        return forbidden();
    }
    let Some(found) = state.node.file_for_download(key).await else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let file = match tokio::fs::File::open(&found.path).await {
        Ok(file) => file,
        Err(_) => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(length) = HeaderValue::from_str(&found.size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        percent_encode(&found.name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    response
}

/// RFC 5987 `attr-char` percent-encoding of a file name.
fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded_for_the_header() {
        assert_eq!(percent_encode("a b/é\";.png"), "a%20b%2F%C3%A9%22%3B.png");
    }
}
