//! Known-answer test runners over outside vector files, kept exactly as published (see
//! `tests/vectors/README.md`). The same code runs in `cargo test`, in `p2p-chat vectors` and in
//! the page through wasm, so all three check the one implementation.
//!
//! Entries for algorithms or parameters this crate does not implement are counted as skipped,
//! never as passed.

mod noise;
mod rfc;
mod wycheproof;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::json::Json;

/// The vector suites the runners understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VectorKind {
    /// Noise vectors in the cacophony format (also reads snow's and noise-c's files).
    Cacophony,
    /// Wycheproof `x25519_test.json`.
    WycheproofX25519,
    /// Wycheproof `aes_gcm_test.json` (AES-256, 96-bit IV, 128-bit tag groups).
    WycheproofAesGcm,
    /// Wycheproof `hkdf_sha256_test.json`.
    WycheproofHkdfSha256,
    /// Wycheproof `hmac_sha256_test.json`.
    WycheproofHmacSha256,
    /// RFC 7748 §5.2 and §6.1.
    Rfc7748,
    /// RFC 5869 Appendix A.
    Rfc5869,
    /// GCM specification test cases 13–16.
    GcmSpec,
    /// FIPS 180 SHA-256 / SHA-512 examples.
    Fips180,
}

impl VectorKind {
    /// Every kind with its name, in a stable order.
    pub const ALL: [(&'static str, VectorKind); 9] = [
        ("cacophony", VectorKind::Cacophony),
        ("wycheproof-x25519", VectorKind::WycheproofX25519),
        ("wycheproof-aes-gcm", VectorKind::WycheproofAesGcm),
        ("wycheproof-hkdf-sha256", VectorKind::WycheproofHkdfSha256),
        ("wycheproof-hmac-sha256", VectorKind::WycheproofHmacSha256),
        ("rfc7748", VectorKind::Rfc7748),
        ("rfc5869", VectorKind::Rfc5869),
        ("gcm-spec", VectorKind::GcmSpec),
        ("fips180", VectorKind::Fips180),
    ];

    /// Parses a kind name as used by `runVectors` and `p2p-chat vectors`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }

    /// The kind's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("unknown", |(n, _)| n)
    }
}

/// The outcome of one suite.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorReport {
    /// Entries whose every check matched.
    pub passed: u32,
    /// Entries with at least one mismatch.
    pub failed: u32,
    /// Entries for things not implemented here (other Noise patterns, other IV sizes, ...).
    pub skipped: u32,
    /// One line per failed entry, naming it and the first mismatch.
    pub failures: Vec<String>,
}

impl VectorReport {
    /// `{"passed":…,"failed":…,"skipped":…,"failures":[…]}`, for the wasm façade and the CLI.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        crate::json::ObjectWriter::new(&mut out)
            .number("passed", self.passed.into())
            .number("failed", self.failed.into())
            .number("skipped", self.skipped.into())
            .strings("failures", &self.failures)
            .finish();
        out
    }

    fn record(&mut self, name: impl FnOnce() -> String, outcome: Outcome) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Skip => self.skipped += 1,
            Outcome::Fail(why) => {
                self.failed += 1;
                self.failures.push(format!("{}: {why}", name()));
            }
        }
    }
}

/// One entry's result.
pub(crate) enum Outcome {
    Pass,
    Skip,
    Fail(String),
}

/// The file is not a vector file of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    /// Not JSON at all.
    #[error("vector file is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but without the structure of this kind.
    #[error("vector file does not have the {kind} layout: {reason}")]
    WrongLayout {
        /// The kind that was asked for.
        kind: &'static str,
        /// What was missing.
        reason: String,
    },
    /// `runVectors` was given a kind name it does not know.
    #[error("unknown vector kind \"{0}\"")]
    UnknownKind(String),
}

/// Runs one suite over a vector file's text.
pub fn run(kind: VectorKind, json_text: &str) -> Result<VectorReport, VectorError> {
    let root = Json::parse(json_text).map_err(|e| VectorError::NotJson(e.to_string()))?;
    let layout = |reason: &str| VectorError::WrongLayout {
        kind: kind.name(),
        reason: reason.to_string(),
    };
    let mut report = VectorReport::default();
    match kind {
        VectorKind::Cacophony => {
            let entries = root["vectors"]
                .as_array()
                .ok_or_else(|| layout("no vectors[]"))?;
            for (i, entry) in entries.iter().enumerate() {
                let name = || format!("vector #{i} {}", noise::protocol_name(entry));
                report.record(name, noise::run_entry(entry));
            }
        }
        VectorKind::WycheproofX25519
        | VectorKind::WycheproofAesGcm
        | VectorKind::WycheproofHkdfSha256
        | VectorKind::WycheproofHmacSha256 => {
            let groups = root["testGroups"]
                .as_array()
                .ok_or_else(|| layout("no testGroups[]"))?;
            for group in groups {
                let tests = group["tests"]
                    .as_array()
                    .ok_or_else(|| layout("no tests[]"))?;
                for test in tests {
                    let name = || format!("tcId {}", test["tcId"]);
                    let outcome = match kind {
                        VectorKind::WycheproofX25519 => wycheproof::x25519_test(group, test),
                        VectorKind::WycheproofAesGcm => wycheproof::aes_gcm(group, test),
                        VectorKind::WycheproofHkdfSha256 => wycheproof::hkdf(test),
                        _ => wycheproof::hmac(group, test),
                    };
                    report.record(name, outcome);
                }
            }
        }
        VectorKind::Rfc7748 => rfc::rfc7748(&root, &mut report).map_err(layout)?,
        VectorKind::Rfc5869 | VectorKind::GcmSpec | VectorKind::Fips180 => {
            let tests = root["tests"]
                .as_array()
                .ok_or_else(|| layout("no tests[]"))?;
            for test in tests {
                let name = || format!("{}", test["id"]);
                let outcome = match kind {
                    VectorKind::Rfc5869 => rfc::rfc5869(test),
                    VectorKind::GcmSpec => rfc::gcm_spec(test),
                    _ => rfc::fips180(test),
                };
                report.record(name, outcome);
            }
        }
    }
    Ok(report)
}

/// Runs a suite named as in [`VectorKind::ALL`].
pub fn run_named(kind: &str, json_text: &str) -> Result<VectorReport, VectorError> {
    let kind = VectorKind::from_name(kind).ok_or_else(|| VectorError::UnknownKind(kind.into()))?;
    run(kind, json_text)
}

/// A hex field, or a failure naming it.
pub(crate) fn hex_field(value: &Json<'_>, field: &str) -> Result<Vec<u8>, String> {
    let text = value[field]
        .as_str()
        .ok_or_else(|| format!("missing hex field {field}"))?;
    hex::decode(text).map_err(|_| format!("field {field} is not hex"))
}

/// A 32-byte hex field.
pub(crate) fn key_field(value: &Json<'_>, field: &str) -> Result<[u8; 32], String> {
    let bytes = hex_field(value, field)?;
    bytes
        .try_into()
        .map_err(|_| format!("field {field} is not 32 bytes"))
}

/// Turns a check's `Result` into an outcome.
pub(crate) fn outcome(result: Result<(), String>) -> Outcome {
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

/// `Err` with a message unless `got == want`.
pub(crate) fn expect_eq(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} mismatch: got {}, want {}",
            hex::encode(got),
            hex::encode(want)
        ))
    }
}
