//! Building text without `format!`: every use of `core::fmt`'s argument machinery (and its
//! integer formatting and padding) costs the page's wasm bundle several kilobytes, so messages
//! are put together from `&str` pieces here.

use alloc::string::String;

/// The pieces joined into one string.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
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
}
