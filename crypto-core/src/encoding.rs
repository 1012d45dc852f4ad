//! Standard base64 (RFC 4648 §4, with padding) — the only text encoding of binary on the wire.

use alloc::string::String;
use alloc::vec::Vec;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Input that is not canonical standard base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64")]
pub struct Base64Error;

/// Encodes bytes as standard, padded base64.
pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard, padded base64; anything else (URL-safe alphabet, missing padding,
/// whitespace, non-canonical trailing bits) is an error.
pub fn from_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    STANDARD.decode(text).map_err(|_| Base64Error)
}

/// Decodes base64 into `out`, appending; used on hot paths to reuse a buffer.
pub fn from_base64_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), Base64Error> {
    STANDARD.decode_vec(text, out).map_err(|_| Base64Error)
}

/// Appends the base64 of `bytes` to `out`.
pub fn to_base64_into(bytes: &[u8], out: &mut String) {
    STANDARD.encode_string(bytes, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(to_base64(b"hi"), "aGk=");
        assert_eq!(from_base64("aGk=").unwrap(), b"hi");
        assert_eq!(from_base64("aGk"), Err(Base64Error));
        assert_eq!(from_base64("a-k="), Err(Base64Error));
        assert_eq!(from_base64("aGk=\n"), Err(Base64Error));
    }
}
