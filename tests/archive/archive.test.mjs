// The release archive on a machine that has nothing else: extract
// target/package/p2p-chat-<version>-<arch>-linux.tar.gz (scripts/package.sh; P2P_CHAT_ARCHIVE
// overrides) into an empty directory, start two peers from there with HOME pointing at empty
// directories, no repository, no cargo and no node on their PATH; load each page in Chromium,
// the wasm self-test passes, the peers connect and chat, `p2p-chat url` finds each peer again.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { launch, watchProblems, ROOT, acceptRequest } from '../browser/lib.mjs';

function findArchive() {
  if (process.env.P2P_CHAT_ARCHIVE) return process.env.P2P_CHAT_ARCHIVE;
  const dir = path.join(ROOT, 'target', 'package');
  if (!existsSync(dir)) return null;
  const found = readdirSync(dir)
    .filter((f) => /^p2p-chat-.*-linux\.tar\.gz$/.test(f))
    .map((f) => path.join(dir, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0] ?? null;
}

const archive = findArchive();
const missing = archive ? false : 'no release archive (scripts/package.sh)';
const temps = [];
const peers = [];
let browser;
let extracted; // the binary inside the extracted archive

function tempDir(tag) {
  const dir = mkdtempSync(path.join(tmpdir(), `p2p-chat-archive-${tag}-`));
  temps.push(dir);
  return dir;
}

/** Only what a bare machine has: a HOME of its own and the system PATH. */
function bareEnv(home) {
  return { HOME: home, PATH: '/usr/bin:/bin', RUST_LOG: 'info', LANG: 'C.UTF-8' };
}

async function startPeer(name) {
  const home = tempDir(`home-${name}`);
  const proc = spawn(extracted, ['--host', '127.0.0.1', '--port', '0', '--web-port', '0', '--name', name], {
    cwd: path.dirname(extracted),
    env: bareEnv(home),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no UI address:\n${output.join('\n')}`)), 30000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      output.push(line);
      const match = /^p2p-chat UI: (http:\/\/\S+\/\?token=\S+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    createInterface({ input: proc.stderr }).on('line', (line) => output.push(line));
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${output.join('\n')}`));
    });
  });
  const peer = { name, home, url, proc, output };
  peers.push(peer);
  return peer;
}

async function openPage(peer) {
  const page = await browser.context.newPage();
  const problems = watchProblems(page);
  await page.goto(peer.url);
  await page.locator('#conn[data-state="open"]').waitFor();
  await page.locator('#own-port:not(:text("—"))').waitFor();
  return { peer, page, problems };
}

before(async () => {
  if (missing) return;
  const dir = tempDir('extract');
  execFileSync('tar', ['-xzf', archive, '-C', dir]);
  const [top] = readdirSync(dir);
  extracted = path.join(dir, top, 'p2p-chat');
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const peer of peers) {
    if (peer.proc.exitCode === null) {
      const exited = new Promise((resolve) => peer.proc.once('exit', resolve));
      peer.proc.kill('SIGTERM');
      await exited;
    }
  }
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

test('the archive holds the binary, README, both licences and SECURITY.md', { skip: missing }, () => {
  const files = readdirSync(path.dirname(extracted)).sort();
  assert.deepEqual(files, ['LICENSE-APACHE', 'LICENSE-MIT', 'README.md', 'SECURITY.md', 'p2p-chat']);
  assert.ok(statSync(extracted).mode & 0o100, 'the binary is executable');
  const version = execFileSync(extracted, ['--version'], { env: bareEnv(tempDir('v')) }).toString();
  const pkgWasm = path.join(ROOT, 'web', 'pkg', 'crypto_wasm_bg.wasm');
  assert.match(version, /^p2p-chat \d+\.\d+\.\d+ \(commit [0-9a-f]{12}, wasm sha256 [0-9a-f]{64}\)\n$/);
  if (existsSync(pkgWasm)) {
    const sha = createHash('sha256').update(readFileSync(pkgWasm)).digest('hex');
    assert.ok(version.includes(sha), `${version} vs web/pkg ${sha}`);
  }
});

test('two peers from the extracted archive: page self-test passes, they connect and chat', { skip: missing }, async () => {
  const alice = await openPage(await startPeer('Alice'));
  const bob = await openPage(await startPeer('Bob'));
  for (const side of [alice, bob]) {
    await side.page.locator('#selftest-badge.badge-ok').waitFor({ timeout: 60000 });
    assert.equal(await side.page.locator('#selftest-badge').innerText(), 'Crypto check ✓');
    assert.match(await side.page.locator('#selftest-badge').getAttribute('title'), /: (\d+) of \1 known-answer checks passed in [\d.]+ ms\./);
    // The default data directory lies inside the empty HOME.
    const dataDir = path.join(side.peer.home, '.local', 'share', 'p2p-chat', 'peer-0');
    assert.ok(existsSync(path.join(dataDir, 'identity.key')), side.peer.output.join('\n'));
  }
  const bobId = await bob.page.locator('#own-key').getAttribute('data-key');
  const aliceId = await alice.page.locator('#own-key').getAttribute('data-key');
  await alice.page.fill('#connect-ip', '127.0.0.1');
  await alice.page.fill('#connect-port', await bob.page.locator('#own-port').innerText());
  await alice.page.click('#connect-btn');
  await alice.page.locator(`#peer-list [data-peer="${bobId}"]`).waitFor();
  await bob.page.locator(`#peer-list [data-peer="${aliceId}"]`).waitFor();

  await alice.page.locator(`#conv-list [data-conv="${bobId}"]`).click();
  await alice.page.fill('#composer-input', 'hello from an extracted archive');
  await alice.page.press('#composer-input', 'Enter');
  // Alice dialled Bob: to Bob she is a message request until he accepts (PROTOCOL.md §8.2).
  await acceptRequest(bob.page, aliceId);
  await bob.page.locator(`#conv-list [data-conv="${aliceId}"]`).click();
  await bob.page.locator('#messages .msg-theirs .msg-text', { hasText: 'hello from an extracted archive' }).waitFor();
  await bob.page.fill('#composer-input', 'and back');
  await bob.page.press('#composer-input', 'Enter');
  await alice.page.locator('#messages .msg-theirs .msg-text', { hasText: 'and back' }).waitFor();

  // "Run all vectors" fetches the built-in vector files.
  await bob.page.click('#selftest-badge');
  await bob.page.click('#run-vectors');
  await bob.page.locator('#vectors-summary[data-state]').waitFor({ timeout: 180000 });
  assert.equal(await bob.page.locator('#vectors-summary').getAttribute('data-state'), 'pass');

  for (const side of [alice, bob]) {
    assert.deepEqual(side.problems, []);
    const url = execFileSync(extracted, ['url', '--port', '0'], { env: bareEnv(side.peer.home) }).toString().trim();
    assert.equal(url, side.peer.url);
  }
});
