// A local nickname for a contact, set from the page (PROTOCOL.md §8.1 `set_nickname`, §8.3):
// "Rename…" opens an inline field, Enter saves with a visible confirmation, Esc cancels, an empty
// field gives the contact its own name back, and a nickname that looks like another contact's name
// is warned about. Three real `p2p-chat` peers; only Alice's page is driven.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish } from './lib.mjs';

const missing = !peerBinary() ? 'no target/{release,debug}/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
let browser;
let page;
let problems;

before(async () => {
  if (missing) return;
  browser = await launch();
  for (const name of ['Alice', 'Bob', 'Carol']) peers.push(await startPeer(name));
  page = await browser.context.newPage();
  problems = watchProblems(page);
  await page.goto(peers[0].url);
  await page.locator('#conn[data-state="open"]').waitFor();
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
});

/** Dials a peer by its port through the form; returns its peer_id once listed. */
async function dial(peer) {
  const port = /P2P: listening on \S+:(\d+)/.exec(peer.output.join('\n'))?.[1];
  assert.ok(port, 'the peer printed its P2P port');
  await page.fill('#connect-ip', '127.0.0.1');
  await page.fill('#connect-port', port);
  await page.click('#connect-btn');
  const key = /p2p-chat identity: (\S+) fingerprint/.exec(peer.output.join('\n'))?.[1];
  assert.ok(key, 'the peer printed its key');
  await page.locator(`#peer-list [data-peer="${key}"]`).waitFor();
  return key;
}

const title = () => page.locator('#chat-title > span').first().innerText();

test('a contact gets a nickname from the page; Esc cancels; a look-alike name is warned about', { skip: missing }, async () => {
  const bobId = await dial(peers[1]);
  const carolId = await dial(peers[2]);
  assert.notEqual(bobId, carolId);
  await page.locator(`#conv-list [data-conv="${carolId}"]`).click();
  assert.equal(await title(), 'Carol');

  // Rename… opens a field holding the name shown now; Esc closes it and changes nothing.
  await page.click('#chat-rename');
  await page.locator('#rename-form:not([hidden])').waitFor();
  assert.equal(await page.locator('#rename-input').inputValue(), 'Carol');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'rename-input');
  await page.fill('#rename-input', 'Never saved');
  await page.press('#rename-input', 'Escape');
  await page.locator('#rename-form').waitFor({ state: 'hidden' });
  assert.equal(await title(), 'Carol');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'chat-rename');

  // Enter saves: a confirmation, the new title, and a warning: "Bоb" (Cyrillic о) looks like Bob.
  await page.click('#chat-rename');
  await page.fill('#rename-input', 'B\u043eb');
  await page.press('#rename-input', 'Enter');
  await page.locator('#rename-saved:not([hidden])').waitFor();
  assert.equal(await page.locator('#rename-saved').innerText(), 'Saved: you see them as “B\u043eb”');
  await page.locator('#rename-warning:not([hidden])').waitFor();
  assert.match(await page.locator('#rename-warning').innerText(), /^“B\u043eb” looks like the name of Bob \(another contact\)\./);
  assert.equal(await title(), 'B\u043eb');
  assert.equal(await page.locator('#rename-form').isHidden(), true);
  publish(await screenshot(page, 'nickname-confusable'), 'nickname');

  // A name nobody else has: saved, no warning.
  await page.click('#chat-rename');
  assert.equal(await page.locator('#rename-input').inputValue(), 'B\u043eb');
  await page.fill('#rename-input', 'Carol from work');
  await page.press('#rename-input', 'Enter');
  await page.locator('#rename-saved', { hasText: 'Carol from work' }).waitFor();
  await page.locator('#rename-warning').waitFor({ state: 'hidden' });
  assert.equal(await title(), 'Carol from work');
  await page.locator(`#conv-list [data-conv="${carolId}"]`, { hasText: 'Carol from work' }).waitFor();

  // Empty: the nickname goes, and the contact's own name is back.
  await page.click('#chat-rename');
  await page.fill('#rename-input', '');
  await page.click('#rename-save');
  await page.locator('#rename-saved', { hasText: 'Nickname removed' }).waitFor();
  await page.locator('#chat-title > span', { hasText: /^Carol$/ }).waitFor();

  // Not offered where it makes no sense.
  await page.locator('#conv-list [data-conv="everyone"]').click();
  assert.equal(await page.locator('#chat-rename').isHidden(), true);
  assert.deepEqual(problems, []);
});
