// What the user (and the page on the user's behalf) asks of our peer: each command checks its
// input, sends one action (PROTOCOL.md §8, §8.1) and notes in the state what it waits for. The
// answers arrive as events (events.js). `io` is { send(action) -> req | null, later(ms), focus(id) }.

import * as S from './state.js';
import { activeReply } from './convo.js';

/** Where the daemon's `error` for an action goes when it carries no `req` we know. */
const ERROR_TARGET = {
  connect_peer: 'connect-error',
  send_message: 'composer-error',
  set_name: 'name-error',
  set_verified: 'verify-error',
  connect_invite: 'invite-error',
  create_room: 'room-error',
  change_room: 'room-error',
  set_nickname: 'rename-error',
};

/** The forms whose errors can be retried with the same dial. */
export const DIAL_FORMS = ['connect-error', 'invite-error', 'contact-error'];

/** How long the connect buttons wait: past the daemon's 10 s handshake deadline, in case no answer comes. */
export const CONNECT_WAIT_MS = 15000;
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
  if (!message && state.ui.failedDial === target) state.ui.failedDial = null;
}

/** The user moved on to another field: errors of the other forms no longer apply. */
export function clearOtherErrors(state, target) {
  for (const id of Object.keys(state.ui.errors)) if (id !== target) setError(state, id, '');
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

/** Messages per older page (the window of window.js holds four). */
const OLDER_PAGE = 50;

export function loadOlder(state, io, convId) {
  const c = S.conv(state, convId);
  if (c.loading || c.oldestSeq === null || !c.hasMore) return;
  loadHistory(state, io, convId, { before: c.oldestSeq, limit: OLDER_PAGE });
}

/**
 * After the first `contacts` on a connection (or a resync): every conversation's recent history
 * (the open one in full), each newest page replacing what the page held (window.js).
 */
export function loadAllHistory(state, io) {
  for (const c of state.convs.values()) c.stale = true;
  loadHistory(state, io, state.ui.active);
  for (const c of state.convs.values()) {
    if (c.id !== state.ui.active) loadHistory(state, io, c.id, { limit: 20 });
  }
}

export function selectConv(state, io, id) {
  if (state.ui.renaming !== id) state.ui.renaming = null;
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
    setError(state, 'composer-error', tooLongText(text.length));
    return false;
  }
  state.ui.pasteTooLong = false;
  const action = { action: 'send_message', text };
  const { active } = state.ui;
  // A message request's conversation is answered to its key: the reply accepts it.
  if (active.startsWith(S.REQUEST_CONV_PREFIX)) action.to = active.slice(S.REQUEST_CONV_PREFIX.length);
  else if (active !== S.EVERYONE) action.to = active;
  const reply = activeReply(state);
  if (reply) action.reply_to = { from: reply.from, id: reply.id };
  const sent = send(state, io, action, 'composer-error') !== null;
  if (sent) state.ui.reply = null;
  return sent;
}

export { MAX_TEXT };

function tooLongText(length) {
  return `This message has ${length.toLocaleString('en')} characters; the limit is ${MAX_TEXT.toLocaleString('en')}. Shorten it or send it in parts.`;
}

/**
 * A paste into the composer: refused as a whole (with a message) when the result would pass the
 * limit, so nothing is cut silently. Returns true when the paste may go ahead.
 */
export function checkPaste(state, currentLength, selectedLength, pastedLength) {
  const after = currentLength - selectedLength + pastedLength;
  if (after <= MAX_TEXT) {
    state.ui.pasteTooLong = false;
    return true;
  }
  state.ui.pasteTooLong = true;
  setError(state, 'composer-error', `That paste would make the message ${after.toLocaleString('en')} characters long; the limit is ${MAX_TEXT.toLocaleString('en')}. Nothing was pasted.`);
  return false;
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
  dialPeer(state, io, ip, port, 'connect-error');
  return null;
}

/**
 * Sends `connect_peer`, remembering it for Retry; a failure shows next to `form`. A contact's
 * dial names its key (`peerId`), so another key answering is never taken for them (PROTOCOL.md §8.3).
 */
function dialPeer(state, io, ip, port, form, peerId = null) {
  clearOtherErrors(state, form);
  state.ui.lastDial = { form, ip, port, peerId };
  state.ui.failedDial = null;
  const action = peerId ? { action: 'connect_peer', ip, port, peer_id: peerId } : { action: 'connect_peer', ip, port };
  if (send(state, io, action, form) !== null) setConnecting(state, io, true);
}

/** Dials a contact again at its last dialable address (the Connect button of an offline contact). */
export function connectContact(state, io, peerId) {
  const peer = state.peers.get(peerId);
  const target = S.splitAddress(peer?.lastAddress || (peer && !peer.online ? peer.address : ''));
  if (!target) {
    toast(state, io, `No address known for ${S.peerLabel(peer)}. Ask them for their address or an invite.`);
    return;
  }
  state.ui.contactDial = peerId;
  dialPeer(state, io, target.ip, target.port, 'contact-error', peerId);
}

/** Dials the last failed address or invite again (the Retry button next to its error). */
export function retryDial(state, io) {
  const dial = state.ui.lastDial;
  if (!dial) return;
  if (dial.invite) connectInvite(state, io, dial.invite, dial.form);
  else dialPeer(state, io, dial.ip, dial.port, dial.form, dial.peerId);
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
  clearOtherErrors(state, errorTarget);
  state.ui.lastDial = { form: errorTarget, invite };
  state.ui.failedDial = null;
  if (send(state, io, { action: 'connect_invite', invite }, errorTarget) !== null) setConnecting(state, io, true);
}

export function shareInvite(state, io) {
  state.ui.inviteWanted = send(state, io, { action: 'get_invite' }) !== null;
}

/** Asks our peer to find someone to introduce us to `peerId` (PROTOCOL.md §8.12). */
export function introduce(state, io, peerId) {
  if (send(state, io, { action: 'introduce', peer_id: peerId }) === null) return;
  state.ui.introducing.add(peerId);
}

export function disconnectPeer(state, io, peerId) {
  send(state, io, { action: 'disconnect_peer', peer_id: peerId });
}

export function setName(state, io, name) {
  if (name.length > MAX_NAME) {
    setError(state, 'name-error', 'Names are limited to 64 characters.');
    return;
  }
  clearOtherErrors(state, 'name-error');
  if (send(state, io, { action: 'set_name', name }, 'name-error') !== null) {
    state.ui.nameSaving = name;
    state.ui.nameSaved = 0;
  }
}

/** How long "Saved" stays next to the name. */
export const NAME_SAVED_MS = 4000;

/** Opens the nickname field of a contact (filled in by the view with the name shown now). */
export function openRename(state, io, peerId) {
  if (!state.peers.get(peerId)?.contact) return;
  state.ui.renaming = peerId;
  state.ui.renameSaved = null;
  setError(state, 'rename-error', '');
  io.focus('rename-input');
}

export function cancelRename(state, io) {
  if (state.ui.renaming === null) return;
  state.ui.renaming = null;
  setError(state, 'rename-error', '');
  io.focus('chat-rename');
}

/** Saves the nickname field: our local name for the contact, empty clears it (PROTOCOL.md §8.1, `set_nickname`). */
export function saveRename(state, io, value) {
  const peerId = state.ui.renaming;
  if (!peerId) return;
  const nickname = value.trim();
  if (nickname.length > MAX_NAME) {
    setError(state, 'rename-error', 'Names are limited to 64 characters.');
    return;
  }
  if (send(state, io, { action: 'set_nickname', peer_id: peerId, nickname: nickname || null }, 'rename-error') !== null) {
    state.ui.renamePending = peerId;
    state.ui.renaming = null;
    io.focus('chat-rename');
  }
}

/**
 * Applies `nickname_set`: the page that asked confirms it; every page warns when the nickname
 * looks like another contact's name (PROTOCOL.md §8.3).
 */
export function nicknameSet(state, io, event) {
  const peerId = S.str(event.peer_id);
  const peer = state.peers.get(peerId);
  if (!peer) return;
  const nickname = S.str(event.nickname).trim();
  peer.nickname = nickname;
  if (nickname) peer.name = nickname;
  if (state.ui.renamePending === peerId) {
    state.ui.renamePending = null;
    state.ui.renameSaved = {
      peerId,
      text: nickname ? `Saved: you see them as “${nickname}”` : 'Nickname removed: you see the name they chose',
      until: Date.now() + NAME_SAVED_MS,
    };
    io.later(NAME_SAVED_MS);
  }
  const alike = Array.isArray(event.confusable_with)
    ? event.confusable_with.filter((id) => typeof id === 'string' && id !== peerId) : [];
  state.ui.renameWarning = nickname && alike.length ? {
    peerId,
    text: `“${nickname}” looks like the name of ${alike.map((id) => `${S.peerLabel(state.peers.get(id))} (another contact)`).join(', ')}. `
      + 'Two contacts whose names look alike are easy to mix up: check the safety number before you trust a message.',
  } : null;
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
  state.ui.roomEditing = null;
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

/** Opens the room dialog on the members (and name) of a room we created. */
export function openRoomMembers(state, roomId) {
  if (!S.canChangeRoom(state, state.rooms.get(roomId))) return;
  state.ui.roomEditing = roomId;
  state.ui.dialog = 'room';
  setError(state, 'room-error', '');
}

/**
 * The room form's Save, for a room we created: `change_room` with what differs from the room as
 * we know it (the peer answers with `room_change` and `room`; nothing differing sends nothing).
 */
export function changeRoom(state, io, roomId, { name, members }) {
  const room = state.rooms.get(roomId);
  if (!S.canChangeRoom(state, room)) return;
  const own = state.info.public_key;
  const wanted = new Set([...members, own]);
  const add = [...wanted].filter((k) => !room.members.includes(k));
  const remove = room.members.filter((k) => !wanted.has(k));
  const problem = !name ? 'Give the room a name.'
    : [...name].length > MAX_NAME ? 'Room names are limited to 64 characters.' : '';
  if (problem) { setError(state, 'room-error', problem); return; }
  const action = { action: 'change_room', room: roomId, add, remove };
  if (name !== room.name) action.name = name;
  if (add.length === 0 && remove.length === 0 && action.name === undefined) {
    state.ui.dialog = null;
    state.ui.roomEditing = null;
    return;
  }
  send(state, io, action, 'room-error');
}
