//! crypto-core against `snow` 0.9 in the same run: a full in-memory Noise_XX handshake (both
//! sides, hello payloads in messages 2 and 3) and seal+open of 100 B and 16 KiB transport
//! messages.
//!
//! ```text
//! cargo bench -p crypto-core --bench noise            # criterion groups, then the ratios
//! cargo bench -p crypto-core --bench noise -- --quick # shorter
//! ```
//!
//! Criterion's estimates are not available to the program, so after the groups the same
//! operations are timed again by an interleaved loop (crypto-core and snow alternating, median
//! of the rounds) and the ratios crypto-core time / snow time are printed, target ≤ 1.2×.
//! Under `cargo test` (criterion's test mode) every routine runs once and no ratio is printed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use crypto_core::noise::{InitiatorStart, ResponderStart, PROLOGUE, PROTOCOL_NAME};
use crypto_core::{Identity, Transport};

const HELLO_2: &[u8] = br#"{"name":"bob","listen_port":6001,"agent":"p2p-chat/0.1.0"}"#;
const HELLO_3: &[u8] = br#"{"name":"alice","listen_port":6000,"agent":"p2p-chat/0.1.0"}"#;
const SIZES: [(usize, &str); 2] = [(100, "100B"), (16 * 1024, "16KiB")];
const TARGET: f64 = 1.2;

/// Static keys for both implementations, made once: the handshake measures ephemeral key
/// generation, the three DHs per side, hashing and AEAD, not identity creation.
struct Keys {
    params: snow::params::NoiseParams,
    core_initiator: Identity,
    core_responder: Identity,
    snow_initiator: Vec<u8>,
    snow_responder: Vec<u8>,
}

impl Keys {
    fn new() -> Self {
        let params: snow::params::NoiseParams = PROTOCOL_NAME.parse().expect("snow params");
        let builder = snow::Builder::new(params.clone());
        let snow_initiator = builder.generate_keypair().expect("snow keypair").private;
        let snow_responder = builder.generate_keypair().expect("snow keypair").private;
        Self {
            params,
            core_initiator: Identity::generate(),
            core_responder: Identity::generate(),
            snow_initiator,
            snow_responder,
        }
    }
}

fn core_handshake(keys: &Keys) -> (Transport, Transport) {
    let (await2, m1) = InitiatorStart::new(&keys.core_initiator)
        .write_message_1(b"")
        .expect("m1");
    let (send2, _) = ResponderStart::new(&keys.core_responder)
        .read_message_1(&m1)
        .expect("read m1");
    let (await3, m2) = send2.write_message_2(HELLO_2).expect("m2");
    let (send3, p2) = await2.read_message_2(&m2).expect("read m2");
    let (initiator, m3) = send3.write_message_3(HELLO_3).expect("m3");
    let (responder, p3) = await3.read_message_3(&m3).expect("read m3");
    debug_assert_eq!((p2.as_slice(), p3.as_slice()), (HELLO_2, HELLO_3));
    (initiator, responder)
}

/// Reusable message buffers for snow, which writes into caller-provided slices.
struct SnowBuffers {
    message: Vec<u8>,
    payload: Vec<u8>,
}

impl SnowBuffers {
    fn new() -> Self {
        Self {
            message: vec![0u8; 65_535],
            payload: vec![0u8; 65_535],
        }
    }
}

fn snow_handshake(
    keys: &Keys,
    b: &mut SnowBuffers,
) -> (snow::TransportState, snow::TransportState) {
    let mut initiator = snow::Builder::new(keys.params.clone())
        .local_private_key(&keys.snow_initiator)
        .prologue(PROLOGUE)
        .build_initiator()
        .expect("snow initiator");
    let mut responder = snow::Builder::new(keys.params.clone())
        .local_private_key(&keys.snow_responder)
        .prologue(PROLOGUE)
        .build_responder()
        .expect("snow responder");
    let n = initiator.write_message(b"", &mut b.message).expect("m1");
    responder
        .read_message(&b.message[..n], &mut b.payload)
        .expect("read m1");
    let n = responder
        .write_message(HELLO_2, &mut b.message)
        .expect("m2");
    let p = initiator
        .read_message(&b.message[..n], &mut b.payload)
        .expect("read m2");
    debug_assert_eq!(&b.payload[..p], HELLO_2);
    let n = initiator
        .write_message(HELLO_3, &mut b.message)
        .expect("m3");
    let p = responder
        .read_message(&b.message[..n], &mut b.payload)
        .expect("read m3");
    debug_assert_eq!(&b.payload[..p], HELLO_3);
    (
        initiator
            .into_transport_mode()
            .expect("initiator transport"),
        responder
            .into_transport_mode()
            .expect("responder transport"),
    )
}

/// One crypto-core seal on one side and open on the other.
fn core_seal_open(tx: &mut Transport, rx: &mut Transport, plaintext: &[u8]) -> usize {
    let sealed = tx.seal(plaintext).expect("seal");
    let opened = rx.open(&sealed.nonce, &sealed.ciphertext).expect("open");
    opened.len()
}

/// The same with snow's transport states and reusable buffers.
fn snow_seal_open(
    tx: &mut snow::TransportState,
    rx: &mut snow::TransportState,
    plaintext: &[u8],
    b: &mut SnowBuffers,
) -> usize {
    let n = tx
        .write_message(plaintext, &mut b.message)
        .expect("snow seal");
    rx.read_message(&b.message[..n], &mut b.payload)
        .expect("snow open")
}

fn bench_handshake(c: &mut Criterion, keys: &Keys) {
    let mut group = c.benchmark_group("xx_handshake");
    group.bench_function("crypto-core", |bench| {
        bench.iter(|| black_box(core_handshake(keys)))
    });
    let mut buffers = SnowBuffers::new();
    group.bench_function("snow", |bench| {
        bench.iter(|| black_box(snow_handshake(keys, &mut buffers)))
    });
    group.finish();
}

fn bench_transport(c: &mut Criterion, keys: &Keys) {
    let mut buffers = SnowBuffers::new();
    let (mut core_tx, mut core_rx) = core_handshake(keys);
    let (mut snow_tx, mut snow_rx) = snow_handshake(keys, &mut buffers);
    let mut group = c.benchmark_group("seal_open");
    for (size, label) in SIZES {
        let plaintext = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("crypto-core", label),
            &plaintext,
            |bench, p| {
                bench.iter(|| black_box(core_seal_open(&mut core_tx, &mut core_rx, black_box(p))))
            },
        );
        group.bench_with_input(BenchmarkId::new("snow", label), &plaintext, |bench, p| {
            bench.iter(|| {
                black_box(snow_seal_open(
                    &mut snow_tx,
                    &mut snow_rx,
                    black_box(p),
                    &mut buffers,
                ))
            })
        });
    }
    group.finish();
}

/// Median time per iteration of `a` and of `b`, measured in alternating rounds so that load
/// from other processes on this shared machine hits both alike.
fn interleaved(
    rounds: usize,
    round_time: Duration,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (f64, f64) {
    // Calibrate the iteration count on `a` (after a warm-up of both).
    let warm = Instant::now();
    while warm.elapsed() < round_time {
        a();
        b();
    }
    let mut iterations = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iterations {
            a();
        }
        if start.elapsed() >= round_time / 4 {
            let per = start.elapsed().as_secs_f64() / iterations as f64;
            iterations = ((round_time.as_secs_f64() / per) as u64).max(1);
            break;
        }
        iterations *= 2;
    }
    let mut times_a = Vec::with_capacity(rounds);
    let mut times_b = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternate which goes first, so neither always follows the other's cache state.
        let run = |f: &mut dyn FnMut(), out: &mut Vec<f64>| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            out.push(start.elapsed().as_secs_f64() / iterations as f64);
        };
        if round % 2 == 0 {
            run(&mut a, &mut times_a);
            run(&mut b, &mut times_b);
        } else {
            run(&mut b, &mut times_b);
            run(&mut a, &mut times_a);
        }
    }
    (median(&mut times_a), median(&mut times_b))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn print_ratio(name: &str, core: f64, snow: f64) {
    let ratio = core / snow;
    println!(
        "ratio {name:<14} crypto-core/snow = {ratio:.2}x (target <= {TARGET}x){}   crypto-core {} snow {}",
        if ratio <= TARGET { "" } else { "  ABOVE TARGET" },
        human(core),
        human(snow),
    );
}

fn human(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.3} ms", seconds * 1e3)
    } else if seconds >= 1e-6 {
        format!("{:.3} µs", seconds * 1e6)
    } else {
        format!("{:.1} ns", seconds * 1e9)
    }
}

fn ratios(keys: &Keys, quick: bool) {
    let (rounds, round_time) = if quick {
        (9, Duration::from_millis(40))
    } else {
        (21, Duration::from_millis(80))
    };
    println!(
        "\ninterleaved timing: {rounds} rounds of ~{round_time:?} each per implementation, medians"
    );

    let mut buffers = SnowBuffers::new();
    let (core, snow) = interleaved(
        rounds,
        round_time,
        || {
            black_box(core_handshake(keys));
        },
        || {
            black_box(snow_handshake(keys, &mut buffers));
        },
    );
    print_ratio("handshake", core, snow);

    for (size, label) in SIZES {
        let plaintext = vec![0x5au8; size];
        let (mut core_tx, mut core_rx) = core_handshake(keys);
        let (mut snow_tx, mut snow_rx) = snow_handshake(keys, &mut buffers);
        let (core, snow) = interleaved(
            rounds,
            round_time,
            || {
                black_box(core_seal_open(
                    &mut core_tx,
                    &mut core_rx,
                    black_box(&plaintext),
                ));
            },
            || {
                black_box(snow_seal_open(
                    &mut snow_tx,
                    &mut snow_rx,
                    black_box(&plaintext),
                    &mut buffers,
                ));
            },
        );
        print_ratio(&format!("seal+open {label}"), core, snow);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    // Criterion's own rule: without `--bench` (i.e. under `cargo test`) or with `--test`, it
    // runs each routine once as a test; `--list` only lists.
    let benchmarking = has("--bench") && !has("--test") && !has("--list");
    let quick = has("--quick");

    let keys = Keys::new();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    bench_handshake(&mut criterion, &keys);
    bench_transport(&mut criterion, &keys);
    criterion.final_summary();

    if benchmarking {
        ratios(&keys, quick);
    }
}
