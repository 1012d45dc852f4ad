// Three real `p2p-chat` peers with data directories (PROTOCOL.md §8.1), each driven by its own
// page: delivery ticks reach "delivered", history survives a page reload and a peer restart, a
// message to an offline contact waits and is delivered once it is back, and a room works across
// three peers and survives a restart.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const DELIVERY_TIMEOUT = 45000; // the redial backoff starts at 1 s and doubles

let browser;
const dirs = [];
const sides = {}; // name -> { peer, page, problems, dir, port }

async function openPage(peer) {
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { page, problems };
}

async function start(name, { port = 0 } = {}) {
  const old = sides[name];
  const dir = old?.dir ?? mkdtempSync(path.join(tmpdir(), `p2p-chat-${name.toLowerCase()}-`));
  if (!old) dirs.push(dir);
  const peer = await startPeer(name, [], { dataDir: dir, port });
  const { page, problems } = await openPage(peer);
  const side = { name, peer, page, problems, dir, port: Number(await page.locator('#own-port').innerText()) };
  sides[name] = side;
  return side;
}

async function stop(side) {
  side.problemsBefore = [...(side.problemsBefore ?? []), ...side.problems];
  await side.page.close();
  await side.peer.stop();
}

async function idOf(side) {
  return side.page.locator('#own-key').getAttribute('data-key');
}

async function connect(from, to) {
  const toId = await idOf(to);
  const fromId = await idOf(from);
  await from.page.fill('#connect-ip', '127.0.0.1');
  await from.page.fill('#connect-port', String(to.port));
  await from.page.click('#connect-btn');
  await from.page.locator(`#peer-list [data-peer="${toId}"]`).waitFor();
  await to.page.locator(`#peer-list [data-peer="${fromId}"]`).waitFor();
  await acceptRequest(to.page, fromId);
}

async function openConv(side, convId) {
  await side.page.locator(`#conv-list [data-conv="${convId}"]`).click();
  await side.page.locator(`#conv-list [data-conv="${convId}"][aria-current="true"]`).waitFor();
}

async function say(side, text) {
  await side.page.fill('#composer-input', text);
  await side.page.press('#composer-input', 'Enter');
  await side.page.locator('#messages .msg-mine .msg-text', { hasText: text }).waitFor();
}

function tick(side, text, state = null) {
  const mine = side.page.locator('#messages .msg-mine', { has: side.page.locator('.msg-text', { hasText: text }) });
  return mine.locator(state ? `.tick[data-state="${state}"]` : '.tick');
}

async function texts(side) {
  return side.page.locator('#messages .msg .msg-text').allTextContents();
}

before(async () => {
  if (missing) return;
  browser = await launch();
  await start('Alice');
  await start('Bob');
  await start('Carol');
});

after(async () => {
  await browser?.close();
  await Promise.all([...Object.values(sides), ...extras.map((peer) => ({ peer }))].map((s) => s.peer.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('delivery ticks reach "delivered"; history survives a page reload', { skip: missing }, async () => {
  const { Alice: alice, Bob: bob } = sides;
  await connect(alice, bob);
  const bobId = await idOf(bob);
  const aliceId = await idOf(alice);
  await openConv(alice, bobId);
  await say(alice, 'First message, kept on disk');
  await tick(alice, 'First message', 'delivered').waitFor({ timeout: DELIVERY_TIMEOUT });
  assert.equal(await tick(alice, 'First message').getAttribute('aria-label'), 'Delivered');
  await openConv(bob, aliceId);
  await bob.page.locator('#messages .msg-theirs .msg-text', { hasText: 'First message' }).waitFor();
  await say(bob, 'Got it');
  await alice.page.locator('#messages .msg-theirs .msg-text', { hasText: 'Got it' }).waitFor();

  for (const side of [alice, bob]) {
    await side.page.reload();
    await side.page.locator('#conn[data-state="open"]').waitFor();
    await openConv(side, side === alice ? bobId : aliceId);
    await side.page.locator('#messages .msg-text', { hasText: 'Got it' }).waitFor();
    assert.deepEqual(await texts(side), ['First message, kept on disk', 'Got it']);
  }
  assert.equal(await tick(alice, 'First message').getAttribute('data-state'), 'delivered');
  assert.equal(await tick(bob, 'Got it').getAttribute('data-state'), 'delivered');
});

test('a message to an offline contact is queued and delivered once after it restarts; history survives the restart', { skip: missing }, async () => {
  const { Alice: alice } = sides;
  let bob = sides.Bob;
  const bobId = await idOf(bob);
  const aliceId = await idOf(alice);
  await stop(bob);
  await alice.page.locator(`#conv-list [data-conv="${bobId}"][data-online="false"]`).waitFor();
  await openConv(alice, bobId);
  assert.equal(await alice.page.locator('#send-btn').isDisabled(), false);
  await say(alice, 'Sent while you were away');
  assert.equal(await tick(alice, 'while you were away').getAttribute('data-state'), 'queued');

  bob = await start('Bob', { port: bob.port });
  assert.equal(await idOf(bob), bobId, 'the identity survives a restart');
  await tick(alice, 'while you were away', 'delivered').waitFor({ timeout: DELIVERY_TIMEOUT });
  await openConv(bob, aliceId);
  await bob.page.locator('#messages .msg-text', { hasText: 'while you were away' }).waitFor();
  assert.deepEqual(await texts(bob), ['First message, kept on disk', 'Got it', 'Sent while you were away']);
  assert.equal(await tick(bob, 'Got it').getAttribute('data-state'), 'delivered');
});

test('a room works across three peers and survives a restart', { skip: missing }, async () => {
  const { Bob: bob, Carol: carol } = sides;
  let alice = sides.Alice;
  await connect(carol, alice);
  await connect(carol, bob);
  const [aliceId, bobId, carolId] = await Promise.all([alice, bob, carol].map(idOf));

  await alice.page.click('#new-room');
  await alice.page.locator('#room-dialog[open]').waitFor();
  await alice.page.fill('#room-name', 'Weekend trip');
  await alice.page.locator(`#room-members input[value="${bobId}"]`).check();
  await alice.page.locator(`#room-members input[value="${carolId}"]`).check();
  await alice.page.click('#room-create');
  await alice.page.locator('#room-dialog').waitFor({ state: 'hidden' });
  const roomId = await alice.page.locator('#conv-list [data-conv^="room:"][aria-current="true"]').getAttribute('data-conv');
  assert.equal(await alice.page.locator('#chat-sub').innerText(), '3 members: you, Bob, Carol');

  for (const side of [bob, carol]) {
    await side.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
    await openConv(side, roomId);
    assert.equal(await side.page.locator('#chat-title > span').first().innerText(), 'Weekend trip');
  }
  await say(alice, 'Cabin or tents?');
  await tick(alice, 'Cabin or tents?', 'delivered').waitFor({ timeout: DELIVERY_TIMEOUT });
  await say(carol, 'Cabin, please. I can drive.');
  for (const side of [alice, bob]) await side.page.locator('#messages .msg-text', { hasText: 'I can drive' }).waitFor();
  await say(bob, 'Cabin. I will bring board games.');
  for (const side of [alice, bob, carol]) {
    await side.page.locator('#messages .msg-text', { hasText: 'board games' }).waitFor();
    await side.page.locator('#messages .msg-text', { hasText: 'I can drive' }).waitFor();
    assert.deepEqual(await texts(side), ['Cabin or tents?', 'Cabin, please. I can drive.', 'Cabin. I will bring board games.']);
  }
  assert.deepEqual(await alice.page.locator('#messages .msg-name').allInnerTexts(), ['Carol', 'Bob']);
  assert.deepEqual(await bob.page.locator('#messages .msg-name').allInnerTexts(), ['Alice', 'Carol']);
  await tick(carol, 'I can drive', 'delivered').waitFor({ timeout: DELIVERY_TIMEOUT });
  await say(alice, 'Booked! Saturday 9:00 at my place.');
  await tick(alice, 'Booked!', 'delivered').waitFor({ timeout: DELIVERY_TIMEOUT });
  const shot = await screenshot(alice.page, 'room');
  publish(shot, 'room');

  // Alice restarts: the room, its members and its history are still there.
  await stop(alice);
  alice = await start('Alice', { port: alice.port });
  assert.equal(await idOf(alice), aliceId);
  await alice.page.locator(`#conv-list [data-conv="${roomId}"]`).waitFor();
  await openConv(alice, roomId);
  await alice.page.locator('#messages .msg-text', { hasText: 'Booked!' }).waitFor();
  assert.deepEqual(await texts(alice), ['Cabin or tents?', 'Cabin, please. I can drive.', 'Cabin. I will bring board games.', 'Booked! Saturday 9:00 at my place.']);
  assert.equal(await alice.page.locator('#chat-sub').innerText(), '3 members: you, Bob, Carol');
  assert.equal(await tick(alice, 'Booked!').getAttribute('data-state'), 'delivered');
});

const extras = []; // ephemeral peers started by single tests

async function startEphemeral(name, port = 0) {
  const peer = await startPeer(name, [], { port });
  extras.push(peer);
  const { page, problems } = await openPage(peer);
  const side = { name, peer, page, problems, port: Number(await page.locator('#own-port').innerText()) };
  return side;
}

test('invite: the QR code loads as an image; the invite connects to its peer and a wrong key is refused', { skip: missing }, async () => {
  const { Carol: carol, Bob: bob } = sides;
  await carol.page.click('#share-invite');
  await carol.page.locator('#invite-dialog[open]').waitFor();
  const invite = await carol.page.locator('#invite-text').innerText();
  assert.match(invite, /^p2p-chat:\/\/[^/\s]+:(\d+)\/[A-Za-z0-9_-]{43}$/);
  assert.equal(Number(/:(\d+)\//.exec(invite)[1]), carol.port);
  const img = carol.page.locator('#invite-qr');
  assert.match(await img.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  await carol.page.waitForFunction(() => document.getElementById('invite-qr').complete);
  assert.ok(await img.evaluate((node) => node.naturalWidth > 0), 'the QR image did not load');
  const shot = await screenshot(carol.page, 'invite');
  publish(shot, 'invite');
  await carol.page.keyboard.press('Escape');

  const dave = await startEphemeral('Dave');
  const carolId = await idOf(carol);
  // Carol's address with Bob's key: whoever answers there is not Bob, so it is refused.
  const bobKey = Buffer.from(await idOf(bob), 'base64').toString('base64url');
  const wrong = invite.replace(/[A-Za-z0-9_-]{43}$/, bobKey);
  await dave.page.fill('#invite-input', wrong);
  await dave.page.click('#invite-connect');
  await dave.page.locator('#invite-error').waitFor({ timeout: 20000 });
  assert.equal(await dave.page.locator(`#peer-list [data-peer="${carolId}"]`).count(), 0);
  await dave.page.locator('#invite-connect:not([disabled])').waitFor({ timeout: 20000 });
  // The real invite, pasted where the IP goes.
  await dave.page.fill('#connect-ip', invite);
  await dave.page.click('#connect-btn');
  await dave.page.locator(`#peer-list [data-peer="${carolId}"]`).waitFor();
  assert.equal(await dave.page.locator(`#peer-list [data-peer="${carolId}"] .peer-name`).innerText(), 'Carol');
  assert.deepEqual(dave.problems, []);
  await dave.page.close();
});

test('key change: another key answering a redial of a contact is closed and shown behind a warning until accepted', { skip: missing }, async () => {
  const alice = sides.Alice;
  const eve = await startEphemeral('Eve');
  const oldId = await idOf(eve);
  await connect(alice, eve);
  const oldFp = await alice.page.locator(`#peer-list [data-peer="${oldId}"] .peer-fp code`).innerText();
  await eve.page.close();
  await eve.peer.stop();
  await alice.page.locator(`#conv-list [data-conv="${oldId}"][data-online="false"]`).waitFor();

  // Same name, same address, new key.
  const impostor = await startEphemeral('Eve', eve.port);
  const newId = await idOf(impostor);
  assert.notEqual(newId, oldId);
  // Alice redials her contact with its Connect button: the dial expects Eve's key, so another
  // key answering at her address is a key change (PROTOCOL.md §8.3), closed before message 3.
  await alice.page.locator(`#conv-list [data-conv="${oldId}"]`).click();
  await alice.page.click('#chat-connect');
  // Her conversation shows the warning in place; elsewhere the page-wide notice says it.
  await alice.page.locator('#key-alert').waitFor({ timeout: 20000 });
  await alice.page.locator('#conv-list [data-conv="everyone"]').click();
  await alice.page.locator('#key-global', { hasText: 'Eve’s key changed' }).waitFor({ timeout: 20000 });
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${newId}"]`).count(), 0, 'a held session is not shown as connected');
  await alice.page.locator('#key-global button', { hasText: 'Review' }).click();
  const banner = alice.page.locator('#key-alert');
  await banner.waitFor();
  assert.equal(await banner.locator('h2').innerText(), 'Eve’s key changed — messages are held until you accept');
  assert.equal(await banner.locator('.key-old-fp').innerText(), oldFp);
  const newFp = await banner.locator('.key-new-fp').innerText();
  assert.match(newFp, /^(\d{5} ){5}\d{5}$/);
  assert.notEqual(newFp, oldFp);
  await screenshot(alice.page, 'key-changed');
  await alice.page.click('#key-accept');
  await banner.waitFor({ state: 'hidden' });
  await alice.page.locator(`#peer-list [data-peer="${newId}"]`).waitFor({ timeout: 20000 });
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${newId}"] .peer-fp code`).innerText(), newFp);
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${newId}"] .tag-ok`).count(), 0);
  await impostor.page.close();
});

test('no script errors or CSP violations on any page', { skip: missing }, async () => {
  for (const side of Object.values(sides)) assert.deepEqual([...(side.problemsBefore ?? []), ...side.problems], [], side.name);
});
