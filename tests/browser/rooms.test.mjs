// Rooms with a creator (PROTOCOL.md §8.4), three real `p2p-chat` peers each driven by its own page:
// the creator adds and removes members through the room's "Members" dialog, every member sees each
// change as a line in the room's timeline, a member who is not the creator has no way to change the
// room, and a removed member's room becomes read-only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/{release,debug}/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
const sides = {};
let browser;

async function openPage(peer) {
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

const idOf = (side) => side.page.locator('#own-key').getAttribute('data-key');

/** `from` dials `to` through the form (so `to` is `from`'s contact) and both list each other. */
async function connect(from, to) {
  const [fromId, toId] = await Promise.all([idOf(from), idOf(to)]);
  await from.page.fill('#connect-ip', '127.0.0.1');
  await from.page.fill('#connect-port', await to.page.locator('#own-port').innerText());
  await from.page.click('#connect-btn');
  await from.page.locator(`#peer-list [data-peer="${toId}"]`).waitFor();
  await to.page.locator(`#peer-list [data-peer="${fromId}"]`).waitFor();
  await acceptRequest(to.page, fromId);
}

async function openConv(side, convId) {
  await side.page.locator(`#conv-list [data-conv="${convId}"]`).click();
  await side.page.locator(`#conv-list [data-conv="${convId}"][aria-current="true"]`).waitFor();
}

const changeLines = (side) => side.page.locator('#messages .msg-change > span').allInnerTexts();

before(async () => {
  if (missing) return;
  browser = await launch();
  for (const name of ['Alice', 'Bob', 'Carol']) {
    const peer = await startPeer(name);
    peers.push(peer);
    sides[name] = await openPage(peer);
  }
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
});

test('the creator adds and removes members; every member sees each change in the room; nobody else can change it', { skip: missing }, async () => {
  const { Alice: alice, Bob: bob, Carol: carol } = sides;
  // Bob and Carol dial Alice: she is their contact, and they are hers.
  await connect(bob, alice);
  await connect(carol, alice);
  const [bobId, carolId] = await Promise.all([idOf(bob), idOf(carol)]);

  await alice.page.click('#new-room');
  await alice.page.locator('#room-dialog[open]').waitFor();
  await alice.page.fill('#room-name', 'Weekend trip');
  await alice.page.locator(`#room-members input[value="${bobId}"]`).check();
  await alice.page.click('#room-create');
  await alice.page.locator('#room-dialog').waitFor({ state: 'hidden' });
  const roomId = await alice.page.locator('#conv-list [data-conv^="room:"][aria-current="true"]').getAttribute('data-conv');
  assert.equal(await alice.page.locator('#chat-sub').innerText(), '2 members: you, Bob');

  await bob.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
  await openConv(bob, roomId);
  // Bob is a member, not the creator: no way to change the room on his page.
  assert.equal(await bob.page.locator('#chat-room-members').isHidden(), true);

  // Alice adds Carol through the room's Members dialog, with the room's current members checked.
  assert.equal(await alice.page.locator('#chat-room-members').isVisible(), true);
  await alice.page.click('#chat-room-members');
  await alice.page.locator('#room-dialog[open]').waitFor();
  assert.equal(await alice.page.locator('#room-title').innerText(), 'Room members');
  assert.equal(await alice.page.locator('#room-name').inputValue(), 'Weekend trip');
  assert.equal(await alice.page.locator(`#room-members input[value="${bobId}"]`).isChecked(), true);
  assert.equal(await alice.page.locator(`#room-members input[value="${carolId}"]`).isChecked(), false);
  await alice.page.locator(`#room-members input[value="${carolId}"]`).check();
  await alice.page.click('#room-create');
  await alice.page.locator('#room-dialog').waitFor({ state: 'hidden' });

  await bob.page.locator('#messages .msg-change', { hasText: 'added Carol' }).waitFor();
  assert.deepEqual(await changeLines(bob), ['Alice added Carol']);
  assert.equal(await bob.page.locator('#chat-sub').innerText(), '3 members: you, Alice, Carol');
  await carol.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
  await openConv(carol, roomId);
  assert.equal(await carol.page.locator('#chat-room-members').isHidden(), true);
  assert.deepEqual(await changeLines(alice), ['You added Carol']);

  // In a room a name is only what its sender claims (PROTOCOL.md §8.3): next to Alice's name
  // Carol's page shows the first two groups of Alice's fingerprint, computed there.
  await openConv(alice, roomId);
  await alice.page.fill('#composer-input', 'Hi both');
  await alice.page.press('#composer-input', 'Enter');
  const aliceFp = /p2p-chat identity: \S+ fingerprint ([\d ]+)/.exec(alice.peer.output.join('\n'))?.[1]?.trim();
  assert.ok(aliceFp, 'Alice printed her fingerprint');
  const said = carol.page.locator('#messages .msg', { hasText: 'Hi both' });
  await said.waitFor();
  assert.equal(await said.locator('.msg-fp').innerText(), aliceFp.split(' ').slice(0, 2).join(' '));

  // Alice removes Bob and renames the room: one change, shown to Carol, and to Bob, whose copy
  // becomes read-only.
  await alice.page.click('#chat-room-members');
  await alice.page.locator('#room-dialog[open]').waitFor();
  await alice.page.locator(`#room-members input[value="${bobId}"]`).uncheck();
  await alice.page.fill('#room-name', 'Cabin trip');
  await alice.page.click('#room-create');
  await alice.page.locator('#room-dialog').waitFor({ state: 'hidden' });
  for (const side of [carol, bob]) {
    await side.page.locator('#messages .msg-change', { hasText: 'removed' }).waitFor();
  }
  assert.deepEqual(await changeLines(carol), ['Alice removed Bob and renamed the room “Cabin trip”']);
  assert.equal(await carol.page.locator('#chat-sub').innerText(), '2 members: you, Alice');
  assert.deepEqual(await changeLines(bob), ['Alice added Carol', 'Alice removed you and renamed the room “Cabin trip”']);
  assert.equal(await bob.page.locator('#chat-sub').innerText(), 'You were removed from this room; it is read-only.');
  assert.equal(await bob.page.locator('#chat-title > span').first().innerText(), 'Cabin trip');

  // A reload reads the changes back from history, each once, in order.
  await bob.page.reload();
  await bob.page.locator('#conn[data-state="open"]').waitFor();
  await openConv(bob, roomId);
  await bob.page.locator('#messages .msg-change', { hasText: 'removed you' }).waitFor();
  assert.deepEqual(await changeLines(bob), ['Alice added Carol', 'Alice removed you and renamed the room “Cabin trip”']);
  // The chat list's preview of the room is the change's words, not an empty "name: text".
  assert.equal(await bob.page.locator(`#conv-list [data-conv="${roomId}"] .conv-preview`).innerText(), 'Alice removed you and renamed the room “Cabin trip”');

  publish(await screenshot(bob.page, 'room-changes-removed-member'), 'room-changes');
  await screenshot(carol.page, 'room-changes-member');
  for (const side of [alice, bob, carol]) assert.deepEqual(side.problems, []);
});
