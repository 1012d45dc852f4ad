//! `tests/vectors/MANIFEST.json` as the one list of suites: every runner (the CLI, the tests, the
//! native baseline, the node tests and the page) takes its files, kinds and expected counts from
//! it instead of keeping its own list.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{VectorError, VectorKind};
use crate::json::{Json, Limits};

/// One runnable file of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    /// Path relative to the vector directory (and to the `/vectors/` URL the peer serves).
    pub path: String,
    /// The runner that reads it.
    pub kind: VectorKind,
    /// Human-readable name, shown on the page.
    pub label: String,
    /// Entries every runner must pass.
    pub passed: u32,
    /// Entries every runner must count as skipped.
    pub skipped: u32,
}

fn layout(reason: &str) -> VectorError {
    VectorError::WrongLayout {
        kind: "MANIFEST.json",
        reason: reason.to_string(),
    }
}

fn count(suite: &Json<'_>, key: &str) -> Result<u32, VectorError> {
    suite[key]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| layout("suite counts must be integers"))
}

/// The files of the manifest that have a `suite`, in manifest order.
pub fn suites(manifest: &str) -> Result<Vec<Suite>, VectorError> {
    let root = Json::parse_with(manifest, Limits::FILE)
        .map_err(|e| VectorError::NotJson(e.to_string()))?;
    let files = root["files"]
        .as_array()
        .ok_or_else(|| layout("no files array"))?;
    let mut out = Vec::new();
    for file in files {
        let suite = &file["suite"];
        if *suite == Json::Null {
            continue;
        }
        let name = suite["kind"]
            .as_str()
            .ok_or_else(|| layout("suite without kind"))?;
        out.push(Suite {
            path: file["path"]
                .as_str()
                .ok_or_else(|| layout("file without path"))?
                .to_string(),
            kind: VectorKind::from_name(name)
                .ok_or_else(|| VectorError::UnknownKind(name.to_string()))?,
            label: suite["label"].as_str().unwrap_or(name).to_string(),
            passed: count(suite, "passed")?,
            skipped: count(suite, "skipped")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_suites_and_skips_data_files() {
        let text = r#"{"files":[
            {"path":"a.json","suite":{"kind":"rfc7748","label":"A","passed":5,"skipped":1}},
            {"path":"schema.json"},
            {"path":"b.json","suite":{"kind":"fips180","passed":8,"skipped":0}}]}"#;
        let suites = suites(text).unwrap();
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[0].kind, VectorKind::Rfc7748);
        assert_eq!((suites[0].passed, suites[0].skipped), (5, 1));
        assert_eq!(suites[1].label, "fips180");
        assert!(matches!(
            super::suites(
                r#"{"files":[{"path":"x","suite":{"kind":"nope","passed":1,"skipped":0}}]}"#
            ),
            Err(VectorError::UnknownKind(_))
        ));
        assert!(super::suites("{}").is_err());
    }
}
