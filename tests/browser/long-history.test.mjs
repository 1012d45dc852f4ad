// A conversation of 100,000 messages in the page: a real `p2p-chat` on a data directory whose
// database was filled beforehand (sqlite3, one statement), so the test starts in a second. The
// page holds a window of the conversation (ui/window.js): scrolling up loads older pages and drops
// the newest, scrolling down brings them back, a search result opens deep in the history, and the
// number of rows and of DOM nodes stays bounded all along — counted after every step.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems } from './lib.mjs';

const TOTAL = 100_000;
/** Rows the list may hold: the window (ui/window.js, 200) and its "load" rows. */
const MAX_ROWS = 205;
/** DOM nodes of the whole page with a full window (measured ~4,200: ~18 per row, ~600 for the rest). */
const MAX_NODES = 6000;

function hasSqlite() {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)'
    : !hasSqlite() ? 'no sqlite3 command (Debian package sqlite3)' : false;

// A made-up contact: any 32 bytes are a key the store accepts.
const CONTACT = Buffer.alloc(32, 7).toString('base64');
const text = (i) => `message ${String(i).padStart(6, '0')} of the long conversation`;

let browser;
let dir;
const stops = [];

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1100, height: 800 } });
  dir = mkdtempSync(path.join(tmpdir(), 'p2p-chat-long-'));
});

after(async () => {
  for (const stop of stops) await stop();
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Fills the stopped peer's database: one contact and TOTAL messages with it, a third ours. */
function fill(own) {
  const sql = `
    INSERT INTO contacts (public_key, name, last_address, listen_port, first_seen, last_seen)
      VALUES ('${CONTACT}', 'Long Talker', '127.0.0.1:9', 9, 1700000000000, 1700000000000);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${TOTAL})
    INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at, received_at, direction)
      SELECT 'peer', '${CONTACT}', CASE WHEN i % 3 = 0 THEN '${own}' ELSE '${CONTACT}' END, 'h' || i,
             printf('message %06d of the long conversation', i),
             1700000000000 + i * 60000, 1700000000000 + i * 60000 + 5,
             CASE WHEN i % 3 = 0 THEN 'out' ELSE 'in' END
      FROM n;`;
  execFileSync('sqlite3', [path.join(dir, 'p2p-chat.db')], { input: sql });
}

/** Rows, DOM nodes and the numbers of the messages on screen. */
function census(page) {
  return page.evaluate(() => {
    const items = [...document.querySelectorAll('#messages > li')];
    const numbers = items
      .map((li) => /^message (\d{6})/.exec(li.querySelector('.msg-text')?.textContent ?? ''))
      .filter(Boolean)
      .map((m) => Number(m[1]));
    return { rows: items.length, nodes: document.getElementsByTagName('*').length, numbers };
  });
}

function assertBounded(now, where) {
  // LONG_DEBUG=1 prints what each step counted.
  if (process.env.LONG_DEBUG) console.log(where, now.rows, now.nodes, now.numbers[0], now.numbers.at(-1), now.numbers.length);
  assert.ok(now.rows <= MAX_ROWS, `${where}: ${now.rows} rows`);
  assert.ok(now.nodes <= MAX_NODES, `${where}: ${now.nodes} DOM nodes`);
  for (let k = 1; k < now.numbers.length; k += 1) {
    assert.equal(now.numbers[k], now.numbers[k - 1] + 1, `${where}: contiguous at ${now.numbers[k]}`);
  }
}

/** Scrolls the list to one end and waits until its first (or last) message changes. */
async function scrollTo(page, end) {
  const before = await census(page);
  const edge = end === 'top' ? before.numbers[0] : before.numbers.at(-1);
  await page.evaluate((where) => {
    const list = document.getElementById('messages');
    list.scrollTop = where === 'top' ? 0 : list.scrollHeight;
  }, end);
  await page.waitForFunction(([where, was]) => {
    const texts = [...document.querySelectorAll('#messages > li .msg-text')].map((t) => t.textContent);
    const at = where === 'top' ? texts[0] : texts.at(-1);
    return at && !at.startsWith(`message ${String(was).padStart(6, '0')}`);
  }, [end, edge], { timeout: 15_000 });
  return census(page);
}

/** Opens the search result for message `n`: a window around it, newer messages left out. */
async function openFound(page, n) {
  await page.fill('#search-input', text(n));
  await page.click('#search-btn');
  await page.locator('#search-results .search-hit', { hasText: text(n) }).first().locator('button').click();
  await page.locator('#messages .msg-focus .msg-text', { hasText: text(n) }).waitFor();
}

/**
 * Scrolls to `end`, holds back the page the page asks for there (its `kind`, `after` or
 * `before`), clicks "Show newest messages", then lets the held page arrive: the window stays
 * the newest messages, contiguous.
 */
async function showNewestWhileAPageIsLate(page, held, kind, end) {
  held.active = kind;
  await page.evaluate((where) => {
    const list = document.getElementById('messages');
    list.scrollTop = where === 'top' ? 0 : list.scrollHeight;
  }, end);
  for (let tries = 0; held.frames.length === 0 && tries < 300; tries += 1) await page.waitForTimeout(50);
  assert.equal(held.frames.length, 1, `the page asked for a page (${kind})`);
  await page.locator('#show-newest').click();
  await page.locator('#messages .msg-text', { hasText: text(TOTAL) }).waitFor();
  held.active = null;
  for (const frame of held.frames.splice(0)) held.send(frame);
  // The page handles its socket's messages in order: once the older page asked for next has
  // come, the late one was handled before it.
  const now = await scrollTo(page, 'top');
  assertBounded(now, `newest again, a late page (${kind}) dropped`);
  assert.ok(now.numbers.at(-1) === TOTAL && now.numbers[0] < TOTAL - 50, `${now.numbers[0]}..${now.numbers.at(-1)}`);
}

test('a 100,000-message conversation keeps a bounded window while scrolling and searching', { skip: missing, timeout: 180_000 }, async () => {
  // The data directory as a peer leaves it, then filled while no peer runs.
  const first = await startPeer('Long', [], { dataDir: dir });
  const own = execFileSync(peerBinary(), ['id', '--data-dir', dir]).toString().match(/public key:\s+(\S+)/)[1];
  await first.stop();
  fill(own);

  const peer = await startPeer('Long', [], { dataDir: dir });
  stops.push(() => peer.stop());
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  // The page's socket goes through a relay that can hold back the peer's answers to `after` (or
  // `before`) requests, to deliver one late (below).
  const held = { active: null, frames: [], send: null };
  await page.routeWebSocket(/\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    held.send = (m) => ws.send(m);
    server.onMessage((m) => {
      if (held.active && typeof m === 'string' && m.includes(`"${held.active}"`)) {
        const event = JSON.parse(m);
        if (event.type === 'history' && Number.isSafeInteger(event[held.active])) {
          held.frames.push(m);
          return;
        }
      }
      ws.send(m);
    });
  });
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator(`#conv-list [data-conv="${CONTACT}"]`).click();
  await page.locator('#messages .msg-text', { hasText: text(TOTAL) }).waitFor();
  let now = await census(page);
  assertBounded(now, 'opened');
  assert.equal(now.numbers.at(-1), TOTAL);

  // Up through 30 pages: the window moves, the oldest shown goes back ~1,500 messages.
  for (let step = 0; step < 30; step += 1) {
    now = await scrollTo(page, 'top');
    assertBounded(now, `older page ${step}`);
  }
  assert.ok(now.numbers[0] <= TOTAL - 1500, `reached ${now.numbers[0]}`);
  assert.ok(now.numbers.at(-1) < TOTAL - 1000, 'the newest messages left the window');
  // And down again: newer pages come back in order.
  const lowest = now.numbers[0];
  for (let step = 0; step < 5; step += 1) {
    now = await scrollTo(page, 'bottom');
    assertBounded(now, `newer page ${step}`);
  }
  assert.ok(now.numbers[0] > lowest, 'the oldest rows left as newer ones came');

  // A search result deep in the history opens a window around it.
  const deep = 4242;
  await openFound(page, deep);
  now = await census(page);
  assertBounded(now, 'around a search result');
  assert.ok(now.numbers.includes(deep));
  now = await scrollTo(page, 'bottom');
  assertBounded(now, 'after the search result');

  // "Show newest messages" goes back to the end, also while a newer page is still on its way:
  // that page, answering a request made for the old window, arrives after the newest one and
  // is dropped (it would leave a hole in the window).
  await showNewestWhileAPageIsLate(page, held, 'after', 'bottom');
  // The same for an older page, asked for by scrolling up from a search result.
  await openFound(page, deep);
  await showNewestWhileAPageIsLate(page, held, 'before', 'top');
  assert.deepEqual(problems, []);
});
