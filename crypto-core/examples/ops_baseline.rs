//! Native timings of the operations `scripts/bench-wasm.mjs` times in wasm, so the wasm figures
//! come with a native baseline measured in the same run. Prints one JSON object
//! `{ "<op>": <median ms per call>, ... }`.
//!
//! `cargo run --release -q -p crypto-core --example ops_baseline -- tests/vectors`

use std::time::Instant;

use crypto_core::parity::SAFETY_NUMBER_VECTOR;
use crypto_core::vectors::run_named;
use crypto_core::{Identity, PublicKey};

/// The suites and files of `tests/node/wasm.mjs`.
const SUITES: [(&str, &str); 11] = [
    ("noise/cacophony_25519_AESGCM_SHA256.json", "cacophony"),
    ("noise/snow_25519_AESGCM_SHA256.json", "cacophony"),
    ("noise/noise-c-basic_25519_AESGCM_SHA256.json", "cacophony"),
    ("wycheproof/x25519_test.json", "wycheproof-x25519"),
    ("wycheproof/aes_gcm_test.json", "wycheproof-aes-gcm"),
    ("wycheproof/hkdf_sha256_test.json", "wycheproof-hkdf-sha256"),
    ("wycheproof/hmac_sha256_test.json", "wycheproof-hmac-sha256"),
    ("rfc/rfc7748_x25519.json", "rfc7748"),
    ("rfc/rfc5869_hkdf_sha256.json", "rfc5869"),
    ("rfc/gcm_spec_aes256_gcm.json", "gcm-spec"),
    ("rfc/fips180_sha2_examples.json", "fips180"),
];

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
    let xx = xx_only(&read(SUITES[0].0));
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
                run_named("cacophony", &xx).expect("xx vector");
            }),
        ),
        (
            "parityReport".into(),
            time(|| {
                crypto_core::parity::parity_report();
            }),
        ),
    ];
    for (file, kind) in SUITES {
        let text = read(file);
        out.push((
            format!("runVectors {file}"),
            time(|| {
                run_named(kind, &text).expect("vector file");
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
