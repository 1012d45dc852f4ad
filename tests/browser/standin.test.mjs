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

/** A scripted daemon: answers actions the way PROTOCOL.md §8 says and records them. */
function daemon({ info, peers = [] }) {
  const actions = [];
  const sockets = [];
  let counter = 0;
  const handler = (ws) => {
    sockets.push(ws);
    const send = (event) => ws.send(JSON.stringify(event));
    send({ type: 'info', agent: 'p2p-chat/test', ...info });
    send({ type: 'status', message: 'listening on 0.0.0.0:6000' });
    for (const peer of peers) send({ type: 'peer_connected', ...peer });
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
        });
      } else if (action.action === 'set_verified') {
        send({ type: 'peer_verified', peer_id: action.peer_id, verified: action.verified });
      } else if (action.action === 'set_name') {
        info.name = action.name;
        send({ type: 'info', agent: 'p2p-chat/test', ...info });
      }
    });
  };
  handler.actions = actions;
  handler.send = (event) => { for (const ws of sockets) ws.send(JSON.stringify(event)); };
  handler.dropAll = async () => { for (const ws of sockets.splice(0)) await ws.close({ code: 1011, reason: 'test' }); };
  handler.connections = () => sockets.length;
  return handler;
}

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

test('safety number computed in wasm matches the PROTOCOL.md vector; a wrong daemon fingerprint is flagged', needsWasm, async () => {
  const { context } = browser;
  const d = daemon({
    info: { public_key: A, fingerprint: FP_A, name: 'Alice', p2p_port: 6000 },
    peers: [peer(B, 'Bob', FP_B), peer(C, 'Mallory', FP_B, { address: '10.0.0.9:7000' })],
  });
  const { page, problems } = await open(context, d);
  await page.locator('#selftest-badge.badge-ok').waitFor();
  assert.match(await page.locator('#selftest-badge').innerText(), /^self-test ✓ (\d+)\/\1 · [\d.]+ ms$/);
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
