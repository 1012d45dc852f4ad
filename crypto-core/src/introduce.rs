//! The tag an `introduce` payload names its target by (PROTOCOL.md §7.2).
//!
//! Asking a contact "introduce me to B" by B's key would tell that contact whom we know, even
//! when it is not connected to B. The tag binds B's key to the asker's: a contact can match it
//! only against keys it already holds (it computes the tag for each of its sessions), so one
//! that does not know B learns nothing it could look up, and a tag from one asker says nothing
//! about another's.

use alloc::string::String;

use crate::encoding::to_base64;
use crate::keys::PublicKey;
use crate::primitives::sha256;

/// Domain separation for [`introduction_tag`].
pub const INTRODUCTION_TAG_LABEL: &[u8] = b"p2p-chat/1 introduce";

/// `base64(SHA-256("p2p-chat/1 introduce" || asker || target))`, the 44-character tag under
/// which `asker` asks to be introduced to `target`.
pub fn introduction_tag(asker: &PublicKey, target: &PublicKey) -> String {
    let mut input = [0u8; INTRODUCTION_TAG_LABEL.len() + 64];
    let (label, keys) = input.split_at_mut(INTRODUCTION_TAG_LABEL.len());
    label.copy_from_slice(INTRODUCTION_TAG_LABEL);
    keys[..32].copy_from_slice(asker.as_bytes());
    keys[32..].copy_from_slice(target.as_bytes());
    to_base64(&sha256(&input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_binds_both_keys_in_order() {
        let a = PublicKey::from_bytes([1; 32]);
        let b = PublicKey::from_bytes([2; 32]);
        let ab = introduction_tag(&a, &b);
        assert_eq!(ab.len(), 44);
        assert_ne!(ab, introduction_tag(&b, &a));
        assert_ne!(ab, introduction_tag(&a, &a));
        // Pinned: computed independently with Python's hashlib, as PROTOCOL.md §7.2 writes it
        // (base64 of SHA-256 over the label, 32 bytes of 0x01 and 32 bytes of 0x02).
        assert_eq!(ab, "gJsdlj9WXXWmizABvuEgliR97gZc/CLZ73qoESdINxw=");
    }
}
