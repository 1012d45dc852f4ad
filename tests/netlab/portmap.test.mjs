// Router port mapping: the peer behind r1 (miniupnpd: UPnP-IGD, NAT-PMP, PCP) maps its P2P
// port, shows the router's external address, and C on the internet connects through it; a
// clean shutdown removes the mapping. Behind r3 (UPnP-IGD only) the same works over UPnP. A peer
// without a default gateway says so once and goes on.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, eventually, routerForwards, run, startPeer } from './lib.mjs';

const peers = [];
const dataDir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-netlab-'));
after(async () => {
  for (const p of peers) await p.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const mapped = (info) => info.addresses.find((a) => a.kind === 'mapped');

test('the peer behind a UPnP/NAT-PMP/PCP router is reachable through its mapping', async () => {
  assert.doesNotMatch(routerForwards(), /dport 6000/, 'no mapping before the peer starts');
  const a = await startPeer('h1', 'alice', [], { dataDir });
  const c = await startPeer('inet', 'carol', ['--no-port-mapping']);
  peers.push(a, c);
  const au = await a.ui();
  // The mapping may come before or after the UI connects: ask for `info` until it shows.
  const info = await eventually('an info with a mapped address', async () => {
    au.send({ action: 'set_name', name: 'alice' });
    const event = await au.next('info');
    return mapped(event) && event;
  });
  assert.deepEqual(mapped(info), { address: '11.0.0.1:6000', kind: 'mapped' });
  assert.deepEqual(info.addresses[1], { address: '192.168.1.10:6000', kind: 'lan' }, JSON.stringify(info));
  assert.match(routerForwards(), /dport 6000 dnat ip to 192\.168\.1\.10:6000/);
  assert.match(a.log(), /port mapping: (PCP|NAT-PMP|UPnP-IGD) maps 11\.0\.0\.1:6000 to port 6000/);

  au.send({ action: 'get_invite' });
  const { invite } = await au.next('invite');
  assert.match(invite, /^p2p-chat:\/\/11\.0\.0\.1:6000\//);
  // `p2p-chat invite`, a separate process, names the running peer's mapping too.
  const printed = run('h1', BIN, 'invite', '--port', '6000', '--data-dir', dataDir).trim();
  assert.equal(printed, invite);
  const cu = await c.ui();
  cu.send({ action: 'connect_invite', invite });
  const atC = await cu.next((e) => e.type === 'peer_connected' && e.name === 'alice', 'alice at carol');
  assert.equal(atC.address, '11.0.0.1:6000');
  const atA = await au.next((e) => e.type === 'peer_connected' && e.name === 'carol', 'carol at alice');
  assert.equal(atA.direction, 'inbound');
  assert.match(atA.address, /^11\.0\.0\.100:\d+$/);
  cu.send({ action: 'send_message', text: 'through the router', to: atC.peer_id });
  const heard = await au.next('peer_message');
  assert.equal(heard.text, 'through the router');

  assert.equal(await a.stop(), 0, 'a clean shutdown');
  assert.match(a.log(), /port mapping removed/);
  assert.doesNotMatch(routerForwards(), /dport 6000/, 'the mapping is gone after SIGTERM');
  const stopped = run('h1', BIN, 'invite', '--port', '6000', '--data-dir', dataDir).trim();
  assert.match(stopped, /^p2p-chat:\/\/192\.168\.1\.10:6000\//, 'stopped: the LAN address again');
});

test('no default gateway: one INFO line, no error, the LAN address is given out', async () => {
  const solo = await startPeer('lana', 'solo');
  peers.push(solo);
  const ui = await solo.ui();
  await eventually('the gateway verdict', () => /port mapping: no default gateway/.test(solo.log()));
  assert.equal(solo.log().match(/port mapping/g).length, 1, solo.log());
  assert.doesNotMatch(solo.log(), /ERROR|WARN/);
  ui.send({ action: 'get_invite' });
  assert.match((await ui.next('invite')).invite, /^p2p-chat:\/\/10\.9\.0\.1:6000\//);
  await solo.stop();
});

test('a UPnP-IGD-only router (no NAT-PMP/PCP) maps the port too', async () => {
  assert.doesNotMatch(routerForwards('r3'), /dport 6000/);
  const d = await startPeer('h3', 'dave');
  const c = await startPeer('inet', 'carol', ['--no-port-mapping'], { port: 6001 });
  peers.push(d, c);
  const du = await d.ui();
  const info = await eventually('an info with a mapped address', async () => {
    du.send({ action: 'set_name', name: 'dave' });
    const event = await du.next('info');
    return mapped(event) && event;
  });
  assert.deepEqual(mapped(info), { address: '11.0.0.3:6000', kind: 'mapped' });
  assert.match(d.log(), /port mapping: UPnP-IGD maps 11\.0\.0\.3:6000 to port 6000/);
  assert.match(routerForwards('r3'), /dport 6000 dnat ip to 192\.168\.3\.10:6000/);
  const cu = await c.ui();
  cu.send({ action: 'connect_peer', ip: '11.0.0.3', port: 6000 });
  const atC = await cu.next((e) => e.type === 'peer_connected' && e.name === 'dave', 'dave at carol');
  assert.equal(atC.address, '11.0.0.3:6000');
  assert.equal(await d.stop(), 0);
  assert.match(d.log(), /port mapping removed/);
  assert.doesNotMatch(routerForwards('r3'), /dport 6000/, 'the UPnP mapping is gone after SIGTERM');
});
