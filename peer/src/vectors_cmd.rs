//! `p2p-chat vectors`: every outside vector suite and the built-in self-test, natively.

use std::path::Path;
use std::process::ExitCode;

use crate::assets::{AssetError, Assets, Tree};

use crypto_core::vectors::{self, manifest};

/// One file of the vector tree as text (embedded in the binary, or from `--vectors-dir`).
fn read_text(assets: &Assets, file: &str) -> Result<String, AssetError> {
    assets
        .get(Tree::Vectors, file)
        .map(|asset| String::from_utf8_lossy(&asset.bytes).into_owned())
}

/// Runs everything, prints one line per suite, writes the parity report if asked.
pub fn run(assets: &Assets, parity_out: Option<&Path>) -> ExitCode {
    let mut ok = true;
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    // The one list of suites, with the counts every runner must get (tests/vectors/README.md).
    let suites = match read_text(assets, "MANIFEST.json") {
        Ok(text) => manifest::suites(&text).unwrap_or_else(|e| {
            println!("MANIFEST.json: {e}");
            Vec::new()
        }),
        Err(e) => {
            println!("MANIFEST.json: {e}");
            Vec::new()
        }
    };
    ok &= !suites.is_empty();
    for suite in &suites {
        let (file, kind) = (&suite.path, suite.kind);
        let text = match read_text(assets, file) {
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
                if (report.passed, report.skipped) != (suite.passed, suite.skipped) {
                    println!(
                        "    FAIL expected {} passed, {} skipped (MANIFEST.json)",
                        suite.passed, suite.skipped
                    );
                    ok = false;
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
