//! `p2p-chat vectors`: every outside vector suite and the built-in self-test, natively.

use std::path::Path;
use std::process::ExitCode;

use crate::assets::{Assets, Tree};

use crypto_core::vectors::{self, VectorKind};

/// Each vector file and the suite that reads it (paths relative to the vector directory).
pub const SUITES: [(&str, VectorKind); 11] = [
    (
        "noise/cacophony_25519_AESGCM_SHA256.json",
        VectorKind::Cacophony,
    ),
    ("noise/snow_25519_AESGCM_SHA256.json", VectorKind::Cacophony),
    (
        "noise/noise-c-basic_25519_AESGCM_SHA256.json",
        VectorKind::Cacophony,
    ),
    ("wycheproof/x25519_test.json", VectorKind::WycheproofX25519),
    ("wycheproof/aes_gcm_test.json", VectorKind::WycheproofAesGcm),
    (
        "wycheproof/hkdf_sha256_test.json",
        VectorKind::WycheproofHkdfSha256,
    ),
    (
        "wycheproof/hmac_sha256_test.json",
        VectorKind::WycheproofHmacSha256,
    ),
    ("rfc/rfc7748_x25519.json", VectorKind::Rfc7748),
    ("rfc/rfc5869_hkdf_sha256.json", VectorKind::Rfc5869),
    ("rfc/gcm_spec_aes256_gcm.json", VectorKind::GcmSpec),
    ("rfc/fips180_sha2_examples.json", VectorKind::Fips180),
];

/// Runs everything, prints one line per suite, writes the parity report if asked.
pub fn run(assets: &Assets, parity_out: Option<&Path>) -> ExitCode {
    let mut ok = true;
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for (file, kind) in SUITES {
        let read = assets.get(Tree::Vectors, file).map(|asset| asset.bytes);
        let text = match read.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()) {
            Ok(text) => text,
            Err(e) => {
                println!("{:<24} {file}: cannot read: {e}", kind.name());
                ok = false;
                continue;
            }
        };
        match vectors::run(kind, &text) {
            Ok(report) => {
                println!(
                    "{:<24} {file}: {} passed, {} failed, {} skipped",
                    kind.name(),
                    report.passed,
                    report.failed,
                    report.skipped
                );
                for failure in &report.failures {
                    println!("    FAIL {failure}");
                }
                passed += report.passed;
                failed += report.failed;
                skipped += report.skipped;
                ok &= report.failed == 0 && report.passed > 0;
            }
            Err(e) => {
                println!("{:<24} {file}: {e}", kind.name());
                ok = false;
            }
        }
    }
    let selftest = crypto_core::selftest::self_test();
    println!(
        "{:<24} built-in: {} passed, {} failed",
        "self-test", selftest.passed, selftest.failed
    );
    for failure in &selftest.failures {
        println!("    FAIL {failure}");
    }
    ok &= selftest.failed == 0;
    println!("total: {passed} passed, {failed} failed, {skipped} skipped");
    if let Some(out) = parity_out {
        let mut report = crypto_core::parity::parity_report();
        report.push('\n');
        match std::fs::write(out, report) {
            Ok(()) => println!("parity report written to {}", out.display()),
            Err(e) => {
                eprintln!("cannot write {}: {e}", out.display());
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
