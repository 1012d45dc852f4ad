// A page that falls behind does not silently miss messages (PROTOCOL.md §8, `resync`): a real
// `p2p-chat` with a small event queue (the hidden --event-capacity, so a few megabytes of events
// overflow it) receives a flood of 2,000 long chats from a terminal chat (`p2p-chat chat`) while
// the page's main thread is blocked, so its WebSocket backs up and events are dropped for it. The
// peer says `resync`; the page reloads its window from history, and scrolling up through the
// conversation then shows every one of the 2,000 messages, in order, with the list never holding
// more than its window of rows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const FLOOD = 2000;
/** Long texts, so 2,000 events are ~16 MB: more than the sockets between peer and page buffer. */
const PAD = 'x'.repeat(8000);
/** Rows the list may hold: the window (ui/window.js) and its "load" rows. */
const MAX_ROWS = 205;
const label = (i) => `flood-${String(i).padStart(4, '0')}`;

let browser;
const stops = [];

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1000, height: 800 } });
});

after(async () => {
  for (const stop of stops) await stop();
  await browser?.close();
});

/** The flood labels of the rows on screen now, in list order, and how many rows there are. */
function rowsNow(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll('#messages > li')];
    const labels = items
      .map((li) => li.querySelector('.msg-text')?.textContent.slice(0, 10) ?? '')
      .filter((t) => t.startsWith('flood-'));
    return { labels, rows: items.length };
  });
}

test('a page flooded past its event queue resyncs and shows every message', { skip: missing, timeout: 240_000 }, async () => {
  const alice = await startPeer('Alice', ['--event-capacity', '32']);
  stops.push(() => alice.stop());
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  const frames = { resync: 0 };
  page.on('websocket', (ws) => ws.on('framereceived', ({ payload }) => {
    if (typeof payload === 'string' && payload.startsWith('{"type":"resync"')) frames.resync += 1;
  }));
  await page.goto(alice.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  const port = Number(await page.locator('#own-port').innerText());

  // A terminal chat dials Alice: a stranger until she accepts its request.
  const chat = spawn(peerBinary(), ['chat', `127.0.0.1:${port}`, '--name', 'Flood'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const chatDone = new Promise((resolve) => chat.on('exit', resolve));
  stops.push(async () => {
    if (chat.exitCode === null) chat.kill('SIGTERM');
    await chatDone;
  });
  chat.stdin.write('hello from the terminal\n');
  await page.locator('#request-list [data-conv^="request:"]').first().click();
  await page.locator('#chat-accept:not([hidden])').click();
  // The flood starts once Alice has accepted (her `request_resolved` took the request off the
  // list): a request keeps only its newest 64 KiB (PROTOCOL.md §8.2), so chats that beat the
  // acceptance would drop the oldest of the flood by design.
  await page.locator('#request-list [data-conv^="request:"]').waitFor({ state: 'detached' });
  await page.locator('#conv-list [data-conv="everyone"]').click();

  // The page stops reading for a while (its main thread is busy) while the flood arrives.
  const busy = page.evaluate(() => {
    const until = Date.now() + 6000;
    while (Date.now() < until) { /* a page too busy to read its socket */ }
  });
  let lines = '';
  for (let i = 1; i <= FLOOD; i += 1) lines += `${label(i)} ${PAD}\n`;
  chat.stdin.end(lines);
  await busy;
  assert.equal(await chatDone, 0, 'every chat was acknowledged (stored) by Alice');

  // The peer told the page it fell behind, and the page reloaded its window: the newest message
  // is at the end of the list.
  await page.locator('#messages .msg-text', { hasText: label(FLOOD) }).waitFor({ timeout: 60_000 });
  assert.ok(frames.resync >= 1, 'the peer sent resync');

  // Scrolling up pages through the whole flood; every message shows up, in order.
  const seen = new Set();
  let previousFirst = null;
  let stalled = 0;
  for (let step = 0; step < 200; step += 1) {
    const { labels, rows } = await rowsNow(page);
    assert.ok(rows <= MAX_ROWS, `the list holds ${rows} rows`);
    const sorted = [...labels].sort();
    assert.deepEqual(labels, sorted, 'in order');
    for (const l of labels) seen.add(l);
    if (labels[0] === label(1)) break;
    if (labels[0] === previousFirst) {
      // No older page came since the last step: the scroll came while another page was
      // loading, or the answer was dropped because the window moved meanwhile (ui/window.js).
      // A list already at its top fires no further scroll event, so do what the user would:
      // press "Load older messages" there. Five times in a row means there is none; the check
      // below says what is missing and what that button said.
      stalled += 1;
      if (stalled >= 5) break;
      const older = page.locator('#load-older:not([disabled])');
      if (await older.count()) await older.click();
      else await page.waitForTimeout(50);
    } else {
      stalled = 0;
    }
    previousFirst = labels[0];
    await page.evaluate(() => { document.getElementById('messages').scrollTop = 0; });
    await page.waitForFunction((first) => {
      const t = document.querySelector('#messages > li .msg-text')?.textContent.slice(0, 10);
      return t !== first;
    }, labels[0], { timeout: 10_000 }).catch(() => {});
  }
  const missingLabels = [];
  for (let i = 1; i <= FLOOD; i += 1) if (!seen.has(label(i))) missingLabels.push(label(i));
  const top = page.locator('#load-older');
  const button = (await top.count()) ? await top.textContent() : 'none';
  assert.deepEqual(missingLabels.slice(0, 20), [], `every flooded message was shown (${missingLabels.length} missing; the top button: ${button})`);
  assert.deepEqual(problems, []);
});
