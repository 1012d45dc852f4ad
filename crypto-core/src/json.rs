//! A small, strict JSON reader and writer (RFC 8259), written for this crate instead of
//! serde_json because it keeps the page's wasm bundle smaller: the optimised bundle is 99,248
//! bytes with this reader and 116,387 bytes with serde_json's `Value` parser in its place (same
//! build, BENCHMARKS.md wasm section), and serde_json would still need a visitor of our own for
//! duplicate keys and the [`Limits`]. It reads the wire frames, the payloads and the vector
//! files, and nothing else. `tests/json_differential.rs` checks it against serde_json in both
//! directions (serde_json writes, we read; we write, serde_json reads; mutated text).
//!
//! Strict on purpose, since every input is untrusted: UTF-8 only, no trailing garbage, no
//! duplicate object keys (two parsers must never disagree about a frame), nesting limited to
//! [`MAX_DEPTH`] so hostile input cannot exhaust the stack. Strings borrow from the input when
//! they contain no escapes, so parsing a `data` frame copies nothing.
//!
//! Bounded work: a frame is parsed before any cryptography, so the cost of a hostile line must
//! stay linear in its length. [`Limits`] caps the members of one object and the values of a
//! whole document; duplicate keys are found by sorting (O(n log n) comparisons), never by
//! comparing each key with every earlier one.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Index;

/// Deepest nesting accepted (the vector files need 4).
pub const MAX_DEPTH: usize = 32;

/// Caps on one document, checked while parsing so a hostile input stops early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most members one object may have.
    pub max_members: usize,
    /// Most values (scalars, arrays, objects; keys not counted) in the whole document.
    pub max_values: usize,
    /// Most objects in the whole document. An object member costs several times an array
    /// element (a key to read and check for duplicates), so members are bounded in total too.
    pub max_objects: usize,
}

impl Limits {
    /// For anything a peer sends (frames, hellos, payloads; PROTOCOL.md §2). Today's largest
    /// legitimate document is a room announcement: one object, one value per member key, about
    /// 2,800 in a maximal line.
    pub const WIRE: Limits = Limits {
        max_members: 64,
        max_values: 4096,
        max_objects: 16,
    };
    /// For this repository's own vector files (the largest has about 5,000 values).
    pub const FILE: Limits = Limits {
        max_members: 64,
        max_values: 1 << 16,
        max_objects: 1 << 16,
    };
}

/// What a parse cost, for the tests and the fuzz target that bound work per input byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Values parsed.
    pub values: usize,
    /// Key comparisons made while looking for duplicates.
    pub key_comparisons: usize,
    /// Objects started.
    pub objects: usize,
}

/// Objects up to this size are checked for duplicates pairwise (at most 28 comparisons, no
/// allocation); larger ones by sorting their keys.
const PAIRWISE_MAX: usize = 8;

/// A parsed JSON value. Numbers keep their text; ask for the type you need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Number(&'a str),
    /// A string, borrowed unless it contained escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, keys in document order (duplicates are rejected).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

static NULL: Json<'static> = Json::Null;

/// Why input is not acceptable JSON. Static messages keep formatting code out of the bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::text::write_parts(
            f,
            &[
                "invalid JSON at byte ",
                crate::text::Decimal::of_usize(self.offset).as_str(),
                ": ",
                self.reason,
            ],
        )
    }
}

impl core::error::Error for JsonError {}

impl<'a> Json<'a> {
    /// Parses a complete document (surrounding whitespace allowed, nothing else) within
    /// [`Limits::WIRE`].
    pub fn parse(text: &'a str) -> Result<Self, JsonError> {
        Self::parse_with(text, Limits::WIRE)
    }

    /// Parses a complete document within `limits`.
    pub fn parse_with(text: &'a str, limits: Limits) -> Result<Self, JsonError> {
        Self::parse_measured(text, limits).0
    }

    /// Parses a complete document within `limits` and reports the work done, also when the
    /// input is rejected.
    pub fn parse_measured(text: &'a str, limits: Limits) -> (Result<Self, JsonError>, Work) {
        let mut parser = Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
            limits,
            work: Work::default(),
        };
        let result = parser.value(0).and_then(|value| {
            parser.skip_whitespace();
            if parser.at != parser.bytes.len() {
                return Err(parser.error("trailing characters"));
            }
            Ok(value)
        });
        (result, parser.work)
    }

    /// Parses UTF-8 bytes within [`Limits::WIRE`].
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<Self, JsonError> {
        Self::parse_bytes_with(bytes, Limits::WIRE)
    }

    /// Parses UTF-8 bytes within `limits`.
    pub fn parse_bytes_with(bytes: &'a [u8], limits: Limits) -> Result<Self, JsonError> {
        let text = core::str::from_utf8(bytes).map_err(|e| JsonError {
            offset: e.valid_up_to(),
            reason: "not UTF-8",
        })?;
        Self::parse_with(text, limits)
    }

    /// A member of an object (`Null` if absent or not an object).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Takes the string out (keeping the borrow), if this is one.
    pub fn into_string(self) -> Option<Cow<'a, str>> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// A non-negative integer that fits in u64 (no fraction, no exponent).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(text) => text.parse().ok(),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Removes and returns a member of an object.
    pub fn take(&mut self, key: &str) -> Option<Json<'a>> {
        match self {
            Json::Object(members) => {
                let at = members.iter().position(|(k, _)| k == key)?;
                Some(members.swap_remove(at).1)
            }
            _ => None,
        }
    }
}

impl<'a> Index<&str> for Json<'a> {
    type Output = Json<'a>;

    /// `value["key"]`, `Null` when missing — convenient for reading vector files.
    fn index(&self, key: &str) -> &Json<'a> {
        self.get(key).unwrap_or(&NULL)
    }
}

impl core::fmt::Display for Json<'_> {
    /// Compact JSON, used for naming vector entries in failure messages.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = String::new();
        write_value(&mut out, self);
        f.write_str(&out)
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    limits: Limits,
    work: Work,
}

/// Whether any key occurs twice, counting comparisons into `comparisons`.
fn has_duplicate_key(members: &[(Cow<'_, str>, Json<'_>)], comparisons: &mut usize) -> bool {
    if members.len() <= PAIRWISE_MAX {
        for (i, (key, _)) in members.iter().enumerate() {
            for (other, _) in &members[..i] {
                *comparisons += 1;
                if key == other {
                    return true;
                }
            }
        }
        return false;
    }
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| &**k).collect();
    // Unstable sort: O(n log n) comparisons in the worst case, no extra allocation.
    keys.sort_unstable_by(|a, b| {
        *comparisons += 1;
        a.cmp(b)
    });
    keys.windows(2).any(|pair| {
        *comparisons += 1;
        pair[0] == pair[1]
    })
}

impl<'a> Parser<'a> {
    fn error(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.at,
            reason,
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn expect_literal(&mut self, literal: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            Ok(value)
        } else {
            Err(self.error("unexpected character"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.work.values += 1;
        if self.work.values > self.limits.max_values {
            return Err(self.error("too many values"));
        }
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.expect_literal("true", Json::Bool(true)),
            Some(b'f') => self.expect_literal("false", Json::Bool(false)),
            Some(b'n') => self.expect_literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.work.objects += 1;
        if self.work.objects > self.limits.max_objects {
            return Err(self.error("too many objects"));
        }
        self.at += 1;
        let mut members: Vec<(Cow<'a, str>, Json<'a>)> = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(self.error("expected a string key"));
            }
            if members.len() == self.limits.max_members {
                return Err(self.error("too many members in an object"));
            }
            let key = self.string()?;
            self.skip_whitespace();
            if self.bytes.get(self.at) != Some(&b':') {
                return Err(self.error("expected ':'"));
            }
            self.at += 1;
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_whitespace();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    if has_duplicate_key(&members, &mut self.work.key_comparisons) {
                        return Err(self.error("duplicate key"));
                    }
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json<'a>, JsonError> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while let Some(b'0'..=b'9') = p.bytes.get(p.at) {
                p.at += 1;
            }
            p.at > from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let int_start = self.at;
        if !digits(self) {
            return Err(self.error("expected digits"));
        }
        if self.bytes[int_start] == b'0' && self.at - int_start > 1 {
            return Err(self.error("leading zero"));
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.error("expected digits after '.'"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.error("expected exponent digits"));
            }
        }
        Ok(Json::Number(&self.text[start..self.at]))
    }

    /// A string starting at the opening quote. Borrowed when it has no escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.at += 1;
        let start = self.at;
        // Fast path: scan to the closing quote; fall back to decoding at the first escape.
        loop {
            match self.bytes.get(self.at) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    let s = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(&b) if b < 0x20 => return Err(self.error("control character in string")),
                Some(_) => self.at += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.at]);
        loop {
            // Copy the run up to the next quote, backslash or control character in one piece
            // (its ends are ASCII bytes, so character boundaries).
            let run = self.at;
            while let Some(&b) = self.bytes.get(self.at) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run..self.at]);
            match self.bytes.get(self.at) {
                None => return Err(self.error("unterminated string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let letter = self.bytes.get(self.at + 1).copied();
                    self.at += 2;
                    let escaped = match letter {
                        Some(b'u') => self.unicode_escape()?,
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        _ => return Err(self.error("invalid escape")),
                    };
                    out.push(escaped);
                }
                Some(_) => return Err(self.error("control character in string")),
            }
        }
    }

    /// The `XXXX` of `\uXXXX` (and a following `\uXXXX` for a surrogate pair), with `at`
    /// just past the `u`.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.bytes[self.at..].starts_with(b"\\u") {
                return Err(self.error("unpaired surrogate"));
            }
            self.at += 2;
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("unpaired surrogate"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid code point"))
    }

    /// Four hex digits at `at` (validated and read in one pass: an all-escapes string is
    /// mostly this, see BENCHMARKS.md).
    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0u32;
        for i in 0..4 {
            let digit = match self.bytes.get(self.at + i) {
                Some(&d @ b'0'..=b'9') => d - b'0',
                Some(&d @ b'a'..=b'f') => d - b'a' + 10,
                Some(&d @ b'A'..=b'F') => d - b'A' + 10,
                _ => return Err(self.error("bad \\u escape")),
            };
            value = (value << 4) | u32::from(digit);
        }
        self.at += 4;
        Ok(value)
    }
}

/// Appends `s` as a JSON string literal (quotes included). Non-ASCII is written as UTF-8, control
/// characters as escapes.
pub fn write_string(out: &mut String, s: &str) {
    // Runs of characters that need no escape are copied whole: a chat's text is one run. Every
    // byte escaped is ASCII, so the slices between them end on character boundaries.
    out.reserve(s.len() + 2);
    out.push('"');
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if escaped.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends an unsigned integer.
pub fn write_u64(out: &mut String, n: u64) {
    out.push_str(crate::text::Decimal::new(n).as_str());
}

/// Builds a JSON object member by member: `{"a":1,"b":"x"}` in the order written.
pub struct ObjectWriter<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Starts an object in `out`.
    pub fn new(out: &'o mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_string(self.out, key);
        self.out.push(':');
        self.out
    }

    /// A string member.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        write_string(out, value);
        self
    }

    /// An integer member.
    pub fn number(&mut self, key: &str, value: u64) -> &mut Self {
        let out = self.key(key);
        write_u64(out, value);
        self
    }

    /// A boolean member.
    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        let out = self.key(key);
        out.push_str(if value { "true" } else { "false" });
        self
    }

    /// A member whose value the closure writes as raw JSON.
    pub fn raw(&mut self, key: &str, write: impl FnOnce(&mut String)) -> &mut Self {
        let out = self.key(key);
        write(out);
        self
    }

    /// An array of strings.
    pub fn strings<S: AsRef<str>>(&mut self, key: &str, values: &[S]) -> &mut Self {
        self.raw(key, |out| write_string_array(out, values))
    }

    /// Closes the object.
    pub fn finish(&mut self) {
        self.out.push('}');
    }
}

/// Appends `["a","b"]`.
pub fn write_string_array<S: AsRef<str>>(out: &mut String, values: &[S]) {
    out.push('[');
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, value.as_ref());
    }
    out.push(']');
}

/// Appends `value` as compact JSON.
pub(crate) fn write_value(out: &mut String, value: &Json<'_>) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parses_and_borrows() {
        let doc = r#" {"a": [1, -2.5e3, true, false, null], "b": "plain", "c": "esc\"\u00e9\ud83d\ude00\n"} "#;
        let value = Json::parse(doc).unwrap();
        assert_eq!(value["a"].as_array().unwrap().len(), 5);
        assert_eq!(value["a"].as_array().unwrap()[0].as_u64(), Some(1));
        assert!(matches!(value["b"], Json::String(Cow::Borrowed("plain"))));
        assert_eq!(value["c"].as_str(), Some("esc\"é😀\n"));
        assert_eq!(value["missing"], Json::Null);
    }

    #[test]
    fn rejects_what_it_should() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"a\nb\"",
            "{\"a\":1} x",
            "{\"a\":1,\"a\":2}",
            "\"\\ud800\"",
            "\"\\u12\"",
            "nul",
            "{a:1}",
            "[1 2]",
        ] {
            assert!(Json::parse(bad).is_err(), "{bad:?} accepted");
        }
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(Json::parse(&deep).unwrap_err().reason, "nested too deeply");
        assert!(Json::parse_bytes(b"\"\xff\"").is_err());
    }

    /// `{"k0":0,"k1":0,…}` with `n` distinct keys.
    fn many_keys(n: usize) -> String {
        let mut doc = String::from("{");
        for i in 0..n {
            if i > 0 {
                doc.push(',');
            }
            doc.push_str("\"k");
            doc.push_str(crate::text::Decimal::of_usize(i).as_str());
            doc.push_str("\":0");
        }
        doc.push('}');
        doc
    }

    #[test]
    fn a_line_of_15000_keys_stops_at_the_member_cap() {
        let hostile = many_keys(15_000);
        assert!(hostile.len() > 120_000);
        let (result, work) = Json::parse_measured(&hostile, Limits::WIRE);
        assert_eq!(result.unwrap_err().reason, "too many members in an object");
        assert!(work.values <= Limits::WIRE.max_members + 1, "{work:?}");
        assert_eq!(
            work.key_comparisons, 0,
            "rejected before any duplicate check"
        );
        let at_cap = many_keys(Limits::WIRE.max_members);
        assert!(Json::parse(&at_cap).is_ok());
    }

    #[test]
    fn duplicate_detection_needs_n_log_n_comparisons_not_n_squared() {
        let n = 15_000;
        let unlimited = Limits {
            max_members: n,
            max_values: 2 * n,
            max_objects: 1,
        };
        let doc = many_keys(n);
        let (result, work) = Json::parse_measured(&doc, unlimited);
        assert!(result.is_ok());
        // Comparing each key with every earlier one would make n²/2 ≈ 112 million.
        let bound = 2 * n * (usize::BITS - n.leading_zeros()) as usize;
        assert!(work.key_comparisons <= bound, "{work:?} > {bound}");
        let duplicated = doc.replacen("\"k7\"", "\"k14999\"", 1);
        assert_eq!(
            Json::parse_with(&duplicated, unlimited).unwrap_err().reason,
            "duplicate key"
        );
        // Small objects take the pairwise path, which also finds duplicates.
        assert!(Json::parse(r#"{"a":1,"b":2,"a":3}"#).is_err());
        assert!(Json::parse(&many_keys(9).replacen("\"k0\"", "\"k8\"", 1)).is_err());
    }

    #[test]
    fn the_value_cap_bounds_a_whole_document() {
        let small = Limits {
            max_members: 64,
            max_values: 10,
            max_objects: 2,
        };
        assert!(Json::parse_with("[{},{}]", small).is_ok());
        assert_eq!(
            Json::parse_with("[{},{},{}]", small).unwrap_err().reason,
            "too many objects"
        );
        assert!(Json::parse_with("[1,2,3,4,5,6,7,8,9]", small).is_ok());
        let (result, work) = Json::parse_measured("[1,2,3,4,5,6,7,8,9,10,11,12]", small);
        assert_eq!(result.unwrap_err().reason, "too many values");
        assert_eq!(work.values, 11);
        let flat = "[".to_string() + &"0,".repeat(5000) + "0]";
        assert!(Json::parse(&flat).is_err());
        assert!(Json::parse_with(&flat, Limits::FILE).is_ok());
    }

    #[test]
    fn writes_round_trip() {
        let mut out = String::new();
        ObjectWriter::new(&mut out)
            .string("s", "q\"\\\u{1}é")
            .number("n", 18_446_744_073_709_551_615)
            .boolean("b", true)
            .strings("l", &["x", "y"])
            .finish();
        assert_eq!(
            out,
            "{\"s\":\"q\\\"\\\\\\u0001é\",\"n\":18446744073709551615,\"b\":true,\"l\":[\"x\",\"y\"]}"
        );
        let parsed = Json::parse(&out).unwrap();
        assert_eq!(parsed["s"].as_str(), Some("q\"\\\u{1}é"));
        assert_eq!(parsed["n"].as_u64(), Some(u64::MAX));
        assert_eq!(parsed.to_string(), out);
    }
}
