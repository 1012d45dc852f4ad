// What the user (and the page on the user's behalf) asks of our peer: each command checks its
// input, sends one action (PROTOCOL.md §8, §8.1) and notes in the state what it waits for. The
// answers arrive as events (events.js). `io` is { send(action) -> req | null, later(ms), focus(id) }.

import * as S from './state.js';

/** Where the daemon's `error` for an action goes when it carries no `req` we know. */
const ERROR_TARGET = {
  connect_peer: 'connect-error',
  send_message: 'composer-error',
  set_name: 'name-error',
  set_verified: 'verify-error',
  connect_invite: 'invite-error',
  create_room: 'room-error',
};

/** How long the connect buttons wait: past the daemon's 10 s handshake deadline, in case no answer comes. */
const CONNECT_WAIT_MS = 15000;
const TOAST_MS = 6000;
const MAX_TEXT = 16000;
const MAX_NAME = 64;
/** Requests whose error would go next to a form; a success sends no answer, so the oldest are dropped. */
const MAX_PENDING = 64;

export function errorTargetOf(state, event) {
  const target = state.ui.pending.get(event.req) ?? ERROR_TARGET[event.action] ?? null;
  state.ui.pending.delete(event.req);
  return target;
}

export function setError(state, target, message) {
  if (message) state.ui.errors[target] = message;
  else delete state.ui.errors[target];
}

export function toast(state, io, text) {
  state.ui.toast = { text, until: Date.now() + TOAST_MS };
  io.later(TOAST_MS);
}

export function setConnecting(state, io, on) {
  state.ui.connectingUntil = on ? Date.now() + CONNECT_WAIT_MS : 0;
  if (on) io.later(CONNECT_WAIT_MS);
}

/**
 * Sends an action. With `errorTarget` a failure (here or the daemon's `error`) shows next to that
 * form; without one, in a toast. Returns the req id, or null when not connected.
 */
export function send(state, io, action, errorTarget = null) {
  if (errorTarget) setError(state, errorTarget, '');
  const req = io.send(action);
  if (req === null) {
    if (errorTarget) setError(state, errorTarget, 'Not connected to your peer. Retrying…');
    else toast(state, io, 'Not connected to your peer.');
    return null;
  }
  if (errorTarget) {
    const { pending } = state.ui;
    pending.set(req, errorTarget);
    if (pending.size > MAX_PENDING) pending.delete(pending.keys().next().value);
  }
  return req;
}

// ---- conversations and history -------------------------------------------------------------------

/** Asks for a conversation's history; a full load happens once per connection, a preview (limit) does not count as one. */
export function loadHistory(state, io, convId, { before = null, limit = null } = {}) {
  const c = S.conv(state, convId);
  const action = { action: 'load_history', conversation: convId };
  if (before !== null) action.before = before;
  if (limit !== null) action.limit = limit;
  if (io.send(action) === null) return;
  const generation = state.connection.generation;
  if (limit === null) c.loadedGen = generation;
  c.previewGen = generation;
  c.loading = true;
  c.loadingOlder = before !== null;
}

export function loadOlder(state, io, convId) {
  const c = S.conv(state, convId);
  if (c.loading || c.oldestSeq === null) return;
  loadHistory(state, io, convId, { before: c.oldestSeq });
}

/** After the first `contacts` on a connection: every conversation's recent history (the open one in full). */
export function loadAllHistory(state, io) {
  loadHistory(state, io, state.ui.active);
  for (const c of state.convs.values()) {
    if (c.id !== state.ui.active) loadHistory(state, io, c.id, { limit: 20 });
  }
}

export function selectConv(state, io, id) {
  state.ui.active = id;
  const c = S.conv(state, id);
  c.unread = 0;
  state.ui.sidebarOpen = false;
  io.focus('composer-input');
  if (c.loadedGen !== state.connection.generation) loadHistory(state, io, id);
}

export function sendText(state, io, text) {
  if (!text.trim()) return false;
  if (text.length > MAX_TEXT) {
    setError(state, 'composer-error', 'Messages are limited to 16,000 characters.');
    return false;
  }
  const action = { action: 'send_message', text };
  if (state.ui.active !== S.EVERYONE) action.to = state.ui.active;
  return send(state, io, action, 'composer-error') !== null;
}

// ---- peers ---------------------------------------------------------------------------------------

/** Dials `ip` and `portText` as typed in the form; returns the field to focus when they are not usable. */
export function connectAddress(state, io, ip, portText) {
  if (ip.startsWith('p2p-chat://')) {
    connectInvite(state, io, ip, 'connect-error');
    return null;
  }
  if (!ip) {
    setError(state, 'connect-error', 'Enter the other person’s IP address (for example 127.0.0.1).');
    return 'connect-ip';
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    setError(state, 'connect-error', 'Enter their P2P port, a number from 1 to 65535.');
    return 'connect-port';
  }
  if (send(state, io, { action: 'connect_peer', ip, port }, 'connect-error') !== null) setConnecting(state, io, true);
  return null;
}

// p2p-chat://<host>:<port>/<key>: host an IPv4 address, a [IPv6] literal or a DNS name; key 43
// characters of base64url (PROTOCOL.md §8.1).
const INVITE_RE = /^p2p-chat:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/([A-Za-z0-9_-]{43})\/?$/;

export function connectInvite(state, io, raw, errorTarget) {
  const invite = raw.trim();
  const match = INVITE_RE.exec(invite);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    setError(state, errorTarget, 'That is not a p2p-chat invite. It looks like p2p-chat://HOST:PORT/KEY.');
    return;
  }
  if (send(state, io, { action: 'connect_invite', invite }, errorTarget) !== null) setConnecting(state, io, true);
}

export function shareInvite(state, io) {
  state.ui.inviteWanted = send(state, io, { action: 'get_invite' }) !== null;
}

export function disconnectPeer(state, io, peerId) {
  send(state, io, { action: 'disconnect_peer', peer_id: peerId });
}

export function setName(state, io, name) {
  if (name.length > MAX_NAME) {
    setError(state, 'name-error', 'Names are limited to 64 characters.');
    return;
  }
  send(state, io, { action: 'set_name', name }, 'name-error');
}

export function openVerify(state, peerId) {
  state.ui.dialog = 'verify';
  state.ui.verifyPeer = peerId;
  setError(state, 'verify-error', '');
}

export function setVerified(state, io, verified) {
  const peerId = state.ui.dialog === 'verify' ? state.ui.verifyPeer : null;
  if (peerId) send(state, io, { action: 'set_verified', peer_id: peerId, verified }, 'verify-error');
}

export function resolveKeyChange(state, io, change, accept) {
  const action = { action: accept ? 'accept_key_change' : 'reject_key_change', change_id: change.changeId };
  if (send(state, io, action) === null) return;
  state.keyChanges.delete(String(change.changeId));
  state.ui.status = accept ? 'New key accepted; it is not verified yet.' : 'New key rejected.';
}

// ---- rooms ---------------------------------------------------------------------------------------

export function openRoomDialog(state) {
  state.ui.dialog = 'room';
  setError(state, 'room-error', '');
}

/** `values` from the room form: { name, members }. */
export function createRoom(state, io, { name, members }) {
  const problem = !name ? 'Give the room a name.'
    : [...name].length > MAX_NAME ? 'Room names are limited to 64 characters.'
      : members.length === 0 ? 'Choose at least one member.' : '';
  if (problem) setError(state, 'room-error', problem);
  else if (send(state, io, { action: 'create_room', name, members }, 'room-error') !== null) state.ui.roomRequested = true;
}
