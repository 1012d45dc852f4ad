//! Runners for the hand-transcribed specification vectors (RFC 7748, RFC 5869, the GCM spec,
//! FIPS 180).

use crate::json::{write_value, Json};

use super::{Checks, Outcome, VectorReport};
use crate::primitives::{
    aes256gcm_open, aes256gcm_seal, hkdf_sha256, hkdf_sha256_extract, sha256, sha512, x25519,
    x25519_base,
};

/// RFC 7748 §5.2 (single and iterated scalar multiplication; the 1,000,000-iteration case is
/// marked slow and skipped) and §6.1 (the Diffie-Hellman example).
pub(crate) fn rfc7748(root: &Json<'_>, report: &mut VectorReport) -> Result<(), &'static str> {
    for test in root["scalar_mult"].as_array().ok_or("no scalar_mult[]")? {
        let mut c = Checks::default();
        let (scalar, u) = (c.key(test, "scalar"), c.key(test, "u"));
        let want = c.key(test, "output");
        if let Some(out) = c.ok(x25519(&scalar, &u)) {
            c.eq("output", out.as_ref(), &want);
        }
        report.record(c.outcome(), &|out| write_value(out, &test["id"]));
    }
    let iterated = &root["iterated"];
    for result in iterated["results"]
        .as_array()
        .ok_or("no iterated.results[]")?
    {
        let outcome = if result["slow"].as_bool() == Some(true) {
            Outcome::Skip
        } else {
            let mut c = Checks::default();
            let mut k = c.key(iterated, "initial_k");
            let mut u = c.key(iterated, "initial_u");
            let want = c.key(result, "k");
            let iterations = result["iterations"].as_u64();
            c.check(iterations.is_some(), "no iterations");
            for _ in 0..iterations.unwrap_or(0) {
                let Some(r) = c.ok(x25519(&k, &u)) else {
                    break;
                };
                u = k;
                k = *r;
            }
            c.eq("k", &k, &want);
            c.outcome()
        };
        report.record(outcome, &|out| {
            out.push_str("iterated ");
            write_value(out, &result["iterations"]);
        });
    }
    let dh = &root["diffie_hellman"];
    let mut c = Checks::default();
    let alice = c.key(dh, "alice_private");
    let bob = c.key(dh, "bob_private");
    let alice_public = c.key(dh, "alice_public");
    let bob_public = c.key(dh, "bob_public");
    let shared = c.key(dh, "shared");
    c.eq("alice_public", &x25519_base(&alice), &alice_public);
    c.eq("bob_public", &x25519_base(&bob), &bob_public);
    for (what, secret, public) in [
        ("shared (alice)", &alice, &bob_public),
        ("shared (bob)", &bob, &alice_public),
    ] {
        if let Some(out) = c.ok(x25519(secret, public)) {
            c.eq(what, out.as_ref(), &shared);
        }
    }
    report.record(c.outcome(), &|out| out.push_str("rfc7748-6.1"));
    Ok(())
}

/// RFC 5869 Appendix A: PRK and OKM.
pub(crate) fn rfc5869(test: &Json<'_>) -> Outcome {
    let mut c = Checks::default();
    let salt = c.hex(test, "salt");
    let ikm = c.hex(test, "ikm");
    let info = c.hex(test, "info");
    let length = test["length"].as_u64();
    c.check(length.is_some(), "no length");
    let prk = c.hex(test, "prk");
    c.eq("prk", hkdf_sha256_extract(&salt, &ikm).as_ref(), &prk);
    let want = c.hex(test, "okm");
    if let Some(okm) = c.ok(hkdf_sha256(
        &salt,
        &ikm,
        &info,
        length.unwrap_or(0) as usize,
    )) {
        c.eq("okm", &okm, &want);
    }
    c.outcome()
}

/// GCM specification test cases (AES-256, 96-bit IV).
pub(crate) fn gcm_spec(test: &Json<'_>) -> Outcome {
    let mut c = Checks::default();
    let key = c.key(test, "key");
    let mut iv = [0u8; 12];
    c.fill(test, "iv", &mut iv);
    let aad = c.hex(test, "aad");
    let pt = c.hex(test, "pt");
    let mut want = c.hex(test, "ct");
    want.extend_from_slice(&c.hex(test, "tag"));
    c.eq("ct||tag", &aes256gcm_seal(&key, &iv, &aad, &pt), &want);
    if let Some(opened) = c.ok(aes256gcm_open(&key, &iv, &aad, &want)) {
        c.eq("plaintext", &opened, &pt);
    }
    c.outcome()
}

/// FIPS 180 examples for SHA-256 and SHA-512.
pub(crate) fn fips180(test: &Json<'_>) -> Outcome {
    let mut c = Checks::default();
    let Some(unit) = test["msg_ascii"].as_str() else {
        c.fail(&["no msg_ascii"]);
        return c.outcome();
    };
    let repeat = test["msg_repeat"].as_u64().unwrap_or(1) as usize;
    let message = unit.repeat(repeat);
    let want = c.hex(test, "digest");
    match test["alg"].as_str() {
        Some("SHA-256") => c.eq("digest", &sha256(message.as_bytes()), &want),
        Some("SHA-512") => c.eq("digest", &sha512(message.as_bytes()), &want),
        _ => c.fail(&["unknown alg"]),
    }
    c.outcome()
}
