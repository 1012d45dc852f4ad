// Two (and a third, hostile-named) real `p2p-chat` peers, each driven by its own page in Chromium:
// connect through the form, chat both ways, compare safety numbers, verify, reload, XSS, vectors.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const XSS_IMG = '<img src=x onerror=window.__xss=1>';
const XSS_SCRIPT = '<script>window.__xss=1</script>';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
let browser;
let alice; // { peer, page, problems }
let bob;

async function openPage(peer, options = {}) {
  const page = await browser.context.newPage();
  if (options.viewport) await page.setViewportSize(options.viewport);
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

async function ownPort(side) {
  return Number(await side.page.locator('#own-port').innerText());
}

async function peerIdOf(side) {
  return side.page.locator('#own-key').getAttribute('data-key');
}

/** Connects `from` to `to` through the form and waits until each page lists the other. */
async function connect(from, to) {
  const toId = await peerIdOf(to);
  const fromId = await peerIdOf(from);
  await from.page.fill('#connect-ip', '127.0.0.1');
  await from.page.fill('#connect-port', String(await ownPort(to)));
  await from.page.click('#connect-btn');
  await from.page.locator(`#peer-list [data-peer="${toId}"]`).waitFor();
  await to.page.locator(`#peer-list [data-peer="${fromId}"]`).waitFor();
  await acceptRequest(to.page, fromId);
  return { fromId, toId };
}

async function openConv(side, convId) {
  await side.page.locator(`#conv-list [data-conv="${convId}"]`).click();
  await side.page.locator(`#conv-list [data-conv="${convId}"][aria-current="true"]`).waitFor();
}

async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
}

async function messageTexts(side) {
  return side.page.locator('#messages .msg .msg-text').allTextContents();
}

before(async () => {
  if (missing) return;
  browser = await launch();
  peers.push(await startPeer('Alice'), await startPeer('Bob'));
  alice = await openPage(peers[0]);
  bob = await openPage(peers[1]);
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
});

test('both pages say "Crypto check ✓" (wasm self-test passed, counts in the tooltip) and show an empty state with their own address', { skip: missing }, async () => {
  for (const side of [alice, bob]) {
    await side.page.locator('#selftest-badge.badge-ok').waitFor();
    assert.equal(await side.page.locator('#selftest-badge').innerText(), 'Crypto check ✓');
    assert.match(await side.page.locator('#selftest-badge').getAttribute('title'), /: (\d+) of \1 known-answer checks passed in [\d.]+ ms\./);
    assert.equal(await side.page.locator('#empty-state').isVisible(), true);
    assert.match(await side.page.locator('#empty-addr').innerText(), new RegExp(`:${await ownPort(side)}$`));
    assert.equal(await side.page.locator('#fp-alert').isVisible(), false);
  }
  const shot = await screenshot(alice.page, 'empty');
  publish(shot, 'empty');
});

test('connect through the form; both pages list each other', { skip: missing }, async () => {
  const { fromId, toId } = await connect(alice, bob);
  // The first peer opens its conversation; names come from the handshake.
  await alice.page.locator(`#conv-list [data-conv="${toId}"][aria-current="true"]`).waitFor();
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${toId}"] .peer-name`).innerText(), 'Bob');
  assert.equal(await bob.page.locator(`#peer-list [data-peer="${fromId}"] .peer-name`).innerText(), 'Alice');
  assert.match(await alice.page.locator(`#peer-list [data-peer="${toId}"] .peer-addr`).innerText(), new RegExp(`127\\.0\\.0\\.1:${await ownPort(bob)}`));
  // Fingerprints shown are the page's own wasm computation and agree with the daemon's.
  assert.match(await alice.page.locator(`#peer-list [data-peer="${toId}"] .peer-fp code`).innerText(), /^(\d{5} ){5}\d{5}$/);
  assert.equal(await alice.page.locator('#fp-alert').isVisible(), false);
  assert.equal(await bob.page.locator('#fp-alert').isVisible(), false);
  await screenshot(alice.page, 'connected');
});

test('messages both ways land in the right conversation', { skip: missing }, async () => {
  const aliceId = await peerIdOf(alice);
  const bobId = await peerIdOf(bob);

  // Alice → Bob, direct, while Bob looks at Everyone.
  await openConv(bob, 'everyone');
  await openConv(alice, bobId);
  await say(alice, 'Hi Bob, did the safety numbers match?');
  await alice.page.locator('#messages .msg-mine .msg-text', { hasText: 'did the safety numbers match' }).waitFor();
  // Bob is looking at Everyone: an unread badge appears on Alice's conversation.
  await bob.page.locator(`#conv-list [data-conv="${aliceId}"] .unread`).waitFor();
  assert.equal(await bob.page.locator(`#conv-list [data-conv="${aliceId}"] .unread`).innerText(), '1');
  await openConv(bob, aliceId);
  assert.deepEqual(await messageTexts(bob), ['Hi Bob, did the safety numbers match?']);
  assert.equal(await bob.page.locator('#messages .msg-theirs').count(), 1);
  assert.equal(await bob.page.locator(`#conv-list [data-conv="${aliceId}"] .unread`).count(), 0);

  // Bob → Alice, direct, with Shift+Enter making a second line.
  await bob.page.fill('#composer-input', 'Yes, all twelve groups.');
  await bob.page.press('#composer-input', 'Shift+Enter');
  await bob.page.keyboard.type('Marking you verified.');
  await bob.page.press('#composer-input', 'Enter');
  await alice.page.locator('#messages .msg-theirs .msg-text', { hasText: 'Marking you verified.' }).waitFor();
  assert.deepEqual(await messageTexts(alice), ['Hi Bob, did the safety numbers match?', 'Yes, all twelve groups.\nMarking you verified.']);
  assert.equal(await alice.page.locator('#messages .msg-mine').count(), 1);
  assert.equal(await bob.page.locator('#composer-input').inputValue(), '');

  // Alice → everyone: Bob sees it under Everyone, not in the direct conversation.
  await openConv(alice, 'everyone');
  await say(alice, 'Hello everyone');
  await alice.page.locator('#messages .msg-mine .msg-text', { hasText: 'Hello everyone' }).waitFor();
  await bob.page.locator('#conv-list [data-conv="everyone"] .unread').waitFor();
  assert.deepEqual(await messageTexts(bob), ['Hi Bob, did the safety numbers match?', 'Yes, all twelve groups.\nMarking you verified.']);
  await openConv(bob, 'everyone');
  assert.deepEqual(await messageTexts(bob), ['Hello everyone']);
  assert.equal(await bob.page.locator('#messages .msg-name').first().innerText(), 'Alice');

  // A little more conversation, for the screenshots.
  await openConv(alice, bobId);
  await openConv(bob, aliceId);
  await say(bob, 'I am sending the notes from Friday now.');
  await alice.page.locator('#messages .msg-text', { hasText: 'notes from Friday' }).waitFor();
  await say(alice, 'Thanks, got them.');
  await bob.page.locator('#messages .msg-text', { hasText: 'Thanks, got them.' }).waitFor();
  const shot = await screenshot(alice.page, 'conversation');
  publish(shot, 'conversation');
  await alice.page.setViewportSize({ width: 390, height: 800 });
  const narrow = await screenshot(alice.page, 'narrow');
  publish(narrow, 'narrow');
  await alice.page.setViewportSize({ width: 1280, height: 800 });
});

test('both pages show the same 60-digit safety number', { skip: missing }, async () => {
  const aliceId = await peerIdOf(alice);
  const bobId = await peerIdOf(bob);
  const numbers = [];
  for (const [side, other] of [[alice, bobId], [bob, aliceId]]) {
    await side.page.locator(`#peer-list [data-peer="${other}"] [data-action="verify"]`).click();
    await side.page.locator('#verify-dialog[open]').waitFor();
    const groups = await side.page.locator('#safety-number li').allInnerTexts();
    assert.equal(groups.length, 12);
    for (const g of groups) assert.match(g, /^\d{5}$/);
    assert.equal(await side.page.locator('#verify-alert').isVisible(), false);
    numbers.push(groups.join(' '));
  }
  assert.equal(numbers[0], numbers[1]);
  const shot = await screenshot(alice.page, 'verification');
  publish(shot, 'verification');
  await bob.page.keyboard.press('Escape');
});

test('marking a peer verified survives a reload', { skip: missing }, async () => {
  const bobId = await peerIdOf(bob);
  // Alice's verification dialog is still open from the previous test.
  await alice.page.locator('#verify-dialog[open]').waitFor();
  assert.equal(await alice.page.locator('#verify-toggle').isChecked(), false);
  await alice.page.locator('label.switch').click();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] .tag-ok`).waitFor();
  assert.equal(await alice.page.locator('#verify-toggle').isChecked(), true);
  await alice.page.keyboard.press('Escape');

  await alice.page.reload();
  await alice.page.locator('#conn[data-state="open"]').waitFor();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] .tag-ok`).waitFor();
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${bobId}"] .tag-ok`).innerText(), 'Verified');
  // The token came from sessionStorage: the address bar never shows it again.
  assert.equal(new URL(alice.page.url()).searchParams.get('token'), null);
});

test('an XSS payload as display name, as a rename that reaches the other page at once, and as message is shown as text and runs nothing', { skip: missing }, async () => {
  const mallory = await startPeer(XSS_IMG);
  peers.push(mallory);
  const side = await openPage(mallory);
  const { fromId: malloryId } = await connect(side, bob);
  await bob.page.locator(`#peer-list [data-peer="${malloryId}"]`).waitFor();
  assert.equal(await bob.page.locator(`#peer-list [data-peer="${malloryId}"] .peer-name`).textContent(), XSS_IMG);

  await openConv(side, await peerIdOf(bob));
  await say(side, XSS_IMG);
  await say(side, XSS_SCRIPT);
  // A display name changed through the form: it reaches Bob at once (the `name` payload).
  await side.page.fill('#name-input', XSS_SCRIPT);
  await side.page.click('#name-save');
  await side.page.locator('#name-input').evaluate((input, want) => new Promise((resolve) => {
    const check = () => (input.value === want ? resolve() : setTimeout(check, 50));
    check();
  }), XSS_SCRIPT);

  await openConv(bob, malloryId);
  await bob.page.locator('#messages .msg-text', { hasText: XSS_SCRIPT }).waitFor();
  assert.deepEqual(await messageTexts(bob), [XSS_IMG, XSS_SCRIPT]);
  for (const s of [bob, side, alice]) {
    assert.equal(await s.page.evaluate(() => window.__xss), undefined);
    assert.equal(await s.page.locator('#app img, #app script').count(), 0);
  }
  await bob.page.locator('#chat-title > span', { hasText: XSS_SCRIPT }).first().waitFor();
  assert.equal(await bob.page.locator('#chat-title > span').first().textContent(), XSS_SCRIPT);
  for (const s of [bob, side, alice]) {
    assert.equal(await s.page.evaluate(() => window.__xss), undefined);
    assert.equal(await s.page.locator('#app img, #app script').count(), 0);
  }
  await screenshot(bob.page, 'xss');
});

test('a page opened without the token opens no WebSocket', { skip: missing }, async () => {
  const page = await browser.context.newPage();
  const sockets = [];
  page.on('websocket', (ws) => sockets.push(ws.url()));
  await page.goto(`${peers[1].origin}/`);
  await page.locator('#token-missing').waitFor({ state: 'visible' });
  await page.locator('#selftest-badge:not(.badge-pending)').waitFor();
  assert.equal(await page.locator('#conn-text').innerText(), 'No token');
  assert.deepEqual(sockets, []);
  await screenshot(page, 'no-token');
  await page.close();
});

test('"Run all vectors" runs every suite in wasm and all pass', { skip: missing }, async () => {
  await bob.page.click('#selftest-badge');
  await bob.page.click('#run-vectors');
  await bob.page.locator('#vectors-summary[data-state]').waitFor({ timeout: 180000 });
  assert.equal(await bob.page.locator('#vectors-summary').getAttribute('data-state'), 'pass');
  const rows = bob.page.locator('#vectors-body tr[data-kind]');
  assert.equal(await rows.count(), 11);
  assert.equal(await bob.page.locator('#vectors-body tr.row-pass').count(), 11);
  const summary = await bob.page.locator('#vectors-summary').innerText();
  const [, passed, failed] = /(\d+) passed, (\d+) failed/.exec(summary);
  assert.ok(Number(passed) > 800, summary);
  assert.equal(Number(failed), 0);
  const shot = await screenshot(bob.page, 'vectors');
  publish(shot, 'vectors');
  await bob.page.keyboard.press('Escape');
});

test('narrow screen (390 px): the sidebar collapses into a drawer', { skip: missing }, async () => {
  const page = alice.page;
  await page.setViewportSize({ width: 390, height: 800 });
  assert.equal(await page.locator('#sidebar').isVisible(), false);
  assert.equal(await page.locator('#composer-input').isVisible(), true);
  await page.click('#menu-btn');
  await page.locator('#sidebar').evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
  assert.equal(await page.locator('#sidebar').isVisible(), true);
  await screenshot(page, 'narrow-drawer');
  await page.keyboard.press('Escape');
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('Disconnect closes the session on both sides; the conversation stays, marked offline', { skip: missing }, async () => {
  const aliceId = await peerIdOf(alice);
  const bobId = await peerIdOf(bob);
  await openConv(alice, bobId);
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] button`, { hasText: 'Disconnect' }).click();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor({ state: 'detached' });
  await bob.page.locator(`#peer-list [data-peer="${aliceId}"]`).waitFor({ state: 'detached' });
  assert.equal(await alice.page.locator(`#conv-list [data-conv="${bobId}"]`).count(), 1);
  // The daemon queues messages for an offline contact (PROTOCOL.md §8.1).
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="false"]`).waitFor();
  assert.equal(await alice.page.locator('#send-btn').isDisabled(), false);
  assert.match(await alice.page.locator('#composer-input').getAttribute('placeholder'), /delivered when they are back online/);
  assert.match(await alice.page.locator('#chat-sub').innerText(), /offline · last seen just now$/);
});

test('no script errors or CSP violations on any page', { skip: missing }, async () => {
  for (const side of [alice, bob]) assert.deepEqual(side.problems, []);
});
