// The wasm build of crypto-core under node: every vector suite with the native counts, the
// built-in self-test, byte-for-byte parity with the native build, the PROTOCOL.md §6 vector,
// and the JS API's behaviour on good and malformed input.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SUITES, readVector, loadWasm, PKG_DIR, WASM_FILE, NATIVE_PARITY } from './wasm.mjs';

// PROTOCOL.md §6: the RFC 7748 §6.1 public keys of Alice and Bob.
const KEY_A = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const KEY_B = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';
const FP_A = '49981 80161 59512 42587 45774 20904';
const FP_B = '62737 58485 83238 39271 32535 85718';
const SAFETY_AB = '49981 80161 59512 42587 45774 20904 62737 58485 83238 39271 32535 85718';
// tests/vectors/safety_number_reference.py, an independent Python implementation.
const KEY_C = 'L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=';
const FP_C = '58954 12944 53421 89544 41960 57435';

let wasm;
before(async () => {
  wasm = await loadWasm();
});

/** Calls fn and returns the Error it throws, failing if it returns or throws a non-Error. */
function thrown(fn) {
  let value;
  try {
    value = fn();
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${typeof err}: ${err}`);
    assert.ok(err.message.length > 0, 'the Error has a message');
    return err;
  }
  assert.fail(`expected an Error, got ${JSON.stringify(value)}`);
}

test('bundle size is within the 160 KiB budget', (t) => {
  // scripts/build-wasm.sh writes the ceiling it built with (the budget unless overridden).
  const target = Number(process.env.WASM_SIZE_BUDGET ?? 163_840);
  const written = path.join(PKG_DIR, 'size-ceiling');
  const ceiling = Number(
    process.env.WASM_SIZE_CEILING ?? (existsSync(written) ? readFileSync(written, 'utf8') : target),
  );
  const size = statSync(WASM_FILE).size;
  t.diagnostic(`crypto_wasm_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB), budget ${target}, ceiling ${ceiling}`);
  if (size > target) t.diagnostic(`budget NOT MET: ${size - target} bytes over`);
  assert.ok(size <= ceiling, `${size} bytes > ceiling ${ceiling}`);
});

test('vectorKinds lists every runner kind', () => {
  const kinds = wasm.vectorKinds();
  assert.deepEqual(kinds, [
    'cacophony', 'wycheproof-x25519', 'wycheproof-aes-gcm', 'wycheproof-hkdf-sha256',
    'wycheproof-hmac-sha256', 'rfc7748', 'rfc5869', 'gcm-spec', 'fips180',
  ]);
  for (const suite of SUITES) assert.ok(kinds.includes(suite.kind), suite.kind);
  // The manifest (the one list of suites) has a file for every runner.
  for (const kind of kinds) assert.ok(SUITES.some((s) => s.kind === kind), `no MANIFEST.json suite for ${kind}`);
  assert.equal(SUITES.length, 11);
});

for (const suite of SUITES) {
  test(`vectors ${suite.file} (${suite.kind})`, (t) => {
    const text = readVector(suite.file);
    const start = performance.now();
    const report = wasm.runVectors(suite.kind, text);
    const ms = performance.now() - start;
    t.diagnostic(
      `${suite.file}: ${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped in ${ms.toFixed(1)} ms`,
    );
    assert.deepEqual(report.failures, []);
    assert.deepEqual(
      { passed: report.passed, failed: report.failed, skipped: report.skipped },
      { passed: suite.passed, failed: 0, skipped: suite.skipped },
    );
  });
}

test('a corrupted Noise vector fails', () => {
  const file = JSON.parse(readVector('noise/cacophony_25519_AESGCM_SHA256.json'));
  const xx = file.vectors.find((v) => (v.protocol_name ?? v.name) === 'Noise_XX_25519_AESGCM_SHA256');
  assert.ok(xx, 'the file has the XX vector');
  const message = xx.messages[2];
  // Flip one bit of the third handshake message's expected ciphertext.
  const last = message.ciphertext.length - 1;
  const nibble = (parseInt(message.ciphertext[last], 16) ^ 1).toString(16);
  message.ciphertext = message.ciphertext.slice(0, last) + nibble;
  const report = wasm.runVectors('cacophony', JSON.stringify({ vectors: [xx] }));
  assert.equal(report.passed, 0);
  assert.equal(report.failed, 1);
  assert.equal(report.failures.length, 1);
  assert.match(report.failures[0], /XX/);
});

test('a corrupted Wycheproof x25519 vector fails', () => {
  const file = JSON.parse(readVector('wycheproof/x25519_test.json'));
  const group = file.testGroups[0];
  const victim = group.tests.find((c) => c.result === 'valid');
  victim.shared = victim.shared.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const report = wasm.runVectors('wycheproof-x25519', JSON.stringify(file));
  assert.equal(report.failed, 1);
  assert.equal(report.passed, 517);
  assert.match(report.failures[0], new RegExp(`tcId ${victim.tcId}\\b`));
});

test('selfTest passes all 7 checks', (t) => {
  const report = wasm.selfTest();
  t.diagnostic(`selfTest: ${report.passed} passed, ${report.failed} failed in ${report.ms.toFixed(1)} ms`);
  assert.deepEqual(report.failures, []);
  assert.equal(report.passed, 7);
  assert.equal(report.failed, 0);
  assert.equal(typeof report.ms, 'number');
  assert.ok(report.ms >= 0);
});

test('parityReport equals the native build byte for byte', () => {
  // Written by `p2p-chat vectors --parity-out` (scripts/test-all.sh): the report plus a newline.
  const native = readFileSync(NATIVE_PARITY, 'utf8');
  const ours = wasm.parityReport();
  assert.equal(`${ours}\n`, native);
  const report = JSON.parse(ours);
  assert.equal(report.keys.length, 4);
  assert.equal(report.pairs.length, 16);
  assert.equal(report.transcript.handshake.length, 3);
  assert.equal(report.transcript.transport.length, 4);
  assert.match(report.transcript.handshake_hash, /^[0-9a-f]{64}$/);
});

test('PROTOCOL.md §6 fingerprint and safety-number vector', () => {
  assert.equal(wasm.fingerprint(KEY_A), FP_A);
  assert.equal(wasm.fingerprint(KEY_B), FP_B);
  assert.equal(wasm.fingerprint(KEY_C), FP_C);
  assert.equal(wasm.safetyNumber(KEY_A, KEY_B), SAFETY_AB);
  assert.equal(wasm.safetyNumber(KEY_B, KEY_A), SAFETY_AB);
  assert.equal(wasm.numbersMatch(SAFETY_AB, SAFETY_AB.replaceAll(' ', '')), true);
  assert.equal(wasm.numbersMatch(SAFETY_AB, wasm.safetyNumber(KEY_A, KEY_C)), false);
  assert.equal(wasm.numbersMatch('', SAFETY_AB), false);
});

test('generateIdentity returns a fresh key and its fingerprint', () => {
  const a = wasm.generateIdentity();
  const b = wasm.generateIdentity();
  assert.deepEqual(Object.keys(a).sort(), ['fingerprint', 'publicKey']);
  for (const id of [a, b]) {
    assert.match(id.publicKey, /^[A-Za-z0-9+/]{43}=$/);
    assert.equal(id.publicKey.length, 44);
    assert.match(id.fingerprint, /^\d{5}( \d{5}){5}$/);
    assert.equal(id.fingerprint.length, 35);
    assert.equal(wasm.fingerprint(id.publicKey), id.fingerprint);
  }
  assert.notEqual(a.publicKey, b.publicKey);
  const number = wasm.safetyNumber(a.publicKey, b.publicKey);
  assert.match(number, /^\d{5}( \d{5}){11}$/);
  assert.equal(wasm.safetyNumber(b.publicKey, a.publicKey), number);
});

test('malformed input throws an Error with a message, and the module keeps working', () => {
  assert.match(thrown(() => wasm.fingerprint('not base64!')).message, /base64/);
  assert.match(thrown(() => wasm.fingerprint('')).message, /32 bytes, got 0/);
  assert.match(thrown(() => wasm.fingerprint('AAAA')).message, /32 bytes, got 3/);
  assert.match(thrown(() => wasm.fingerprint(`${KEY_A}AAAA`)).message, /base64|32 bytes/);
  assert.match(thrown(() => wasm.safetyNumber(KEY_A, 'x')).message, /base64|bytes/);
  assert.match(thrown(() => wasm.safetyNumber('%%%%', KEY_B)).message, /base64/);
  assert.match(thrown(() => wasm.runVectors('cacophony', 'not json')).message, /not valid JSON/);
  assert.match(thrown(() => wasm.runVectors('cacophony', '{"no":"vectors"}')).message, /layout/);
  assert.match(thrown(() => wasm.runVectors('wycheproof-x25519', '[]')).message, /layout/);
  assert.match(thrown(() => wasm.runVectors('md5', '{}')).message, /unknown vector kind "md5"/);
  // Strings are always strings to wasm-bindgen; a non-string argument is a JS-side error too.
  assert.ok(thrown(() => wasm.fingerprint(undefined)) instanceof Error);
  // No trap: the instance is still usable after all of the above.
  assert.equal(wasm.fingerprint(KEY_A), FP_A);
  assert.equal(wasm.selfTest().failed, 0);
});
