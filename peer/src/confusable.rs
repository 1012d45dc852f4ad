//! Confusable display names (PROTOCOL.md §8.3). Names are what the other side says about
//! itself, so a stranger can call itself "bob\u{200b}" or "b\u{043e}b" (Cyrillic о) next to the
//! verified Bob. When a key that is not a contact connects, its name's skeleton is compared
//! with every contact's, and the page warns about any match next to the fingerprint.
//!
//! All the Unicode data comes from maintained crates: NFKC from `unicode-normalization`, full
//! case folding (CaseFolding.txt statuses C and F) from `caseless`, and the UTS #39 skeleton
//! (which also drops `Default_Ignorable_Code_Point`s) from `unicode-security`. Peer only: these
//! tables never go into the page's WebAssembly.

use unicode_normalization::UnicodeNormalization;

use crate::bidi::is_bidi_control;

/// A name's skeletons: two names are confusable when one of their skeletons (the same kind)
/// is equal and non-empty. Two kinds, because case folding and the UTS #39 mapping do not
/// commute: folding first keeps "ЬоЬ" apart from "bob" only if the mapping runs after it, and
/// mapping first is what catches "AIice" (capital I, which the mapping takes to l) and "b0b".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Skeleton {
    folded_first: String,
    mapped_first: String,
}

impl Skeleton {
    /// The skeletons of `name`, as PROTOCOL.md §8.3 defines them.
    pub fn of(name: &str) -> Self {
        let stripped = strip(name);
        let folded = caseless::default_case_fold_str(&stripped);
        let folded_first: String = unicode_security::skeleton(&folded).collect();
        let mapped: String = unicode_security::skeleton(&stripped).collect();
        let mapped_first = caseless::default_case_fold_str(&mapped);
        Self {
            folded_first: collapse(&folded_first),
            mapped_first: collapse(&mapped_first),
        }
    }

    /// Whether `other` is confusable with this one.
    pub fn confusable(&self, other: &Skeleton) -> bool {
        (!self.folded_first.is_empty() && self.folded_first == other.folded_first)
            || (!self.mapped_first.is_empty() && self.mapped_first == other.mapped_first)
    }

    /// The fold-then-map and the map-then-fold skeletons (for an index of names).
    pub fn parts(&self) -> (&str, &str) {
        (&self.folded_first, &self.mapped_first)
    }

    /// Whether the name was nothing but invisible characters (confusable with no one).
    pub fn is_empty(&self) -> bool {
        self.folded_first.is_empty()
    }

    /// The fold-then-map skeleton as text (for logs and tests; it is not meant to be shown).
    pub fn as_str(&self) -> &str {
        &self.folded_first
    }
}

/// PROTOCOL.md §8.3's `skeleton(name)`: NFKC; drop default-ignorable and bidi formatting
/// characters; full case folding; the UTS #39 skeleton; white space runs collapsed to one
/// space and trimmed. (The second skeleton, [`Skeleton`]'s map-then-fold, swaps the middle
/// two steps.)
pub fn skeleton(name: &str) -> String {
    Skeleton::of(name).folded_first
}

/// NFKC, without default-ignorable and bidi formatting characters.
fn strip(name: &str) -> String {
    name.nfkc()
        .filter(|&c| !is_default_ignorable(c) && !is_bidi_control(c))
        .collect()
}

/// White space runs collapsed to one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `c` is a `Default_Ignorable_Code_Point`. `unicode-security` keeps its table of
/// them private but drops exactly them (and nothing else: every confusable prototype is
/// non-empty) when it computes a skeleton, so a character whose own skeleton is empty is one.
fn is_default_ignorable(c: char) -> bool {
    let mut buffer = [0; 4];
    let empty = unicode_security::skeleton(c.encode_utf8(&mut buffer))
        .next()
        .is_none();
    empty
}

/// The contacts whose names are equal or confusable with `name` (PROTOCOL.md §8.3's
/// `confusable_with`), in the order given. A name with an empty skeleton (nothing but
/// invisible characters) is confusable with no one.
pub fn confusable_with<'a, K: ?Sized + 'a>(
    name: &str,
    contacts: impl IntoIterator<Item = (&'a K, &'a str)>,
) -> Vec<&'a K> {
    let ours = Skeleton::of(name);
    if ours.is_empty() {
        return Vec::new();
    }
    contacts
        .into_iter()
        .filter(|(_, contact_name)| ours.confusable(&Skeleton::of(contact_name)))
        .map(|(key, _)| key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confusable(a: &str, b: &str) -> bool {
        Skeleton::of(a).confusable(&Skeleton::of(b))
    }

    #[test]
    fn look_alikes_of_bob_are_confusable_with_bob() {
        for name in [
            "bob",
            "bob\u{200b}",
            "b\u{200c}o\u{200d}b\u{2060}\u{feff}",
            "bo\u{00ad}b",
            "Bob",
            "BOB\u{200b}",
            "ｂｏｂ",
            "Ｂｏｂ",
            "b\u{043e}b",
            "\u{202e}bob",
            "\u{202e}bob\u{202c}",
            "\u{2067}bob\u{2069}",
            "\u{200f}bob\u{200e}\u{061c}",
            "  bob ",
            "bob\u{fe0f}",
        ] {
            assert!(confusable(name, "bob"), "{name:?} -> {:?}", skeleton(name));
        }
    }

    #[test]
    fn both_orders_of_folding_and_mapping_are_checked() {
        // Fold then map: confusables.txt takes the small soft sign ь to ƅ (tone six), so "ЬоЬ"
        // matches "ƅoƅ" and its own case variants.
        assert!(confusable(
            "\u{042c}\u{043e}\u{042c}",
            "\u{044c}\u{043e}\u{044c}"
        ));
        assert!(confusable("\u{042c}\u{043e}\u{042c}", "\u{0185}o\u{0185}"));
        assert_eq!(skeleton("\u{042c}\u{043e}\u{042c}"), "\u{0185}o\u{0185}");
        // Map then fold: the capital soft sign Ь is mapped to b before folding, so "ЬоЬ" is
        // "bob" too; and so are capital I for l, digits for letters, Greek and Cyrillic capitals.
        assert!(confusable("\u{042c}\u{043e}\u{042c}", "bob"));
        for (name, contact) in [
            ("AIice", "Alice"),
            ("A\u{0406}ice", "Alice"),
            ("\u{0392}ob", "Bob"),
            ("\u{0412}ob", "Bob"),
            ("b0b", "bob"),
        ] {
            assert!(confusable(name, contact), "{name:?} vs {contact:?}");
        }
        assert!(!confusable("Alice", "Bob"));
        assert!(!confusable("bob", "rob"));
        // Mixed scripts inside one name are caught letter by letter.
        assert!(confusable("\u{0430}lic\u{0435}", "alice"));
        assert!(confusable("\u{0391}LICE", "alice"), "Greek capital alpha");
    }

    #[test]
    fn spacing_is_collapsed_but_not_removed() {
        assert!(confusable("b  o\tb", "b o b"));
        assert!(confusable("b\u{3000}o b", "b o b"));
        assert!(confusable("  b o b  ", "b o b"));
        assert!(!confusable("b o b", "bob"));
        assert_eq!(
            skeleton(" \u{2003}alice \n smith "),
            skeleton("alice smith")
        );
    }

    #[test]
    fn distinct_names_stay_distinct() {
        for (a, b) in [
            ("bob", "rob"),
            ("bob", "bobby"),
            ("bob", "alice"),
            ("bob", "b"),
            ("alice", "alice2"),
            ("Mallory", "Malory"),
            ("李雷", "韩梅梅"),
            ("Ελένη", "Ελενα"),
        ] {
            assert!(!confusable(a, b), "{a:?} ~ {b:?}: {:?}", skeleton(a));
        }
    }

    #[test]
    fn non_latin_names_have_skeletons_and_match_their_variants() {
        assert!(!skeleton("李雷").is_empty());
        assert!(confusable("李雷", "李雷"));
        assert!(confusable("李\u{200b}雷", "李雷"));
        assert!(!skeleton("Ελένη").is_empty());
        assert!(
            confusable("ΕΛΈΝΗ", "Ελένη"),
            "case folding applies to Greek"
        );
        assert!(confusable("Ελε\u{0301}νη", "Ελένη"), "decomposed accents");
        assert!(confusable("\u{202e}Ελένη", "Ελένη"));
    }

    #[test]
    fn a_name_of_invisible_characters_is_confusable_with_no_one() {
        assert_eq!(skeleton("\u{200b}\u{202e}\u{2066} \u{feff}"), "");
        assert!(!confusable("\u{200b}", ""));
        assert!(!confusable("", ""));
        let contacts = [("empty", ""), ("zwsp", "\u{200b}")];
        assert!(confusable_with("\u{200d}", contacts.iter().map(|(k, n)| (*k, *n))).is_empty());
    }

    #[test]
    fn confusable_with_lists_every_matching_contact_in_order() {
        let contacts = [
            ("key-bob", "Bob"),
            ("key-alice", "alice"),
            ("key-bob2", "b\u{043e}b"),
            ("key-carol", "carol"),
        ];
        let found = confusable_with("bob\u{200b}", contacts.iter().map(|(k, n)| (*k, *n)));
        assert_eq!(found, ["key-bob", "key-bob2"]);
        let none = confusable_with("dave", contacts.iter().map(|(k, n)| (*k, *n)));
        assert!(none.is_empty());
    }

    #[test]
    fn default_ignorables_are_found_from_the_crate_table() {
        for c in [
            '\u{ad}',
            '\u{34f}',
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{fe00}',
            '\u{fe0f}',
            '\u{e0001}',
            '\u{e0100}',
            '\u{3164}',
        ] {
            assert!(is_default_ignorable(c), "{c:?}");
        }
        for c in ['a', 'B', ' ', '\u{043e}', '李', 'λ', '0', '\u{301}'] {
            assert!(!is_default_ignorable(c), "{c:?}");
        }
        // Differential check of the derivation against Default_Ignorable_Code_Point as
        // DerivedCoreProperties.txt lists it (Unicode 18, the crate's version): exactly these.
        const LISTED: [(u32, u32); 17] = [
            (0xad, 0xad),
            (0x34f, 0x34f),
            (0x61c, 0x61c),
            (0x115f, 0x1160),
            (0x17b4, 0x17b5),
            (0x180b, 0x180f),
            (0x200b, 0x200f),
            (0x202a, 0x202e),
            (0x2060, 0x206f),
            (0x3164, 0x3164),
            (0xfe00, 0xfe0f),
            (0xfeff, 0xfeff),
            (0xffa0, 0xffa0),
            (0xfff0, 0xfff8),
            (0x1bca0, 0x1bca3),
            (0x1d173, 0x1d17a),
            (0xe0000, 0xe0fff),
        ];
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            let listed = LISTED
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&u32::from(c)));
            assert_eq!(is_default_ignorable(c), listed, "U+{:04X}", u32::from(c));
        }
        // Every bidi formatting character is also Default_Ignorable: both rules agree.
        for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
            if is_bidi_control(c) {
                assert!(is_default_ignorable(c), "{c:?}");
            }
        }
    }
}
