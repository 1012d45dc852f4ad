// Names that stay, from the page, with real `p2p-chat` peers that keep their data directories:
// a name typed into the page is saved (no --name on the command line), reaches the contact at
// once while connected, survives a restart of both peers on both pages (never "Unnamed peer"),
// and a local nickname survives the contact's rename and a restart (PROTOCOL.md §5 `name`,
// §8.1 `set_name` / `set_nickname`).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, acceptRequest, screenshot } from './lib.mjs';

const missing = !peerBinary() ? 'no target/{release,debug}/p2p-chat (cargo build --release -p peer --bin p2p-chat)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

let browser;
const dirs = [];
const sides = {}; // name -> { peer, page, problems, dataDir, port }

/** A free TCP port (bound once by the OS, then released), so a restarted peer keeps its address. */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts (or restarts) a peer without --name and opens its page. */
async function start(name) {
  const side = sides[name] ?? { dataDir: mkdtempSync(path.join(tmpdir(), `p2p-chat-names-${name}-`)), port: await freePort() };
  if (!sides[name]) dirs.push(side.dataDir);
  side.peer = await startPeer(name, [], { dataDir: side.dataDir, port: side.port, savedName: true });
  side.page = await browser.context.newPage();
  side.problems = watchProblems(side.page);
  await side.page.goto(side.peer.url);
  await side.page.locator('#conn[data-state="open"]').waitFor();
  sides[name] = side;
  return side;
}

async function stop(side) {
  assert.deepEqual(side.problems, [], `${side.peer.url}: no script errors`);
  await side.page.close();
  await side.peer.stop();
}

async function setOwnName(side, name) {
  await side.page.fill('#name-input', name);
  await side.page.press('#name-input', 'Enter');
  await side.page.locator('#name-saved:not([hidden])').waitFor();
}

const keyOf = (side) => side.page.locator('#own-key').getAttribute('data-key');
const convName = (side, id) => side.page.locator(`#conv-list [data-conv="${id}"]`);

before(async () => {
  if (missing) return;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await Promise.all(Object.values(sides).map((s) => s.peer?.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('a name set in the page is kept across restarts on both sides; a rename reaches the contact at once; a nickname survives both', { skip: missing }, async () => {
  let alice = await start('Alice');
  let bob = await start('Bob');
  // Started without --name: nothing saved yet.
  assert.equal(await alice.page.locator('#name-input').inputValue(), '');
  await setOwnName(alice, 'Alice');
  await setOwnName(bob, 'Bob');
  const aliceId = await keyOf(alice);
  const bobId = await keyOf(bob);

  // Alice dials Bob; Bob accepts her request; both see each other's saved names.
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', String(bob.port));
  await alice.page.click('#connect-btn');
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor();
  await acceptRequest(bob.page, aliceId);
  await convName(alice, bobId).filter({ hasText: 'Bob' }).waitFor();
  await convName(bob, aliceId).filter({ hasText: 'Alice' }).waitFor();

  // Alice marks Bob verified and calls him "Bobby" on her side only.
  await convName(alice, bobId).click();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] [data-action="verify"]`).click();
  await alice.page.locator('#verify-dialog[open]').waitFor();
  await alice.page.locator('label.switch').click();
  await alice.page.locator(`#peer-list [data-peer="${bobId}"] .tag-ok`).waitFor();
  await alice.page.keyboard.press('Escape');
  await alice.page.click('#chat-rename');
  await alice.page.fill('#rename-input', 'Bobby');
  await alice.page.press('#rename-input', 'Enter');
  await alice.page.locator('#rename-saved', { hasText: 'Bobby' }).waitFor();

  // Alice renames herself while connected: Bob's page shows it without a reload or reconnect.
  await setOwnName(alice, 'Alice Liddell');
  await convName(bob, aliceId).filter({ hasText: 'Alice Liddell' }).waitFor();
  // Bob renames himself: Alice's nickname for him stays.
  await setOwnName(bob, 'Robert');
  // Bob's own page lists Alice's peer and the rename travels the same session as a chat, so
  // once a chat sent after it arrives, the rename has too.
  await convName(bob, aliceId).click();
  await bob.page.fill('#composer-input', 'renamed');
  await bob.page.press('#composer-input', 'Enter');
  await convName(alice, bobId).click();
  await alice.page.locator('#messages', { hasText: 'renamed' }).waitFor();
  await convName(alice, bobId).filter({ hasText: 'Bobby' }).waitFor();
  assert.equal(await convName(alice, bobId).filter({ hasText: 'Robert' }).count(), 0);

  // Both restart with the same data directories and no --name.
  await stop(alice);
  await stop(bob);
  bob = await start('Bob');
  alice = await start('Alice');
  assert.equal(await alice.page.locator('#name-input').inputValue(), 'Alice Liddell');
  assert.equal(await bob.page.locator('#name-input').inputValue(), 'Robert');
  // Before any session: the stored names (never "Unnamed peer"), the nickname, the verified mark.
  await convName(bob, aliceId).filter({ hasText: 'Alice Liddell' }).waitFor();
  await convName(alice, bobId).filter({ hasText: 'Bobby' }).waitFor();
  // After they meet again (Alice dials Bob's address): still the same names.
  await convName(alice, bobId).click();
  if (await alice.page.locator('#chat-connect:not([hidden])').count()) await alice.page.click('#chat-connect');
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor();
  await bob.page.locator(`#peer-list [data-peer="${aliceId}"]`).waitFor();
  await convName(bob, aliceId).filter({ hasText: 'Alice Liddell' }).waitFor();
  await convName(alice, bobId).filter({ hasText: 'Bobby' }).waitFor();
  assert.equal(await alice.page.locator('#chat-title > span').first().innerText(), 'Bobby');
  assert.equal(await alice.page.locator(`#peer-list [data-peer="${bobId}"] .tag-ok`).innerText(), 'Verified');
  for (const side of [alice, bob]) {
    assert.equal(await side.page.locator('#conv-list', { hasText: 'Unnamed peer' }).count(), 0);
  }
  await screenshot(alice.page, 'names-after-restart');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});
