//! Runners for the hand-transcribed specification vectors (RFC 7748, RFC 5869, the GCM spec,
//! FIPS 180).

use alloc::format;
use alloc::string::String;

use crate::json::Json;

use super::{expect_eq, hex_field, key_field, outcome, Outcome, VectorReport};
use crate::primitives::{
    aes256gcm_open, aes256gcm_seal, hkdf_sha256, hkdf_sha256_extract, sha256, sha512, x25519,
    x25519_base,
};

/// RFC 7748 §5.2 (single and iterated scalar multiplication; the 1,000,000-iteration case is
/// marked slow and skipped) and §6.1 (the Diffie-Hellman example).
pub(crate) fn rfc7748(root: &Json<'_>, report: &mut VectorReport) -> Result<(), &'static str> {
    for test in root["scalar_mult"].as_array().ok_or("no scalar_mult[]")? {
        let outcome = outcome((|| {
            let out = x25519(&key_field(test, "scalar")?, &key_field(test, "u")?)
                .map_err(|e| format!("{e}"))?;
            expect_eq("output", out.as_ref(), &key_field(test, "output")?)
        })());
        report.record(|| format!("{}", test["id"]), outcome);
    }
    let iterated = &root["iterated"];
    for result in iterated["results"]
        .as_array()
        .ok_or("no iterated.results[]")?
    {
        let outcome = if result["slow"].as_bool() == Some(true) {
            Outcome::Skip
        } else {
            outcome((|| {
                let mut k = key_field(iterated, "initial_k")?;
                let mut u = key_field(iterated, "initial_u")?;
                for _ in 0..result["iterations"].as_u64().ok_or("no iterations")? {
                    let r = x25519(&k, &u).map_err(|e| format!("{e}"))?;
                    u = k;
                    k = *r;
                }
                expect_eq("k", &k, &key_field(result, "k")?)
            })())
        };
        report.record(|| format!("iterated {}", result["iterations"]), outcome);
    }
    let dh = &root["diffie_hellman"];
    let outcome = outcome((|| {
        let alice = key_field(dh, "alice_private")?;
        let bob = key_field(dh, "bob_private")?;
        expect_eq(
            "alice_public",
            &x25519_base(&alice),
            &key_field(dh, "alice_public")?,
        )?;
        expect_eq(
            "bob_public",
            &x25519_base(&bob),
            &key_field(dh, "bob_public")?,
        )?;
        let shared = key_field(dh, "shared")?;
        let ab = x25519(&alice, &key_field(dh, "bob_public")?).map_err(|e| format!("{e}"))?;
        let ba = x25519(&bob, &key_field(dh, "alice_public")?).map_err(|e| format!("{e}"))?;
        expect_eq("shared (alice)", ab.as_ref(), &shared)?;
        expect_eq("shared (bob)", ba.as_ref(), &shared)
    })());
    report.record(|| String::from("rfc7748-6.1"), outcome);
    Ok(())
}

/// RFC 5869 Appendix A: PRK and OKM.
pub(crate) fn rfc5869(test: &Json<'_>) -> Outcome {
    outcome((|| {
        let salt = hex_field(test, "salt")?;
        let ikm = hex_field(test, "ikm")?;
        let length = test["length"].as_u64().ok_or("no length")? as usize;
        expect_eq(
            "prk",
            hkdf_sha256_extract(&salt, &ikm).as_ref(),
            &hex_field(test, "prk")?,
        )?;
        let okm = hkdf_sha256(&salt, &ikm, &hex_field(test, "info")?, length)
            .map_err(|e| format!("{e}"))?;
        expect_eq("okm", &okm, &hex_field(test, "okm")?)
    })())
}

/// GCM specification test cases (AES-256, 96-bit IV).
pub(crate) fn gcm_spec(test: &Json<'_>) -> Outcome {
    outcome((|| {
        let key = key_field(test, "key")?;
        let iv: [u8; 12] = hex_field(test, "iv")?
            .try_into()
            .map_err(|_| String::from("iv is not 12 bytes"))?;
        let aad = hex_field(test, "aad")?;
        let pt = hex_field(test, "pt")?;
        let mut want = hex_field(test, "ct")?;
        want.extend_from_slice(&hex_field(test, "tag")?);
        expect_eq("ct||tag", &aes256gcm_seal(&key, &iv, &aad, &pt), &want)?;
        let opened = aes256gcm_open(&key, &iv, &aad, &want).map_err(|e| format!("{e}"))?;
        expect_eq("plaintext", &opened, &pt)
    })())
}

/// FIPS 180 examples for SHA-256 and SHA-512.
pub(crate) fn fips180(test: &Json<'_>) -> Outcome {
    outcome((|| {
        let unit = test["msg_ascii"].as_str().ok_or("no msg_ascii")?;
        let repeat = test["msg_repeat"].as_u64().unwrap_or(1) as usize;
        let message = unit.repeat(repeat);
        let want = hex_field(test, "digest")?;
        match test["alg"].as_str() {
            Some("SHA-256") => expect_eq("digest", &sha256(message.as_bytes()), &want),
            Some("SHA-512") => expect_eq("digest", &sha512(message.as_bytes()), &want),
            _ => Err("unknown alg".into()),
        }
    })())
}
