//! Building text without `format!`: every use of `core::fmt`'s argument machinery (and its
//! integer formatting and padding) costs the page's wasm bundle several kilobytes, so messages
//! are put together from `&str` pieces here.

use alloc::string::String;
use core::fmt;

/// The pieces joined into one string.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Writes the pieces to a formatter, for `Display` impls with values in them.
pub(crate) fn write_parts(f: &mut fmt::Formatter<'_>, parts: &[&str]) -> fmt::Result {
    parts.iter().try_for_each(|part| f.write_str(part))
}

/// An unsigned integer in decimal, on the stack.
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(n: impl Into<u64>) -> Self {
        let mut n = n.into();
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Self { digits, start }
    }

    /// `usize` is at most 64 bits on every target this crate builds for.
    pub(crate) fn of_usize(n: usize) -> Self {
        Self::new(n as u64)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        core::str::from_utf8(&self.digits[self.start..]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_pieces() {
        for (n, text) in [(0u64, "0"), (7, "7"), (10, "10"), (65535, "65535")] {
            assert_eq!(Decimal::new(n).as_str(), text);
        }
        assert_eq!(Decimal::new(u64::MAX).as_str(), "18446744073709551615");
        assert_eq!(concat(&["a", "", "bc"]), "abc");
    }

    /// The hand-written `Display` impls say exactly what their thiserror versions said.
    #[test]
    fn error_messages() {
        use crate::noise::{HandshakeError, TransportError};
        use alloc::string::ToString;
        let cases: [(&dyn core::fmt::Display, &str); 12] = [
            (
                &HandshakeError::TooShort {
                    step: 2,
                    min: 48,
                    got: 3,
                },
                "handshake message 2 too short: need at least 48 bytes, got 3",
            ),
            (
                &HandshakeError::UnexpectedStep {
                    expected: 1,
                    got: 3,
                },
                "handshake step 3 out of order (expected 1)",
            ),
            (
                &HandshakeError::MessageTooLarge,
                "handshake message exceeds 65535 bytes",
            ),
            (
                &TransportError::WrongNonce {
                    expected: 17,
                    got: None,
                },
                "wrong nonce: expected counter 17",
            ),
            (
                &TransportError::MessageTooLarge {
                    len: 70000,
                    max: 65519,
                },
                "message too large: 70000 bytes (max 65519)",
            ),
            (&TransportError::BadBase64, "bad base64 in data frame"),
            (
                &crate::wire::FrameError::TooLong { len: 9, max: 8 },
                "line of 9 bytes exceeds the 8-byte limit",
            ),
            (
                &crate::wire::FrameError::Malformed("x".into()),
                "malformed frame: x",
            ),
            (
                &crate::KeyError::WrongLength {
                    expected: 32,
                    got: 3,
                },
                "public key must be 32 bytes, got 3",
            ),
            (
                &crate::json::JsonError {
                    offset: 5,
                    reason: "leading zero",
                },
                "invalid JSON at byte 5: leading zero",
            ),
            (
                &crate::vectors::VectorError::WrongLayout {
                    kind: "rfc7748",
                    reason: "no tests[]".into(),
                },
                "vector file does not have the rfc7748 layout: no tests[]",
            ),
            (
                &crate::vectors::VectorError::UnknownKind("md5".into()),
                "unknown vector kind \"md5\"",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }
}
