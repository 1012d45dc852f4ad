//! Arbitrary WebSocket text through the peer's UI action parser: it must never panic, and
//! everything it accepts must be one of the action names PROTOCOL.md §8 lists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peer::ui::actions::{parse, ACTIONS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if parse(text).is_ok() {
        let name = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(String::from))
            .expect("an accepted action is a JSON object with an action name");
        assert!(
            ACTIONS.contains(&name.as_str()),
            "accepted unknown action {name}"
        );
    }
});
