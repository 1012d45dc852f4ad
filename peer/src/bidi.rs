//! The bidirectional formatting characters of PROTOCOL.md §8.3 (U+061C, U+200E, U+200F,
//! U+202A–U+202E, U+2066–U+2069). A peer can use them to make text read differently from what
//! it is ("invoice_\u{202e}fdp.exe" shows as "invoice_exe.pdf"), so the terminal chat escapes
//! them and the confusable-name check strips them.

/// Whether `c` is a bidirectional embedding, override, isolate or mark.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_listed_characters_are_bidi_controls() {
        let listed: Vec<char> = "\u{061c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}"
            .chars()
            .collect();
        let found: Vec<char> = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_bidi_control(c))
            .collect();
        assert_eq!(found, listed);
    }
}
