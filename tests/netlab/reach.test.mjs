// Reaching people beyond one LAN without a relay (PROTOCOL.md §7.1–§7.3), in the lab's
// simulated internet:
// - hole punching: Alice behind r2 and Bob behind r3 (port mapping off; both routers drop
//   unsolicited connections) cannot dial each other; both are connected to Carol on the
//   internet; Alice asks Carol, by Bob's key, to introduce them; they connect through both
//   routers ("punched") and keep chatting after Carol has stopped. After a restart of all
//   three, Alice's peer does it again by itself;
// - roaming: Bob moves to other LAN addresses and restarts; Alice, who knows only his old ones,
//   is told the new ones when his peer dials her, and reaches him there herself after a
//   restart — nobody types an address.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, startPeer } from './lib.mjs';

const peers = [];
const dirs = [];
const restore = [];
after(async () => {
  for (const p of peers) await p.stop();
  for (const undo of restore) undo();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-netlab-reach-'));
  dirs.push(dir);
  return dir;
}

// Short handshakes (and so connect attempts): a SYN a router drops costs 3 s, not 10.
const QUICK = ['--no-port-mapping', '--handshake-timeout-ms', '3000', '--redial-base-ms', '500'];

async function start(ns, name, dir) {
  const peer = await startPeer(ns, name, QUICK, { dataDir: dir });
  peers.push(peer);
  const ui = await peer.ui();
  return { peer, ui };
}

const connectedTo = (key) => (e) => e.type === 'peer_connected' && e.peer_id === key;

test('two peers behind two NATs are introduced by a mutual contact and chat directly, without it', async () => {
  const dirs3 = { a: dataDir(), b: dataDir(), c: dataDir() };
  let carol = await start('inet', 'carol', dirs3.c);
  let alice = await start('h2', 'alice', dirs3.a);
  let bob = await start('h3', 'bob', dirs3.b);
  const [carolKey, aliceKey, bobKey] = [carol, alice, bob].map((side) => keyOf(side.peer));

  // Alice and Bob each dial Carol, who accepts both: all three are contacts.
  for (const side of [alice, bob]) {
    side.ui.send({ action: 'connect_peer', ip: '11.0.0.100', port: 6000 });
    const atSide = await side.ui.next(connectedTo(carolKey), 'carol');
    assert.equal(atSide.reached, 'direct');
  }
  for (const key of [aliceKey, bobKey]) {
    const atCarol = await carol.ui.next(connectedTo(key), 'a session at carol');
    assert.equal(atCarol.address, key === aliceKey ? '11.0.0.2:6000' : '11.0.0.3:6000',
      'each dials from its listening port, so Carol sees the router map that port');
    carol.ui.send({ action: 'accept_request', peer_id: key });
  }
  // Alice learns where Carol sees her (her router's mapping of her listening port).
  const observed = await eventuallyInfo(alice, (i) => i.addresses.some((a) => a.kind === 'observed'));
  assert.deepEqual(observed.addresses.find((a) => a.kind === 'observed'), { address: '11.0.0.2:6000', kind: 'observed' });

  // Alice cannot dial Bob: his router drops the SYN, so the dial times out.
  alice.ui.send({ action: 'connect_peer', ip: '11.0.0.3', port: 6000, peer_id: bobKey });
  const refused = await alice.ui.next('error', 'the direct dial failing', 15000);
  assert.equal(refused.code, 'timed_out', JSON.stringify(refused));

  // Carol puts them in one room: Bob accepts introductions from a room co-member.
  carol.ui.send({ action: 'create_room', name: 'trip', members: [aliceKey, bobKey] });
  await alice.ui.next('room');
  const { id: roomId } = await bob.ui.next('room');

  // Alice asks Carol, by Bob's key.
  alice.ui.send({ action: 'introduce', peer_id: bobKey, via: carolKey });
  const atAlice = await alice.ui.next(connectedTo(bobKey), 'bob punched at alice');
  const atBob = await bob.ui.next(connectedTo(aliceKey), 'alice punched at bob');
  assert.equal(atAlice.reached, 'punched');
  assert.equal(atBob.reached, 'punched');
  // The connection runs between the two routers, not through Carol.
  assert.equal(atAlice.address, '11.0.0.3:6000');
  assert.equal(atBob.address, '11.0.0.2:6000');
  await alice.ui.next((e) => e.type === 'introduction' && e.state === 'connected', 'connected');

  // Carol stops; Alice and Bob go on talking, directly and in the room.
  await carol.peer.stop();
  await alice.ui.next((e) => e.type === 'peer_disconnected' && e.peer_id === carolKey, 'carol gone');
  alice.ui.send({ action: 'send_message', text: 'through two routers', to: bobKey });
  assert.equal((await bob.ui.next('peer_message')).text, 'through two routers');
  bob.ui.send({ action: 'send_message', text: 'and back', to: aliceKey });
  assert.equal((await alice.ui.next('peer_message')).text, 'and back');
  bob.ui.send({ action: 'send_message', text: 'room message, no Carol', to: roomId });
  const inRoom = await alice.ui.next((e) => e.type === 'peer_message' && e.text === 'room message, no Carol');
  assert.equal(inRoom.conversation, roomId);

  // Everyone restarts (Carol first). Nobody types anything: each peer dials its contacts;
  // Alice's direct dial to Bob fails, and her peer asks Carol to introduce them again.
  await alice.peer.stop();
  await bob.peer.stop();
  carol = await start('inet', 'carol', dirs3.c);
  bob = await start('h3', 'bob', dirs3.b);
  alice = await start('h2', 'alice', dirs3.a);
  const again = await alice.ui.next(connectedTo(bobKey), 'bob found again by alice\'s peer', 40000);
  assert.equal(again.reached, 'punched');
  alice.ui.send({ action: 'send_message', text: 'found you by myself', to: bobKey });
  assert.equal((await bob.ui.next((e) => e.type === 'peer_message' && e.text === 'found you by myself')).peer_id, aliceKey);
});

test('a contact who moved to other addresses and restarted is found again; nobody types an address', async () => {
  const aDir = dataDir();
  const bDir = dataDir();
  const alice = await start('lana', 'alice', aDir);
  let bob = await start('lanb', 'bob', bDir);
  const [aliceKey, bobKey] = [alice, bob].map((side) => keyOf(side.peer));
  bob.ui.send({ action: 'connect_peer', ip: '10.9.0.1', port: 6000 });
  await bob.ui.next(connectedTo(aliceKey));
  await alice.ui.next(connectedTo(bobKey));
  alice.ui.send({ action: 'accept_request', peer_id: bobKey });
  const known = await addressesOf(alice.ui, bobKey, (list) => list.includes('[2001:db8:9::2]:6000'));
  assert.ok(known.includes('10.9.0.2:6000'), JSON.stringify(known));

  // Bob stops, moves to other addresses (IPv4 and IPv6), and starts again.
  await bob.peer.stop();
  await alice.ui.next((e) => e.type === 'peer_disconnected' && e.peer_id === bobKey);
  move('lanb', ['10.9.0.2/24', '2001:db8:9::2/64'], ['10.9.0.3/24', '2001:db8:9::3/64']);
  restore.push(() => move('lanb', ['10.9.0.3/24', '2001:db8:9::3/64'], ['10.9.0.2/24', '2001:db8:9::2/64']));
  bob = await start('lanb', 'bob', bDir);
  // His peer dials Alice by itself and tells her where he is now.
  const back = await alice.ui.next(connectedTo(bobKey), 'bob back at alice');
  assert.equal(back.direction, 'inbound');
  const now = await addressesOf(alice.ui, bobKey, (list) => list[0] === '10.9.0.3:6000' || list[0] === '[2001:db8:9::3]:6000');
  assert.ok(now.includes('10.9.0.3:6000') && now.includes('[2001:db8:9::3]:6000'), JSON.stringify(now));

  // Alice restarts: now it is her peer that dials Bob, at his new address.
  await alice.peer.stop();
  const alice2 = await start('lana', 'alice', aDir);
  const found = await alice2.ui.next(connectedTo(bobKey), 'alice reaching bob at his new address');
  assert.equal(found.direction, 'outbound');
  assert.match(found.address, /^(10\.9\.0\.3:6000|\[2001:db8:9::3\]:6000)$/);
  alice2.ui.send({ action: 'send_message', text: 'there you are', to: bobKey });
  assert.equal((await bob.ui.next((e) => e.type === 'peer_message' && e.text === 'there you are')).peer_id, aliceKey);
});

/** Replaces addresses of a lab namespace's eth0. */
function move(ns, from, to) {
  for (const address of from) run(ns, 'ip', 'addr', 'del', address, 'dev', 'eth0');
  for (const address of to) {
    const v6 = address.includes(':');
    run(ns, 'ip', ...(v6 ? ['-6'] : []), 'addr', 'add', address, 'dev', 'eth0', ...(v6 ? ['nodad'] : []));
  }
}

/** A peer's public key, from the identity line it printed. */
function keyOf(peer) {
  const match = /p2p-chat identity: (\S+) fingerprint/.exec(peer.log());
  assert.ok(match, peer.log());
  return match[1];
}

/** The peer's `info` (asked for again by re-setting its name) once `check` holds. */
async function eventuallyInfo(side, check) {
  const until = Date.now() + 20000;
  for (;;) {
    side.ui.send({ action: 'set_name', name: side.peer.name });
    const info = await side.ui.next('info');
    if (check(info)) return info;
    if (Date.now() > until) throw new Error(`no such info: ${JSON.stringify(info)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function addressesOf(ui, peerId, check) {
  const until = Date.now() + 20000;
  for (;;) {
    ui.send({ action: 'contact_addresses', peer_id: peerId });
    const listed = await ui.next((e) => e.type === 'contact_addresses' && e.peer_id === peerId);
    const list = listed.addresses.map((a) => a.address);
    if (check(list)) return list;
    if (Date.now() > until) throw new Error(`addresses never matched: ${JSON.stringify(list)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
