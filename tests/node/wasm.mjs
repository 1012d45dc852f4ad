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

/**
 * Every vector suite of tests/vectors/MANIFEST.json (the one list all runners read) with its
 * runner kind and the counts every runner must get for it.
 */
export const SUITES = JSON.parse(readFileSync(path.join(VECTORS_DIR, 'MANIFEST.json'), 'utf8'))
  .files.filter((f) => f.suite)
  .map((f) => ({ file: f.path, ...f.suite }));

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
