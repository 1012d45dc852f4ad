//! crypto-core's own base64 against the `base64` crate's `STANDARD` engine (padded, canonical)
//! as an oracle: the same encodings, and exactly the same inputs accepted and rejected, for
//! random bytes, random text over the base64 characters and their near misses, and mutated
//! valid encodings.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;

use crypto_core::encoding::{from_base64, from_base64_into, to_base64, to_base64_into};

/// Both decoders agree on `text`: the same bytes, or both reject it.
fn agree(text: &[u8]) -> Result<(), TestCaseError> {
    let oracle = STANDARD.decode(text).ok();
    let mut ours = vec![0xEE; 3];
    let accepted = from_base64_into(text, &mut ours).is_ok();
    if accepted {
        prop_assert_eq!(Some(&ours[3..]), oracle.as_deref(), "{:?}", text);
    } else {
        prop_assert_eq!(&ours, &[0xEE; 3], "a rejected decode changed the buffer");
        prop_assert!(
            oracle.is_none(),
            "rejected what the oracle accepts: {:?}",
            text
        );
    }
    if let Ok(text) = core::str::from_utf8(text) {
        prop_assert_eq!(from_base64(text).ok(), oracle);
    }
    Ok(())
}

/// A valid encoding with one byte replaced, inserted or removed, or cut short.
fn mutated_encoding() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n.";
    (
        prop::collection::vec(any::<u8>(), 0..40),
        any::<prop::sample::Index>(),
        prop::sample::select(alphabet.to_vec()),
        0u8..4,
    )
        .prop_map(|(bytes, at, c, how)| {
            let mut text = STANDARD.encode(bytes).into_bytes();
            let i = at.index(text.len() + 1);
            match how {
                0 if i < text.len() => text[i] = c,
                1 => text.insert(i, c),
                2 if i < text.len() => {
                    text.remove(i);
                }
                _ => text.truncate(i),
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encodes_like_the_oracle_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let text = to_base64(&bytes);
        prop_assert_eq!(&text, &STANDARD.encode(&bytes));
        let mut appended = String::from("prefix");
        to_base64_into(&bytes, &mut appended);
        prop_assert_eq!(&appended[6..], &text[..]);
        prop_assert_eq!(from_base64(&text).unwrap(), bytes);
    }

    #[test]
    fn accepts_and_rejects_like_the_oracle(text in "[A-Za-z0-9+/=]{0,24}") {
        agree(text.as_bytes())?;
    }

    #[test]
    fn near_misses_like_the_oracle(text in "[A-Za-z0-9+/=_\\- \n\r]{0,24}") {
        agree(text.as_bytes())?;
    }

    #[test]
    fn mutated_encodings_like_the_oracle(text in mutated_encoding()) {
        agree(&text)?;
    }

    #[test]
    fn random_bytes_like_the_oracle(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        agree(&bytes)?;
    }
}

#[test]
fn every_last_quad_like_the_oracle() {
    // All 65^2 endings `xy==`, and all `xyz=` with x and y fixed: covers every trailing-bit case.
    let chars: Vec<u8> =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".to_vec();
    for &x in &chars {
        for &y in &chars {
            agree(&[b'Q', b'U', b'J', b'D', x, y, b'=', b'=']).unwrap();
            agree(&[b'Q', b'U', x, y, b'=']).unwrap();
            for &z in &chars {
                agree(&[x, y, z, b'=']).unwrap();
            }
        }
    }
}
