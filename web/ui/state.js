// What the page knows: our identity, the peers, the conversations and their messages.
// Events from the peer (PROTOCOL.md §8) are applied here; views.js draws the result.

import * as crypto from './crypto.js';

export const EVERYONE = 'everyone';

export function createState() {
  return {
    info: null, // the last `info` event
    ownCheck: null, // { localFp, mismatch } once wasm has checked info.fingerprint
    listenHost: null, // from a "listening on HOST:PORT" status, when the daemon sends one
    peers: new Map(), // peer_id -> peer (see upsertPeer); kept after disconnect, with online = false
    convs: new Map([[EVERYONE, newConv(EVERYONE)]]),
    active: EVERYONE,
    seen: new Set(), // "sender/id" of every shown message, so a message never shows twice
  };
}

function newConv(id) {
  return { id, messages: [], unread: 0, lastAt: 0 };
}

export function conv(state, id) {
  if (!state.convs.has(id)) state.convs.set(id, newConv(id));
  return state.convs.get(id);
}

function str(value, fallback = '') {
  return typeof value === 'string' ? value : fallback;
}

/** Applies `peer_connected`; returns the peer. */
export function upsertPeer(state, event) {
  const id = str(event.peer_id);
  const old = state.peers.get(id);
  const peer = {
    id,
    publicKey: str(event.public_key, id),
    name: str(event.name).trim(),
    address: str(event.address),
    listenPort: Number.isInteger(event.listen_port) ? event.listen_port : null,
    direction: str(event.direction),
    daemonFp: str(event.fingerprint),
    verified: event.verified === true,
    online: true,
    check: old?.check ?? null,
  };
  state.peers.set(id, peer);
  conv(state, id);
  checkPeer(state, peer);
  return peer;
}

/** A name to show for a peer (names are optional and peer-chosen). */
export function peerLabel(peer) {
  return peer?.name || 'Unnamed peer';
}

/**
 * Recomputes, in wasm, a peer's fingerprint and safety number from the raw keys and compares the
 * fingerprint with the daemon's string. Does nothing until wasm and our own key are available.
 */
export function checkPeer(state, peer) {
  if (!crypto.wasmReady() || !state.info) return;
  try {
    const localFp = crypto.fingerprint(peer.publicKey);
    const safety = crypto.safetyNumber(state.info.public_key, peer.publicKey);
    const problems = [];
    if (crypto.digits(localFp) !== crypto.digits(peer.daemonFp)) {
      problems.push('the fingerprint your peer reported differs from the one this page computed');
    }
    if (peer.publicKey !== peer.id) problems.push('the peer id is not its public key');
    peer.check = { localFp, safety, problems, error: null };
  } catch (err) {
    peer.check = { localFp: '', safety: [], problems: [], error: String(err?.message ?? err) };
  }
}

/** Applies `info`; checks our own fingerprint in wasm. */
export function setInfo(state, event) {
  const keyChanged = state.info?.public_key !== event.public_key;
  state.info = {
    public_key: str(event.public_key),
    fingerprint: str(event.fingerprint),
    name: str(event.name),
    p2p_port: Number.isInteger(event.p2p_port) ? event.p2p_port : null,
    agent: str(event.agent),
  };
  checkOwn(state);
  if (keyChanged) for (const peer of state.peers.values()) checkPeer(state, peer);
}

export function checkOwn(state) {
  if (!crypto.wasmReady() || !state.info) return;
  try {
    const localFp = crypto.fingerprint(state.info.public_key);
    state.ownCheck = { localFp, mismatch: crypto.digits(localFp) !== crypto.digits(state.info.fingerprint), error: null };
  } catch (err) {
    state.ownCheck = { localFp: '', mismatch: false, error: String(err?.message ?? err) };
  }
}

/** Runs every pending check (called once wasm has loaded). */
export function checkAll(state) {
  checkOwn(state);
  for (const peer of state.peers.values()) checkPeer(state, peer);
}

/**
 * Adds a message to a conversation unless already shown. Returns the conversation, or null for a
 * duplicate.
 */
export function addMessage(state, convId, message) {
  const key = `${message.mine ? 'me' : message.from}/${message.id}`;
  if (state.seen.has(key)) return null;
  state.seen.add(key);
  const c = conv(state, convId);
  c.messages.push(message);
  c.lastAt = Math.max(c.lastAt, message.at);
  return c;
}

/** Applies `peer_message`. */
export function incoming(state, event) {
  const from = str(event.peer_id);
  const convId = event.conversation === EVERYONE ? EVERYONE : from;
  const at = Number(event.received_at) || Date.now();
  const peer = state.peers.get(from);
  if (peer && str(event.name).trim()) peer.name = str(event.name).trim();
  return addMessage(state, convId, {
    id: str(event.id, String(at)),
    mine: false,
    from,
    name: str(event.name).trim() || peerLabel(peer),
    text: str(event.text),
    sentAt: Number(event.sent_at) || at,
    at,
  });
}

/** Applies `message_sent`. */
export function outgoing(state, event) {
  const convId = str(event.conversation, EVERYONE) || EVERYONE;
  const at = Number(event.sent_at) || Date.now();
  return addMessage(state, convId, {
    id: str(event.id, String(at)),
    mine: true,
    from: 'me',
    name: state.info?.name || 'You',
    text: str(event.text),
    sentAt: at,
    at,
    recipients: Array.isArray(event.recipients) ? event.recipients.filter((r) => typeof r === 'string') : [],
  });
}

export function onlinePeers(state) {
  return [...state.peers.values()].filter((p) => p.online);
}

/** Conversations for the sidebar: Everyone first, then peers by latest activity. */
export function sidebarConvs(state) {
  const rest = [...state.convs.values()]
    .filter((c) => c.id !== EVERYONE && state.peers.has(c.id))
    .sort((a, b) => (b.lastAt - a.lastAt) || (peerLabel(state.peers.get(a.id)).localeCompare(peerLabel(state.peers.get(b.id)))));
  return [state.convs.get(EVERYONE), ...rest];
}

/** True when nothing has happened yet: no peer ever connected and no message. */
export function isFresh(state) {
  return state.peers.size === 0 && [...state.convs.values()].every((c) => c.messages.length === 0);
}

/** "host:port" for others to dial, and whether the host is only a stand-in. */
export function ownAddress(state) {
  const port = state.info?.p2p_port;
  if (!port) return null;
  const host = state.listenHost;
  const unspecified = !host || host === '0.0.0.0' || host === '::' || host === '[::]';
  if (!unspecified) return { text: `${host}:${port}`, local: false, port };
  return { text: `127.0.0.1:${port}`, local: true, port };
}

/** Picks the host out of a "listening on HOST:PORT" status message. */
export function noteStatus(state, message) {
  const match = /listening on (\S+):(\d+)/i.exec(message);
  if (match) state.listenHost = match[1];
}
