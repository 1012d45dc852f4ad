// Shared helpers for the browser tests: Debian's Chromium driven by playwright-core, real
// `p2p-chat` peers, and a stand-in daemon for the cases a real peer cannot produce.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ARTIFACTS = path.join(ROOT, 'tests', 'artifacts');
export const DOCS = path.join(ROOT, 'docs');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

/** The newest of target/{release,debug}/p2p-chat (P2P_CHAT_BIN overrides); null if none exists. */
export function peerBinary() {
  if (process.env.P2P_CHAT_BIN) return process.env.P2P_CHAT_BIN;
  const built = ['release', 'debug']
    .map((profile) => path.join(ROOT, 'target', profile, 'p2p-chat'))
    .filter((bin) => existsSync(bin))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return built[0] ?? null;
}

export function wasmBuilt() {
  return existsSync(path.join(ROOT, 'web', 'pkg', 'crypto_wasm.js'));
}

/**
 * A Chromium with a fresh profile directory. `options` go to launchPersistentContext (viewport,
 * colorScheme, …). Returns { context, close }.
 */
export async function launch(options = {}) {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1280, height: 800 },
    ...options,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Collects console errors, page errors and CSP violations of a page, so tests can assert none. */
export function watchProblems(page) {
  const problems = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  return problems;
}

/**
 * Starts a real peer: `p2p-chat --port 0 --web-port 0 --ephemeral --name NAME`, waits for the
 * "p2p-chat UI: http://…/?token=…" line. Returns { url, origin, token, proc, output, stop }.
 * `options.dataDir` replaces --ephemeral with --data-dir DIR (state that survives a restart);
 * `options.port` fixes the P2P port (so contacts can redial it after a restart);
 * `options.savedName` leaves out --name (the name saved in the data directory is used);
 * `options.mdnsLoopback` turns LAN discovery on, confined to the loopback interface.
 */
export async function startPeer(name, extraArgs = [], options = {}) {
  const bin = peerBinary();
  if (!bin) throw new Error('no target/{release,debug}/p2p-chat: run `cargo build -p peer` first');
  const storage = options.dataDir ? ['--data-dir', options.dataDir] : ['--ephemeral'];
  // Never a packet to the real network: no port mapping, no LAN discovery — or, with
  // `options.mdnsLoopback`, discovery on the loopback interface only (listening there too).
  const discovery = options.mdnsLoopback ? ['--host', '127.0.0.1', '--mdns-loopback'] : ['--no-mdns'];
  // `options.savedName`: no --name, so the peer uses the name saved in its data directory.
  const naming = options.savedName ? [] : ['--name', name];
  const args = ['--port', String(options.port ?? 0), '--web-port', '0', '--no-port-mapping', ...discovery, ...storage, ...naming, ...extraArgs];
  const proc = spawn(bin, args, {
    cwd: ROOT,
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer ${name} printed no UI address:\n${output.join('\n')}`)), 30000);
    const onLine = (line) => {
      output.push(line);
      const match = /p2p-chat UI: (http:\/\/\S+\/\?token=\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    createInterface({ input: proc.stdout }).on('line', onLine);
    createInterface({ input: proc.stderr }).on('line', (line) => output.push(line));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer ${name} exited with ${code}:\n${output.join('\n')}`));
    });
  });
  const parsed = new URL(url);
  return {
    url,
    origin: parsed.origin,
    token: parsed.searchParams.get('token'),
    proc,
    output,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Saves a screenshot under tests/artifacts/ and returns its path. */
export async function screenshot(page, name, options = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, ...options });
  return file;
}

/** Copies an artifact screenshot to docs/ for the README (only when asked: UPDATE_DOCS=1). */
export function publish(file, name) {
  if (process.env.UPDATE_DOCS !== '1') return;
  mkdirSync(DOCS, { recursive: true });
  copyFileSync(file, path.join(DOCS, `screenshot-${name}.png`));
}

// ---- a stand-in daemon: the real page and wasm, a scripted WebSocket -----------------------------

export const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
  + "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml' };

/**
 * Serves the page as the peer would (same paths, same CSP) from a made-up origin, and hands every
 * WebSocket to `onSocket(ws)` (a playwright WebSocketRoute). For behaviour a real peer never shows,
 * such as a daemon reporting a wrong fingerprint.
 */
export async function standIn(context, origin, onSocket) {
  const files = (dir, rel) => {
    const base = path.resolve(ROOT, dir);
    const file = path.resolve(base, decodeURIComponent(rel));
    return file.startsWith(base + path.sep) && existsSync(file) ? file : null;
  };
  await context.route(`${origin}/**`, async (route) => {
    const url = new URL(route.request().url());
    let file = null;
    if (url.pathname === '/') file = path.join(ROOT, 'web', 'index.html');
    else if (url.pathname.startsWith('/static/')) file = files('web', url.pathname.slice(8));
    else if (url.pathname.startsWith('/pkg/')) file = files(process.env.P2P_PKG_DIR ?? 'web/pkg', url.pathname.slice(5));
    else if (url.pathname.startsWith('/vectors/')) file = files('tests/vectors', url.pathname.slice(9));
    if (!file) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({
      status: 200,
      body: readFileSync(file),
      headers: {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
      },
    });
  });
  await context.routeWebSocket(`${origin.replace(/^http/, 'ws')}/ws**`, onSocket);
}

/**
 * The side that was dialled accepts the dialler's message request (PROTOCOL.md §8.2): a key that
 * connects to us is a stranger until then. Waits until it is listed as a chat.
 */
export async function acceptRequest(page, peerId) {
  await page.locator(`#request-list [data-conv="request:${peerId}"]`).click();
  await page.locator('#chat-accept:not([hidden])').click();
  await page.locator(`#conv-list [data-conv="${peerId}"]`).waitFor();
}
