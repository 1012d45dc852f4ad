// Files and pictures in the page (PROTOCOL.md §8.11), with two real `p2p-chat` peers keeping their
// state in data directories: Alice drags a picture onto Bob's conversation, both pages show it
// inline (from a blob: URL, after the page checked its SHA-256), with the transfer's state under
// it; a page from another origin cannot load the file with <img src>; and nothing violates the CSP.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { launch, startPeer, peerBinary, wasmBuilt, watchProblems, screenshot, publish, acceptRequest } from './lib.mjs';

const missing = !peerBinary() ? 'no target/debug/p2p-chat (cargo build -p peer)'
  : !wasmBuilt() ? 'web/pkg not built (scripts/build-wasm.sh)' : false;

const peers = [];
const dirs = [];
let browser;

function crc32(bytes) {
  let crc = ~0;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k += 1) crc = (crc >>> 1) ^ (0xEDB88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** A real PNG: a sunset-like gradient with a sun, so the screenshot shows a picture. */
function picture(width, height) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x += 1) {
      const i = y * (width * 3 + 1) + 1 + x * 3;
      const sun = (x - width * 0.62) ** 2 + (y - height * 0.45) ** 2 < (height * 0.18) ** 2;
      const sea = y > height * 0.66;
      raw[i] = sun ? 255 : sea ? 20 + (y % 7) * 3 : 250 - (y * 120) / height;
      raw[i + 1] = sun ? 220 : sea ? 70 + (x % 11) : 120 - (y * 60) / height;
      raw[i + 2] = sun ? 90 : sea ? 140 : 80 + (y * 90) / height;
    }
  }
  const chunk = (type, data) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function openPage(name) {
  const dataDir = mkdtempSync(path.join(tmpdir(), `p2p-chat-files-${name}-`));
  dirs.push(dataDir);
  const peer = await startPeer(name, [], { dataDir });
  peers.push(peer);
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  const id = await page.locator('#own-key').getAttribute('data-key');
  const port = Number(await page.locator('#own-port').innerText());
  return { peer, page, problems, id, port, dataDir };
}

/** Drops `bytes` as a file named `name` onto the open conversation, as a user's drag would. */
async function dropFile(page, name, type, bytes) {
  await page.evaluate(({ name, type, data }) => {
    const file = new File([new Uint8Array(data)], name, { type });
    const transfer = new DataTransfer();
    transfer.items.add(file);
    const target = document.getElementById('messages');
    for (const kind of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }
  }, { name, type, data: [...bytes] });
}

before(async () => {
  if (missing) return;
  browser = await launch({ viewport: { width: 1280, height: 860 } });
});

after(async () => {
  for (const peer of peers) await peer.stop();
  await browser?.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('a dragged picture shows inline on both pages, and another origin cannot load it', { skip: missing }, async () => {
  const alice = await openPage('Alice');
  const bob = await openPage('Bob');
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', String(bob.port));
  await alice.page.click('#connect-btn');
  await alice.page.locator(`#peer-list [data-peer="${bob.id}"]`).waitFor();
  await acceptRequest(bob.page, alice.id);
  await alice.page.locator(`#conv-list [data-conv="${bob.id}"]`).click();
  await bob.page.locator(`#conv-list [data-conv="${alice.id}"]`).click();
  // "Everyone" takes no files; a contact's chat does.
  await alice.page.locator('#attach-btn:not([hidden])').waitFor();

  const png = picture(320, 200);
  await dropFile(alice.page, 'sunset.png', 'image/png', png);

  for (const side of [bob, alice]) {
    const image = side.page.locator('#messages .file-card[data-state="complete"] img.file-image');
    try {
      await image.waitFor({ timeout: 30000 });
    } catch (err) {
      const seen = await side.page.locator('#messages').innerHTML();
      throw new Error(`${err.message}\nmessages: ${seen}\nproblems: ${side.problems.join('; ')}\n${side.peer.output.slice(-15).join('\n')}`);
    }
    const shown = await image.evaluate((img) => ({ w: img.naturalWidth, h: img.naturalHeight, src: img.src }));
    assert.equal(shown.w, 320, 'decoded by the browser');
    assert.equal(shown.h, 200);
    assert.match(shown.src, /^blob:/, 'from a blob: URL, never the file route');
  }
  const status = await bob.page.locator('#messages .file-card .file-status').innerText();
  assert.match(status, /verified/);
  const name = await bob.page.locator('#messages .file-card .file-name').innerText();
  assert.equal(name, 'sunset.png');
  // Alice's tick says Bob has it.
  await alice.page.locator('#messages .msg-mine .tick[data-state="delivered"]').first().waitFor();

  // Another origin: an <img> pointing at the file route loads nothing (no token header).
  const key = await bob.page.locator('#messages .file-card').getAttribute('data-key');
  const foreign = await browser.context.newPage();
  await foreign.setContent('<p>another site</p>');
  const loaded = await foreign.evaluate((src) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve({ ok: true, w: img.naturalWidth });
    img.onerror = () => resolve({ ok: false, w: img.naturalWidth });
    img.src = src;
  }), `${bob.peer.origin}/files/${key}`);
  assert.deepEqual(loaded, { ok: false, w: 0 });
  await foreign.close();

  const shot = await screenshot(bob.page, 'files-picture');
  publish(shot, 'files');
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});
