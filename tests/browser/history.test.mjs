// Search and delete in the page (PROTOCOL.md §8.5), with two real `p2p-chat` peers: a Japanese
// word is found by two characters and by one, the match is marked with <mark> built from text
// (never markup), a result opens its conversation at that message with context around it, the
// scope limits the search to the open chat, and a message deleted "on this device only" is gone
// from the page and from search while the other side keeps it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const NEEDLE = 'Meet me at the こんにちは世界 café <b>not bold</b>';
const peers = [];
let browser;

async function openPage(peer) {
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
  await side.page.locator('#messages .msg-mine .msg-text', { hasText: text }).first().waitFor();
}

async function searchFor(side, query, scope = 'all') {
  await side.page.fill('#search-input', query);
  await side.page.selectOption('#search-scope', scope);
  await side.page.click('#search-btn');
  await side.page.locator('#search-status:not(:text("Searching…")):not(:empty)').waitFor();
}

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1280, height: 800 } });
});

after(async () => {
  for (const peer of peers) await peer.stop();
  await browser?.close();
});

test('search finds CJK and substrings, opens the message in context, deletes on this device only', { skip: missing }, async () => {
  const a = await startPeer('Alice');
  const b = await startPeer('Bob');
  peers.push(a, b);
  const alice = await openPage(a);
  const bob = await openPage(b);
  const bobPort = Number(await bob.page.locator('#own-port').innerText());
  const aliceId = await alice.page.locator('#own-key').getAttribute('data-key');
  const bobId = await bob.page.locator('#own-key').getAttribute('data-key');
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', String(bobPort));
  await alice.page.click('#connect-btn');
  await bob.page.locator(`#peer-list [data-peer="${aliceId}"]`).waitFor();
  await acceptRequest(bob.page, aliceId);

  // Bob writes to Alice: some before, the needle, and enough after that it is scrolled away.
  await bob.page.locator(`#conv-list [data-conv="${aliceId}"]`).click();
  for (let i = 0; i < 3; i += 1) await say(bob, `before ${i}`);
  await say(bob, NEEDLE);
  for (let i = 0; i < 30; i += 1) await say(bob, `later message number ${i} about helloworld`);
  await alice.page.locator(`#conv-list [data-conv="${bobId}"]`).waitFor();
  await alice.page.locator('#conv-list [data-conv="everyone"]').click();

  // Two characters of a Japanese word: one result, the match in a <mark>, the markup as text.
  await searchFor(alice, '世界');
  const hits = alice.page.locator('#search-results .search-hit');
  assert.equal(await hits.count(), 1);
  assert.deepEqual(await hits.first().locator('mark').allTextContents(), ['世界']);
  assert.match(await hits.first().innerText(), /<b>not bold<\/b>/);
  assert.equal(await alice.page.locator('#search-results b').count(), 0, 'message markup stays text');
  assert.match(await hits.first().locator('.search-hit-conv').innerText(), /Bob/);
  // One character (below the trigram length) finds it too; a substring inside a word as well.
  await searchFor(alice, '世');
  assert.equal(await hits.count(), 1);
  assert.deepEqual(await hits.first().locator('mark').allTextContents(), ['世']);
  await searchFor(alice, 'lowor');
  assert.equal(await hits.count(), 30);
  assert.deepEqual(await hits.first().locator('mark').allTextContents(), ['lowor']);
  // Scoped to the open chat (Everyone): nothing there.
  await searchFor(alice, '世界', 'open');
  assert.equal(await hits.count(), 0);
  assert.match(await alice.page.locator('#search-status').innerText(), /No messages found in Everyone/);

  // Opening the result: Bob's chat, at the needle, with the messages around it.
  await searchFor(alice, 'こんにちは');
  await hits.first().locator('button').click();
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][aria-current="true"]`).waitFor();
  const focused = alice.page.locator('#messages .msg-focus');
  await focused.waitFor();
  assert.equal(await focused.locator('.msg-text').innerText(), NEEDLE);
  const texts = await alice.page.locator('#messages .msg .msg-text').allTextContents();
  const at = texts.indexOf(NEEDLE);
  assert.deepEqual(texts.slice(at - 2, at), ['before 1', 'before 2']);
  assert.equal(texts[at + 1], 'later message number 0 about helloworld');
  const list = await alice.page.locator('#messages').boundingBox();
  const box = await focused.boundingBox();
  assert.ok(box.y >= list.y && box.y + box.height <= list.y + list.height, 'the found message is scrolled into view');
  const shot = await screenshot(alice.page, 'search');
  publish(shot, 'search');

  // Deleting it: the page asks, saying "this device only"; then it is gone here and from search.
  let asked = '';
  alice.page.once('dialog', (dialog) => {
    asked = dialog.message();
    dialog.accept();
  });
  await focused.hover();
  await focused.locator('.msg-delete').click();
  await alice.page.locator('#messages .msg-text', { hasText: 'こんにちは世界' }).waitFor({ state: 'detached' });
  assert.match(asked, /on this device only/);
  await alice.page.locator('#toast', { hasText: 'deleted on this device only' }).waitFor();
  await searchFor(alice, '世界');
  assert.equal(await hits.count(), 0);
  // Bob keeps his copy.
  assert.equal(await bob.page.locator('#messages .msg-text', { hasText: 'こんにちは世界' }).count(), 1);

  // Deleting the whole chat, after confirming.
  alice.page.once('dialog', (dialog) => dialog.accept());
  await alice.page.click('#chat-delete');
  await alice.page.locator('#messages .msg-empty').waitFor();
  await searchFor(alice, 'helloworld');
  assert.equal(await hits.count(), 0);

  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});
