// LAN discovery (mDNS): two peers on one LAN (lana, lanb: no default route) find each other
// without an address being typed, and one connects to the other from the list, as the page's
// Connect button does (`connect_nearby`). A peer started with --no-mdns is never listed. A host
// flooding the LAN with announcements of ever new keys from many addresses fills the list to its
// bound and no further, and the peer's memory does not grow with the flood. A clean shutdown
// says goodbye: the others drop the entry at once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { spawn } from 'node:child_process';
import { PREFIX, eventually, run, startPeer } from './lib.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The list's bound (crate::reach::nearby::MAX_NEARBY) and the per-source one. */
const MAX_NEARBY = 32;
const MAX_PER_SOURCE = 4;

const peers = [];
after(async () => { for (const p of peers) await p.stop(); });

/**
 * What one UI client was told about people nearby: `now(ui)` takes every `nearby` event that
 * arrived and returns the latest list; `largest` is the longest list it was ever sent.
 */
function nearbyTracker() {
  const seen = new Map();
  return {
    now(ui) {
      const mine = seen.get(ui) ?? { people: [], largest: 0 };
      for (let at; (at = ui.events.findIndex((e) => e.type === 'nearby')) >= 0;) {
        mine.people = ui.events.splice(at, 1)[0].people;
        mine.largest = Math.max(mine.largest, mine.people.length);
      }
      seen.set(ui, mine);
      return mine.people;
    },
    largest: (ui) => seen.get(ui)?.largest ?? 0,
  };
}
const nearby = nearbyTracker();

/** Waits until `ui`'s latest nearby list satisfies `check`; returns that list. */
function nearbyUntil(ui, what, check, ms) {
  return eventually(what, () => {
    const people = nearby.now(ui);
    return check(people) && people;
  }, ms);
}

/** A peer's key, from the identity line it prints at start. */
function keyOf(peer) {
  return eventually(`${peer.name}'s identity line`, () => /p2p-chat identity: (\S+) fingerprint/.exec(peer.log())?.[1]);
}

/** Runs a command in a lab namespace without blocking this process; resolves with its stdout. */
function runAsync(ns, ...argv) {
  return new Promise((resolve, reject) => {
    const proc = spawn('ip', ['netns', 'exec', `${PREFIX}-${ns}`, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => { out += d; });
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')}: ${code} ${err}`))));
  });
}

function rssKib(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

test('mDNS: peers on one LAN discover each other and connect from the list; --no-mdns is not listed', async () => {
  const a = await startPeer('lana', 'alice', ['--no-port-mapping']);
  const b = await startPeer('lanb', 'bob', ['--no-port-mapping']);
  const c = await startPeer('lanb', 'carol', ['--no-port-mapping', '--no-mdns'], { port: 6001 });
  peers.push(a, b, c);
  const au = await a.ui();
  const bu = await b.ui();
  const cu = await c.ui();
  const [aliceKey, bobKey, carolKey] = await Promise.all([a, b, c].map(keyOf));
  assert.match(c.log(), /LAN discovery \(mDNS\) off \(--no-mdns\)/);
  assert.match(a.log(), /LAN discovery \(mDNS\): announcing _p2p-chat\._tcp\.local on 10\.9\.0\.1/);

  // Alice finds Bob with his name, key and both addresses; Bob finds Alice.
  const seen = await nearbyUntil(au, 'bob in alice\'s nearby list', (people) => people.some((p) => p.peer_id === bobKey));
  const bob = seen.find((p) => p.peer_id === bobKey);
  assert.equal(bob.name, 'bob');
  assert.deepEqual(bob.addresses.sort(), ['10.9.0.2:6000', '[2001:db8:9::2]:6000']);
  await nearbyUntil(bu, 'alice in bob\'s nearby list', (people) => people.some((p) => p.peer_id === aliceKey && p.name === 'alice'));
  // Carol (--no-mdns) neither announces nor listens: after everyone's first three queries
  // (0 s, 1 s, 3 s) she is still nobody's neighbour, and she has nobody either.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const later = nearby.now(au);
  assert.ok(!later.some((p) => p.peer_id === carolKey), JSON.stringify(later));
  assert.ok(!later.some((p) => p.peer_id === aliceKey), 'our own announcement is not listed');
  nearby.now(cu);
  assert.equal(nearby.largest(cu), 0, 'carol (--no-mdns) hears nobody');

  // A new name is announced at once.
  bu.send({ action: 'set_name', name: 'bobby' });
  await nearbyUntil(au, 'bob renamed in the list', (people) => people.some((p) => p.peer_id === bobKey && p.name === 'bobby'));

  // Connect from the list: the peer dials the announced addresses expecting Bob's key.
  au.send({ action: 'connect_nearby', peer_id: bobKey, req: 1 });
  const atA = await au.next((e) => e.type === 'peer_connected' && e.peer_id === bobKey, 'bob connected at alice');
  assert.equal(atA.direction, 'outbound');
  assert.match(atA.address, /^(10\.9\.0\.2|\[2001:db8:9::2\]):6000$/);
  assert.equal(atA.contact, true, 'dialled from the list, bob is a contact');
  await bu.next((e) => e.type === 'peer_connected' && e.peer_id === aliceKey, 'alice connected at bob');
  au.send({ action: 'send_message', text: 'found you nearby', to: bobKey });
  assert.equal((await bu.next('peer_message')).text, 'found you nearby');

  // A key nobody announces: a typed error, no dial.
  au.send({ action: 'connect_nearby', peer_id: carolKey, req: 2 });
  const refused = await au.next((e) => e.type === 'error' && e.req === 2, 'the not_nearby error');
  assert.equal(refused.code, 'not_nearby');
  assert.equal(refused.action, 'connect_nearby');

  // Bob stops cleanly: his goodbye removes him from Alice's list at once (not after 120 s).
  assert.equal(await b.stop(), 0);
  await nearbyUntil(au, 'bob gone after his goodbye', (people) => !people.some((p) => p.peer_id === bobKey), 5000);
  await a.stop();
  await c.stop();
});

test('mDNS: a flood of announcements from many addresses fills the list to its bound, no further, and costs no memory', async () => {
  const a = await startPeer('lana', 'alice', ['--no-port-mapping']);
  peers.push(a);
  const au = await a.ui();
  // The hostile host takes 40 addresses on the LAN.
  const sources = Array.from({ length: 40 }, (_, i) => `10.9.0.${100 + i}`);
  for (const ip of sources) run('lanb', 'ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0');
  try {
    // A first short flood warms the allocator up; the second, longer one is measured.
    await runAsync('lanb', process.execPath, path.join(HERE, 'mdns-flood.mjs'), '1', ...sources);
    await nearbyUntil(au, 'a full list', (people) => people.length === MAX_NEARBY);
    const before = rssKib(a.proc.pid);
    const sent = Number((await runAsync('lanb', process.execPath, path.join(HERE, 'mdns-flood.mjs'), '4', ...sources)).trim());
    const after = rssKib(a.proc.pid);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const people = nearby.now(au);
    assert.ok(sent > 20000, `the flood sent only ${sent} announcements`);
    assert.equal(people.length, MAX_NEARBY, 'the list is full and no longer');
    const perSource = new Map();
    for (const p of people) {
      for (const addr of p.addresses) perSource.set(addr, (perSource.get(addr) ?? 0) + 1);
    }
    assert.ok(Math.max(...perSource.values()) <= MAX_PER_SOURCE, JSON.stringify([...perSource]));
    // Every list the UI was sent stayed within the bound too.
    assert.equal(nearby.largest(au), MAX_NEARBY);
    const grownKib = after - before;
    console.log(`flood: ${sent} announcements of new keys from ${sources.length} addresses; RSS ${before} KiB -> ${after} KiB`);
    assert.ok(grownKib < 4096, `RSS grew by ${grownKib} KiB during a flood of ${sent} announcements`);
    // The peer still answers its UI.
    au.send({ action: 'set_name', name: 'alice' });
    await au.next('info');
  } finally {
    for (const ip of sources) run('lanb', 'ip', 'addr', 'del', `${ip}/24`, 'dev', 'eth0');
  }
  await a.stop();
});
