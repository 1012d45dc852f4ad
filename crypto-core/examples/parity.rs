//! Prints crypto-core's parity report (the JSON the wasm build must reproduce byte for byte),
//! followed by a newline — the same bytes `p2p-chat vectors --parity-out` writes.
//! `cargo run -q -p crypto-core --example parity > tests/parity/native.json`

fn main() {
    println!("{}", crypto_core::parity::parity_report());
}
