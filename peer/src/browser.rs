//! Opening the UI in the user's browser (the `webbrowser` crate, which honours `$BROWSER`).
//!
//! By default only when a person is there to see it: stdin and stdout are a terminal and, on
//! Linux and the BSDs, a desktop session exists (`$DISPLAY` or `$WAYLAND_DISPLAY`); a service,
//! a script or a test never gets a browser window. `--open`/`--no-open` decide explicitly.

use std::io::IsTerminal;

/// Whether to open the browser for these flags in this environment.
pub fn wanted(open: bool, no_open: bool) -> bool {
    if no_open {
        return false;
    }
    open || (std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && desktop())
}

fn desktop() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
}

/// Opens `url` without blocking the peer; a failure is logged (without the URL: it holds the
/// token) and the printed address still works.
pub fn open(url: String) {
    tokio::task::spawn_blocking(move || match webbrowser::open(&url) {
        Ok(()) => tracing::info!("opened the UI in the browser"),
        Err(e) => tracing::warn!("cannot open a browser ({e}); open the UI address by hand"),
    });
}
