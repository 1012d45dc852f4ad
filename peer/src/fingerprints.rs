//! Remote-key fingerprints, computed when somebody looks at them, once per key.
//!
//! A fingerprint costs 5,200 SHA-512 rounds (~2 ms, PROTOCOL.md §6). Computing it for every
//! completed handshake made it ~80 % of the peer's CPU per handshake (BENCHMARKS.md), although
//! only a UI, the terminal chat or a log line ever shows it. So sessions carry no fingerprint;
//! the UI layer fills it in from this cache as it serialises a contact's events. Strangers get
//! none from the daemon at all (the page computes theirs in wasm): in the UI writer, one
//! fingerprint per stranger's handshake let a burst of strangers delay contacts' chats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crypto_core::PublicKey;

/// Entries kept before the cache starts over (≈ 1 MiB); reconnects of known peers stay free.
const MAX_ENTRIES: usize = 16_384;

/// Fingerprint per public key.
#[derive(Default)]
pub struct FingerprintCache {
    map: Mutex<HashMap<PublicKey, Arc<str>>>,
}

impl FingerprintCache {
    /// The grouped fingerprint of `key`, computed on first use.
    pub fn get(&self, key: &PublicKey) -> Arc<str> {
        if let Some(found) = self.lock().get(key) {
            return found.clone();
        }
        // Computed outside the lock: two callers may both compute the same key, harmlessly.
        let computed: Arc<str> = crypto_core::fingerprint(key).into();
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(*key, computed.clone());
        computed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PublicKey, Arc<str>>> {
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_the_core_fingerprint() {
        let cache = FingerprintCache::default();
        let key = PublicKey::from_bytes([9; 32]);
        let first = cache.get(&key);
        assert_eq!(&*first, crypto_core::fingerprint(&key));
        assert!(Arc::ptr_eq(&first, &cache.get(&key)));
    }
}
