//! The cost of the first line of a connection, parsed before any cryptography: hostile lines
//! against an ordinary `data` frame of the same length, through `Frame::parse` (what the peer
//! runs on every line). The lines alternate in one loop; the median per-parse time of each is
//! printed with the ratio hostile / ordinary (target ≤ 2×). Every hostile line must also be
//! refused.
//!
//! ```text
//! cargo bench -p crypto-core --bench json
//! ```

use std::hint::black_box;
use std::time::Instant;

use crypto_core::wire::{Frame, MAX_LINE_BYTES};

const ROUNDS: usize = 31;
/// Every line is this long: just under the line limit, the most a peer can be made to parse.
const LEN: usize = MAX_LINE_BYTES - 16;

/// Median nanoseconds per call of `f`, batched.
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

/// `head`, then `item(i)` for i = 0, 1, … while it fits, then `tail`, padded with spaces
/// before `tail` to exactly [`LEN`] bytes.
fn fill(head: &str, item: impl Fn(usize) -> String, tail: &str) -> String {
    let mut line = String::from(head);
    for i in 0.. {
        let next = item(i);
        if line.len() + next.len() + tail.len() > LEN {
            break;
        }
        line.push_str(&next);
    }
    line.push_str(&" ".repeat(LEN - line.len() - tail.len()));
    line.push_str(tail);
    line
}

/// An honest data frame whose ciphertext makes it [`LEN`] bytes.
fn ordinary() -> String {
    let head = r#"{"type":"data","nonce":"AAAAAAAAAAAAAAAA","ciphertext":""#;
    let tail = r#""}"#;
    let body = "QUJD".repeat((LEN - head.len() - tail.len()) / 4);
    let line = format!("{head}{body}{tail}");
    format!("{}{}", " ".repeat(LEN - line.len()), line)
}

fn hostile() -> Vec<(&'static str, String)> {
    vec![
        (
            // The line that took 0.27-0.45 s before the member cap and sorted duplicate check.
            "15,000-ish distinct keys",
            fill(
                r#"{"type":"handshake","step":1,"message":"AAAA""#,
                |i| format!(r#","k{i}":0"#),
                "}",
            ),
        ),
        (
            // As many objects of 64 short keys as the value cap allows.
            "objects of 64 keys",
            fill(
                r#"{"type":"data","pad":["#,
                |i| {
                    let keys: Vec<String> = (0..64).map(|k| format!(r#""{k}":{i}"#)).collect();
                    format!("{{{}}},", keys.join(","))
                },
                "0]}",
            ),
        ),
        (
            // Keys sharing a long prefix make each duplicate-check comparison long.
            "64 keys with a 2 KB common prefix",
            {
                let prefix = "p".repeat(2000);
                fill(
                    r#"{"type":"data","x":{"a":0"#,
                    |i| {
                        if i < 63 {
                            format!(r#","{prefix}{i:02}":0"#)
                        } else {
                            String::from("   ")
                        }
                    },
                    "}}",
                )
            },
        ),
        (
            // The escape path of the string reader for the whole line.
            "one string of \\u escapes",
            fill(
                r#"{"type":"data","pad":""#,
                |_| String::from(r"\u00e9"),
                r#""}"#,
            ),
        ),
        (
            "a flat array of zeros",
            fill(r#"{"type":"data","pad":[0"#, |_| String::from(",0"), "]}"),
        ),
    ]
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`) only checks the
    // lines and prints no timings.
    let quick = !std::env::args().any(|a| a == "--bench");
    let ordinary = ordinary();
    assert_eq!(ordinary.len(), LEN);
    assert!(Frame::parse(ordinary.as_bytes()).is_ok());
    let (batch, rounds) = if quick { (1, 1) } else { (20, ROUNDS) };
    for (name, line) in hostile() {
        assert_eq!(line.len(), LEN, "{name}");
        assert!(Frame::parse(line.as_bytes()).is_err(), "{name} accepted");
        let (mut base, mut bad) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            base.push(time(batch, || {
                black_box(Frame::parse(black_box(ordinary.as_bytes())).is_ok());
            }));
            bad.push(time(batch, || {
                black_box(Frame::parse(black_box(line.as_bytes())).is_ok());
            }));
        }
        if quick {
            continue;
        }
        let (base, bad) = (median(base), median(bad));
        println!(
            "{name:<34} {LEN} B: hostile {:>8.1} µs, ordinary data frame {:>8.1} µs, ratio {:.2}x (target <= 2x)",
            bad / 1000.0,
            base / 1000.0,
            bad / base
        );
    }
}
