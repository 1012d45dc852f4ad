//! Standard base64 (RFC 4648 §4, with padding) — the only text encoding of binary on the wire.
//!
//! Written here instead of using the `base64` crate: the page's wasm bundle has a 100 KiB
//! budget and the crate's engine cost about 5 KiB of it. Decoding is strict, exactly like the
//! crate's `STANDARD` engine (the tests use the crate as an oracle): the standard alphabet only,
//! padding required, no whitespace, and the unused bits of the last character must be zero, so
//! every byte string has exactly one accepted encoding.

use alloc::string::String;
use alloc::vec::Vec;

/// Input that is not canonical standard base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64")]
pub struct Base64Error;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD: u8 = b'=';
/// Marks a byte outside the alphabet in [`DECODE`]; any value with the top bit set would do.
const INVALID: u8 = 0xff;

/// Character → 6-bit value, [`INVALID`] for everything else (including `=`).
static DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The length of the padded encoding of `len` bytes.
pub const fn encoded_len(len: usize) -> usize {
    len.div_ceil(3) * 4
}

/// Encodes `bytes` into `out`, which must be exactly [`encoded_len`] long.
fn encode_to_slice(bytes: &[u8], out: &mut [u8]) {
    let char_of = |sextet: u32| ALPHABET[(sextet & 63) as usize];
    // Six bytes to eight characters at a time, then three to four.
    let mut sixes = bytes.chunks_exact(6);
    let mut eights = out.chunks_exact_mut(8);
    for (six, eight) in (&mut sixes).zip(&mut eights) {
        let n = u64::from_be_bytes([six[0], six[1], six[2], six[3], six[4], six[5], 0, 0]);
        for (i, c) in eight.iter_mut().enumerate() {
            *c = ALPHABET[(n >> (58 - 6 * i)) as usize & 63];
        }
    }
    let done = bytes.len() / 6 * 8;
    let mut chunks = sixes.remainder().chunks_exact(3);
    let mut quads = out[done..].chunks_exact_mut(4);
    for (chunk, quad) in (&mut chunks).zip(&mut quads) {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        quad[0] = char_of(n >> 18);
        quad[1] = char_of(n >> 12);
        quad[2] = char_of(n >> 6);
        quad[3] = char_of(n);
    }
    let rest = chunks.remainder();
    if let (Some(&first), Some(quad)) = (rest.first(), quads.next()) {
        let second = rest.get(1).copied();
        let n = u32::from(first) << 16 | u32::from(second.unwrap_or(0)) << 8;
        quad[0] = char_of(n >> 18);
        quad[1] = char_of(n >> 12);
        quad[2] = if second.is_some() {
            char_of(n >> 6)
        } else {
            PAD
        };
        quad[3] = PAD;
    }
}

/// Encodes bytes as standard, padded base64.
pub fn to_base64(bytes: &[u8]) -> String {
    let mut out = alloc::vec![0; encoded_len(bytes.len())];
    encode_to_slice(bytes, &mut out);
    // The alphabet is ASCII, so this cannot fail.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends the base64 of `bytes` to `out`.
pub fn to_base64_into(bytes: &[u8], out: &mut String) {
    // Through a stack buffer: `String` only takes text that has been checked to be UTF-8, and
    // checking ASCII is far cheaper than the encoding itself.
    const CHUNK: usize = 3 * 256;
    let mut buffer = [0u8; encoded_len(CHUNK)];
    out.reserve(encoded_len(bytes.len()));
    for chunk in bytes.chunks(CHUNK) {
        let text = &mut buffer[..encoded_len(chunk.len())];
        encode_to_slice(chunk, text);
        if let Ok(text) = core::str::from_utf8(text) {
            out.push_str(text);
        }
    }
}

/// Decodes standard, padded base64; anything else (URL-safe alphabet, missing padding,
/// whitespace, non-canonical trailing bits) is an error.
pub fn from_base64(text: &str) -> Result<Vec<u8>, Base64Error> {
    let mut out = Vec::new();
    from_base64_into(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Decodes base64 into `out`, appending; used on hot paths to reuse a buffer. On error `out`
/// is left as it was.
pub fn from_base64_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), Base64Error> {
    let start = out.len();
    let result = decode_appending(text, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn decode_appending(text: &[u8], out: &mut Vec<u8>) -> Result<(), Base64Error> {
    if text.len() % 4 != 0 {
        return Err(Base64Error);
    }
    let Some((body, last)) = text.split_last_chunk::<4>() else {
        return Ok(()); // empty input, empty output
    };
    let start = out.len();
    out.resize(start + body.len() / 4 * 3, 0);
    // Every quad but the last: four alphabet characters, three bytes. `=` is not in the table,
    // so padding anywhere but at the end is rejected here.
    // Invalid characters are collected in `bad` and checked once, keeping the loop branch-free.
    let mut bad = 0;
    for (quad, bytes) in body.chunks_exact(4).zip(out[start..].chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(|x| DECODE[usize::from(x)]);
        bad |= a | b | c | d;
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
        bytes[0] = (n >> 16) as u8;
        bytes[1] = (n >> 8) as u8;
        bytes[2] = n as u8;
    }
    if bad & 0x80 != 0 {
        return Err(Base64Error);
    }
    // The last quad: `xxxx`, `xxx=` or `xx==`, with the bits the padding drops all zero.
    let [a, b, c, d] = *last;
    let (n, len) = match (c, d) {
        (PAD, PAD) => (sextets(a, b, b'A', b'A')?, 1),
        (_, PAD) => (sextets(a, b, c, b'A')?, 2),
        _ => (sextets(a, b, c, d)?, 3),
    };
    if n & (0x00ff_ffff >> (8 * len)) != 0 {
        return Err(Base64Error);
    }
    out.extend_from_slice(&n.to_be_bytes()[1..=len]);
    Ok(())
}

/// Four characters as a 24-bit number.
#[inline(always)]
fn sextets(a: u8, b: u8, c: u8, d: u8) -> Result<u32, Base64Error> {
    let [a, b, c, d] = [a, b, c, d].map(|x| DECODE[usize::from(x)]);
    if (a | b | c | d) & 0x80 != 0 {
        return Err(Base64Error);
    }
    Ok(u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d))
}

/// Lower-case hex, for the vector runners' messages and the parity report's handshake hash.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex character.
pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 2);
    for pair in text.as_bytes().chunks_exact(2) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        out.push((high << 4 | low) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_both_ways() {
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(from_hex("00aB7f"), Some(alloc::vec![0x00, 0xab, 0x7f]));
        assert_eq!(from_hex(""), Some(alloc::vec![]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("+1"), None);
    }

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(to_base64(b"hi"), "aGk=");
        assert_eq!(from_base64("aGk=").unwrap(), b"hi");
        assert_eq!(from_base64("aGk"), Err(Base64Error));
        assert_eq!(from_base64("a-k="), Err(Base64Error));
        assert_eq!(from_base64("aGk=\n"), Err(Base64Error));
    }

    #[test]
    fn rfc4648_section_10() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (bytes, text) in cases {
            assert_eq!(to_base64(bytes), text);
            let mut appended = String::from("x");
            to_base64_into(bytes, &mut appended);
            assert_eq!(appended[1..], *text);
            assert_eq!(from_base64(text).unwrap(), bytes);
        }
    }

    #[test]
    fn rejects_non_canonical_and_misplaced_padding() {
        for bad in [
            "Zh==", "Zm9=", "Z===", "====", "Zg=a", "Zg==Zg==", "=Zg=", "Zg", "Zm9vY", "Zm9v\n",
            " Zm9v", "Zm9v_-==", "Zm9vYg=",
        ] {
            assert_eq!(from_base64(bad), Err(Base64Error), "{bad:?}");
        }
    }

    #[test]
    fn error_leaves_buffer_unchanged_and_chunks_join() {
        let mut out = alloc::vec![1, 2, 3];
        assert_eq!(
            from_base64_into(b"Zm9vYmFyZh==", &mut out),
            Err(Base64Error)
        );
        assert_eq!(out, [1, 2, 3]);
        from_base64_into(b"Zm9vYmFy", &mut out).unwrap();
        assert_eq!(out, b"\x01\x02\x03foobar");

        let long: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut text = String::new();
        to_base64_into(&long, &mut text);
        assert_eq!(text, to_base64(&long));
        assert_eq!(from_base64(&text).unwrap(), long);
    }
}
