// Disappearing messages (PROTOCOL.md §8.8): the timer of each conversation, the control in the
// chat header that sets it (Off, 5 minutes, 1 hour, 1 day, 1 week), the small indicator next to
// the title, and the line in the timeline ("Alice set disappearing messages to 1 hour").
// The timer is a courtesy between honest peers: the page says so where it is set.

import { $ } from './dom.js';
import * as S from './state.js';
import { send } from './commands.js';

/** The choices of the header control, in seconds (the peer accepts exactly these). */
export const TIMER_CHOICES = [
  [0, 'Off'],
  [300, '5 minutes'],
  [3600, '1 hour'],
  [86400, '1 day'],
  [604800, '1 week'],
];

/** Words for a timer length: the preset's name, else the largest whole unit. */
export function timerWords(seconds) {
  const preset = TIMER_CHOICES.find(([s]) => s === seconds);
  if (preset) return preset[1].toLowerCase();
  const units = [[604800, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  const [size, unit] = units.find(([u]) => seconds % u === 0 && seconds >= u) ?? [1, 'second'];
  const n = seconds / size;
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function timers(state) {
  state.timers ??= new Map();
  return state.timers;
}

/** The open conversation's timer in seconds (0 = off); null where there is none. */
export function timerOf(state, convId) {
  if (!convId || convId === S.EVERYONE || convId.startsWith(S.REQUEST_CONV_PREFIX)) return null;
  return timers(state).get(convId) ?? 0;
}

function remember(state, convId, seconds) {
  if (typeof convId === 'string' && convId && Number.isSafeInteger(seconds) && seconds >= 0) {
    timers(state).set(convId, seconds);
  }
}

/** A timer setting as a timeline item (like a room change: a line, not a bubble). */
function timerItem(convId, entry, seq) {
  const seconds = Number(entry.seconds) || 0;
  const at = Number(entry.set_at) || Date.now();
  const by = S.str(entry.by);
  return {
    id: `timer|${at}|${by}|${seconds}`,
    mine: false,
    from: 'timer',
    name: '',
    text: '',
    sentAt: at,
    at,
    seq,
    recipients: [],
    state: null,
    conv: convId,
    change: { timer: true, by, seconds },
  };
}

/** "You turned off disappearing messages" / "Alice set disappearing messages to 1 hour". */
export function timerText(state, change, convId = null) {
  const own = state.info?.public_key;
  const mine = change.by === 'me' || change.by === own;
  // In a room, a member we never met is named as the room's creator named it.
  const room = convId ? state.rooms.get(convId) : null;
  const who = mine ? 'You' : room ? S.memberLabel(state, change.by, room) : S.peerLabel(state.peers.get(change.by));
  return change.seconds === 0
    ? `${who} turned off disappearing messages`
    : `${who} set disappearing messages to ${timerWords(change.seconds)}`;
}

/** Applies a `timer` event: the new setting, and its line in the timeline. */
export function applyTimer(state, event) {
  const convId = S.str(event.conversation);
  const seconds = Number(event.seconds);
  if (!convId || !Number.isSafeInteger(seconds)) return;
  remember(state, convId, seconds);
  S.addMessage(state, convId, timerItem(convId, event, null));
}

/** Takes the setting and the timer lines of a `history` page (before S.applyHistory). */
export function applyHistoryTimers(state, event) {
  const convId = S.str(event.conversation);
  if (!convId || !Array.isArray(event.messages)) return;
  if (Number.isSafeInteger(event.timer)) remember(state, convId, event.timer);
  for (const m of event.messages) {
    if (!m || m.kind !== 'timer') continue;
    const item = timerItem(convId, m, Number.isSafeInteger(m.seq) ? m.seq : null);
    const existing = state.byKey.get(S.messageKey(item));
    if (existing) existing.seq = item.seq;
    else S.addMessage(state, convId, item);
  }
}

/** Takes each contact's timer from a `contacts` listing. */
export function applyContactsTimers(state, event) {
  if (!Array.isArray(event.contacts)) return;
  for (const c of event.contacts) remember(state, c?.peer_id, c?.timer);
}

/** Takes a room's timer from its `room` event. */
export function applyRoomTimer(state, event) {
  remember(state, S.str(event.id), event.timer);
}

/** The header control chose `seconds` for the open conversation. */
export function setTimer(state, io, convId, seconds) {
  if (timerOf(state, convId) === null || !TIMER_CHOICES.some(([s]) => s === seconds)) return;
  send(state, io, { action: 'set_timer', conversation: convId, seconds });
}

/** Fills the header's select once and calls `onChange(seconds)` when the user picks one. */
export function wireTimer(onChange) {
  const select = $('chat-timer');
  select.replaceChildren(...TIMER_CHOICES.map(([seconds, label]) => {
    const option = document.createElement('option');
    option.value = String(seconds);
    option.textContent = label;
    return option;
  }));
  select.addEventListener('change', () => onChange(Number(select.value)));
}

/** Shows the control and the indicator for the open conversation (hidden where there is no timer). */
export function renderTimer(state) {
  const convId = state.ui.active;
  const seconds = timerOf(state, convId);
  const room = state.rooms.get(convId);
  const usable = seconds !== null && !(room && !room.member);
  const wrap = $('chat-timer-wrap');
  const badge = $('chat-timer-badge');
  wrap.hidden = !usable;
  const select = $('chat-timer');
  if (usable && document.activeElement !== select) select.value = String(seconds);
  const on = usable && seconds > 0;
  badge.hidden = !on;
  badge.textContent = on ? `Disappearing messages: ${timerWords(seconds)}` : '';
  badge.title = on
    ? `New messages disappear ${timerWords(seconds)} after they arrive, on both sides. A modified app can still keep them.`
    : '';
  badge.dataset.seconds = on ? String(seconds) : '0';
}
