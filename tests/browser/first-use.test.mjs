// First use, as a new user sees it, with real `p2p-chat` peers: the status says what is true, the
// peer's errors appear in plain words next to the field that caused them and go away when they no
// longer apply, an offline contact can be dialled again with one button, both pages list the two
// fingerprints in the same order, and the composer counts characters instead of cutting a paste.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot } from './lib.mjs';

const missing = !peerBinary() ? 'no target/{release,debug}/p2p-chat (cargo build --release -p peer --bin p2p-chat)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

let browser;
const dirs = [];
const sides = {}; // name -> { peer, page, problems, port, dir }
const servers = [];

async function start(name, { port = 0, dataDir = null, viewport = null } = {}) {
  const peer = await startPeer(name, [], dataDir ? { dataDir, port } : { port });
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  // (On a narrow screen the port is in the closed drawer: wait for its text, not its visibility.)
  await page.waitForFunction(() => document.getElementById('own-port').textContent !== '—');
  const side = { name, peer, page, problems, dataDir, port: Number(await page.locator('#own-port').textContent()) };
  sides[name] = side;
  return side;
}

async function idOf(side) {
  return side.page.locator('#own-key').getAttribute('data-key');
}

async function dial(side, ip, port) {
  await side.page.fill('#connect-ip', ip);
  await side.page.fill('#connect-port', String(port));
  await side.page.click('#connect-btn');
}

/** A port nothing listens on: bound once by the OS, then released. */
async function closedPort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A TCP server that answers every connection with a line that is not a p2p-chat frame. */
async function notAPeer() {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return server.address().port;
}

before(async () => {
  if (missing) return;
  browser = await launch();
  const bobDir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-bob-'));
  dirs.push(bobDir);
  await start('Alice');
  await start('Bob', { dataDir: bobDir });
  await start('Carol');
});

after(async () => {
  await browser?.close();
  await Promise.all(Object.values(sides).map((s) => s.peer.stop()));
  for (const server of servers) server.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('the status says the own peer is running and the crypto check passed, with the detail in a tooltip', { skip: missing }, async () => {
  const { page } = sides.Alice;
  assert.equal(await page.locator('#conn-text').innerText(), 'Your peer is running');
  assert.match(await page.locator('#conn').getAttribute('title'), /your own p2p-chat on this computer/);
  await page.locator('#selftest-badge.badge-ok').waitFor();
  assert.equal(await page.locator('#selftest-badge').innerText(), 'Crypto check ✓');
  assert.match(await page.locator('#selftest-badge').getAttribute('title'), /^This page checked its own cryptography: (\d+) of \1 known-answer checks passed in [\d.]+ ms\. Click to run the 11 published test-vector suites too\.$/);
});

test('nobody listening: a plain error next to the form, the status cleared, Retry dials again; another field clears it', { skip: missing }, async () => {
  const { page } = sides.Alice;
  const port = await closedPort();
  await dial(sides.Alice, '127.0.0.1', port);
  const error = page.locator('#connect-error');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await error.innerText(), `Nobody answered at 127.0.0.1:${port} — is their p2p-chat running, and is that their P2P port?`);
  assert.doesNotMatch(await page.locator('#daemon-status').innerText(), /connecting to/);
  assert.equal(await page.locator('#connect-btn').innerText(), 'Connect');
  const retry = page.locator('#connect-retry');
  assert.equal(await retry.isVisible(), true);
  // Using another field: the old error no longer applies (and neither does its Retry).
  await page.focus('#invite-input');
  await error.waitFor({ state: 'hidden' });
  assert.equal(await retry.isVisible(), false);
  // Fails again; now someone starts p2p-chat on that port, and Retry dials the same address.
  await page.click('#connect-btn');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  const dora = await start('Dora', { port });
  await retry.click();
  await page.locator(`#peer-list [data-peer="${await idOf(dora)}"]`).waitFor({ timeout: 20000 });
  await error.waitFor({ state: 'hidden' });
  assert.equal(await retry.isVisible(), false);
  assert.match(await page.locator('#daemon-status').innerText(), new RegExp(`^Dora connected \\(127\\.0\\.0\\.1:${port}\\)$`));
});

test('something that is not a p2p-chat peer: "answered, but not like a p2p-chat peer", no frame jargon', { skip: missing }, async () => {
  const { page } = sides.Alice;
  const port = await notAPeer();
  await dial(sides.Alice, '127.0.0.1', port);
  const error = page.locator('#connect-error');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await error.innerText(), `127.0.0.1:${port} answered, but not like a p2p-chat peer. Check that this is their P2P port (not their browser port).`);
  assert.doesNotMatch(await error.innerText(), /frame|JSON|byte/);
});

test('dialling a peer already connected: "Already connected to Bob."', { skip: missing }, async () => {
  const alice = sides.Alice;
  const bob = sides.Bob;
  const bobId = await idOf(bob);
  await dial(alice, '127.0.0.1', bob.port);
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor();
  assert.match(await alice.page.locator('#daemon-status').innerText(), new RegExp(`^Bob connected \\(127\\.0\\.0\\.1:${bob.port}\\)$`));
  await alice.page.locator('#connect-btn:not([disabled])').waitFor();
  await dial(alice, '127.0.0.1', bob.port);
  const error = alice.page.locator('#connect-error');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await error.innerText(), 'Already connected to Bob.');
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).count(), 1);
});

test('an invite whose key is not the one that answers: "This invite is not Bob’s key", inside the sidebar', { skip: missing }, async () => {
  const alice = sides.Alice;
  const carolKey = Buffer.from(await idOf(sides.Carol), 'base64').toString('base64url');
  await alice.page.locator('#invite-connect:not([disabled])').waitFor();
  await alice.page.fill('#invite-input', `p2p-chat://127.0.0.1:${sides.Bob.port}/${carolKey}`);
  await alice.page.click('#invite-connect');
  const error = alice.page.locator('#invite-error');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  const text = await error.innerText();
  assert.equal(text, `This invite is not Bob’s key: Bob answered at 127.0.0.1:${sides.Bob.port}, not the person the invite names. Nothing was sent.`);
  assert.ok(!text.includes(carolKey.slice(0, 20)), 'no raw key in the message');
  // Nothing overflows the sidebar.
  const fits = await error.evaluate((node) => node.scrollWidth <= node.clientWidth
    && node.getBoundingClientRect().right <= document.getElementById('sidebar').getBoundingClientRect().right);
  assert.ok(fits, 'the invite error overflows the sidebar');
  assert.equal(await alice.page.locator('#invite-retry').isVisible(), true);
  await screenshot(alice.page, 'first-use-invite-error');
  // Using another field: the invite error no longer applies.
  await alice.page.focus('#name-input');
  await error.waitFor({ state: 'hidden' });
});

test('the verification dialog lists both fingerprints in the same order on both pages, each with its name', { skip: missing }, async () => {
  const alice = sides.Alice;
  const bob = sides.Bob;
  const read = async (side, otherId) => {
    await side.page.locator(`#peer-list [data-peer="${otherId}"] [data-action="verify"]`).click();
    await side.page.locator('#verify-dialog[open]').waitFor();
    const rows = await side.page.locator('#verify-fps dt').allInnerTexts();
    const fps = await side.page.locator('#verify-fps dd code').allInnerTexts();
    const safety = await side.page.locator('#safety-number').getAttribute('data-digits');
    await side.page.keyboard.press('Escape');
    return { labels: rows.slice(0, 2), fps: fps.slice(0, 2), safety };
  };
  const onAlice = await read(alice, await idOf(bob));
  const onBob = await read(bob, await idOf(alice));
  assert.deepEqual(onAlice.fps, onBob.fps);
  assert.equal(onAlice.safety, onBob.safety);
  // The order is the safety number's: its first half, then its second.
  assert.equal(onAlice.fps.join('').replace(/\D/g, ''), onAlice.safety);
  const aliceFirst = onAlice.labels[0].startsWith('Your');
  assert.deepEqual(onAlice.labels, aliceFirst ? ['Your fingerprint (Alice)', 'Bob’s fingerprint'] : ['Bob’s fingerprint', 'Your fingerprint (Alice)']);
  assert.deepEqual(onBob.labels, aliceFirst ? ['Alice’s fingerprint', 'Your fingerprint (Bob)'] : ['Your fingerprint (Bob)', 'Alice’s fingerprint']);
});

test('an offline contact has a Connect button that redials its last address; Retry after a failure', { skip: missing }, async () => {
  const alice = sides.Alice;
  const bob = sides.Bob;
  const bobId = await idOf(bob);
  const bobPort = bob.port;
  await bob.page.close();
  await bob.peer.stop();
  const item = alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="false"]`);
  await item.waitFor();
  // Measured from when the session ended, not from when it began.
  assert.equal(await item.locator('.conv-preview').innerText(), 'offline · last seen just now');
  await item.click();
  assert.equal(await alice.page.locator('#chat-sub').innerText(), `127.0.0.1:${bobPort} · offline · last seen just now`);
  const button = alice.page.locator('#chat-connect');
  assert.equal(await button.innerText(), 'Connect');
  assert.equal(await button.getAttribute('title'), `Connect to Bob at 127.0.0.1:${bobPort}`);
  // Bob is not running: the error says so, next to the button, which now says Retry.
  await button.click();
  const error = alice.page.locator('#contact-error');
  await error.waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await error.innerText(), `Nobody answered at 127.0.0.1:${bobPort} — is their p2p-chat running, and is that their P2P port?`);
  await alice.page.locator('#chat-connect:not([disabled])', { hasText: 'Retry' }).waitFor();
  await screenshot(alice.page, 'first-use-retry');

  // Bob is back (same key, same port). Alice's dial never became a contact on his side (a
  // message request he did not accept), so he does not dial her at start, and she does not
  // redial a session he closed by shutting down (PROTOCOL.md §7.3): the button does.
  const back = await start('Bob', { dataDir: bob.dataDir, port: bobPort });
  await alice.page.waitForTimeout(1500);
  assert.equal(await alice.page.locator(`#conv-list [data-conv="${bobId}"]`).getAttribute('data-online'), 'false');
  await alice.page.click('#chat-connect');
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="true"]`).waitFor({ timeout: 20000 });
  await alice.page.locator('#chat-connect').waitFor({ state: 'hidden' });
  assert.equal(await error.isVisible(), false);
  // A session closed on purpose is redialled by neither side; the button dials it again.
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] button`, { hasText: 'Disconnect' }).click();
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="false"]`).waitFor();
  await back.page.waitForTimeout(1500);
  assert.equal(await alice.page.locator(`#conv-list [data-conv="${bobId}"]`).getAttribute('data-online'), 'false');
  await alice.page.click('#chat-connect');
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="true"]`).waitFor({ timeout: 20000 });
  await alice.page.locator('#chat-connect').waitFor({ state: 'hidden' });
});

test('composer: the Enter hint and the tick legend are visible; a counter near the limit; a too-long paste is refused whole', { skip: missing }, async () => {
  const { page } = sides.Alice;
  assert.equal(await page.locator('#composer-help').isVisible(), true);
  assert.equal(await page.locator('#composer-help').innerText(), 'Enter sends · Shift+Enter new line');
  assert.deepEqual(await page.locator('#tick-legend .legend-item').evaluateAll((items) => items.map((i) => i.dataset.state)), ['queued', 'sent', 'delivered', 'read']);
  assert.equal(await page.locator('#tick-legend').isVisible(), true);
  const counter = page.locator('#composer-count');
  await page.fill('#composer-input', 'x'.repeat(1000));
  assert.equal(await counter.isVisible(), false);
  await page.fill('#composer-input', 'x'.repeat(15000));
  assert.equal(await counter.innerText(), '15,000 / 16,000');
  assert.equal(await counter.getAttribute('data-level'), 'ok');
  await page.fill('#composer-input', 'x'.repeat(15800));
  assert.equal(await counter.getAttribute('data-level'), 'near');
  // A paste that would pass 16,000 is refused, whole, with a message.
  await page.locator('#composer-input').evaluate((node) => node.setSelectionRange(node.value.length, node.value.length));
  const refused = await page.locator('#composer-input').evaluate((node) => {
    const data = new DataTransfer();
    data.setData('text/plain', 'y'.repeat(500));
    const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    node.dispatchEvent(event);
    return event.defaultPrevented;
  });
  assert.equal(refused, true);
  assert.equal(await page.locator('#composer-error').innerText(), 'That paste would make the message 16,300 characters long; the limit is 16,000. Nothing was pasted.');
  assert.equal(await page.locator('#composer-input').evaluate((node) => node.value.length), 15800);
  // Typed past the limit: nothing is cut; sending says why it cannot.
  await page.fill('#composer-input', 'x'.repeat(16001));
  assert.equal(await page.locator('#composer-input').evaluate((node) => node.value.length), 16001);
  assert.equal(await counter.getAttribute('data-level'), 'full');
  await page.press('#composer-input', 'Enter');
  assert.equal(await page.locator('#composer-error').innerText(), 'This message has 16,001 characters; the limit is 16,000. Shorten it or send it in parts.');
  assert.equal(await page.locator('#messages .msg-mine').count(), 0);
  // Back under the limit: the error no longer applies.
  await page.press('#composer-input', 'Backspace');
  await page.locator('#composer-error').waitFor({ state: 'hidden' });
  await page.fill('#composer-input', '');
});

test('saving the name shows a confirmation; a long name keeps its full text on a narrow screen', { skip: missing }, async () => {
  const { page } = sides.Alice;
  await page.fill('#name-input', 'Alice Pleasance Liddell');
  await page.press('#name-input', 'Enter');
  const saved = page.locator('#name-saved');
  await saved.waitFor({ state: 'visible' });
  assert.equal(await saved.innerText(), 'Saved: others see “Alice Pleasance Liddell” from your next connection');
  await saved.waitFor({ state: 'hidden', timeout: 10000 });

  const longName = 'Bartholomew-Maximilian von Longname-Worthington';
  const side = await start(longName, { viewport: { width: 390, height: 800 } });
  await dial(sides.Alice, '127.0.0.1', side.port);
  const aliceId = await idOf(sides.Alice);
  await sides.Alice.page.locator(`#conv-list [data-conv="${await idOf(side)}"]`).waitFor({ timeout: 20000 }).catch(async (err) => {
    throw new Error(`${err.message}\nconnect-error: ${await sides.Alice.page.locator('#connect-error').innerText()}\nstatus: ${await sides.Alice.page.locator('#daemon-status').innerText()}`);
  });
  const name = sides.Alice.page.locator(`#conv-list [data-conv="${await idOf(side)}"] .conv-name`);
  assert.equal(await name.getAttribute('title'), longName);
  // Alice dialled them: to them she is a message request (PROTOCOL.md §8.2), under her saved name.
  await side.page.locator(`#request-list [data-conv="request:${aliceId}"]`).waitFor({ state: 'attached' });
  assert.equal(await side.page.locator(`#request-list [data-conv="request:${aliceId}"] .conv-name`).getAttribute('title'), 'Alice Pleasance Liddell');
  await name.click();
  await sides.Alice.page.setViewportSize({ width: 390, height: 800 });
  // The chat header wraps the name too, and carries it whole in its title.
  assert.equal(await sides.Alice.page.locator('#chat-title > span').first().getAttribute('title'), longName);
  const header = await sides.Alice.page.locator('#chat-title > span').first().evaluate((node) => node.scrollHeight <= node.clientHeight + 1);
  assert.ok(header, 'the name in the chat header is cut');
  await sides.Alice.page.click('#menu-btn');
  await sides.Alice.page.waitForTimeout(400); // the drawer slides in
  // The whole name is on screen (wrapped), not cut to a few letters.
  const shown = await name.evaluate((node) => ({ scroll: node.scrollHeight, client: node.clientHeight, width: node.scrollWidth <= node.clientWidth }));
  assert.ok(shown.scroll <= shown.client + 1 && shown.width, `the name does not fit: ${JSON.stringify(shown)}`);
  await screenshot(sides.Alice.page, 'first-use-narrow');
  await sides.Alice.page.keyboard.press('Escape');
  await sides.Alice.page.setViewportSize({ width: 1280, height: 800 });
});

test('no script errors or CSP violations on any page', { skip: missing }, async () => {
  for (const side of Object.values(sides)) assert.deepEqual(side.problems, [], side.name);
});
