// People nearby, in a real page with real peers: Alice and Bob announce themselves with mDNS
// confined to the loopback interface (the hidden --mdns-loopback test mode: nothing reaches the
// machine's real network), Carol runs as every other browser test does (--no-mdns). Alice's page
// lists Bob with his name and the fingerprint it computes itself in wasm, never Carol; Connect
// dials him. Also: the IP field takes an IPv6 address with or without brackets.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
let browser;

/** Key, fingerprint and P2P port a peer printed at start. */
async function identityOf(peer) {
  for (let i = 0; i < 100; i += 1) {
    const text = peer.output.join('\n');
    const id = /p2p-chat identity: (\S+) fingerprint ([\d ]+)/.exec(text);
    const port = /p2p-chat P2P: listening on \S+:(\d+)/.exec(text);
    if (id && port) return { key: id[1], fingerprint: id[2].replace(/\D/g, ''), port: Number(port[1]) };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no identity line:\n${peer.output.join('\n')}`);
}

let alice;
let bob;
let carol;

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1280, height: 900 } });
  alice = await startPeer('Alice', [], { mdnsLoopback: true });
  bob = await startPeer('Bob', [], { mdnsLoopback: true });
  carol = await startPeer('Carol');
  peers.push(alice, bob, carol);
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
});

test('People nearby lists Bob (name, fingerprint computed in the page), not Carol (--no-mdns); Connect dials him', { skip: missing }, async () => {
  const [a, b, c] = await Promise.all([alice, bob, carol].map(identityOf));
  assert.match(carol.output.join('\n'), /LAN discovery \(mDNS\) off \(--no-mdns\)/);
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(alice.url);
  await page.locator('#conn[data-state="open"]').waitFor();

  const item = page.locator(`#nearby-list [data-nearby="${b.key}"]`);
  await item.waitFor({ timeout: 15000 });
  assert.equal(await item.locator('.nearby-name').innerText(), 'Bob');
  // The fingerprint shown is the page's own (wasm) computation from the announced key: the
  // `nearby` event carries none. It equals the one Bob's peer printed.
  await page.locator('#selftest-badge.badge-ok').waitFor();
  await item.locator('.nearby-fp:not(:text("fingerprint …"))').waitFor();
  assert.equal((await item.locator('.nearby-fp').innerText()).replace(/\D/g, ''), b.fingerprint);
  assert.equal(await page.locator('#nearby-count').innerText(), '1');
  assert.equal(await page.locator(`#nearby-list [data-nearby="${c.key}"]`).count(), 0);
  assert.equal(await page.locator(`#nearby-list [data-nearby="${a.key}"]`).count(), 0, 'not ourselves');
  assert.ok(await page.locator('#nearby-empty').isHidden());

  const shot = await screenshot(page, 'nearby');
  publish(shot, 'nearby');
  await item.getByRole('button', { name: 'Connect to Bob' }).click();
  await page.locator(`#peer-list [data-peer="${b.key}"]`).waitFor();
  await item.locator('.tag', { hasText: 'Connected' }).waitFor();
  assert.match(await page.locator(`#peer-list [data-peer="${b.key}"] .peer-addr`).innerText(), new RegExp(`127\\.0\\.0\\.1:${b.port}`));
  assert.deepEqual(problems, []);
  await page.close();
});

test('the IP field takes an IPv6 address: bare, in brackets, and [ipv6]:port', { skip: missing }, async () => {
  const c = await identityOf(carol);
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(alice.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  const row = page.locator(`#peer-list [data-peer="${c.key}"]`);
  for (const [ip, port] of [['::1', String(c.port)], ['[::1]', String(c.port)], [`[::1]:${c.port}`, '']]) {
    await page.fill('#connect-ip', ip);
    await page.fill('#connect-port', port);
    await page.click('#connect-btn');
    await row.waitFor();
    assert.match(await row.locator('.peer-addr').innerText(), new RegExp(`\\[::1\\]:${c.port}`), ip);
    assert.ok(await page.locator('#connect-error').isHidden(), `${ip}: ${await page.locator('#connect-error').innerText()}`);
    await row.getByRole('button', { name: /^Disconnect/ }).click();
    await row.waitFor({ state: 'detached' });
  }
  assert.deepEqual(problems, []);
  await page.close();
});
