// Disappearing messages in the page (PROTOCOL.md §8.8), with two real `p2p-chat` peers whose
// timer seconds last 10 ms (`--timer-unit-ms 10`: "5 minutes" is 3 s): Alice picks 5 minutes in
// the chat header, both timelines say who set it, the indicator shows it, a message sent after it
// vanishes from both pages while the one sent before stays, and a reload shows the setting again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const UNIT = ['--timer-unit-ms', '10'];
const peers = [];
let browser;

async function openPage(name) {
  const peer = await startPeer(name, UNIT);
  peers.push(peer);
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  const id = await page.locator('#own-key').getAttribute('data-key');
  const port = Number(await page.locator('#own-port').innerText());
  return { peer, page, problems, id, port };
}

async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
  await side.page.locator('#messages .msg-mine .msg-text', { hasText: text }).first().waitFor();
}

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1280, height: 860 } });
});

after(async () => {
  for (const peer of peers) await peer.stop();
  await browser?.close();
});

test('the header sets a timer, both timelines say so, and a later message vanishes on both pages', { skip: missing }, async () => {
  const alice = await openPage('Alice');
  const bob = await openPage('Bob');
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', String(bob.port));
  await alice.page.click('#connect-btn');
  await alice.page.locator(`#peer-list [data-peer="${bob.id}"]`).waitFor();
  await bob.page.locator(`#peer-list [data-peer="${alice.id}"]`).waitFor();
  await acceptRequest(bob.page, alice.id);
  await alice.page.locator(`#conv-list [data-conv="${bob.id}"]`).click();

  // Off at first; "everyone" has no timer at all.
  const control = alice.page.locator('#chat-timer');
  await alice.page.locator('#chat-timer-wrap:not([hidden])').waitFor();
  assert.equal(await control.inputValue(), '0');
  assert.deepEqual(await control.locator('option').allInnerTexts(), ['Off', '5 minutes', '1 hour', '1 day', '1 week']);
  assert.equal(await alice.page.locator('#chat-timer-badge').isHidden(), true);

  await say(alice, 'said before the timer');
  await bob.page.locator('#messages .msg-text', { hasText: 'said before the timer' }).waitFor();

  await control.selectOption('300');
  const aliceLine = alice.page.locator('#messages .msg-change[data-kind="timer"]');
  await aliceLine.waitFor();
  assert.match(await aliceLine.innerText(), /^You set disappearing messages to 5 minutes/);
  const bobLine = bob.page.locator('#messages .msg-change[data-kind="timer"]');
  await bobLine.waitFor();
  assert.match(await bobLine.innerText(), /^Alice set disappearing messages to 5 minutes/);
  for (const side of [alice, bob]) {
    const badge = side.page.locator('#chat-timer-badge:not([hidden])');
    await badge.waitFor();
    assert.match(await badge.innerText(), /5 minutes/);
    assert.equal(await side.page.locator('#chat-timer').inputValue(), '300');
  }

  const started = Date.now();
  await say(alice, 'this one disappears');
  await bob.page.locator('#messages .msg-text', { hasText: 'this one disappears' }).waitFor();
  publish(await screenshot(bob.page, 'timer-before-expiry'), 'timer');
  for (const side of [alice, bob]) {
    await side.page.locator('#messages .msg-text', { hasText: 'this one disappears' }).waitFor({ state: 'detached', timeout: 15000 });
  }
  assert.ok(Date.now() - started >= 2500, 'gone only once its (test) 5 minutes had passed');
  for (const side of [alice, bob]) {
    assert.equal(await side.page.locator('#messages .msg-text', { hasText: 'said before the timer' }).count(), 1);
    // An expired message is not a user's delete: no "deleted on this device" toast.
    assert.doesNotMatch(await side.page.locator('body').innerText(), /deleted on this device only/);
  }

  // A reload shows the setting and the line again, from the peer.
  await bob.page.reload();
  await bob.page.locator('#conn[data-state="open"]').waitFor();
  await bob.page.locator(`#conv-list [data-conv="${alice.id}"]`).click();
  await bob.page.locator('#messages .msg-change[data-kind="timer"]', { hasText: 'Alice set disappearing messages to 5 minutes' }).waitFor();
  await bob.page.locator('#chat-timer-badge:not([hidden])').waitFor();
  assert.equal(await bob.page.locator('#chat-timer').inputValue(), '300');
  assert.equal(await bob.page.locator('#messages .msg-text', { hasText: 'this one disappears' }).count(), 0);

  // Bob turns it off.
  await bob.page.locator('#chat-timer').selectOption('0');
  await alice.page.locator('#messages .msg-change[data-kind="timer"]', { hasText: 'Bob turned off disappearing messages' }).waitFor();
  await alice.page.locator('#chat-timer-badge').waitFor({ state: 'hidden' });
  await screenshot(alice.page, 'timer-lines');
  for (const side of [alice, bob]) assert.deepEqual(side.problems, []);
});
