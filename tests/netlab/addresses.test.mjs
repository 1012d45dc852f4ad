// Addresses without a default route, and IPv6: on a LAN with no route anywhere (lana/lanb),
// "your address" is the LAN address, not 127.0.0.1; listening dual-stack by default, the IPv6
// address is listed too, and peers connect over either family (IPv4 peers show as IPv4).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startPeer } from './lib.mjs';

const peers = [];
after(async () => { for (const p of peers) await p.stop(); });

test('a LAN without a default route: both address kinds are listed and both work', async () => {
  const a = await startPeer('lana', 'alice', ['--no-port-mapping']);
  const b = await startPeer('lanb', 'bob', ['--no-port-mapping']);
  peers.push(a, b);
  const au = await a.ui();
  const bu = await b.ui();
  au.send({ action: 'set_name', name: 'alice' });
  const info = await au.next('info');
  assert.deepEqual(info.addresses, [
    { address: '10.9.0.1:6000', kind: 'lan' },
    { address: '[2001:db8:9::1]:6000', kind: 'ipv6' },
  ]);
  au.send({ action: 'get_invite' });
  const { invite } = await au.next('invite');
  assert.match(invite, /^p2p-chat:\/\/10\.9\.0\.1:6000\//);
  const key = invite.split('/').pop();

  for (const [action, dialled, remote] of [
    [{ action: 'connect_invite', invite: `p2p-chat://[2001:db8:9::1]:6000/${key}` }, '[2001:db8:9::1]:6000', /^\[2001:db8:9::2\]:\d+$/],
    [{ action: 'connect_invite', invite }, '10.9.0.1:6000', /^10\.9\.0\.2:\d+$/],
    // The page's IP field sends a bare IPv6 address.
    [{ action: 'connect_peer', ip: '2001:db8:9::1', port: 6000 }, '[2001:db8:9::1]:6000', /^\[2001:db8:9::2\]:\d+$/],
  ]) {
    bu.send(action);
    const atB = await bu.next((e) => e.type === 'peer_connected' && e.name === 'alice', `alice via ${dialled}`);
    assert.equal(atB.address, dialled);
    const atA = await au.next((e) => e.type === 'peer_connected' && e.name === 'bob', 'bob at alice');
    assert.match(atA.address, remote, 'an IPv4 peer shows as IPv4, not ::ffff:…');
    bu.send({ action: 'send_message', text: `over ${atB.address}`, to: atB.peer_id });
    assert.equal((await au.next('peer_message')).text, `over ${atB.address}`);
    bu.send({ action: 'disconnect_peer', peer_id: atB.peer_id });
    await au.next('peer_disconnected');
    await bu.next('peer_disconnected');
  }
});
