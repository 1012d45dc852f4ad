// The page against a scripted stand-in daemon (same paths and CSP as the peer, real wasm): the
// cases a correct peer never produces (a wrong fingerprint, errors on demand), the token rule, and
// the layout at desktop, narrow and dark settings.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, standIn, watchProblems, screenshot, publish, wasmBuilt } from './lib.mjs';

// The keys and numbers of PROTOCOL.md §6 (RFC 7748 §6.1 public keys).
const A = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const B = '3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=';
const FP_A = '49981 80161 59512 42587 45774 20904';
const FP_B = '62737 58485 83238 39271 32535 85718';
const SAFETY_AB = '49981 80161 59512 42587 45774 20904 62737 58485 83238 39271 32535 85718';
const C = 'L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=';
const FP_C = '58954 12944 53421 89544 41960 57435'; // tests/vectors/safety_number_reference.py

const ORIGIN = 'http://127.0.0.1:8123';
const needsWasm = { skip: (!wasmBuilt() && !process.env.P2P_PKG_DIR) ? 'web/pkg not built (scripts/build-wasm.sh)' : false };

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/**
 * A scripted daemon that answers actions the way PROTOCOL.md §8 and §8.1 say and records them. On
 * connect it sends `info`, a `status`, `peer_connected` per peer, `contacts`, one `room` per room
 * and one `key_changed` per change; it answers load_history from `history` (conversation ->
 * messages with seq, oldest first), get_invite and create_room, and queues sent messages.
 */
function daemon({ info, peers = [], contacts = [], rooms = [], keyChanges = [], history = {} }) {
  const actions = [];
  const sockets = [];
  let counter = 0;
  const handler = (ws) => {
    sockets.push(ws);
    const send = (event) => ws.send(JSON.stringify(event));
    send({ type: 'info', agent: 'p2p-chat/test', ...info });
    send({ type: 'status', message: 'listening on 0.0.0.0:6000' });
    for (const peer of peers) send({ type: 'peer_connected', ...peer });
    send({ type: 'contacts', contacts });
    for (const room of rooms) send({ type: 'room', ...room });
    for (const change of keyChanges) send({ type: 'key_changed', ...change });
    ws.onMessage((raw) => {
      const action = JSON.parse(String(raw));
      actions.push(action);
      const reply = handler.reply?.(action);
      if (reply) { send(reply); return; }
      if (action.action === 'send_message') {
        counter += 1;
        send({
          type: 'message_sent', id: `m${counter}`, text: action.text, sent_at: Date.now(),
          conversation: action.to ?? 'everyone', recipients: action.to ? [action.to] : peers.map((p) => p.peer_id),
          state: 'queued',
        });
      } else if (action.action === 'set_verified') {
        send({ type: 'peer_verified', peer_id: action.peer_id, verified: action.verified });
      } else if (action.action === 'set_name') {
        info.name = action.name;
        send({ type: 'info', agent: 'p2p-chat/test', ...info });
      } else if (action.action === 'load_history') {
        const all = history[action.conversation] ?? [];
        const older = action.before === undefined ? all : all.filter((m) => m.seq < action.before);
        const limit = action.limit ?? 100;
        const page = older.slice(Math.max(0, older.length - limit));
        // Like the peer, it repeats the `before` it was asked (PROTOCOL.md §8.1).
        const asked = action.before === undefined ? {} : { before: action.before };
        send({ type: 'history', conversation: action.conversation, messages: page, has_more: older.length > page.length, ...asked });
      } else if (action.action === 'get_invite') {
        send({ type: 'invite', invite: INVITE, qr_svg: QR_SVG });
      } else if (action.action === 'create_room') {
        counter += 1;
        send({ type: 'room', id: `room:r${counter}`, name: action.name, members: [info.public_key, ...action.members] });
      }
    });
  };
  handler.actions = actions;
  handler.send = (event) => { for (const ws of sockets) ws.send(JSON.stringify(event)); };
  handler.dropAll = async () => { for (const ws of sockets.splice(0)) await ws.close({ code: 1011, reason: 'test' }); };
  handler.connections = () => sockets.length;
  handler.waitFor = async (predicate, what = 'an action') => {
    for (let i = 0; i < 200; i += 1) {
      const found = actions.find(predicate);
      if (found) return found;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`the page never sent ${what}; it sent ${JSON.stringify(actions)}`);
  };
  return handler;
}

// An invite and a QR code as the daemon would send them. The SVG carries an onload handler that
// must never run (an <img> runs no script), and draws a finder-pattern-like image.
const INVITE = `p2p-chat://192.168.1.10:6000/${Buffer.from(A, 'base64').toString('base64url')}`;
const QR_SVG = (() => {
  const cells = [];
  for (let y = 0; y < 25; y += 1) {
    for (let x = 0; x < 25; x += 1) {
      const finder = (cx, cy) => {
        const dx = x - cx; const dy = y - cy;
        if (dx < 0 || dy < 0 || dx > 6 || dy > 6) return null;
        return dx === 0 || dy === 0 || dx === 6 || dy === 6 || (dx >= 2 && dx <= 4 && dy >= 2 && dy <= 4);
      };
      const f = finder(0, 0) ?? finder(18, 0) ?? finder(0, 18);
      if (f ?? ((x * 7 + y * 13 + x * y) % 3 === 0)) cells.push(`M${x + 2} ${y + 2}h1v1h-1z`);
    }
  }
  return '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29" '
    + 'width="290" height="290" onload="window.parent.__xss=1"><rect width="29" height="29" fill="#fff"/>'
    + `<path fill="#000" d="${cells.join('')}"/><script>window.parent.__xss=1</script></svg>`;
})();

function peer(id, name, fp, extra = {}) {
  return {
    peer_id: id, public_key: id, name, address: '127.0.0.1:6001', listen_port: 6001,
    direction: 'outbound', fingerprint: fp, verified: false, ...extra,
  };
}

async function open(context, d, query = '?token=test-token') {
  await standIn(context, ORIGIN, d);
  const page = await context.newPage();
  const problems = watchProblems(page);
  await page.goto(`${ORIGIN}/${query}`);
  return { page, problems };
}

test('without a token the page opens no WebSocket and says which URL to use', async () => {
  const { context } = browser;
  const d = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 } });
  let sockets = 0;
  const counting = (ws) => { sockets += 1; d(ws); };
  await standIn(context, ORIGIN, counting);
  const page = await context.newPage();
  const seen = [];
  page.on('websocket', (ws) => seen.push(ws.url()));
  await page.goto(`${ORIGIN}/`);
  await page.locator('#token-missing').waitFor({ state: 'visible' });
  assert.match(await page.locator('#token-missing').innerText(), /printed by p2p-chat/);
  // The self-test still runs (it needs no peer); by then app.js has long decided about the socket.
  await page.locator('#selftest-badge:not(.badge-pending)').waitFor();
  assert.equal(await page.locator('#conn-text').innerText(), 'No token');
  assert.deepEqual(seen, []);
  assert.equal(sockets, 0);
  await page.close();
  await context.unrouteAll();
});

test('the token is kept for the tab and removed from the address bar', async () => {
  const { context } = browser;
  const d = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 } });
  const urls = [];
  const recording = (ws) => { urls.push(ws.url()); d(ws); };
  const { page, problems } = await open(context, recording, '?token=secret-123&x=1');
  await page.locator('#conn[data-state="open"]').waitFor();
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
  assert.equal(new URL(page.url()).searchParams.get('x'), '1');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('p2p-chat-token')), 'secret-123');
  await page.reload();
  await page.locator('#conn[data-state="open"]').waitFor();
  assert.equal(urls.length, 2);
  for (const url of urls) assert.equal(url, 'ws://127.0.0.1:8123/ws?token=secret-123');
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('your address is the one the daemon says others can dial, else 127.0.0.1 with a hint', async () => {
  const { context } = browser;
  const withLan = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000, addresses: ['192.0.2.9:6000'] } });
  let { page, problems } = await open(context, withLan);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.waitForFunction(() => document.getElementById('own-addr').textContent !== '—');
  assert.equal(await page.locator('#own-addr').textContent(), '192.0.2.9:6000');
  assert.equal(await page.locator('#empty-addr').textContent(), '192.0.2.9:6000');
  assert.match(await page.locator('#own-addr-hint').textContent(), /Give this to the person/);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();

  const without = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000, addresses: [] } });
  ({ page, problems } = await open(context, without));
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.waitForFunction(() => document.getElementById('own-addr').textContent !== '—');
  assert.equal(await page.locator('#own-addr').textContent(), '127.0.0.1:6000');
  assert.match(await page.locator('#own-addr-hint').textContent(), /Works on this computer/);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('safety number computed in wasm matches the PROTOCOL.md vector; a wrong daemon fingerprint is flagged', needsWasm, async () => {
  const { context } = browser;
  const d = daemon({
    info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 },
    peers: [peer(B, 'Bob', FP_B), peer(C, 'Mallory', FP_B, { address: '10.0.0.9:7000' })],
  });
  const { page, problems } = await open(context, d);
  await page.locator('#selftest-badge.badge-ok').waitFor();
  assert.equal(await page.locator('#selftest-badge').innerText(), 'Crypto check ✓');
  assert.match(await page.locator('#selftest-badge').getAttribute('title'), /: (\d+) of \1 known-answer checks passed in [\d.]+ ms\./);
  // Mallory's daemon-reported fingerprint is Bob's: the page must say so loudly.
  await page.locator('#fp-alert').waitFor({ state: 'visible' });
  assert.match(await page.locator('#fp-alert').innerText(), /Mallory/);
  assert.doesNotMatch(await page.locator('#fp-alert').innerText(), /Bob/);
  assert.equal(await page.locator(`[data-peer="${C}"] .tag-danger`).count(), 1);
  await page.locator(`[data-peer="${B}"] [data-action="verify"]`).click();
  const groups = await page.locator('#safety-number li').allInnerTexts();
  assert.equal(groups.join(' '), SAFETY_AB);
  assert.equal(await page.locator('#verify-their-fp').innerText(), FP_B);
  assert.equal(await page.locator('#verify-our-fp').innerText(), FP_A);
  assert.equal(await page.locator('#verify-alert').isVisible(), false);
  await page.keyboard.press('Escape');
  // Our own fingerprint, as the daemon reports it, is checked too.
  assert.doesNotMatch(await page.locator('#fp-alert').innerText(), /Your own fingerprint/);
  d.send({ type: 'info', public_key: A, fingerprint: FP_B, name: 'Alice', p2p_port: 6000, agent: 'x' });
  await page.locator('#fp-alert', { hasText: 'Your own fingerprint' }).waitFor();
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('errors from the daemon appear next to the form that caused them', async () => {
  const { context } = browser;
  const d = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 } });
  d.reply = (action) => (action.action === 'connect_peer'
    ? { type: 'error', action: 'connect_peer', req: action.req, message: 'connection refused by 127.0.0.1:6001' }
    : null);
  const { page } = await open(context, d);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.fill('#connect-ip', '127.0.0.1:6001');
  await page.press('#connect-ip', 'Enter');
  await page.locator('#connect-error').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#connect-error').innerText(), 'connection refused by 127.0.0.1:6001');
  assert.deepEqual(d.actions.find((a) => a.action === 'connect_peer'), { action: 'connect_peer', ip: '127.0.0.1', port: 6001, req: d.actions.find((a) => a.action === 'connect_peer').req });
  assert.equal(await page.locator('#connect-btn').innerText(), 'Connect');
  // Bad input never reaches the daemon.
  await page.fill('#connect-ip', 'example.org');
  await page.fill('#connect-port', '70000');
  await page.click('#connect-btn');
  assert.match(await page.locator('#connect-error').innerText(), /1 to 65535/);
  assert.equal(d.actions.filter((a) => a.action === 'connect_peer').length, 1);
  await page.close();
  await context.unrouteAll();
});

test('the page reconnects after the socket drops and takes the new snapshot', async () => {
  const { context } = browser;
  const d = daemon({
    info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 },
    peers: [peer(B, 'Bob', FP_B)],
  });
  let opened = 0;
  const counting = (ws) => { opened += 1; d(ws); };
  const { page, problems } = await open(context, counting);
  await page.locator(`#peer-list [data-peer="${B}"]`).waitFor();
  await d.dropAll();
  await page.locator('#conn[data-state="waiting"]').waitFor();
  assert.equal(await page.locator('#send-btn').isDisabled(), true);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator(`#peer-list [data-peer="${B}"]`).waitFor();
  assert.equal(opened, 2);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});


// ---- contacts, history, delivery, key changes, invites, rooms (PROTOCOL.md §8.1) ----------------

const ALICE = { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 };

function contact(id, name, extra = {}) {
  return { peer_id: id, name, last_address: '127.0.0.1:6001', first_seen: Date.now() - 86400000, last_seen: Date.now(), verified: false, online: false, ...extra };
}

/** History rows as the daemon stores them. */
function row(seq, { from, name, text, mine = false, state = 'delivered', conversation, at }) {
  return {
    seq, id: `h${seq}`, conversation, from: mine ? 'me' : from, name: mine ? 'Alice' : name, text,
    sent_at: at, received_at: at, direction: mine ? 'out' : 'in', ...(mine ? { state } : {}),
  };
}

test('history: loaded on open and on reconnect, oldest first, never shown twice, "load older" pages back', needsWasm, async () => {
  const { context } = browser;
  const t0 = Date.now() - 3600000;
  const rows = [];
  for (let i = 1; i <= 130; i += 1) {
    rows.push(row(i, { from: B, name: 'Bob', text: `message ${i}`, mine: i % 3 === 0, conversation: B, at: t0 + i * 1000 }));
  }
  const d = daemon({ info: { ...ALICE }, contacts: [contact(B, 'Bob')], history: { [B]: rows } });
  const { page, problems } = await open(context, d);
  // On connect the page asks for every conversation's recent history.
  await d.waitFor((a) => a.action === 'load_history' && a.conversation === B, 'load_history for Bob');
  assert.ok(d.actions.some((a) => a.action === 'load_history' && a.conversation === 'everyone'));
  await page.locator(`[data-conv="${B}"]`).click();
  await page.locator('#messages .msg-text', { hasText: 'message 130' }).waitFor();
  let texts = await page.locator('#messages .msg-text').allTextContents();
  assert.equal(texts.length, 100);
  assert.deepEqual(texts.slice(0, 2), ['message 31', 'message 32']);
  assert.equal(texts.at(-1), 'message 130');
  assert.equal(await page.locator('#messages .msg-mine').count(), rows.slice(30).filter((r) => r.direction === 'out').length);
  // A retransmitted message already in history is not shown again.
  d.send({ type: 'peer_message', peer_id: B, name: 'Bob', id: 'h130', text: 'message 130', sent_at: t0, received_at: Date.now(), conversation: B });
  // A real peer stores what it delivers: after a reconnect the page reloads its window of
  // the conversation from history, the live message included.
  const live = { ...row(131, { from: B, name: 'Bob', text: 'live one', conversation: B, at: Date.now() }), id: 'live-1' };
  rows.push(live);
  d.send({ type: 'peer_message', peer_id: B, name: 'Bob', id: 'live-1', text: 'live one', sent_at: live.sent_at, received_at: live.received_at, conversation: B, seq: 131 });
  await page.locator('#messages .msg-text', { hasText: 'live one' }).waitFor();
  assert.equal(await page.locator('#messages .msg-text', { hasText: /^message 130$/ }).count(), 1);
  // Older pages.
  await page.locator('#load-older').click();
  const older = await d.waitFor((a) => a.action === 'load_history' && a.before !== undefined, 'load_history with before');
  assert.equal(older.before, 31);
  assert.equal(older.conversation, B);
  await page.locator('#messages .msg-text', { hasText: /^message 1$/ }).waitFor();
  texts = await page.locator('#messages .msg-text').allTextContents();
  assert.equal(texts.length, 131);
  assert.deepEqual(texts.slice(0, 3), ['message 1', 'message 2', 'message 3']);
  assert.equal(texts.at(-1), 'live one');
  assert.equal(await page.locator('#load-older').count(), 0);
  // Reconnect: history is asked for again and merged, nothing doubles.
  const before = d.actions.filter((a) => a.action === 'load_history').length;
  await d.dropAll();
  await page.locator('#conn[data-state="waiting"]').waitFor();
  await page.locator('#conn[data-state="open"]').waitFor();
  await d.waitFor((a) => a.action === 'load_history' && d.actions.filter((x) => x.action === 'load_history').length > before, 'load_history after reconnect');
  await page.locator(`[data-conv="${B}"][aria-current="true"]`).waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#messages .msg').length >= 131);
  assert.equal(await page.locator('#messages .msg-text').count(), 131);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('delivery ticks: queued (clock) → sent (one tick) → delivered (two ticks), never backwards', async () => {
  const { context } = browser;
  const d = daemon({ info: { ...ALICE }, peers: [peer(B, 'Bob', FP_B)], contacts: [contact(B, 'Bob', { online: true })] });
  const { page, problems } = await open(context, d);
  await page.locator(`[data-conv="${B}"]`).click();
  await page.fill('#composer-input', 'Are the ticks right?');
  await page.press('#composer-input', 'Enter');
  const tick = page.locator('#messages .msg-mine[data-id="m1"] .tick');
  await tick.waitFor();
  assert.equal(await tick.getAttribute('data-state'), 'queued');
  assert.equal(await tick.getAttribute('aria-label'), 'Queued');
  assert.match(await tick.getAttribute('title'), /Bob is online/);
  assert.equal(await tick.locator('svg circle').count(), 1);
  d.send({ type: 'delivery', id: 'm1', state: 'sent' });
  await page.locator('#messages [data-id="m1"] .tick[data-state="sent"]').waitFor();
  assert.equal(await page.locator('#messages [data-id="m1"] .tick').getAttribute('aria-label'), 'Sent');
  assert.equal(await page.locator('#messages [data-id="m1"] .tick svg path').count(), 1);
  d.send({ type: 'delivery', id: 'm1', state: 'delivered' });
  await page.locator('#messages [data-id="m1"] .tick[data-state="delivered"]').waitFor();
  assert.equal(await page.locator('#messages [data-id="m1"] .tick').getAttribute('aria-label'), 'Delivered');
  assert.equal(await page.locator('#messages [data-id="m1"] .tick').getAttribute('title'), 'Delivered to Bob');
  assert.equal(await page.locator('#messages [data-id="m1"] .tick svg path').count(), 2);
  // A late "sent" and unknown ids change nothing; switching conversations keeps the state.
  d.send({ type: 'delivery', id: 'm1', state: 'sent' });
  d.send({ type: 'delivery', id: 'nope', state: 'delivered' });
  d.send({ type: 'delivery', id: 'm1', state: 'bogus' });
  await page.locator('[data-conv="everyone"]').click();
  await page.locator(`[data-conv="${B}"]`).click();
  assert.equal(await page.locator('#messages [data-id="m1"] .tick').getAttribute('data-state'), 'delivered');
  await screenshot(page, 'standin-ticks');
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('an offline contact stays in the sidebar, greyed with "last seen", and can still be messaged', async () => {
  const { context } = browser;
  const d = daemon({
    info: { ...ALICE },
    peers: [peer(B, 'Bob', FP_B)],
    contacts: [contact(B, 'Bob', { online: true }), contact(C, 'Carol', { online: false, last_seen: Date.now() - 5 * 60000, last_address: '10.0.0.7:6000' })],
  });
  const { page, problems } = await open(context, d);
  const item = page.locator(`#conv-list [data-conv="${C}"]`);
  await item.waitFor();
  assert.equal(await item.getAttribute('data-online'), 'false');
  assert.match(await item.getAttribute('class'), /conv-offline/);
  assert.equal(await item.locator('.conv-preview').innerText(), 'offline · last seen 5 min ago');
  // Its accessible name is its visible text (no aria-label that could say something else).
  assert.equal(await page.getByRole('button', { name: /^Carol\s*offline · last seen 5 min ago$/ }).count(), 1);
  // Not in the connected-peers list.
  assert.equal(await page.locator(`#peer-list [data-peer="${C}"]`).count(), 0);
  await item.click();
  assert.match(await page.locator('#chat-sub').innerText(), /^10\.0\.0\.7:6000 · offline · last seen 5 min ago$/);
  assert.equal(await page.locator('#send-btn').isDisabled(), false);
  assert.match(await page.locator('#composer-input').getAttribute('placeholder'), /delivered when they are back online/);
  await page.fill('#composer-input', 'See you tomorrow');
  await page.press('#composer-input', 'Enter');
  await page.locator('#messages .tick[data-state="queued"]').waitFor();
  assert.equal(d.actions.find((a) => a.action === 'send_message').to, C);
  // Bob disconnects: he stays too, now offline.
  d.send({ type: 'peer_disconnected', peer_id: B, public_key: B, name: 'Bob', address: '127.0.0.1:6001', reason: 'closed' });
  await page.locator(`#conv-list [data-conv="${B}"][data-online="false"]`).waitFor();
  assert.equal(await page.locator(`#conv-list [data-conv="${B}"] .conv-preview`).innerText(), 'offline · last seen just now');
  // The listing that follows carries the peer's last_seen, which is when the session began (ten
  // minutes ago): the page keeps the session's end it saw itself.
  d.send({ type: 'contacts', contacts: [contact(B, 'Bob', { online: false, last_seen: Date.now() - 10 * 60000 }), contact(C, 'Carol', { online: false, last_seen: Date.now() - 5 * 60000, last_address: '10.0.0.7:6000' })] });
  await page.waitForTimeout(200);
  assert.equal(await page.locator(`#conv-list [data-conv="${B}"] .conv-preview`).innerText(), 'offline · last seen just now');
  // With nobody connected, a message to Everyone would reach no one: the page does not send
  // it and keeps the text (the peer refuses it too, PROTOCOL.md §8).
  await page.locator('[data-conv="everyone"]').click();
  assert.equal(await page.locator('#send-btn').isDisabled(), true);
  assert.equal(await page.locator('#composer-input').getAttribute('placeholder'), 'Connect to a peer first');
  await page.fill('#composer-input', 'anyone there?');
  await page.press('#composer-input', 'Enter');
  await page.waitForTimeout(100);
  assert.equal(await page.locator('#composer-input').inputValue(), 'anyone there?');
  assert.equal(d.actions.some((a) => a.action === 'send_message' && a.text === 'anyone there?'), false);
  await page.fill('#composer-input', '');
  await page.locator(`[data-conv="${C}"]`).click();
  // An offline contact with a known address can be dialled again from its conversation.
  assert.equal(await page.locator('#chat-connect').innerText(), 'Connect');
  await page.click('#chat-connect');
  const redial = await d.waitFor((a) => a.action === 'connect_peer', 'connect_peer');
  assert.deepEqual([redial.ip, redial.port], ['10.0.0.7', 6000]);
  // The dial expects Carol's key: another key answering there is never taken for her (PROTOCOL.md §8.3).
  assert.equal(redial.peer_id, C);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('key change: a loud banner with both fingerprints (wasm); Accept and Reject send the right action', needsWasm, async () => {
  const { context } = browser;
  const d = daemon({
    info: { ...ALICE },
    contacts: [contact(B, 'Bob', { verified: true })],
    keyChanges: [{ change_id: 'k1', peer_id: B, new_key: C, name: 'Bob', address: '127.0.0.1:6001', was_verified: true }],
  });
  const { page, problems } = await open(context, d);
  await page.locator('#selftest-badge.badge-ok').waitFor();
  // Elsewhere, a line at the top leads to it.
  await page.locator('#key-global', { hasText: 'Bob’s key changed' }).waitFor();
  assert.equal(await page.locator(`#conv-list [data-conv="${B}"] .tag-danger`).innerText(), 'Key changed');
  assert.equal(await page.locator(`#conv-list [data-conv="${B}"] .verified-dot`).count(), 0);
  await page.locator('#key-global button', { hasText: 'Review' }).click();
  const banner = page.locator('#key-alert');
  await banner.waitFor();
  assert.equal(await page.locator('#key-global').isVisible(), false);
  assert.equal(await banner.locator('h2').innerText(), 'Bob’s key changed — messages are held until you accept');
  assert.equal(await banner.locator('.key-old-fp').innerText(), FP_B);
  assert.equal(await banner.locator('.key-new-fp').innerText(), FP_C);
  assert.match(await banner.innerText(), /You had verified the old key/);
  assert.equal(await page.locator('#chat-title .tag-ok').count(), 0);
  assert.equal(await page.locator('#chat-title .tag-danger').innerText(), 'Key changed');
  await screenshot(page, 'standin-key-changed');
  await page.locator('#key-accept').click();
  const accepted = await d.waitFor((a) => a.action === 'accept_key_change', 'accept_key_change');
  assert.deepEqual(Object.keys(accepted).sort(), ['action', 'change_id', 'req']);
  assert.equal(accepted.change_id, 'k1');
  await banner.waitFor({ state: 'hidden' });
  // A second change, rejected.
  d.send({ type: 'key_changed', change_id: 'k2', peer_id: B, new_key: C, name: 'Bob', address: '10.9.9.9:6001', was_verified: false });
  await banner.waitFor();
  assert.doesNotMatch(await banner.innerText(), /You had verified/);
  await page.locator('#key-reject').click();
  const rejected = await d.waitFor((a) => a.action === 'reject_key_change', 'reject_key_change');
  assert.equal(rejected.change_id, 'k2');
  await banner.waitFor({ state: 'hidden' });
  assert.equal(d.actions.filter((a) => a.action.endsWith('_key_change')).length, 2);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('invites: the dialog shows the link and the QR code as an image (no markup, no CSP violation); invites connect', async () => {
  const { context } = browser;
  const d = daemon({ info: { ...ALICE }, contacts: [] });
  const { page, problems } = await open(context, d);
  const violations = [];
  page.on('console', (msg) => { if (/Content Security Policy|Refused/i.test(msg.text())) violations.push(msg.text()); });
  await page.locator('#share-invite').waitFor();
  await page.click('#share-invite');
  await d.waitFor((a) => a.action === 'get_invite', 'get_invite');
  await page.locator('#invite-dialog[open]').waitFor();
  assert.equal(await page.locator('#invite-text').innerText(), INVITE);
  const img = page.locator('#invite-qr');
  assert.match(await img.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  await page.waitForFunction(() => document.getElementById('invite-qr').complete);
  assert.ok(await img.evaluate((node) => node.naturalWidth > 0), 'the QR image did not load');
  assert.equal(await page.locator('#invite-dialog svg, #invite-dialog script').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await screenshot(page, 'standin-invite');
  await page.keyboard.press('Escape');

  // The invite field, and an invite pasted where the IP goes.
  await page.fill('#invite-input', 'p2p-chat://nonsense');
  await page.click('#invite-connect');
  assert.match(await page.locator('#invite-error').innerText(), /not a p2p-chat invite/);
  await page.fill('#invite-input', ` ${INVITE} `);
  await page.click('#invite-connect');
  const first = await d.waitFor((a) => a.action === 'connect_invite', 'connect_invite');
  assert.equal(first.invite, INVITE);
  d.reply = (action) => (action.action === 'connect_invite'
    ? { type: 'error', action: 'connect_invite', req: action.req, message: 'the peer at 127.0.0.1:6001 has a different key than the invite' }
    : null);
  const other = `p2p-chat://[::1]:6001/${Buffer.from(B, 'base64').toString('base64url')}`;
  await page.locator('#connect-btn:not([disabled])').waitFor({ timeout: 20000 });
  await page.fill('#connect-ip', other);
  await page.click('#connect-btn');
  await page.locator('#connect-error', { hasText: 'different key than the invite' }).waitFor();
  const sent = d.actions.filter((a) => a.action === 'connect_invite');
  assert.equal(sent.length, 2);
  assert.equal(sent[1].invite, other);
  assert.equal(d.actions.filter((a) => a.action === 'connect_peer').length, 0);
  assert.deepEqual(violations, []);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

test('rooms: "New room" sends create_room with the checked contacts; the room opens, sends to room:<id>, shows names', async () => {
  const { context } = browser;
  const d = daemon({
    info: { ...ALICE },
    peers: [peer(B, 'Bob', FP_B)],
    contacts: [contact(B, 'Bob', { online: true }), contact(C, 'Carol', { last_seen: Date.now() - 2 * 3600000 })],
  });
  const { page, problems } = await open(context, d);
  await page.locator('#new-room').waitFor();
  await page.click('#new-room');
  await page.locator('#room-dialog[open]').waitFor();
  assert.equal(await page.locator('#room-members input[type="checkbox"]').count(), 2);
  assert.deepEqual(await page.locator('#room-members .member-name').allInnerTexts(), ['Bob', 'Carol']);
  await page.click('#room-create');
  assert.equal(await page.locator('#room-error').innerText(), 'Give the room a name.');
  await page.fill('#room-name', 'Weekend trip');
  await page.click('#room-create');
  assert.equal(await page.locator('#room-error').innerText(), 'Choose at least one member.');
  await page.locator('#room-members label', { hasText: 'Bob' }).click();
  await page.locator('#room-members label', { hasText: 'Carol' }).click();
  await screenshot(page, 'standin-new-room');
  await page.click('#room-create');
  const create = await d.waitFor((a) => a.action === 'create_room', 'create_room');
  assert.equal(create.name, 'Weekend trip');
  assert.deepEqual(create.members, [B, C]);
  await page.locator('#room-dialog').waitFor({ state: 'hidden' });
  await page.locator('[data-conv="room:r1"][aria-current="true"]').waitFor();
  assert.equal(await page.locator('#chat-title > span').first().innerText(), 'Weekend trip');
  assert.equal(await page.locator('#chat-sub').innerText(), '3 members: you, Bob, Carol');
  await d.waitFor((a) => a.action === 'load_history' && a.conversation === 'room:r1', 'load_history for the room');
  await page.fill('#composer-input', 'Cabin or tents?');
  await page.press('#composer-input', 'Enter');
  await page.locator('#messages .msg-mine .msg-text', { hasText: 'Cabin or tents?' }).waitFor();
  assert.equal(d.actions.find((a) => a.action === 'send_message').to, 'room:r1');
  d.send({ type: 'peer_message', peer_id: B, name: 'Bob', id: 'b1', text: 'Cabin!', sent_at: Date.now(), received_at: Date.now(), conversation: 'room:r1' });
  await page.locator('#messages .msg-theirs .msg-name', { hasText: 'Bob' }).waitFor();
  // Someone else's room arrives as a `room` event and lands in the list without being opened.
  d.send({ type: 'room', id: 'room:x9', name: 'Book club', members: [B, A] });
  await page.locator('[data-conv="room:x9"]').waitFor();
  assert.equal(await page.locator('[data-conv="room:r1"][aria-current="true"]').count(), 1);
  // A room whose other members all left has nobody to send to: the page says so instead of
  // sending what the daemon would refuse.
  d.send({ type: 'room', id: 'room:x9', name: 'Book club', members: [A] });
  await page.locator('[data-conv="room:x9"]').click();
  await page.locator('#composer-input[placeholder="Nobody else is in this room"]').waitFor();
  assert.equal(await page.locator('#send-btn').isDisabled(), true);
  assert.deepEqual(problems, []);
  await page.close();
  await context.unrouteAll();
});

// ---- screenshots at several sizes and colour schemes -------------------------------------------

async function populated(context) {
  const now = Date.now();
  const d = daemon({
    info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 },
    peers: [peer(B, 'Bob', FP_B, { verified: true }), peer(C, 'Carol Nguyen', FP_C, { address: '192.168.1.23:6000', direction: 'inbound' })],
  });
  const { page } = await open(context, d);
  await page.locator('#conn[data-state="open"]').waitFor();
  const msg = (from, name, text, conversation, ago) => d.send({
    type: 'peer_message', peer_id: from, name, id: `${from}-${ago}`, text, sent_at: now - ago, received_at: now - ago, conversation,
  });
  msg(B, 'Bob', 'Hey! Did the safety numbers match on your side?', B, 600000);
  await page.locator(`[data-conv="${B}"]`).click();
  await page.fill('#composer-input', 'Yes — all twelve groups. Marked you as verified.');
  await page.press('#composer-input', 'Enter');
  msg(B, 'Bob', 'Great. Sending the draft over now.\nIt is long, so take your time.', B, 60000);
  msg(C, 'Carol Nguyen', 'Morning all 👋 standup in 10?', 'everyone', 300000);
  msg(B, 'Bob', 'On my way', 'everyone', 200000);
  msg(C, 'Carol Nguyen', 'Can you send me the slides?', C, 30000);
  await page.locator('.msg').nth(2).waitFor();
  return { page, d };
}

/** A room conversation with history, names and every delivery state, for the screenshots. */
async function roomScene(context) {
  const D = Buffer.alloc(32, 7).toString('base64');
  const now = Date.now();
  const room = 'room:weekend';
  const at = (minutes) => now - minutes * 60000;
  const rows = [
    row(1, { from: B, name: 'Bob', text: 'Cabin or tents this time?', conversation: room, at: at(42) }),
    row(2, { from: C, name: 'Carol Nguyen', text: 'Cabin. It rained for three days last year', conversation: room, at: at(40) }),
    row(3, { from: C, name: 'Carol Nguyen', text: 'I can drive, the car fits four.', conversation: room, at: at(39) }),
    row(4, { mine: true, text: 'Cabin it is. I found one by the lake with a wood stove — booking it tonight.', conversation: room, at: at(31), state: 'delivered' }),
    row(5, { from: B, name: 'Bob', text: 'Perfect. I’ll bring the board games.', conversation: room, at: at(12) }),
    row(6, { mine: true, text: 'Dave, are you in? Saturday 9:00 at my place.', conversation: room, at: at(6), state: 'sent' }),
  ];
  const d = daemon({
    info: { ...ALICE },
    peers: [peer(B, 'Bob', FP_B, { verified: true }), peer(C, 'Carol Nguyen', FP_C, { address: '192.168.1.23:6000', direction: 'inbound' })],
    contacts: [
      contact(B, 'Bob', { online: true, verified: true }),
      contact(C, 'Carol Nguyen', { online: true, last_address: '192.168.1.23:6000' }),
      contact(D, 'Dave', { online: false, last_seen: now - 3 * 3600000, last_address: '192.168.1.40:6000' }),
    ],
    rooms: [{ id: room, name: 'Weekend trip', members: [A, B, C, D] }],
    history: {
      [room]: rows,
      [B]: [row(7, { from: B, name: 'Bob', text: 'Did the safety numbers match?', conversation: B, at: at(90) })],
    },
  });
  const { page, problems } = await open(context, d);
  await page.locator(`[data-conv="${room}"]`).click();
  await page.locator('#messages .msg-text', { hasText: 'Saturday 9:00' }).waitFor();
  await page.fill('#composer-input', 'Packing list is in the notes. Ping me if I forgot anything!');
  await page.press('#composer-input', 'Enter');
  await page.locator('#messages .tick[data-state="queued"]').waitFor();
  return { page, problems, d };
}

test('a room conversation with names and delivery ticks (screenshots)', async () => {
  for (const scheme of ['light', 'dark']) {
    const shot = await launch({ colorScheme: scheme });
    try {
      const { page, problems } = await roomScene(shot.context);
      assert.equal(await page.locator('#messages .tick[data-state="delivered"]').count(), 1);
      assert.equal(await page.locator('#messages .tick[data-state="sent"]').count(), 1);
      assert.equal(await page.locator('#messages .tick[data-state="queued"]').count(), 1);
      assert.deepEqual(await page.locator('#messages .msg-name').allInnerTexts(), ['Bob', 'Carol Nguyen', 'Bob']);
      await page.locator('#selftest-badge:not(.badge-pending)').waitFor();
      const file = await screenshot(page, `standin-room-${scheme}`);
      if (scheme === 'light' && process.env.UPDATE_DOCS_STANDIN_ROOM === '1') publish(file, 'room');
      await page.setViewportSize({ width: 390, height: 780 });
      await screenshot(page, `standin-room-narrow-${scheme}`);
      assert.deepEqual(problems, []);
    } finally {
      await shot.close();
    }
  }
});

test('screenshots of the main states', async () => {
  for (const scheme of ['light', 'dark']) {
    const shot = await launch({ colorScheme: scheme });
    try {
      const d = daemon({ info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 } });
      const { page } = await open(shot.context, d);
      await page.locator('#conn[data-state="open"]').waitFor();
      await page.locator('#selftest-badge:not(.badge-pending)').waitFor();
      await screenshot(page, `standin-empty-${scheme}`);
      await page.setViewportSize({ width: 390, height: 780 });
      await screenshot(page, `standin-empty-narrow-${scheme}`);
      await page.close();
      await shot.context.unrouteAll();
      const { page: chat } = await populated(shot.context);
      const conversation = await screenshot(chat, `standin-conversation-${scheme}`);
      if (scheme === 'dark') publish(conversation, 'dark');
      await chat.locator(`[data-peer="${B}"] [data-action="verify"]`).click();
      await screenshot(chat, `standin-verify-${scheme}`);
      await chat.keyboard.press('Escape');
      await chat.click('#selftest-badge');
      await chat.click('#run-vectors');
      await chat.locator('#vectors-summary[data-state]').waitFor({ timeout: 120000 });
      await screenshot(chat, `standin-vectors-${scheme}`);
      await chat.keyboard.press('Escape');
      await chat.setViewportSize({ width: 390, height: 780 });
      await screenshot(chat, `standin-narrow-${scheme}`);
      await chat.click('#menu-btn');
      await chat.locator('#sidebar').evaluate((el) => Promise.all(el.getAnimations().map((a) => a.finished)));
      await screenshot(chat, `standin-narrow-drawer-${scheme}`);
    } finally {
      await shot.close();
    }
  }
});
