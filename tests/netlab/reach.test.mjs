// Reaching people beyond one LAN without a relay (PROTOCOL.md §7.1–§7.3), in the lab's
// simulated internet:
// - hole punching: Alice behind r2, Bob behind r3 and Dave behind r1 (port mapping off; the
//   routers drop unsolicited connections) cannot dial each other; all are connected to Carol on
//   the internet; Alice asks Carol, by Bob's key, to introduce them; they connect through both
//   routers ("punched") and keep chatting after Carol has stopped. Dave, added to their room,
//   is reached by Alice's peer by itself, through Carol, when Alice writes to the room. After
//   a restart of all three, Alice's peer finds Bob again by itself (direct dials fail, so it
//   asks Carol);
// - poisoning: a contact (a lying endpoint, peer/examples/netlab_forger.rs) sends, over its
//   own session, addresses "about" another contact and an introduction result nobody asked
//   for: they change only its own list, and nothing dials them;
// - roaming: Bob moves to other LAN addresses and restarts; Alice, who knows only his old ones,
//   is told the new ones when his peer dials her, and reaches him there herself after a
//   restart — nobody types an address.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PREFIX, run, startPeer } from './lib.mjs';

/** The lying contact of the poisoning test (peer/examples/netlab_forger.rs), built by run.sh. */
const FORGER = process.env.NETLAB_FORGER_BIN;

const peers = [];
const forgers = [];
const dirs = [];
const restore = [];
after(async () => {
  for (const p of peers) await p.stop();
  for (const f of forgers) f.stop();
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

/** Runs a test body; on failure prints every peer's log (the lab's only trace). */
function logged(body) {
  return async () => {
    try {
      await body();
    } catch (error) {
      for (const p of peers) console.log(`---- ${p.name} in ${p.ns} ----\n${p.log()}`);
      throw error;
    }
  };
}

test('two peers behind two NATs are introduced by a mutual contact and chat directly, without it', logged(async () => {
  const dirs3 = { a: dataDir(), b: dataDir(), c: dataDir() };
  let carol = await start('inet', 'carol', dirs3.c);
  let alice = await start('h2', 'alice', dirs3.a);
  let bob = await start('h3', 'bob', dirs3.b);
  const dave = await start('h1', 'dave', dataDir());
  const [carolKey, aliceKey, bobKey, daveKey] = [carol, alice, bob, dave].map((side) => keyOf(side.peer));

  // Alice, Bob and Dave each dial Carol, who accepts them: each is Carol's contact. None of
  // them can dial another: their routers drop unsolicited connections (lab.test.mjs).
  for (const side of [alice, bob, dave]) {
    side.ui.send({ action: 'connect_peer', ip: '11.0.0.100', port: 6000 });
    const atSide = await side.ui.next(connectedTo(carolKey), 'carol');
    assert.equal(atSide.reached, 'direct');
  }
  for (const [key, router] of [[aliceKey, '11.0.0.2'], [bobKey, '11.0.0.3'], [daveKey, '11.0.0.1']]) {
    const atCarol = await carol.ui.next(connectedTo(key), 'a session at carol');
    assert.equal(atCarol.address, `${router}:6000`,
      'each dials from its listening port, so Carol sees the router map that port');
    carol.ui.send({ action: 'accept_request', peer_id: key });
  }
  // Alice learns where Carol sees her (her router's mapping of her listening port).
  const observed = await eventuallyInfo(alice, (i) => i.addresses.some((a) => a.kind === 'observed'));
  assert.deepEqual(observed.addresses.find((a) => a.kind === 'observed'), { address: '11.0.0.2:6000', kind: 'observed' });

  // Carol puts Alice and Bob in a room: Bob accepts introductions from a room co-member.
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

  // Carol adds Dave, whom Alice has never met. Alice writes to the room: her peer, owing Dave
  // the message, asks Carol by itself to introduce them, and delivers it directly.
  carol.ui.send({ action: 'change_room', room: roomId, add: [daveKey] });
  await dave.ui.next('room');
  await alice.ui.next((e) => e.type === 'room' && e.members.includes(daveKey), 'dave in the room at alice');
  alice.ui.send({ action: 'send_message', text: 'welcome, dave', to: roomId });
  const atAliceDave = await alice.ui.next(connectedTo(daveKey), 'dave punched at alice', 30000);
  assert.equal(atAliceDave.reached, 'punched');
  assert.equal(atAliceDave.address, '11.0.0.1:6000');
  const welcomed = await dave.ui.next((e) => e.type === 'peer_message' && e.text === 'welcome, dave');
  assert.equal(welcomed.peer_id, aliceKey);
  assert.equal(welcomed.conversation, roomId);

  // Carol stops; Alice and Bob go on talking, directly and in the room.
  await carol.peer.stop();
  await alice.ui.next((e) => e.type === 'peer_disconnected' && e.peer_id === carolKey, 'carol gone');
  alice.ui.send({ action: 'send_message', text: 'through two routers', to: bobKey });
  assert.equal((await bob.ui.next((e) => e.type === 'peer_message' && e.text === 'through two routers')).peer_id, aliceKey);
  bob.ui.send({ action: 'send_message', text: 'and back', to: aliceKey });
  assert.equal((await alice.ui.next((e) => e.type === 'peer_message' && e.text === 'and back')).peer_id, bobKey);
  bob.ui.send({ action: 'send_message', text: 'room message, no Carol', to: roomId });
  const inRoom = await alice.ui.next((e) => e.type === 'peer_message' && e.text === 'room message, no Carol');
  assert.equal(inRoom.conversation, roomId);

  // Everyone restarts (Carol first; Dave stays away). Nobody types anything: each peer dials
  // its contacts at start; Alice's dials to Bob fail (his router drops them), and her peer asks
  // Carol by itself to introduce them again.
  await dave.peer.stop();
  await alice.peer.stop();
  await bob.peer.stop();
  carol = await start('inet', 'carol', dirs3.c);
  bob = await start('h3', 'bob', dirs3.b);
  await bob.ui.next(connectedTo(carolKey), 'bob back at carol');
  alice = await start('h2', 'alice', dirs3.a);
  const again = await alice.ui.next(connectedTo(bobKey), 'bob found again by alice\'s peer', 40000);
  assert.equal(again.reached, 'punched');
  assert.equal(again.address, '11.0.0.3:6000');
  alice.ui.send({ action: 'send_message', text: 'found you by myself', to: bobKey });
  assert.equal((await bob.ui.next((e) => e.type === 'peer_message' && e.text === 'found you by myself')).peer_id, aliceKey);
  // The test after this one uses other namespaces; these stop here.
  for (const side of [alice, bob, carol]) await side.peer.stop();
}));

test('a contact cannot change another contact\'s addresses nor make the peer dial where it says', logged(async () => {
  if (!FORGER) throw new Error('NETLAB_FORGER_BIN is not set: run the lab through tests/netlab/run.sh');
  const alice = await start('lana', 'alice', dataDir());
  const bob = await start('lanb', 'bob', dataDir());
  const [aliceKey, bobKey] = [alice, bob].map((side) => keyOf(side.peer));
  bob.ui.send({ action: 'connect_peer', ip: '10.9.0.1', port: 6000 });
  await bob.ui.next(connectedTo(aliceKey));
  await alice.ui.next(connectedTo(bobKey));
  alice.ui.send({ action: 'accept_request', peer_id: bobKey });
  const before = await addressesOf(alice.ui, bobKey, (list) => list.includes('[2001:db8:9::2]:6000'));

  // Mallory, on Bob's computer, is Alice's contact too (Alice dials her). Over her own
  // authenticated session she sends an `addresses` payload "about Bob" and an introduction
  // result nobody asked for, both naming her trap (netlab_forger.rs).
  const forger = startForger('lanb', '10.9.0.2:7000', '10.9.0.2:7001', bobKey);
  const mallory = /forger identity: (\S+)/.exec(await forger.line(/^forger identity:/))[1];
  await forger.line(/^forger listening/);
  alice.ui.send({ action: 'connect_peer', ip: '10.9.0.2', port: 7000 });
  await alice.ui.next(connectedTo(mallory), 'mallory at alice');
  await forger.line(/^forged sent/);
  // What she sent is her own list, and only hers.
  const hers = await addressesOf(alice.ui, mallory, (list) => list.includes('10.9.0.2:7001'));
  assert.ok(hers.includes('11.0.0.77:6000'), JSON.stringify(hers));
  assert.deepEqual(await addressesOf(alice.ui, bobKey, () => true), before);
  // Nothing dialled the trap, and no key change was raised.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  assert.equal(forger.lines.filter((l) => l.startsWith('trap dialled')).length, 0, forger.lines.join('\n'));
  assert.ok(!alice.ui.events.some((e) => e.type === 'key_changed'), JSON.stringify(alice.ui.events));
  assert.deepEqual(await addressesOf(alice.ui, bobKey, () => true), before);
  // Alice and Bob still talk.
  alice.ui.send({ action: 'send_message', text: 'still you', to: bobKey });
  assert.equal((await bob.ui.next((e) => e.type === 'peer_message' && e.text === 'still you')).peer_id, aliceKey);
  // The next test uses these namespaces' ports.
  forger.stop();
  await alice.peer.stop();
  await bob.peer.stop();
}));

test('a contact who moved to other addresses and restarted is found again; nobody types an address', logged(async () => {
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
}));

/** Starts netlab_forger in namespace `ns`: { lines, line(re), stop() }. */
function startForger(ns, listen, trap, victim) {
  const proc = spawn('ip', ['netns', 'exec', `${PREFIX}-${ns}`, FORGER, listen, trap, victim],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  createInterface({ input: proc.stdout }).on('line', (l) => lines.push(l));
  createInterface({ input: proc.stderr }).on('line', (l) => lines.push(`stderr: ${l}`));
  const forger = {
    lines,
    async line(re, ms = 20000) {
      const until = Date.now() + ms;
      for (;;) {
        const found = lines.find((l) => re.test(l));
        if (found) return found;
        if (Date.now() > until || proc.exitCode !== null) {
          throw new Error(`forger: no line ${re}: ${lines.join('\n')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    },
  };
  forgers.push(forger);
  return forger;
}

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
