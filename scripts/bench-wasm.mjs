#!/usr/bin/env node
// Benchmarks of the crypto-wasm build under node (not a test): the page's operations timed in
// wasm, each beside the same crypto-core call timed natively in the same run
// (crypto-core/examples/ops_baseline.rs), reported as wasm / native ratios.
//
//   node scripts/bench-wasm.mjs            # build web/pkg first: scripts/build-wasm.sh
//   node scripts/bench-wasm.mjs --no-native  # wasm figures only
//
// The façade exposes no raw handshake or seal/open (it has no logic of its own), so the Noise
// figure is the cacophony Noise_XX_25519_AESGCM_SHA256 vector run through runVectors: JSON
// parsing, a full XX handshake on both sides with fixed ephemerals, and its transport messages.

import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ROOT, SUITES, WASM_FILE, loadWasm, readVector } from '../tests/node/wasm.mjs';

const KEY_A = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const KEY_B = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';

/** Median milliseconds per call over 7 batches of about 20 ms (same method as the baseline). */
function time(op) {
  op();
  let start = performance.now();
  op();
  const once = Math.max(performance.now() - start, 1e-4);
  const perBatch = Math.max(1, Math.floor(20 / once));
  const samples = [];
  for (let i = 0; i < 7; i += 1) {
    start = performance.now();
    for (let j = 0; j < perBatch; j += 1) op();
    samples.push((performance.now() - start) / perBatch);
  }
  samples.sort((x, y) => x - y);
  return samples[3];
}

function nativeBaseline() {
  if (process.argv.includes('--no-native')) return {};
  try {
    const out = execFileSync(
      'cargo',
      ['run', '--release', '-q', '-p', 'crypto-core', '--example', 'ops_baseline', '--', 'tests/vectors'],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    return JSON.parse(out);
  } catch (err) {
    console.error(`native baseline unavailable: ${err.message}`);
    return {};
  }
}

const loadStart = performance.now();
const wasm = await loadWasm();
const loadMs = performance.now() - loadStart;
const size = statSync(WASM_FILE).size;

const cacophony = JSON.parse(readVector(SUITES[0].file));
const xx = JSON.stringify({
  vectors: cacophony.vectors.filter((v) => v.protocol_name === 'Noise_XX_25519_AESGCM_SHA256'),
});

const rows = [
  ['selfTest', 'selfTest() (7 checks)', () => wasm.selfTest()],
  ['fingerprint', 'fingerprint(key) (5,200 × SHA-512)', () => wasm.fingerprint(KEY_A)],
  ['safetyNumber', 'safetyNumber(a, b)', () => wasm.safetyNumber(KEY_A, KEY_B)],
  ['generateIdentity', 'generateIdentity() (keygen + fingerprint)', () => wasm.generateIdentity()],
  ['xxVector', 'Noise XX vector (handshake + transport)', () => wasm.runVectors('cacophony', xx)],
  ['parityReport', 'parityReport()', () => wasm.parityReport()],
];
for (const suite of SUITES) {
  const text = readVector(suite.file);
  rows.push([`runVectors ${suite.file}`, `runVectors ${suite.file}`, () => wasm.runVectors(suite.kind, text)]);
}

const measured = rows.map(([key, label, op]) => ({ key, label, ms: time(op) }));
const selfTestReported = wasm.selfTest().ms;
const native = nativeBaseline();

console.log(`crypto_wasm_bg.wasm: ${size} bytes (${(size / 1024).toFixed(1)} KiB); instantiate ${loadMs.toFixed(1)} ms`);
console.log(`selfTest() reports ${selfTestReported.toFixed(1)} ms for one cold-ish call`);
console.log('');
console.log('| operation | wasm ms | native ms | wasm / native |');
console.log('|---|---:|---:|---:|');
for (const { key, label, ms } of measured) {
  const base = native[key];
  const ratio = base ? `${(ms / base).toFixed(2)}×` : '–';
  const baseText = base ? base.toFixed(3) : '–';
  console.log(`| ${label} | ${ms.toFixed(3)} | ${baseText} | ${ratio} |`);
}
