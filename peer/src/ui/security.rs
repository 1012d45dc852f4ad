//! The local UI's defences (PROTOCOL.md §8, SECURITY.md §4): a Host allow-list against DNS
//! rebinding, the per-launch token and an exact Origin match on the WebSocket upgrade
//! (cross-site WebSocket hijacking), and security headers on every response.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::UiConfig;

/// The page's Content-Security-Policy: no inline script, wasm allowed, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether a `Host` header names this server: a loopback name or the configured web host, with
/// the bound port (a browser omits it only for port 80).
pub fn host_allowed(config: &UiConfig, host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, port.parse::<u16>().ok()),
        _ => (host, Some(80)),
    };
    if port != Some(config.web_port) {
        return false;
    }
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        || name == config.web_host.to_ascii_lowercase()
        || format!("[{}]", config.web_host.to_ascii_lowercase()) == name
}

/// Constant-time token comparison.
pub fn token_matches(expected: &str, given: &str) -> bool {
    expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The WebSocket checks: token, then an Origin equal to `http://<Host>`. Returns why not.
pub fn check_websocket(
    config: &UiConfig,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<(), &'static str> {
    if !token.is_some_and(|t| token_matches(&config.token, t)) {
        return Err("missing or wrong token");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or("missing Host")?;
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .ok_or("missing Origin")?;
    if origin != format!("http://{host}") {
        return Err("foreign Origin");
    }
    Ok(())
}

fn add_security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Middleware on every route: refuse foreign Hosts and methods other than GET (and POST of an
/// upload to `/files`); add the headers.
pub async fn guard(State(config): State<Arc<UiConfig>>, request: Request, next: Next) -> Response {
    let host_ok = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| host_allowed(&config, host));
    let mut response = if !host_ok {
        tracing::info!("refused HTTP request with a foreign Host header");
        (StatusCode::FORBIDDEN, "forbidden: unknown Host\n").into_response()
    } else if request.method() != Method::GET
        && request.method() != Method::HEAD
        // The one route that takes a body: an upload (PROTOCOL.md §8.11, `files_http`).
        && !(request.method() == Method::POST && request.uri().path() == "/files")
    {
        (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n").into_response()
    } else {
        next.run(request).await
    };
    add_security_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> UiConfig {
        UiConfig {
            assets: crate::assets::Assets::default(),
            token: "secret".into(),
            api_token: None,
            web_host: "127.0.0.1".into(),
            web_port: 8000,
            limits: super::super::UiLimits::default(),
            client_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    #[test]
    fn hosts() {
        let c = config();
        for ok in [
            "127.0.0.1:8000",
            "localhost:8000",
            "LOCALHOST:8000",
            "[::1]:8000",
        ] {
            assert!(host_allowed(&c, ok), "{ok}");
        }
        for bad in [
            "evil.example:8000",
            "127.0.0.1:8001",
            "127.0.0.1",
            "[::1]",
            "",
            "a:b",
        ] {
            assert!(!host_allowed(&c, bad), "{bad}");
        }
    }

    #[test]
    fn tokens() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("abc", "ab"));
    }
}
