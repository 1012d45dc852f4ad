//! crypto-core's own base64 against the `base64` crate (`STANDARD`) on the peer's hot path:
//! encoding a sealed message into a line and decoding a frame's ciphertext into a reused buffer,
//! for 100 B and 16 KiB messages. The two alternate in one loop; the median per-call time of
//! each is printed with the ratio crypto-core / crate (target ≤ 1.5×).
//!
//! ```text
//! cargo bench -p crypto-core --bench base64
//! ```

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use crypto_core::encoding::{from_base64_into, to_base64_into};

const ROUNDS: usize = 31;

/// Median nanoseconds per call of `f`, batched so one batch lasts about 2 ms.
fn time(batch: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / batch as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`, an unoptimised
    // build) only checks that both agree and prints no timings.
    let quick = !std::env::args().any(|a| a == "--bench");
    for size in [100usize, 16 * 1024] {
        let bytes: Vec<u8> = (0..size as u32).map(|i| (i * 31 + 7) as u8).collect();
        let text = STANDARD.encode(&bytes);
        let batch = if quick {
            1
        } else {
            (2_000_000 / (size * 2)).max(1)
        };
        let rounds = if quick { 1 } else { ROUNDS };
        let mut line = String::with_capacity(text.len() + 64);
        let mut buffer = Vec::with_capacity(size);
        let (mut ours_enc, mut crate_enc, mut ours_dec, mut crate_dec) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            ours_enc.push(time(batch, || {
                line.clear();
                to_base64_into(black_box(&bytes), &mut line);
                black_box(&line);
            }));
            crate_enc.push(time(batch, || {
                line.clear();
                STANDARD.encode_string(black_box(&bytes), &mut line);
                black_box(&line);
            }));
            ours_dec.push(time(batch, || {
                buffer.clear();
                from_base64_into(black_box(text.as_bytes()), &mut buffer).unwrap();
                black_box(&buffer);
            }));
            crate_dec.push(time(batch, || {
                buffer.clear();
                STANDARD
                    .decode_vec(black_box(text.as_bytes()), &mut buffer)
                    .unwrap();
                black_box(&buffer);
            }));
        }
        assert_eq!(buffer, bytes);
        if quick {
            continue;
        }
        for (what, ours, theirs) in [
            ("encode", median(ours_enc), median(crate_enc)),
            ("decode", median(ours_dec), median(crate_dec)),
        ] {
            println!(
                "{what} {size:>5} B: crypto-core {ours:>9.1} ns, base64 crate {theirs:>9.1} ns, ratio {:.2}x",
                ours / theirs
            );
        }
    }
}
