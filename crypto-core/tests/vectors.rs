//! Every outside vector file in `tests/vectors/` through the crate's own runners.

use crypto_core::vectors::{run, VectorKind, VectorReport};

fn suite(kind: VectorKind, file: &str) -> VectorReport {
    let path = format!("{}/../tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let report = run(kind, &text).unwrap();
    println!(
        "{:<24} {file:<48} passed {:>4}  failed {:>2}  skipped {:>4}",
        kind.name(),
        report.passed,
        report.failed,
        report.skipped
    );
    assert!(report.failures.is_empty(), "{file}: {:#?}", report.failures);
    report
}

#[test]
fn noise_cacophony_xx() {
    let r = suite(
        VectorKind::Cacophony,
        "noise/cacophony_25519_AESGCM_SHA256.json",
    );
    assert_eq!((r.passed, r.skipped), (1, 58));
}

#[test]
fn noise_snow_xx() {
    let r = suite(VectorKind::Cacophony, "noise/snow_25519_AESGCM_SHA256.json");
    assert_eq!((r.passed, r.skipped), (1, 50));
}

#[test]
fn noise_noise_c_xx() {
    let r = suite(
        VectorKind::Cacophony,
        "noise/noise-c-basic_25519_AESGCM_SHA256.json",
    );
    assert_eq!((r.passed, r.skipped), (1, 14));
}

#[test]
fn wycheproof_x25519() {
    let r = suite(VectorKind::WycheproofX25519, "wycheproof/x25519_test.json");
    assert_eq!((r.passed, r.failed, r.skipped), (518, 0, 0));
}

#[test]
fn wycheproof_aes_gcm() {
    let r = suite(VectorKind::WycheproofAesGcm, "wycheproof/aes_gcm_test.json");
    assert_eq!((r.passed, r.failed, r.skipped), (66, 0, 250));
}

#[test]
fn wycheproof_hkdf_sha256() {
    let r = suite(
        VectorKind::WycheproofHkdfSha256,
        "wycheproof/hkdf_sha256_test.json",
    );
    assert_eq!((r.passed, r.failed), (86, 0));
}

#[test]
fn wycheproof_hmac_sha256() {
    let r = suite(
        VectorKind::WycheproofHmacSha256,
        "wycheproof/hmac_sha256_test.json",
    );
    assert_eq!((r.passed, r.failed), (174, 0));
}

#[test]
fn rfc7748() {
    let r = suite(VectorKind::Rfc7748, "rfc/rfc7748_x25519.json");
    // Two §5.2 vectors, the 1 and 1,000 iteration results, §6.1; one million iterations skipped.
    assert_eq!((r.passed, r.skipped), (5, 1));
}

#[test]
fn rfc5869() {
    assert_eq!(
        suite(VectorKind::Rfc5869, "rfc/rfc5869_hkdf_sha256.json").passed,
        3
    );
}

#[test]
fn gcm_spec() {
    assert_eq!(
        suite(VectorKind::GcmSpec, "rfc/gcm_spec_aes256_gcm.json").passed,
        4
    );
}

#[test]
fn fips180() {
    assert_eq!(
        suite(VectorKind::Fips180, "rfc/fips180_sha2_examples.json").passed,
        8
    );
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
