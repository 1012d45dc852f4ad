//! Buffers for received file chunks, handed back by the file thread to the session readers.
//!
//! A chunk is decrypted on a session's tokio worker and freed on the file thread once it is
//! written. Freed on another thread, glibc's allocator gave those pages back to the system
//! and the next chunk's buffer faulted them in again: ~8 page faults for each 60 KiB chunk,
//! about an eighth of the receiver's CPU (BENCHMARKS.md, "Files: chunk buffers kept"). A buffer
//! kept here stays mapped. At most [`MAX_SPARE`] are kept; the rest are freed as before, so this
//! holds at most 2 MiB whatever remote peers send.

use std::sync::Mutex;

/// Room for the largest sealed message (PROTOCOL.md §4.1): every chunk fits.
pub const CAPACITY: usize = crypto_core::noise::MAX_MESSAGE_LEN;

/// How many spare buffers are kept: above a transfer's window in chunks, so a steady transfer
/// never allocates.
pub const MAX_SPARE: usize = 32;

/// Sealed frames at least this long are opened in a spare buffer: full-size chunks (the
/// largest chunk size, PROTOCOL.md §5.1), not chats. A smaller chunk gets a buffer of its own
/// size, so a buffer kept for a queued chunk is never more than ~1.1 times its bytes.
pub const WORTH_IT: usize = crypto_core::wire::MAX_CHUNK_SIZE as usize;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A spare buffer, empty and with room for [`CAPACITY`] bytes (a new one when none is kept).
pub fn take() -> Vec<u8> {
    let spare = SPARE.lock().unwrap_or_else(|p| p.into_inner()).pop();
    spare.unwrap_or_else(|| Vec::with_capacity(CAPACITY))
}

/// Keeps `buffer` for a later [`take`] if it is one of ours and fewer than [`MAX_SPARE`] are
/// kept; otherwise frees it.
pub fn give_back(mut buffer: Vec<u8>) {
    // Only buffers of the size handed out: a larger one would hold memory nobody asked for.
    if buffer.capacity() != CAPACITY {
        return;
    }
    buffer.clear();
    let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
    if spare.len() < MAX_SPARE {
        spare.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_number_of_its_own_buffers_and_hands_them_out_empty() {
        // The pool is process-wide; this is the only test in the crate that uses it.
        let first = take();
        assert!(first.is_empty() && first.capacity() >= CAPACITY);
        let mut marked = first;
        marked.extend_from_slice(b"used");
        let at = marked.as_ptr();
        give_back(marked);
        let again = take();
        assert!(again.is_empty(), "handed out cleared");
        assert_eq!(again.as_ptr(), at, "the same allocation");

        // Foreign sizes are not kept.
        give_back(Vec::with_capacity(10));
        give_back(Vec::with_capacity(CAPACITY + 1));
        assert_eq!(SPARE.lock().unwrap().len(), 0);

        // At most MAX_SPARE are kept.
        for _ in 0..MAX_SPARE + 5 {
            give_back(Vec::with_capacity(CAPACITY));
        }
        assert_eq!(SPARE.lock().unwrap().len(), MAX_SPARE);
        drop(again);
    }
}
