// Loads the crypto-wasm build (web/pkg, the same `--target web` output the page imports) into
// node with initSync and the .wasm bytes read from disk. Shared by the node tests and
// scripts/bench-wasm.mjs.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PKG_DIR = path.resolve(ROOT, process.env.P2P_PKG_DIR ?? 'web/pkg');
export const WASM_FILE = path.join(PKG_DIR, 'crypto_wasm_bg.wasm');
export const VECTORS_DIR = path.join(ROOT, 'tests', 'vectors');
export const NATIVE_PARITY = path.join(ROOT, 'tests', 'parity', 'native.json');

/** Every vector file with its runner kind and the counts the native build gets for it. */
export const SUITES = [
  { file: 'noise/cacophony_25519_AESGCM_SHA256.json', kind: 'cacophony', passed: 1, skipped: 58 },
  { file: 'noise/snow_25519_AESGCM_SHA256.json', kind: 'cacophony', passed: 1, skipped: 50 },
  { file: 'noise/noise-c-basic_25519_AESGCM_SHA256.json', kind: 'cacophony', passed: 1, skipped: 14 },
  { file: 'wycheproof/x25519_test.json', kind: 'wycheproof-x25519', passed: 518, skipped: 0 },
  { file: 'wycheproof/aes_gcm_test.json', kind: 'wycheproof-aes-gcm', passed: 66, skipped: 250 },
  { file: 'wycheproof/hkdf_sha256_test.json', kind: 'wycheproof-hkdf-sha256', passed: 86, skipped: 0 },
  { file: 'wycheproof/hmac_sha256_test.json', kind: 'wycheproof-hmac-sha256', passed: 174, skipped: 0 },
  { file: 'rfc/rfc7748_x25519.json', kind: 'rfc7748', passed: 5, skipped: 1 },
  { file: 'rfc/rfc5869_hkdf_sha256.json', kind: 'rfc5869', passed: 3, skipped: 0 },
  { file: 'rfc/gcm_spec_aes256_gcm.json', kind: 'gcm-spec', passed: 4, skipped: 0 },
  { file: 'rfc/fips180_sha2_examples.json', kind: 'fips180', passed: 8, skipped: 0 },
];

export function readVector(file) {
  return readFileSync(path.join(VECTORS_DIR, file), 'utf8');
}

/** Imports web/pkg/crypto_wasm.js and instantiates it synchronously from the bytes on disk. */
export async function loadWasm() {
  const glue = path.join(PKG_DIR, 'crypto_wasm.js');
  if (!existsSync(glue) || !existsSync(WASM_FILE)) {
    throw new Error(`${PKG_DIR} has no wasm build: run scripts/build-wasm.sh`);
  }
  const mod = await import(pathToFileURL(glue).href);
  mod.initSync({ module: readFileSync(WASM_FILE) });
  return mod;
}
