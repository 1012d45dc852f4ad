// Helpers for the lab tests: run commands and real `p2p-chat` peers inside the lab's network
// namespaces (built by lab.sh, named $NETLAB_PREFIX-<name>) and talk to a peer's UI WebSocket as
// the page does, through ws-pipe.mjs running in the peer's namespace.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PREFIX = process.env.NETLAB_PREFIX;
export const BIN = process.env.P2P_CHAT_BIN;
export const EVENT_TIMEOUT = 20000;

if (!PREFIX || !BIN) throw new Error('run the lab tests through tests/netlab/run.sh');

const nsName = (ns) => `${PREFIX}-${ns}`;

/** Runs a command in a namespace and returns its stdout; throws if it fails. */
export function run(ns, ...argv) {
  const out = spawnSync('ip', ['netns', 'exec', nsName(ns), ...argv], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${ns}: ${argv.join(' ')} failed (${out.status}): ${out.stderr}`);
  return out.stdout;
}

/** miniupnpd's port forwards on a router (r1 or r3), as nft prints them. */
export function routerForwards(router = 'r1') {
  return run(router, 'nft', 'list', 'chain', 'inet', 'nat', 'prerouting_miniupnpd');
}

/** Polls `check` (sync or async) until it returns a truthy value or `ms` pass. */
export async function eventually(what, check, ms = EVENT_TIMEOUT) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    last = await check();
    if (last) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/**
 * Starts `p2p-chat --port PORT --web-port 0 --ephemeral --name NAME ARGS…` in namespace `ns`
 * (`--data-dir DIR` instead of `--ephemeral` with `{ dataDir }`)
 * and waits for its UI line. Returns { ns, name, port, url, output, ui(), stop(), log() }.
 */
export async function startPeer(ns, name, args = [], { port = 6000, dataDir } = {}) {
  const storage = dataDir ? ['--data-dir', dataDir] : ['--ephemeral'];
  const argv = ['netns', 'exec', nsName(ns), BIN, '--port', String(port), '--web-port', '0',
    ...storage, '--name', name, ...args];
  const proc = spawn('ip', argv, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} printed no UI address:\n${output.join('\n')}`)), 30000);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      output.push(line);
      const match = /p2p-chat UI: (http:\/\/\S+\/\?token=\S+)/.exec(line);
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
  const clients = [];
  return {
    ns,
    name,
    port,
    url,
    output,
    proc,
    log: () => output.join('\n'),
    async ui() {
      const client = await openUi(ns, url);
      clients.push(client);
      return client;
    },
    /** SIGTERM (a clean shutdown), SIGKILL after 10 s; resolves with the exit code. */
    async stop() {
      for (const client of clients) client.close();
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** A UI WebSocket client in namespace `ns`: send(action), next(predicate), close(). */
async function openUi(ns, url) {
  const proc = spawn('ip', ['netns', 'exec', nsName(ns), process.execPath, '--no-warnings',
    '--experimental-websocket', path.join(HERE, 'ws-pipe.mjs'), url], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = [];
  let wake = () => {};
  createInterface({ input: proc.stdout }).on('line', (line) => {
    events.push(JSON.parse(line));
    wake();
  });
  const errors = [];
  createInterface({ input: proc.stderr }).on('line', (line) => errors.push(line));
  const client = {
    events,
    send(action) {
      proc.stdin.write(`${JSON.stringify(action)}\n`);
    },
    /** The first event (seen so far or still to come) matching `match`; it is consumed. */
    async next(match, what = 'an event', ms = EVENT_TIMEOUT) {
      const pred = typeof match === 'string' ? (e) => e.type === match : match;
      const until = Date.now() + ms;
      for (;;) {
        const at = events.findIndex(pred);
        if (at >= 0) return events.splice(at, 1)[0];
        const left = until - Date.now();
        if (left <= 0 || proc.exitCode !== null) {
          throw new Error(`no ${typeof match === 'string' ? match : what} within ${ms} ms; `
            + `events: ${JSON.stringify(events)} ${errors.join(' ')}`);
        }
        await new Promise((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(left, 200));
        });
      }
    },
    close() {
      proc.stdin.end();
      proc.kill('SIGTERM');
    },
  };
  await client.next('info', 'the greeting info');
  return client;
}
