// The page's own cryptography: the crypto-wasm package (wasm-bindgen --target web), served by the
// peer at /pkg/. The page computes fingerprints and safety numbers itself instead of trusting the
// strings the daemon sends, and can run the published test vectors in the browser.

const PKG_URL = '/pkg/crypto_wasm.js';

/**
 * Every vector suite the peer serves under /vectors/, from /vectors/MANIFEST.json (the one list
 * every runner reads): `{ file, kind, label, passed, skipped }`. Filled by loadWasm(); if the
 * list cannot be fetched it holds one entry whose run fails with the reason.
 */
export const VECTOR_SUITES = [];

async function loadVectorSuites() {
  let suites;
  try {
    const response = await fetch('/vectors/MANIFEST.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`GET /vectors/MANIFEST.json: HTTP ${response.status}`);
    suites = (await response.json()).files.filter((f) => f.suite).map((f) => ({ file: f.path, ...f.suite }));
  } catch (err) {
    suites = [{ file: 'MANIFEST.json', kind: 'manifest', label: 'Vector list', error: String(err?.message ?? err) }];
  }
  VECTOR_SUITES.splice(0, VECTOR_SUITES.length, ...suites);
}

let wasm = null;

/** wasm-bindgen may hand back a JS object or a JSON string, depending on how the façade marshals. */
function plain(value) {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

function num(value) {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

/** Loads and instantiates the wasm package. Throws with a readable message if it cannot. */
export async function loadWasm() {
  const [mod] = await Promise.all([import(PKG_URL), loadVectorSuites()]);
  await mod.default();
  for (const name of ['selfTest', 'fingerprint', 'safetyNumber', 'runVectors']) {
    if (typeof mod[name] !== 'function') throw new Error(`crypto_wasm.js has no ${name}()`);
  }
  wasm = mod;
  return mod;
}

export function wasmReady() {
  return wasm !== null;
}

/** Runs the built-in known-answer tests: `{ passed, failed, ms, failures }`. */
export function selfTest() {
  const start = performance.now();
  const report = plain(wasm.selfTest());
  const elapsed = performance.now() - start;
  return {
    passed: num(report.passed),
    failed: num(report.failed),
    // Prefer the façade's own timing; fall back to ours around the call.
    ms: report.ms !== undefined ? num(report.ms) : elapsed,
    failures: Array.isArray(report.failures) ? report.failures.map(String) : [],
  };
}

/** Digits only, so "12345 67890" and "1234567890" compare equal. */
export function digits(text) {
  return String(text ?? '').replace(/\D/g, '');
}

/** Splits digits into groups of five. */
export function groups(text) {
  return digits(text).match(/.{1,5}/g) ?? [];
}

const fingerprintCache = new Map();

/** The 30-digit fingerprint of a base64 public key, computed here (cached: 5200 SHA-512 rounds). */
export function fingerprint(publicKey) {
  if (!fingerprintCache.has(publicKey)) fingerprintCache.set(publicKey, groups(wasm.fingerprint(publicKey)).join(' '));
  return fingerprintCache.get(publicKey);
}

/** The 60-digit safety number of our key and theirs, as 12 groups of 5. */
export function safetyNumber(ours, theirs) {
  return groups(wasm.safetyNumber(ours, theirs));
}

/** Fetches one vector file and runs it: `{ passed, failed, skipped, failures, ms }`. */
export async function runSuite(suite) {
  if (suite.error) throw new Error(suite.error);
  const response = await fetch(`/vectors/${suite.file}`, { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET /vectors/${suite.file}: HTTP ${response.status}`);
  const text = await response.text();
  const start = performance.now();
  const report = plain(wasm.runVectors(suite.kind, text));
  const ms = performance.now() - start;
  return {
    passed: num(report.passed),
    failed: num(report.failed),
    skipped: num(report.skipped),
    failures: Array.isArray(report.failures) ? report.failures.map(String) : [],
    ms,
  };
}
