//! Known-answer test runners over outside vector files, kept exactly as published (see
//! `tests/vectors/README.md`). The same code runs in `cargo test`, in `p2p-chat vectors` and in
//! the page through wasm, so all three check the one implementation.
//!
//! Entries for algorithms or parameters this crate does not implement are counted as skipped,
//! never as passed.

pub mod manifest;
mod noise;
mod rfc;
mod wycheproof;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::encoding::{from_hex, to_hex};
use crate::json::{write_u64, write_value, Json};

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

    /// Counts one entry; a failure is listed as `<name>: <why>`, the name written by `name`
    /// only when the entry failed.
    pub(crate) fn record(&mut self, outcome: Outcome, name: &dyn Fn(&mut String)) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Skip => self.skipped += 1,
            Outcome::Fail(why) => {
                self.failed += 1;
                let mut line = String::new();
                name(&mut line);
                line.push_str(": ");
                line.push_str(&why);
                self.failures.push(line);
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

/// The checks of one entry. Only the first failure is kept, and a failed step hands back a
/// harmless placeholder (empty or zero bytes) instead of returning early: the runners read as
/// straight-line code, which also keeps them small in the wasm bundle.
#[derive(Default)]
pub(crate) struct Checks(Option<String>);

impl Checks {
    /// Records a failure, its message the concatenation of `parts`, unless one is recorded.
    pub(crate) fn fail(&mut self, parts: &[&str]) {
        if self.0.is_none() {
            self.0 = Some(crate::text::concat(parts));
        }
    }

    /// Records a failure with an error's message.
    pub(crate) fn fail_with(&mut self, prefix: &str, error: &dyn core::fmt::Display) {
        if self.0.is_none() {
            self.fail(&[prefix, &error.to_string()]);
        }
    }

    /// Records `why` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, why: &str) {
        if !ok {
            self.fail(&[why]);
        }
    }

    /// Whether a failure has been recorded.
    pub(crate) fn failed(&self) -> bool {
        self.0.is_some()
    }

    /// The value of `result`, or a recorded failure (with the error's message) and `None`.
    pub(crate) fn ok<T, E: core::fmt::Display>(&mut self, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.fail_with("", &e)).ok()
    }

    /// A hex field's bytes (empty when it is missing or not hex, with the failure recorded).
    pub(crate) fn hex(&mut self, value: &Json<'_>, field: &str) -> Vec<u8> {
        let Some(text) = value[field].as_str() else {
            self.fail(&["missing hex field ", field]);
            return Vec::new();
        };
        from_hex(text).unwrap_or_else(|| {
            self.fail(&["field ", field, " is not hex"]);
            Vec::new()
        })
    }

    /// A hex field of exactly `out.len()` bytes, copied into `out` (left as is otherwise).
    pub(crate) fn fill(&mut self, value: &Json<'_>, field: &str, out: &mut [u8]) {
        let bytes = self.hex(value, field);
        if bytes.len() == out.len() {
            out.copy_from_slice(&bytes);
        } else {
            let mut len = String::new();
            write_u64(&mut len, out.len() as u64);
            self.fail(&["field ", field, " is not ", &len, " bytes"]);
        }
    }

    /// A 32-byte hex field (all zero if it is not one, with the failure recorded).
    pub(crate) fn key(&mut self, value: &Json<'_>, field: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.fill(value, field, &mut key);
        key
    }

    /// Records a mismatch unless `got == want`.
    pub(crate) fn eq(&mut self, what: &str, got: &[u8], want: &[u8]) {
        if got != want {
            self.fail(&[
                what,
                " mismatch: got ",
                &to_hex(got),
                ", want ",
                &to_hex(want),
            ]);
        }
    }

    /// The entry's outcome: passed unless a failure was recorded.
    pub(crate) fn outcome(self) -> Outcome {
        self.0.map_or(Outcome::Pass, Outcome::Fail)
    }
}

/// The file is not a vector file of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VectorError {
    /// Not JSON at all.
    NotJson(String),
    /// JSON, but without the structure of this kind.
    WrongLayout {
        /// The kind that was asked for.
        kind: &'static str,
        /// What was missing.
        reason: String,
    },
    /// `runVectors` was given a kind name it does not know.
    UnknownKind(String),
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl core::fmt::Display for VectorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let parts: &[&str] = match self {
            Self::NotJson(why) => &["vector file is not valid JSON: ", why],
            Self::WrongLayout { kind, reason } => {
                &["vector file does not have the ", kind, " layout: ", reason]
            }
            Self::UnknownKind(kind) => &["unknown vector kind \"", kind, "\""],
        };
        crate::text::write_parts(f, parts)
    }
}

impl core::error::Error for VectorError {}

/// Runs one suite over a vector file's text.
pub fn run(kind: VectorKind, json_text: &str) -> Result<VectorReport, VectorError> {
    let root = Json::parse_with(json_text, crate::json::Limits::FILE)
        .map_err(|e| VectorError::NotJson(e.to_string()))?;
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
                report.record(noise::run_entry(entry), &|out| {
                    out.push_str("vector #");
                    write_u64(out, i as u64);
                    out.push(' ');
                    out.push_str(noise::protocol_name(entry));
                });
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
                    let outcome = match kind {
                        VectorKind::WycheproofX25519 => wycheproof::x25519_test(group, test),
                        VectorKind::WycheproofAesGcm => wycheproof::aes_gcm(group, test),
                        VectorKind::WycheproofHkdfSha256 => wycheproof::hkdf(test),
                        _ => wycheproof::hmac(group, test),
                    };
                    report.record(outcome, &|out| {
                        out.push_str("tcId ");
                        write_value(out, &test["tcId"]);
                    });
                }
            }
        }
        VectorKind::Rfc7748 => rfc::rfc7748(&root, &mut report).map_err(layout)?,
        VectorKind::Rfc5869 | VectorKind::GcmSpec | VectorKind::Fips180 => {
            let tests = root["tests"]
                .as_array()
                .ok_or_else(|| layout("no tests[]"))?;
            for test in tests {
                let outcome = match kind {
                    VectorKind::Rfc5869 => rfc::rfc5869(test),
                    VectorKind::GcmSpec => rfc::gcm_spec(test),
                    _ => rfc::fips180(test),
                };
                report.record(outcome, &|out| write_value(out, &test["id"]));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_entry_and_the_first_mismatch() {
        let file = r#"{"testGroups":[{"curve":"curve25519","tests":[
            {"tcId":7,"result":"valid","private":"00","public":"","shared":""},
            {"tcId":8,"result":"valid",
             "private":"0100000000000000000000000000000000000000000000000000000000000000",
             "public":"0900000000000000000000000000000000000000000000000000000000000000",
             "shared":"ab"},
            {"tcId":9,"result":"maybe",
             "private":"0100000000000000000000000000000000000000000000000000000000000000",
             "public":"09","shared":"ab"}]}]}"#;
        let report = run(VectorKind::WycheproofX25519, file).unwrap();
        assert_eq!((report.passed, report.failed), (0, 3));
        assert_eq!(report.failures[0], "tcId 7: field private is not 32 bytes");
        assert!(
            report.failures[1].starts_with("tcId 8: shared mismatch: got "),
            "{}",
            report.failures[1]
        );
        assert!(report.failures[1].ends_with(", want ab"));
        assert_eq!(report.failures[2], "tcId 9: unknown result \"maybe\"");

        let file = r#"{"vectors":[{"protocol_name":"Noise_XX_25519_AESGCM_SHA256",
            "init_prologue":"zz"}]}"#;
        let report = run(VectorKind::Cacophony, file).unwrap();
        assert_eq!(
            report.failures,
            ["vector #0 Noise_XX_25519_AESGCM_SHA256: field init_prologue is not hex"]
        );
        let file = r#"{"tests":[{"id":"tc-1","alg":"SHA-256","msg_ascii":"abc","digest":"00"}]}"#;
        let report = run(VectorKind::Fips180, file).unwrap();
        assert!(report.failures[0].starts_with("\"tc-1\": digest mismatch: got ba7816bf"));
    }
}
