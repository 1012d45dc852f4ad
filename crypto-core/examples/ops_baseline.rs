//! Native timings of the operations `scripts/bench-wasm.mjs` times in wasm, so the wasm figures
//! come with a native baseline measured in the same run. Prints one JSON object
//! `{ "<op>": <median ms per call>, ... }`.
//!
//! `cargo run --release -q -p crypto-core --example ops_baseline -- tests/vectors`

use std::time::Instant;

use crypto_core::parity::SAFETY_NUMBER_VECTOR;
use crypto_core::vectors::manifest::suites;
use crypto_core::vectors::run;
use crypto_core::{Identity, PublicKey};

/// Median milliseconds per call over batches of about 20 ms each (at least 5 batches).
fn time(mut op: impl FnMut()) -> f64 {
    op();
    let start = Instant::now();
    op();
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let per_batch = ((0.02 / once) as usize).max(1);
    let mut samples: Vec<f64> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                op();
            }
            start.elapsed().as_secs_f64() * 1e3 / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tests/vectors".into());
    let read = |file: &str| {
        std::fs::read_to_string(format!("{dir}/{file}"))
            .unwrap_or_else(|e| panic!("cannot read {dir}/{file}: {e}"))
    };
    let a = PublicKey::from_base64(SAFETY_NUMBER_VECTOR.key_a).expect("vector key");
    let b = PublicKey::from_base64(SAFETY_NUMBER_VECTOR.key_b).expect("vector key");
    // The suites, in the order of tests/vectors/MANIFEST.json (the node bench uses the same).
    let suites = suites(&read("MANIFEST.json")).expect("MANIFEST.json");
    let xx = xx_only(&read(&suites[0].path));
    let mut out: Vec<(String, f64)> = vec![
        (
            "selfTest".into(),
            time(|| {
                crypto_core::selftest::self_test();
            }),
        ),
        (
            "fingerprint".into(),
            time(|| {
                crypto_core::fingerprint(&a);
            }),
        ),
        (
            "safetyNumber".into(),
            time(|| {
                crypto_core::safety_number(&a, &b);
            }),
        ),
        (
            "generateIdentity".into(),
            time(|| {
                let id = Identity::generate();
                crypto_core::fingerprint(id.public_key());
            }),
        ),
        (
            "xxVector".into(),
            time(|| {
                run(suites[0].kind, &xx).expect("xx vector");
            }),
        ),
        (
            "parityReport".into(),
            time(|| {
                crypto_core::parity::parity_report();
            }),
        ),
    ];
    for suite in &suites {
        let text = read(&suite.path);
        out.push((
            format!("runVectors {}", suite.path),
            time(|| {
                run(suite.kind, &text).expect("vector file");
            }),
        ));
    }
    let fields: Vec<String> = out.iter().map(|(k, v)| format!("{k:?}:{v:.6}")).collect();
    println!("{{{}}}", fields.join(","));
}

/// The cacophony file reduced to its one Noise_XX_25519_AESGCM_SHA256 entry, as the bench does.
fn xx_only(text: &str) -> String {
    let root: serde_json::Value = serde_json::from_str(text).expect("cacophony JSON");
    let entry = root["vectors"]
        .as_array()
        .and_then(|v| {
            v.iter()
                .find(|e| e["protocol_name"] == "Noise_XX_25519_AESGCM_SHA256")
        })
        .expect("XX entry")
        .clone();
    serde_json::json!({ "vectors": [entry] }).to_string()
}
