// Typing indicators and read receipts (PROTOCOL.md §8.10): both off until the user turns them on,
// for everyone (the sidebar's "Typing and read receipts") or per contact (the chat header). Our peer
// keeps the settings and decides what goes on the wire; the page says what the user does —
// typing (`typing`, once a second until 3 s after the last key, then a stop; a stop also when the
// message goes) and what the user has seen (`mark_read`, only while the chat is open in a visible tab,
// naming the newest message shown) — and shows what comes back: "Bob is typing…" under the
// messages, and two ticks in another colour once a message was read.

import { $, el } from './dom.js';
import * as S from './state.js';
import { send } from './commands.js';

/** How often the page tells its peer the user is still typing. */
export const TYPING_REPEAT_MS = 1000;
/** Without a key for this long, typing has stopped. */
export const TYPING_IDLE_MS = 3000;

function settings(state) {
  state.indicators ??= { typing: false, readReceipts: false, contacts: new Map(), known: false };
  return state.indicators;
}

function typingMap(state) {
  state.typing ??= new Map(); // convId -> Set of peer_ids typing there
  return state.typing;
}

function flag(value) {
  return typeof value === 'boolean' ? value : null;
}

/** Applies `indicators`: both global settings and the contacts' overrides. */
export function applyIndicators(state, event) {
  const s = settings(state);
  s.typing = event.typing === true;
  s.readReceipts = event.read_receipts === true;
  s.known = true;
  s.contacts = new Map();
  if (event.contacts && typeof event.contacts === 'object') {
    for (const [peerId, o] of Object.entries(event.contacts)) {
      if (o && typeof o === 'object') s.contacts.set(peerId, { typing: flag(o.typing), readReceipts: flag(o.read_receipts) });
    }
  }
}

/** A contact's override of `which` ('typing' or 'readReceipts'): true, false or null (as everyone). */
export function overrideOf(state, which, peerId) {
  return settings(state).contacts.get(peerId)?.[which] ?? null;
}

/** Whether `which` is on with `peerId`: its override, else the global setting. */
export function isOn(state, which, peerId) {
  return overrideOf(state, which, peerId) ?? settings(state)[which];
}

/** Applies `typing`: who is typing where (one event per change). */
export function applyTyping(state, event) {
  const convId = S.str(event.conversation);
  const peerId = S.str(event.peer_id);
  if (!convId || !peerId) return;
  const map = typingMap(state);
  const who = map.get(convId) ?? new Set();
  if (event.active === true) who.add(peerId);
  else who.delete(peerId);
  if (who.size) map.set(convId, who);
  else map.delete(convId);
}

/** A message of theirs arrived: they are no longer typing there (the peer says so too). */
export function noteMessage(state, event) {
  const convId = S.str(event.conversation);
  typingMap(state).get(convId)?.delete(S.str(event.peer_id));
}

/** Our peer's connection ended: nobody is known to be typing. */
export function clearTyping(state) {
  typingMap(state).clear();
}

/** "Bob is typing…", "Bob and Carol are typing…", "3 people are typing…", or ''. */
export function typingText(state, convId) {
  const who = [...(typingMap(state).get(convId) ?? [])];
  if (!who.length) return '';
  const room = state.rooms.get(convId);
  const names = who.map((key) => (room ? S.memberLabel(state, key, room) : S.peerLabel(state.peers.get(key)))).sort();
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

/**
 * Applies `read`: our messages in that conversation, up to and including message `id`, were read by
 * `peer_id`. A message not shown yet gets it with its history (`read_by`).
 */
export function applyRead(state, event) {
  const c = state.convs.get(S.str(event.conversation));
  const peerId = S.str(event.peer_id);
  if (!c || !peerId) return;
  const upto = c.messages.findIndex((m) => m.mine && m.id === event.id);
  if (upto < 0) return;
  for (const m of c.messages.slice(0, upto + 1)) {
    if (!m.mine || m.change) continue;
    m.readBy ??= new Set();
    m.readBy.add(peerId);
  }
}

/** `read_by` of a history entry, merged into `message`. */
export function takeReadBy(message, list) {
  if (!Array.isArray(list)) return;
  for (const key of list) {
    if (typeof key !== 'string' || !key) continue;
    message.readBy ??= new Set();
    message.readBy.add(key);
  }
}

/**
 * How far our `message` was read: { read, total, by } (room members who read it of all it went to;
 * in a chat 0 or 1 of 1; `by` the readers shown), or null for messages that are not ours or go to
 * everyone.
 */
export function readCounts(state, message) {
  if (!message.mine || message.change || message.conv === S.EVERYONE) return null;
  // Reciprocal: with read receipts off for someone, what they read is not shown either.
  const readBy = new Set([...(message.readBy ?? [])].filter((key) => isOn(state, 'readReceipts', key)));
  if (message.members && message.members.size) {
    let read = 0;
    for (const key of message.members.keys()) if (readBy.has(key)) read += 1;
    return { read, total: message.members.size, by: readBy };
  }
  if (S.isRoom(message.conv)) return null;
  return { read: readBy.has(message.conv) ? 1 : 0, total: 1, by: readBy };
}

/** Whether typing and receipts apply to a conversation: a contact's chat or a room we are in. */
function hasIndicators(state, convId) {
  if (!convId || convId === S.EVERYONE || convId.startsWith(S.REQUEST_CONV_PREFIX)) return false;
  const room = state.rooms.get(convId);
  if (room) return room.member !== false;
  return state.peers.get(convId)?.contact === true;
}

// ---- what the page tells its peer ---------------------------------------------------------------

/** The composer's text changed: typing (repeated at most every TYPING_REPEAT_MS) or stopped. */
export function typingInput(state, io, text, now = Date.now()) {
  const convId = state.ui.active;
  const out = state.ui.typingOut;
  if (out && out.conv !== convId) typingStop(state, io);
  if (!text.trim() || !hasIndicators(state, convId)) {
    typingStop(state, io);
    return;
  }
  const current = state.ui.typingOut ?? { conv: convId, sentAt: 0, inputAt: 0 };
  current.inputAt = now;
  if (now - current.sentAt >= TYPING_REPEAT_MS) {
    if (io.send({ action: 'typing', conversation: convId, active: true }) === null) return;
    current.sentAt = now;
  }
  state.ui.typingOut = current;
}

/**
 * Called every TYPING_REPEAT_MS while typing: "still typing" again (our peer sends it on when its
 * own window allows), or stopped once no key came for TYPING_IDLE_MS. Returns whether to call
 * it again.
 */
export function typingTick(state, io, now = Date.now()) {
  const out = state.ui.typingOut;
  if (!out) return false;
  if (now - out.inputAt >= TYPING_IDLE_MS || out.conv !== state.ui.active) {
    typingStop(state, io);
    return false;
  }
  if (now - out.sentAt >= TYPING_REPEAT_MS && io.send({ action: 'typing', conversation: out.conv, active: true }) !== null) {
    out.sentAt = now;
  }
  return true;
}

/** The message went, the box was emptied or another chat was opened: typing stopped. */
export function typingStop(state, io) {
  const out = state.ui.typingOut;
  if (!out) return;
  state.ui.typingOut = null;
  io.send({ action: 'typing', conversation: out.conv, active: false });
}

/**
 * While the open chat is on screen in a visible tab, tells our peer how far it has been seen:
 * `onScreen` is { from, id } of the newest message whose row is in view (the page scrolled up
 * shows older ones only), or null. Names the newest message of others up to there, once; the
 * peer sends the receipts this allows. Returns whether it told it.
 */
export function markRead(state, io, visible, onScreen) {
  if (!visible || !onScreen || state.connection.kind !== 'open' || S.isFresh(state)) return false;
  const convId = state.ui.active;
  const c = state.convs.get(convId);
  if (!c || c.hasNewer || !hasIndicators(state, convId)) return false;
  const upto = c.messages.findIndex((m) => !m.change && m.id === onScreen.id && (m.mine ? 'me' : m.from) === onScreen.from);
  if (upto < 0) return false;
  let at = upto;
  while (at >= 0 && (c.messages[at].change || c.messages[at].mine)) at -= 1;
  if (at < 0) return false;
  const newest = c.messages[at];
  // Only forward: scrolling back up to older messages says nothing new.
  state.ui.readMarks ??= new Map();
  const told = state.ui.readMarks.get(convId);
  if (told && c.messages.indexOf(told) >= at) return false;
  if (io.send({ action: 'mark_read', conversation: convId, from: newest.from, id: newest.id }) === null) return false;
  state.ui.readMarks.set(convId, newest);
  return true;
}

/** A new connection to our peer: what was marked read is said again (it ignores what it has). */
export function connectionOpened(state) {
  state.ui.readMarks = new Map();
  state.ui.typingOut = null;
  clearTyping(state);
}

/** The sidebar's switches: the global settings. */
export function setGlobal(state, io, which, on) {
  const field = which === 'typing' ? 'typing' : 'read_receipts';
  if (send(state, io, { action: 'set_indicators', [field]: on === true }) === null) return;
  // Shown at once; the peer's `indicators` confirms it (or puts it back).
  settings(state)[which] = on === true;
}

/** The chat header's choices: 'default' (as everyone), 'on' or 'off' for the open contact. */
export function setContact(state, io, peerId, which, choice) {
  const field = which === 'typing' ? 'typing' : 'read_receipts';
  const value = choice === 'on' ? true : choice === 'off' ? false : null;
  if (send(state, io, { action: 'set_indicators', peer_id: peerId, [field]: value }) === null) return;
  const contacts = settings(state).contacts;
  const o = { typing: null, readReceipts: null, ...contacts.get(peerId), [which]: value };
  contacts.set(peerId, o);
}

// ---- drawing -------------------------------------------------------------------------------------

const CHOICES = [['default', 'As for everyone'], ['on', 'On'], ['off', 'Off']];

/** Fills the header's two selects once; `onChange(which, choice)` runs when the user picks one. */
export function wireIndicators(onGlobal, onContact) {
  for (const [id, which] of [['chat-typing-setting', 'typing'], ['chat-receipts-setting', 'readReceipts']]) {
    const select = $(id);
    select.replaceChildren(...CHOICES.map(([value, label]) => el('option', { text: label, attrs: { value } })));
    select.addEventListener('change', () => onContact(which, select.value));
  }
  $('indicators-typing').addEventListener('change', (e) => onGlobal('typing', e.currentTarget.checked));
  $('indicators-receipts').addEventListener('change', (e) => onGlobal('readReceipts', e.currentTarget.checked));
}

/** The typing line of the open chat, the global switches and the open contact's choices. */
export function renderIndicators(state) {
  const s = settings(state);
  const convId = state.ui.active;
  const line = $('typing-line');
  const text = hasIndicators(state, convId) ? typingText(state, convId) : '';
  if (line.textContent !== text) line.textContent = text;
  line.classList.toggle('typing-on', Boolean(text));
  $('indicators-typing').checked = s.typing;
  $('indicators-receipts').checked = s.readReceipts;
  const peer = state.peers.get(convId);
  const contact = !state.rooms.has(convId) && peer?.contact === true && hasIndicators(state, convId);
  const box = $('chat-indicators');
  box.hidden = !contact;
  if (!contact) return;
  const everyone = (on) => `As for everyone (${on ? 'on' : 'off'})`;
  for (const [id, which] of [['chat-typing-setting', 'typing'], ['chat-receipts-setting', 'readReceipts']]) {
    const select = $(id);
    select.options[0].textContent = everyone(s[which]);
    const o = overrideOf(state, which, convId);
    if (document.activeElement !== select) select.value = o === null ? 'default' : o ? 'on' : 'off';
  }
  const typingOn = isOn(state, 'typing', convId);
  const readOn = isOn(state, 'readReceipts', convId);
  $('chat-indicators-state').textContent = `With ${S.peerLabel(peer)}: typing indicators ${typingOn ? 'on' : 'off'}, read receipts ${readOn ? 'on' : 'off'}.`;
}
