// The page's self-test time as a user sees it: a real p2p-chat serves the page, a fresh Chromium
// profile (no cached wasm code) opens it, and the badge's "· N ms" is read. Repeated in new
// profiles; prints every figure and the median. Not a test (no pass/fail): BENCHMARKS.md quotes it.
//
//   cd tests && node browser/bench-selftest.mjs [runs]      (needs the wasm build and the peer binary)

import { launch, startPeer } from './lib.mjs';

const runs = Number(process.argv[2] ?? 7);
const peer = await startPeer('bench', ['--host', '127.0.0.1']);
const times = [];
try {
  for (let i = 0; i < runs; i += 1) {
    const { context, close } = await launch();
    const page = await context.newPage();
    await page.goto(peer.url);
    const badge = page.locator('#selftest-badge:not(.badge-pending)');
    await badge.waitFor();
    const text = await badge.innerText();
    const match = /✓ (\d+)\/\1 · ([\d.]+) ms/.exec(text);
    if (!match) throw new Error(`unexpected badge: ${text}`);
    times.push(Number(match[2]));
    await close();
  }
} finally {
  await peer.stop();
}
const sorted = [...times].sort((a, b) => a - b);
console.log(`page self-test, fresh profile each: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
console.log(`median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms, min ${sorted[0].toFixed(1)}, max ${sorted.at(-1).toFixed(1)} (target ≤ 50 ms)`);
