//! crypto-core's own JSON reader and writer against serde_json (the module doc of
//! `crypto_core::json` says why the own code is kept). Three directions:
//! serde_json writes and ours reads the same value; ours writes and serde_json reads the same
//! value; and on mutated text, whatever ours accepts serde_json accepts with the same value, and
//! whatever serde_json accepts ours accepts too, except where ours is deliberately stricter
//! (duplicate keys, the [`Limits`] caps).

use proptest::prelude::*;
use serde_json::{Map, Value};

use crypto_core::json::{Json, Limits};

/// Roomy limits so the generated documents test parsing, not the caps.
const ROOMY: Limits = Limits {
    max_members: 64,
    max_values: 1 << 16,
    max_objects: 1 << 16,
};

/// Ours as a serde_json value; `None` if a number is outside what serde_json represents.
fn to_serde(json: &Json<'_>) -> Option<Value> {
    Some(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(text) => serde_json::from_str(text).ok()?,
        Json::String(s) => Value::String(s.to_string()),
        Json::Array(items) => Value::Array(items.iter().map(to_serde).collect::<Option<_>>()?),
        Json::Object(members) => {
            let mut map = Map::new();
            for (key, value) in members {
                map.insert(key.to_string(), to_serde(value)?);
            }
            Value::Object(map)
        }
    })
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z\"\\\\/\u{0}-\u{1f}\u{7f}-\u{ff}\u{2028}\u{1F600}]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 10, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
            prop::collection::btree_map("[a-z\"\\\\\u{1}é]{0,6}", inner, 0..10)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Printable ASCII and JSON's structural characters, so mutations stay near JSON.
fn mutation_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"{}[],:\"\\ -+.eE0123456789tfnulrsau\n\t".to_vec()),
        any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn what_serde_json_writes_ours_reads_alike(value in any_value(), pretty in any::<bool>()) {
        let text = if pretty {
            serde_json::to_string_pretty(&value).unwrap()
        } else {
            serde_json::to_string(&value).unwrap()
        };
        let ours = Json::parse_with(&text, ROOMY).unwrap();
        // Compared with serde_json's own reading of the text: without its `float_roundtrip`
        // feature it may read a float back one ulp off what it wrote.
        let theirs: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(to_serde(&ours), Some(theirs));
    }

    #[test]
    fn what_ours_writes_serde_json_reads_alike(value in any_value()) {
        let text = serde_json::to_string(&value).unwrap();
        let ours = Json::parse_with(&text, ROOMY).unwrap();
        // Display writes compact JSON with crypto-core's own string escaping.
        let written = ours.to_string();
        let back: Value = serde_json::from_str(&written).unwrap();
        prop_assert_eq!(back, serde_json::from_str::<Value>(&text).unwrap());
    }

    #[test]
    fn on_mutated_text_both_agree(
        value in any_value(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), mutation_byte(), 0u8..3), 1..4),
    ) {
        let mut bytes = serde_json::to_vec(&value).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        let ours = Json::parse_bytes_with(&bytes, ROOMY);
        let theirs = serde_json::from_slice::<Value>(&bytes);
        match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => prop_assert_eq!(to_serde(ours), Some(theirs.clone())),
            (Ok(ours), Err(e)) => {
                // Ours keeps a number's text; serde_json refuses one beyond f64.
                prop_assert!(to_serde(ours).is_none(), "ours accepted what serde_json refused ({e}): {:?}", String::from_utf8_lossy(&bytes));
            }
            (Err(e), Ok(_)) => {
                prop_assert!(
                    e.reason == "duplicate key" || e.reason.starts_with("too many"),
                    "serde_json accepted what ours refused ({e}): {:?}", String::from_utf8_lossy(&bytes)
                );
            }
            (Err(_), Err(_)) => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The bound the `json_work` fuzz target checks, on generated objects with many keys and on
    /// near-JSON noise: at most 8 operations (values parsed plus key comparisons) per byte.
    #[test]
    fn parse_work_is_linear_in_the_input(
        keys in prop::collection::vec("[a-c]{0,3}", 0..200),
        noise in "[{}\\[\\],:\"a-c0-9 ]{0,2000}",
    ) {
        let object = format!(
            "{{{}}}",
            keys.iter().enumerate().map(|(i, k)| format!("\"{k}{i}\":[{{}}]")).collect::<Vec<_>>().join(",")
        );
        for text in [object.as_str(), noise.as_str()] {
            for limits in [Limits::WIRE, Limits::FILE, ROOMY] {
                let (_, work) = Json::parse_measured(text, limits);
                prop_assert!(work.values + work.key_comparisons <= 8 * (text.len() + 1), "{:?} for {} bytes", work, text.len());
            }
        }
    }
}

#[test]
fn duplicate_keys_are_the_deliberate_difference() {
    let text = r#"{"a":1,"a":2}"#;
    assert!(serde_json::from_str::<Value>(text).is_ok());
    assert_eq!(Json::parse(text).unwrap_err().reason, "duplicate key");
}
