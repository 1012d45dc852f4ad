//! The page's view of crypto-core, compiled to WebAssembly with wasm-bindgen.
//!
//! Marshalling only: every export converts its JS arguments, calls one crypto-core function and
//! converts the answer back. Reports come from crypto-core as JSON text and are handed to
//! `JSON.parse`, which keeps the `.wasm` far smaller than a generic serde-to-JS bridge. Bad input becomes a thrown JS `Error` with a message, never a trap.
#![forbid(unsafe_code)]

use crypto_core::fingerprint::numbers_match as core_numbers_match;
use crypto_core::vectors::{run_named, VectorKind};
use crypto_core::{Identity, PublicKey};
use wasm_bindgen::prelude::*;

/// Talc instead of std's dlmalloc: about 3 KB smaller in this bundle (BENCHMARKS.md, wasm).
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`: the façade's only clock, used to time `selfTest`.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Parses crypto-core's JSON text into a plain JS object.
fn parse_json(text: &str) -> Result<JsValue, JsError> {
    js_sys::JSON::parse(text).map_err(|_| JsError::new("could not build the result object"))
}

/// Sets one property on a JS object.
fn set(object: &JsValue, key: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(object, &JsValue::from_str(key), value)
        .map(|_| ())
        .map_err(|_| JsError::new("could not build the result object"))
}

fn public_key(text: &str) -> Result<PublicKey, JsError> {
    PublicKey::from_base64(text).map_err(|e| JsError::new(&e.to_string()))
}

/// A fresh identity: `{ publicKey, fingerprint }`. The secret never leaves wasm memory and is
/// zeroized when this call returns; the page uses it for demonstrations and tests only.
#[wasm_bindgen(js_name = generateIdentity)]
pub fn generate_identity() -> Result<JsValue, JsError> {
    let identity = Identity::generate();
    let object: JsValue = js_sys::Object::new().into();
    set(
        &object,
        "publicKey",
        &identity.public_key().to_base64().into(),
    )?;
    set(
        &object,
        "fingerprint",
        &crypto_core::fingerprint(identity.public_key()).into(),
    )?;
    Ok(object)
}

/// The fingerprint of a base64 public key: 30 digits in 6 groups of 5.
#[wasm_bindgen]
pub fn fingerprint(public_key_b64: &str) -> Result<String, JsError> {
    Ok(crypto_core::fingerprint(&public_key(public_key_b64)?))
}

/// The safety number of two base64 public keys: 60 digits in 12 groups of 5, order-independent.
#[wasm_bindgen(js_name = safetyNumber)]
pub fn safety_number(ours_b64: &str, theirs_b64: &str) -> Result<String, JsError> {
    Ok(crypto_core::safety_number(
        &public_key(ours_b64)?,
        &public_key(theirs_b64)?,
    ))
}

/// Whether two displayed numbers are equal, ignoring spaces (constant time).
#[wasm_bindgen(js_name = numbersMatch)]
pub fn numbers_match(a: &str, b: &str) -> bool {
    core_numbers_match(a, b)
}

/// The vector kinds `runVectors` accepts, in a stable order. Built as JSON text like the reports:
/// smaller in the bundle than wasm-bindgen's `Vec<String>` conversion.
#[wasm_bindgen(js_name = vectorKinds, unchecked_return_type = "string[]")]
pub fn vector_kinds() -> Result<JsValue, JsError> {
    let names: Vec<&str> = VectorKind::ALL.iter().map(|(name, _)| *name).collect();
    let mut text = String::new();
    crypto_core::json::write_string_array(&mut text, &names);
    parse_json(&text)
}

/// Runs one vector suite over a vector file's text: `{ passed, failed, skipped, failures }`.
#[wasm_bindgen(js_name = runVectors)]
pub fn run_vectors(kind: &str, json_text: &str) -> Result<JsValue, JsError> {
    let report = run_named(kind, json_text).map_err(|e| JsError::new(&e.to_string()))?;
    parse_json(&report.to_json())
}

/// The built-in self-test: `{ passed, failed, ms, failures }`.
#[wasm_bindgen(js_name = selfTest)]
pub fn self_test() -> Result<JsValue, JsError> {
    let start = performance_now();
    let report = crypto_core::selftest::self_test();
    let ms = performance_now() - start;
    let object = parse_json(&report.to_json())?;
    set(&object, "ms", &ms.into())?;
    Ok(object)
}

/// The parity report, byte for byte what the native `p2p-chat vectors --parity-out` writes.
#[wasm_bindgen(js_name = parityReport)]
pub fn parity_report() -> String {
    crypto_core::parity::parity_report()
}
