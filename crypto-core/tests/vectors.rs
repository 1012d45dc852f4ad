//! Every outside vector file in `tests/vectors/` through the crate's own runners.

use crypto_core::vectors::manifest::suites;
use crypto_core::vectors::{run, VectorKind};

fn vector_dir() -> String {
    format!("{}/../tests/vectors", env!("CARGO_MANIFEST_DIR"))
}

/// Every suite of `tests/vectors/MANIFEST.json` passes with the counts the manifest states
/// (the same counts the CLI, the node tests and the page check).
#[test]
fn every_manifest_suite_passes_with_its_counts() {
    let dir = vector_dir();
    let manifest = std::fs::read_to_string(format!("{dir}/MANIFEST.json")).unwrap();
    let suites = suites(&manifest).unwrap();
    assert_eq!(suites.len(), 11);
    for suite in &suites {
        let path = format!("{dir}/{}", suite.path);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let report = run(suite.kind, &text).unwrap();
        println!(
            "{:<24} {:<48} passed {:>4}  failed {:>2}  skipped {:>4}",
            suite.kind.name(),
            suite.path,
            report.passed,
            report.failed,
            report.skipped
        );
        assert!(
            report.failures.is_empty(),
            "{}: {:#?}",
            suite.path,
            report.failures
        );
        assert_eq!(
            (report.passed, report.failed, report.skipped),
            (suite.passed, 0, suite.skipped),
            "{}",
            suite.path
        );
    }
    // Every runner is exercised by some file.
    for (name, kind) in VectorKind::ALL {
        assert!(suites.iter().any(|s| s.kind == kind), "no file for {name}");
    }
}

#[test]
fn a_corrupted_vector_fails() {
    let path = format!(
        "{}/../tests/vectors/noise/cacophony_25519_AESGCM_SHA256.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    // Flip one hex digit of the XX handshake hash: the runner must notice.
    let xx = text.find("\"Noise_XX_25519_AESGCM_SHA256\"").unwrap();
    let hash_at = xx + text[xx..].find("\"handshake_hash\": \"").unwrap() + 19;
    let mut bytes = text.into_bytes();
    bytes[hash_at] = if bytes[hash_at] == b'0' { b'1' } else { b'0' };
    let report = run(VectorKind::Cacophony, std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(run(VectorKind::Cacophony, "not json").is_err());
    assert!(run(VectorKind::WycheproofX25519, "{}").is_err());
    assert!(crypto_core::vectors::run_named("nope", "{}").is_err());
}

#[test]
fn self_test_passes() {
    let report = crypto_core::selftest::self_test();
    assert_eq!(
        (report.passed, report.failed),
        (7, 0),
        "{:?}",
        report.failures
    );
}
