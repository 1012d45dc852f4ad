//! Wycheproof (`testvectors_v1`) runners. `valid` must succeed with the stated output, `invalid`
//! must fail, `acceptable` may do either but must never give a wrong answer.

use alloc::format;
use alloc::string::String;

use crate::json::Json;

use super::{expect_eq, hex_field, key_field, outcome, Outcome};
use crate::primitives::{aes256gcm_open, aes256gcm_seal, hkdf_sha256, hmac_sha256, x25519};

fn result<'j>(test: &'j Json<'_>) -> &'j str {
    test["result"].as_str().unwrap_or("")
}

/// XDH: our wrapper rejects the all-zero shared secret (Noise requires it), which Wycheproof
/// marks `acceptable` with the `ZeroSharedSecret` flag.
pub(crate) fn x25519_test(group: &Json<'_>, test: &Json<'_>) -> Outcome {
    if group["curve"].as_str() != Some("curve25519") {
        return Outcome::Skip;
    }
    outcome((|| {
        let private = key_field(test, "private")?;
        let shared = hex_field(test, "shared")?;
        let public = hex_field(test, "public")?;
        let computed = match <[u8; 32]>::try_from(public.as_slice()) {
            Ok(public) => x25519(&private, &public).ok(),
            Err(_) => None,
        };
        match (result(test), computed) {
            ("valid", Some(out)) => expect_eq("shared", out.as_ref(), &shared),
            ("valid", None) => Err("valid input rejected".into()),
            ("acceptable", Some(out)) => expect_eq("shared", out.as_ref(), &shared),
            ("acceptable", None) if shared.iter().all(|b| *b == 0) => Ok(()),
            ("acceptable", None) => Err("acceptable non-zero result rejected".into()),
            ("invalid", Some(out)) if out.as_ref() == shared.as_slice() => {
                Err("invalid input gave the stated output".into())
            }
            ("invalid", _) => Ok(()),
            (other, _) => Err(format!("unknown result \"{other}\"")),
        }
    })())
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
    outcome((|| {
        let key = key_field(test, "key")?;
        let iv: [u8; 12] = hex_field(test, "iv")?
            .try_into()
            .map_err(|_| String::from("iv is not 12 bytes"))?;
        let aad = hex_field(test, "aad")?;
        let msg = hex_field(test, "msg")?;
        let mut sealed = hex_field(test, "ct")?;
        sealed.extend_from_slice(&hex_field(test, "tag")?);
        let opened = aes256gcm_open(&key, &iv, &aad, &sealed);
        match result(test) {
            "valid" | "acceptable" => {
                expect_eq("ct||tag", &aes256gcm_seal(&key, &iv, &aad, &msg), &sealed)?;
                let opened = opened.map_err(|_| String::from("valid ciphertext rejected"))?;
                expect_eq("plaintext", &opened, &msg)
            }
            "invalid" if opened.is_ok() => Err("invalid ciphertext accepted".into()),
            "invalid" => Ok(()),
            other => Err(format!("unknown result \"{other}\"")),
        }
    })())
}

pub(crate) fn hkdf(test: &Json<'_>) -> Outcome {
    outcome((|| {
        let size = test["size"].as_u64().ok_or("missing size")? as usize;
        let okm = hkdf_sha256(
            &hex_field(test, "salt")?,
            &hex_field(test, "ikm")?,
            &hex_field(test, "info")?,
            size,
        );
        match (result(test), okm) {
            ("valid" | "acceptable", Ok(okm)) => expect_eq("okm", &okm, &hex_field(test, "okm")?),
            ("valid" | "acceptable", Err(e)) => Err(format!("valid input rejected: {e}")),
            ("invalid", Err(_)) => Ok(()),
            ("invalid", Ok(_)) => Err("invalid length accepted".into()),
            (other, _) => Err(format!("unknown result \"{other}\"")),
        }
    })())
}

pub(crate) fn hmac(group: &Json<'_>, test: &Json<'_>) -> Outcome {
    let Some(tag_bits) = group["tagSize"].as_u64() else {
        return Outcome::Skip;
    };
    outcome((|| {
        let full = hmac_sha256(&hex_field(test, "key")?, &hex_field(test, "msg")?);
        let tag = hex_field(test, "tag")?;
        let len = (tag_bits / 8) as usize;
        let matches = len <= full.len()
            && tag.len() == len
            && crate::primitives::constant_time_eq(&full[..len], &tag);
        match (result(test), matches) {
            ("valid" | "acceptable", true) | ("invalid", false) => Ok(()),
            ("valid" | "acceptable", false) => Err("tag mismatch on valid input".into()),
            ("invalid", true) => Err("invalid tag verified".into()),
            (other, _) => Err(format!("unknown result \"{other}\"")),
        }
    })())
}
