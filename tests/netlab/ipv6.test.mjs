// IPv6 as the address people are given: a peer on the LAN without a default route (lana) that
// listens on its IPv6 address alone lists it as "your address" (kind ipv6), its invite names it
// in brackets (`p2p-chat://[2001:db8:9::1]:6000/KEY`, also from `p2p-chat invite`), and a peer
// on the other side of the LAN connects with that invite; the connection is IPv6 end to end.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { BIN, run, startPeer } from './lib.mjs';

const peers = [];
const dataDir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-netlab-v6-'));
after(async () => {
  for (const p of peers) await p.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('IPv6 only: "your address", the invite and p2p-chat invite name [2001:db8:9::1], and the invite connects', async () => {
  const a = await startPeer('lana', 'alice', ['--host', '2001:db8:9::1', '--no-port-mapping', '--no-mdns'], { dataDir });
  const b = await startPeer('lanb', 'bob', ['--no-port-mapping', '--no-mdns']);
  peers.push(a, b);
  const au = await a.ui();
  const bu = await b.ui();
  au.send({ action: 'set_name', name: 'alice' });
  const info = await au.next('info');
  assert.deepEqual(info.addresses, [{ address: '[2001:db8:9::1]:6000', kind: 'ipv6' }]);
  au.send({ action: 'get_invite' });
  const { invite } = await au.next('invite');
  assert.match(invite, /^p2p-chat:\/\/\[2001:db8:9::1\]:6000\/[A-Za-z0-9_-]{43}$/);
  assert.equal(run('lana', BIN, 'invite', '--port', '6000', '--data-dir', dataDir).trim(), invite);

  bu.send({ action: 'connect_invite', invite });
  const atB = await bu.next((e) => e.type === 'peer_connected' && e.name === 'alice', 'alice at bob');
  assert.equal(atB.address, '[2001:db8:9::1]:6000');
  const atA = await au.next((e) => e.type === 'peer_connected' && e.name === 'bob', 'bob at alice');
  assert.match(atA.address, /^\[2001:db8:9::2\]:\d+$/);
  bu.send({ action: 'send_message', text: 'over IPv6', to: atB.peer_id });
  assert.equal((await au.next('peer_message')).text, 'over IPv6');
});
