// Message requests and look-alike names in the page (PROTOCOL.md §8.2, §8.3), with four real
// `p2p-chat` peers: a key that dials Bob lands in "Message requests", not in Chats, and what it
// says is shown only there; a stranger whose name looks like Bob's contact Carol is flagged with a
// warning naming Carol; accepting moves the request's messages into a chat with a contact;
// blocking removes the request and the key cannot connect again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
let browser;

async function openPage(name) {
  const peer = await startPeer(name);
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

async function dial(from, to) {
  await from.page.fill('#connect-ip', '127.0.0.1');
  await from.page.fill('#connect-port', String(to.port));
  await from.page.click('#connect-btn');
  await from.page.locator(`#peer-list [data-peer="${to.id}"]`).waitFor();
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

test('a stranger is a message request, a look-alike name is flagged, accept makes a contact, block keeps it out', { skip: missing }, async () => {
  const bob = await openPage('Bob');
  const carol = await openPage('Carol');
  const alice = await openPage('Alice');
  // Looks like Carol: a zero-width space inside the name.
  const mallory = await openPage('Caro\u200bl');

  // Bob dials Carol: a key we dial is a contact at once, on Bob's side.
  await dial(bob, carol);
  await bob.page.locator(`#conv-list [data-conv="${carol.id}"]`).waitFor();
  assert.equal(await bob.page.locator('#requests-panel').isHidden(), true, 'no requests yet');

  // Alice dials Bob and writes: on Bob's page a request, not a chat; her text only in it.
  await dial(alice, bob);
  await alice.page.locator(`#conv-list [data-conv="${bob.id}"]`).click();
  await say(alice, 'Hi Bob, it is Alice from the climbing club');
  const aliceRequest = bob.page.locator(`#request-list [data-conv="request:${alice.id}"]`);
  await aliceRequest.waitFor();
  assert.equal(await bob.page.locator(`#conv-list [data-conv="${alice.id}"]`).count(), 0, 'a stranger is not a chat');
  await bob.page.locator('#request-list .conv-status', { hasText: '1 message' }).waitFor();
  await aliceRequest.click();
  await bob.page.locator('#messages .msg-text', { hasText: 'climbing club' }).waitFor();
  assert.match(await bob.page.locator('#chat-title').innerText(), /Alice\s+Message request/);
  assert.match(await bob.page.locator('#chat-sub').innerText(), /Not in your contacts/);
  // The daemon sends no fingerprint for a request (PROTOCOL.md §8.2): the page computes it.
  const aliceFp = /p2p-chat identity: \S+ fingerprint ([\d ]+)/.exec(alice.peer.output.join('\n'))?.[1]?.trim();
  assert.ok(aliceFp, 'Alice printed her fingerprint');
  await bob.page.locator('#chat-sub', { hasText: `fingerprint ${aliceFp}` }).waitFor();
  assert.equal(await bob.page.locator('#chat-accept').isVisible(), true);
  assert.equal(await bob.page.locator('#chat-block').isVisible(), true);
  assert.equal(await bob.page.locator('#chat-alert').isHidden(), true, 'Alice looks like no contact');

  // Mallory, named like Carol, dials Bob: flagged in the list and loudly in the open request.
  await dial(mallory, bob);
  const malloryRequest = bob.page.locator(`#request-list [data-conv="request:${mallory.id}"]`);
  await malloryRequest.waitFor();
  assert.match(await malloryRequest.getAttribute('aria-label'), /looks like your contact Carol/);
  assert.equal(await malloryRequest.locator('.tag-danger').innerText(), 'Look-alike name');
  await malloryRequest.click();
  const alert = bob.page.locator('#chat-alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /looks like your contact "Carol", but this is a different key/);
  assert.equal(await bob.page.locator('#request-count').innerText(), '2');
  publish(await screenshot(bob.page, 'requests-look-alike'), 'requests');

  // Accept Alice: she is a chat with a contact now, her message moved there, the request gone.
  await aliceRequest.click();
  await bob.page.click('#chat-accept');
  await bob.page.locator(`#conv-list [data-conv="${alice.id}"][aria-current="true"]`).waitFor();
  await bob.page.locator('#messages .msg-text', { hasText: 'climbing club' }).waitFor();
  assert.equal(await aliceRequest.count(), 0);
  assert.equal(await bob.page.locator('#request-count').innerText(), '1');
  await say(bob, 'Hi Alice, welcome');
  await alice.page.locator('#messages .msg-text', { hasText: 'Hi Alice, welcome' }).waitFor();

  // Block Mallory: the request goes, the session closes, and a new dial from that key is closed
  // by Bob as soon as the handshake names it (Mallory may see it connect and drop at once).
  bob.page.once('dialog', (d) => d.accept());
  await malloryRequest.click();
  await bob.page.click('#chat-block');
  await bob.page.locator('#requests-panel').waitFor({ state: 'hidden' });
  await bob.page.locator(`#peer-list [data-peer="${mallory.id}"]`).waitFor({ state: 'detached' });
  await mallory.page.fill('#connect-ip', '127.0.0.1');
  await mallory.page.fill('#connect-port', String(bob.port));
  await mallory.page.click('#connect-btn');
  await mallory.page.waitForTimeout(1000);
  await mallory.page.waitForFunction((id) => !document.querySelector(`#peer-list [data-peer="${id}"]`)
    && /disconnected|refused|closed|blocked|failed/i.test(document.getElementById('daemon-status').textContent
      + (document.getElementById('connect-error').hidden ? '' : document.getElementById('connect-error').textContent)), bob.id);
  assert.equal(await bob.page.locator(`#request-list [data-conv="request:${mallory.id}"]`).count(), 0);
  assert.equal(await bob.page.locator(`#peer-list [data-peer="${mallory.id}"]`).count(), 0);

  for (const side of [bob, carol, alice, mallory]) assert.deepEqual(side.problems, [], 'no page errors');
});
