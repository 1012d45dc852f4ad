// Room delivery member by member (PROTOCOL.md §8.1), three real `p2p-chat` peers each driven by
// its own page: a room message says how many members have it and lists who has it and who waits
// and why; a member the sender never connected to is said to be unreachable (in the room's
// header), not silently skipped, until the sender has something for it — then its peer asks a
// member connected to both for an introduction (PROTOCOL.md §7.2) and delivers directly; an
// absent member's count moves to "2 of 2" on the page when it comes back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/{release,debug}/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
const sides = {};
let browser;
let carolDir;

async function openPage(peer) {
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

const idOf = (side) => side.page.locator('#own-key').getAttribute('data-key');

/** `from` dials `to` through the form and both list each other. */
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

/** Sends `text` in the open conversation; returns the locator of our message's row. */
async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
  const row = side.page.locator('#messages .msg-mine', { hasText: text });
  await row.waitFor();
  return row;
}

/** Opens the member list under a message (once) and returns its lines. */
async function memberLines(row) {
  const details = row.locator('details.msg-members');
  if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  return row.locator('.msg-members-list li').allInnerTexts();
}

before(async () => {
  if (missing) return;
  browser = await launch();
  carolDir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-carol-'));
  for (const [name, args, options] of [
    ['Alice', ['--redial-base-ms', '100'], {}],
    ['Bob', [], {}],
    ['Carol', [], { dataDir: carolDir }],
  ]) {
    const peer = await startPeer(name, args, options);
    peers.push(peer);
    sides[name] = await openPage(peer);
  }
});

after(async () => {
  await browser?.close();
  await Promise.all(peers.map((p) => p.stop()));
  if (carolDir) rmSync(carolDir, { recursive: true, force: true });
});

test('a room message shows how many members have it, who waits and why; a member never met is reached through an introduction', { skip: missing }, async () => {
  const { Alice: alice, Bob: bob, Carol: carol } = sides;
  // Bob and Carol each dial Alice; they never meet each other.
  await connect(bob, alice);
  await connect(carol, alice);
  const [bobId, carolId] = await Promise.all([idOf(bob), idOf(carol)]);
  const carolPort = Number(await carol.page.locator('#own-port').innerText());

  await alice.page.click('#new-room');
  await alice.page.locator('#room-dialog[open]').waitFor();
  await alice.page.fill('#room-name', 'Weekend trip');
  await alice.page.locator(`#room-members input[value="${bobId}"]`).check();
  await alice.page.locator(`#room-members input[value="${carolId}"]`).check();
  await alice.page.click('#room-create');
  await alice.page.locator('#room-dialog').waitFor({ state: 'hidden' });
  const roomId = await alice.page.locator('#conv-list [data-conv^="room:"][aria-current="true"]').getAttribute('data-conv');
  // Alice knows everyone in her room: nothing is unreachable for her.
  assert.equal(await alice.page.locator('#chat-reach').isHidden(), true);

  // Bob's room: Carol is named (as Alice named her) and said to be unreachable.
  await bob.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
  await openConv(bob, roomId);
  const unreachable = 'you have never connected to Carol — ask Alice to introduce you or to share an invite';
  await bob.page.locator('#chat-reach li').waitFor();
  assert.deepEqual(await bob.page.locator('#chat-reach li .reach-text').allInnerTexts(), [`Not reachable: ${unreachable}.`]);
  assert.equal(await bob.page.locator('#chat-reach li button').innerText(), 'Ask for an introduction');
  assert.equal(await bob.page.locator('#chat-reach li').getAttribute('data-peer'), carolId);
  assert.equal(await bob.page.locator('#chat-sub').innerText(), '3 members: you, Alice, Carol');

  await screenshot(bob.page, 'room-delivery-unreachable');

  // Bob writes: his peer asks Alice to introduce him to Carol, the two connect directly
  // ("punched", Alice carries no message) and Carol has it — two of two, and nobody is
  // unreachable any more.
  const fromBob = await say(bob, 'hello room');
  await alice.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
  await fromBob.locator('details.msg-members[data-delivered="2"][data-total="2"]').waitFor({ timeout: 30000 });
  assert.equal(await fromBob.locator('.msg-members summary').innerText(), 'delivered to 2 of 2');
  assert.deepEqual(await memberLines(fromBob), ['Alice: has it', 'Carol: has it']);
  await bob.page.locator('#chat-reach').waitFor({ state: 'hidden' });
  const reached = bob.page.locator(`#peer-list [data-peer="${carolId}"] .peer-reached`);
  assert.equal(await reached.getAttribute('data-reached'), 'punched');
  assert.equal(await reached.innerText(), 'punched');
  publish(await screenshot(bob.page, 'room-delivery-introduced'), 'room-delivery');

  // Carol stops. Alice writes: Bob has it, Carol is offline and waits.
  await openConv(carol, roomId);
  await carol.peer.stop();
  await alice.page.locator(`#conv-list [data-conv="${carolId}"][data-online="false"]`).waitFor();
  await openConv(alice, roomId);
  const fromAlice = await say(alice, 'see you saturday');
  await fromAlice.locator('details.msg-members[data-delivered="1"][data-total="2"]').waitFor();
  assert.deepEqual(await memberLines(fromAlice), ['Bob: has it', 'Carol: offline, goes out when they are back online']);
  publish(await screenshot(alice.page, 'room-delivery-waiting'), 'room-delivery-waiting');

  // Carol comes back on her port with her data; Alice's peer redials her and delivers: the page
  // counts her at once, in the list it kept open.
  const back = await startPeer('Carol', [], { dataDir: carolDir, port: carolPort });
  peers.push(back);
  sides.Carol = await openPage(back);
  await fromAlice.locator('details.msg-members[data-delivered="2"][data-total="2"]').waitFor();
  assert.equal(await fromAlice.locator('.msg-members summary').innerText(), 'delivered to 2 of 2');
  assert.equal(await fromAlice.locator('details.msg-members').evaluate((d) => d.open), true);
  assert.deepEqual(await fromAlice.locator('.msg-members-list li').allInnerTexts(), ['Bob: has it', 'Carol: has it']);
  assert.equal(await fromAlice.locator('.tick').getAttribute('data-state'), 'delivered');
  assert.equal(await fromAlice.locator('.tick').getAttribute('title'), 'Delivered to all 2 members');

  // A reload reads the per-member states back from history.
  await alice.page.reload();
  await alice.page.locator('#conn[data-state="open"]').waitFor();
  await openConv(alice, roomId);
  const reloaded = alice.page.locator('#messages .msg-mine', { hasText: 'see you saturday' });
  await reloaded.locator('details.msg-members[data-delivered="2"][data-total="2"]').waitFor();
  await screenshot(alice.page, 'room-delivery-all');

  for (const side of [alice, bob, sides.Carol]) assert.deepEqual(side.problems, []);
});
