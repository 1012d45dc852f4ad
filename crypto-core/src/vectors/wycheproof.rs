//! Wycheproof (`testvectors_v1`) runners. `valid` must succeed with the stated output, `invalid`
//! must fail, `acceptable` may do either but must never give a wrong answer.

use crate::json::Json;

use super::{Checks, Outcome};
use crate::primitives::{aes256gcm_open, aes256gcm_seal, hkdf_sha256, hmac_sha256, x25519};

/// The expected result, `valid`, `acceptable` or `invalid`.
fn result<'j>(test: &'j Json<'_>) -> &'j str {
    test["result"].as_str().unwrap_or("")
}

fn unknown_result(c: &mut Checks, result: &str) {
    c.fail(&["unknown result \"", result, "\""]);
}

/// XDH: our wrapper rejects the all-zero shared secret (Noise requires it), which Wycheproof
/// marks `acceptable` with the `ZeroSharedSecret` flag.
pub(crate) fn x25519_test(group: &Json<'_>, test: &Json<'_>) -> Outcome {
    if group["curve"].as_str() != Some("curve25519") {
        return Outcome::Skip;
    }
    let mut c = Checks::default();
    let private = c.key(test, "private");
    let shared = c.hex(test, "shared");
    let public = c.hex(test, "public");
    let computed = match <[u8; 32]>::try_from(public.as_slice()) {
        Ok(public) => x25519(&private, &public).ok(),
        Err(_) => None,
    };
    match (result(test), computed) {
        ("valid" | "acceptable", Some(out)) => c.eq("shared", out.as_ref(), &shared),
        ("valid", None) => c.fail(&["valid input rejected"]),
        ("acceptable", None) => c.check(
            shared.iter().all(|b| *b == 0),
            "acceptable non-zero result rejected",
        ),
        ("invalid", out) => c.check(
            out.is_none_or(|out| out.as_ref() != shared.as_slice()),
            "invalid input gave the stated output",
        ),
        (other, _) => unknown_result(&mut c, other),
    }
    c.outcome()
}

pub(crate) fn aes_gcm(group: &Json<'_>, test: &Json<'_>) -> Outcome {
    let sizes = (
        group["keySize"].as_u64(),
        group["ivSize"].as_u64(),
        group["tagSize"].as_u64(),
    );
    if sizes != (Some(256), Some(96), Some(128)) {
        return Outcome::Skip;
    }
    let mut c = Checks::default();
    let key = c.key(test, "key");
    let mut iv = [0u8; 12];
    c.fill(test, "iv", &mut iv);
    let aad = c.hex(test, "aad");
    let msg = c.hex(test, "msg");
    let mut sealed = c.hex(test, "ct");
    sealed.extend_from_slice(&c.hex(test, "tag"));
    let opened = aes256gcm_open(&key, &iv, &aad, &sealed);
    match result(test) {
        "valid" | "acceptable" => {
            c.eq("ct||tag", &aes256gcm_seal(&key, &iv, &aad, &msg), &sealed);
            match opened {
                Ok(opened) => c.eq("plaintext", &opened, &msg),
                Err(_) => c.fail(&["valid ciphertext rejected"]),
            }
        }
        "invalid" => c.check(opened.is_err(), "invalid ciphertext accepted"),
        other => unknown_result(&mut c, other),
    }
    c.outcome()
}

pub(crate) fn hkdf(test: &Json<'_>) -> Outcome {
    let mut c = Checks::default();
    let size = test["size"].as_u64();
    c.check(size.is_some(), "missing size");
    let salt = c.hex(test, "salt");
    let ikm = c.hex(test, "ikm");
    let info = c.hex(test, "info");
    let okm = hkdf_sha256(&salt, &ikm, &info, size.unwrap_or(0) as usize);
    match (result(test), okm) {
        ("valid" | "acceptable", Ok(okm)) => {
            let want = c.hex(test, "okm");
            c.eq("okm", &okm, &want);
        }
        ("valid" | "acceptable", Err(e)) => c.fail_with("valid input rejected: ", &e),
        ("invalid", okm) => c.check(okm.is_err(), "invalid length accepted"),
        (other, _) => unknown_result(&mut c, other),
    }
    c.outcome()
}

pub(crate) fn hmac(group: &Json<'_>, test: &Json<'_>) -> Outcome {
    let Some(tag_bits) = group["tagSize"].as_u64() else {
        return Outcome::Skip;
    };
    let mut c = Checks::default();
    let key = c.hex(test, "key");
    let msg = c.hex(test, "msg");
    let tag = c.hex(test, "tag");
    let full = hmac_sha256(&key, &msg);
    let len = (tag_bits / 8) as usize;
    let matches = len <= full.len()
        && tag.len() == len
        && crate::primitives::constant_time_eq(&full[..len], &tag);
    match (result(test), matches) {
        ("valid" | "acceptable", true) | ("invalid", false) => {}
        ("valid" | "acceptable", false) => c.fail(&["tag mismatch on valid input"]),
        ("invalid", true) => c.fail(&["invalid tag verified"]),
        (other, _) => unknown_result(&mut c, other),
    }
    c.outcome()
}
