// The lab itself behaves like the internet the other lab tests rely on: a computer behind a
// home router reaches the public peer C, C sees the router's address (NAT), and an unsolicited
// connection to the router is dropped without an answer (no RST), as home routers do.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { run, startPeer } from './lib.mjs';

const peers = [];
after(async () => { for (const p of peers) await p.stop(); });

test('behind the NAT: h2 reaches C, C sees the router, nothing reaches h2 unasked', async () => {
  const c = await startPeer('inet', 'carol', ['--no-port-mapping']);
  const b = await startPeer('h2', 'bob', ['--no-port-mapping']);
  peers.push(c, b);
  const cu = await c.ui();
  const bu = await b.ui();
  bu.send({ action: 'connect_peer', ip: '11.0.0.100', port: 6000 });
  const atB = await bu.next((e) => e.type === 'peer_connected' && e.name === 'carol', 'carol at bob');
  assert.equal(atB.address, '11.0.0.100:6000');
  const atC = await cu.next((e) => e.type === 'peer_connected' && e.name === 'bob', 'bob at carol');
  assert.match(atC.address, /^11\.0\.0\.2:\d+$/, 'C sees the router r2, not 192.168.2.10');

  // A SYN from the internet to r2 (no forward there) gets no answer at all: a timeout, not a
  // refusal. The probe is a TCP connect from C's namespace with a 2 s deadline.
  const probe = `const s = require('net').connect(6000, '11.0.0.2');
    s.setTimeout(2000, () => { console.log('timeout'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code); process.exit(0); });
    s.on('connect', () => { console.log('connected'); process.exit(0); });`;
  assert.equal(run('inet', process.execPath, '-e', probe).trim(), 'timeout');
  // And the LAN address behind the router is not routable from the internet at all.
  const lan = run('inet', process.execPath, '-e', probe.replace("'11.0.0.2'", "'192.168.2.10'")).trim();
  assert.notEqual(lan, 'connected');
});
