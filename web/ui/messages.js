// The message list of the open conversation, drawn from the state. It remembers which rows are on
// screen (here, never on the messages themselves) so that a redraw only appends what is new (the
// list is aria-live: each addition is announced once), swaps ticks that changed, and rebuilds the
// list only when the conversation or the order changed.

import { $, el, clockTime, fullTime, hueClass, icon } from './dom.js';
import {
  EVERYONE, REQUEST_CONV_PREFIX, peerLabel, isRoom, isGroup, messageKey, roomChangeText, convTitle, memberCounts, memberLabel,
  waitingReason,
} from './state.js';
import { avatar } from './views.js';
import * as crypto from './crypto.js';
import { linkified } from './links.js';
import { QUICK_REACTIONS, reactionGroups } from './convo.js';
import { timerText } from './timer.js';
import { readCounts } from './indicators.js';
import { fileCard, fileSignature } from './files.js';

/** A timeline line's words: a room change, or a disappearing-message timer setting. */
function changeText(state, message) {
  return message.change.timer ? timerText(state, message.change, message.conv) : roomChangeText(state, message.change, message.conv);
}

const TICK = 'M1.5 8.5 5 12l7.5-8';
const STROKE = { fill: 'none', stroke: 'currentColor', 'stroke-linecap': 'round' };
const DELIVERY_ICONS = {
  queued: () => icon('tick-icon', '0 0 16 16', [
    ['circle', { cx: 8, cy: 8, r: 6, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }],
    ['path', { d: 'M8 4.5V8l2.4 1.6', ...STROKE, 'stroke-width': 1.6 }],
  ]),
  sent: () => icon('tick-icon', '0 0 16 16', [
    ['path', { d: TICK, ...STROKE, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }],
  ]),
  delivered: () => icon('tick-icon tick-icon-double', '0 0 22 16', [
    ['path', { d: TICK, ...STROKE, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }],
    ['path', { d: 'M8.5 11 9.5 12l7.5-8', ...STROKE, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }],
  ]),
  // Read receipts (PROTOCOL.md §8.10): the same two ticks, drawn bolder and in another colour.
  read: () => icon('tick-icon tick-icon-double', '0 0 22 16', [
    ['path', { d: TICK, ...STROKE, 'stroke-width': 2.2, 'stroke-linejoin': 'round' }],
    ['path', { d: 'M8.5 11 9.5 12l7.5-8', ...STROKE, 'stroke-width': 2.2, 'stroke-linejoin': 'round' }],
  ]),
};
const TICK_LABEL = { queued: 'Queued', sent: 'Sent', delivered: 'Delivered', read: 'Read' };

/** What our message's mark shows: its delivery state, or 'read' once every recipient read it. */
function shownState(state, message) {
  const read = readCounts(state, message);
  return read && read.read === read.total ? 'read' : message.state;
}

/** The legend under the conversation: what the clock, one tick and two ticks mean. */
export function fillTickLegend(node) {
  const items = [
    ['queued', 'queued, goes out when they are online'],
    ['sent', 'sent'],
    ['delivered', 'delivered (stored on their computer)'],
    ['read', 'read (with read receipts on)'],
  ];
  node.replaceChildren(...items.map(([state, text]) => el('span', { class: 'legend-item', attrs: { 'data-state': state } },
    el('span', { class: `tick tick-${state}`, attrs: { 'aria-hidden': 'true' } }, DELIVERY_ICONS[state]()),
    el('span', { text }))));
}

/** Who a message in this conversation goes to, for tooltips. */
function audience(state, convId) {
  if (convId === EVERYONE) return 'everyone';
  if (isRoom(convId)) return 'every member';
  return peerLabel(state.peers.get(convId));
}

function tickTitle(deliveryState, who) {
  if (deliveryState === 'queued') {
    return `Queued: stored, goes out when ${who === 'everyone' || who === 'every member' ? 'members are' : `${who} is`} online`;
  }
  // A room message whose members' states are unknown (an older peer): one tick says only that
  // someone got it.
  if (who === 'every member') return deliveryState === 'sent' ? 'Sent to at least one member; not yet confirmed by all' : 'Delivered to every member';
  return deliveryState === 'sent' ? `Sent to ${who}; not yet confirmed` : `Delivered to ${who}`;
}

/**
 * Our room message, member by member (PROTOCOL.md §8.1): who has it and, for each who does not,
 * why it waits. Null for other messages.
 */
function memberLines(state, message) {
  const counts = memberCounts(message);
  if (!counts) return null;
  const room = state.rooms.get(message.conv);
  const byName = (a, b) => memberLabel(state, a[0], room).localeCompare(memberLabel(state, b[0], room));
  const entries = [...message.members.entries()].sort(byName);
  const readBy = readCounts(state, message)?.by ?? new Set();
  // A member who read it has it, whatever its delivery state says yet (the `ack` may come later).
  const has = ([k, v]) => v === 'delivered' || readBy.has(k);
  const have = entries.filter(has).map(([k]) => ({
    key: k, state: 'delivered', read: readBy.has(k), text: `${memberLabel(state, k, room)}: ${readBy.has(k) ? 'has read it' : 'has it'}`,
  }));
  const waiting = entries.filter((e) => !has(e)).map(([k, v]) => ({ key: k, state: v, read: false, text: waitingReason(state, room, k, v) }));
  const read = readCounts(state, message);
  const readText = read?.read ? `, read by ${read.read} of ${read.total}` : '';
  return { counts, read, lines: [...have, ...waiting], summary: `delivered to ${counts.delivered} of ${counts.total}${readText}` };
}

/** What a tick shows; a row's tick is redrawn when this changes. */
function tickSignature(state, message) {
  if (!message.state) return '';
  const members = memberLines(state, message);
  return `${shownState(state, message)}|${audience(state, message.conv)}|${members ? members.summary + members.lines.map((l) => l.text).join('\n') : ''}`;
}

/** What a row shows that can change after it is drawn: a tick, or a room change's words. */
function rowSignature(state, message) {
  return message.change ? changeText(state, message) : tickSignature(state, message);
}

function roomTickTitle(members) {
  const { delivered, total } = members.counts;
  const waiting = members.lines.filter((l) => l.state !== 'delivered').map((l) => l.text);
  const readBy = members.read?.read ?? 0;
  const head = readBy === total ? `Read by all ${total} members`
    : `${delivered === total ? `Delivered to all ${total} members` : `Delivered to ${delivered} of ${total} members`}${readBy ? `, read by ${readBy}` : ''}`;
  return waiting.length ? `${head}. Waiting: ${waiting.join('; ')}` : head;
}

/** What a row's reactions, quote and text show; the row is redrawn whole when this changes. */
function lookSignature(message, state) {
  const reactions = [...(message.reactions ?? [])].map(([by, emoji]) => `${by}=${emoji}`).join(',');
  const quote = message.replyTo ? `${message.replyTo.id}:${message.replyTo.text ?? ''}` : '';
  const file = state && message.file ? fileSignature(state, message) : '';
  return `${reactions}|${quote}|${message.unsent ? 'unsent' : `${message.editedAt ?? ''}:${message.text}`}|${file}`;
}

/** The tick(s) after one of our messages: queued (clock), sent (one tick), delivered (two). */
function deliveryMark(state, message) {
  if (!message.state) return el('span', { class: 'tick-none' }); // an unknown state: nothing to show
  const members = memberLines(state, message);
  const shown = shownState(state, message);
  const who = audience(state, message.conv);
  return el('span', {
    class: `tick tick-${shown}`,
    attrs: {
      role: 'img',
      'aria-label': members ? `${TICK_LABEL[shown]}, ${members.summary}` : TICK_LABEL[shown],
      title: members ? roomTickTitle(members) : shown === 'read' ? `Read by ${who}` : tickTitle(shown, who),
      'data-state': shown,
    },
  }, DELIVERY_ICONS[shown]());
}

/**
 * Under our room message: "delivered to 1 of 2", which opens the list of members — who has it,
 * who waits and why. Keeps `open` from the node it replaces. An empty span for other messages.
 */
function membersDetail(state, message, wasOpen = false) {
  const members = memberLines(state, message);
  if (!members) return el('span', { class: 'msg-members-none' });
  const { delivered, total } = members.counts;
  return el('details', {
    class: 'msg-members',
    attrs: { open: wasOpen, 'data-delivered': delivered, 'data-total': total, 'data-read': members.read?.read ?? 0 },
  },
  el('summary', { text: members.summary }),
  el('ul', { class: 'msg-members-list' }, ...members.lines.map((line) => el('li', {
    text: line.text,
    attrs: { 'data-peer': line.key, 'data-state': line.state, 'data-read': line.read ? 'true' : false },
  }))));
}

/** The button that deletes a message on this device only (PROTOCOL.md §8.5). */
function deleteButton(message, onDeleteMessage) {
  if (!onDeleteMessage) return null;
  return el('button', {
    class: 'msg-delete', text: 'Delete',
    attrs: { type: 'button', 'aria-label': 'Delete this message on this device only', title: 'Delete on this device only' },
    on: { click: () => onDeleteMessage(message) },
  });
}

/** Who `by` ("me" or a peer_id) is, in words. */
function whoIs(state, by) {
  return by === 'me' ? 'you' : peerLabel(state.peers.get(by));
}

/** The quoted message above a reply: its sender and text as our own peer stored them. */
function quoteBlock(state, message) {
  const quote = message.replyTo;
  if (!quote) return null;
  const name = quote.from === 'me' ? 'You' : (quote.name || peerLabel(state.peers.get(quote.from)));
  const text = quote.text ?? 'Original message not available';
  return el('blockquote', {
    class: `msg-quote${quote.text === null ? ' msg-quote-missing' : ''}`,
    attrs: { 'data-quote-id': quote.id, 'aria-label': `In reply to ${name}` },
  },
  el('span', { class: 'msg-quote-name', text: name }),
  el('span', { class: 'msg-quote-text', text: [...text].length > 200 ? `${[...text].slice(0, 200).join('')}…` : text }));
}

/** The reactions under a message: one button per emoji with its count; pressing toggles ours. */
function reactionBar(state, message, onReact) {
  const groups = reactionGroups(message);
  if (groups.length === 0) return null;
  return el('div', { class: 'msg-reactions', attrs: { role: 'group', 'aria-label': 'Reactions' } },
    ...groups.map((g) => {
      const names = g.by.map((by) => whoIs(state, by)).join(', ');
      return el('button', {
        class: `reaction-chip${g.mine ? ' reaction-mine' : ''}`,
        attrs: {
          type: 'button', 'aria-pressed': g.mine ? 'true' : 'false', 'data-emoji': g.emoji,
          'aria-label': `${g.emoji} ${g.by.length}: ${names}. ${g.mine ? 'Press to take back your reaction' : `Press to react with ${g.emoji}`}`,
          title: names, disabled: !onReact,
        },
        on: { click: () => onReact?.(message, g.emoji) },
      }, el('span', { text: g.emoji, attrs: { 'aria-hidden': 'true' } }), el('span', { class: 'reaction-count', text: String(g.by.length), attrs: { 'aria-hidden': 'true' } }));
    }));
}

/** Reply and React buttons; the picker opens under the message (DOM-only state, per row). */
function actionButtons(message, handlers) {
  const { onReply, onReact, onEdit, onUnsend } = handlers;
  if (message.unsent || (!onReply && !onReact)) return null;
  const own = message.mine && onEdit ? [
    el('button', {
      class: 'msg-action msg-edit', text: 'Edit',
      attrs: { type: 'button', 'aria-label': 'Edit this message (↑ in an empty message box edits your last one)' },
      on: { click: () => onEdit(message) },
    }),
    el('button', {
      class: 'msg-action msg-unsend', text: 'Delete for everyone',
      attrs: { type: 'button', 'aria-label': 'Delete this message for everyone' },
      on: { click: () => onUnsend(message) },
    }),
  ] : [];
  const picker = onReact ? el('div', {
    class: 'reaction-picker', attrs: { role: 'group', 'aria-label': 'Pick a reaction', hidden: true },
  }, ...QUICK_REACTIONS.map((emoji) => el('button', {
    class: 'reaction-pick', text: emoji,
    attrs: { type: 'button', 'aria-label': `React with ${emoji}`, 'data-emoji': emoji },
    on: { click: (e) => { e.currentTarget.parentElement.hidden = true; onReact(message, emoji); } },
  }))) : null;
  const reactBtn = onReact ? el('button', {
    class: 'msg-action msg-react', text: 'React',
    attrs: { type: 'button', 'aria-label': 'React to this message', 'aria-expanded': 'false' },
    on: {
      click: (e) => {
        picker.hidden = !picker.hidden;
        e.currentTarget.setAttribute('aria-expanded', String(!picker.hidden));
        if (!picker.hidden) picker.querySelector('button')?.focus();
      },
    },
  }) : null;
  const replyBtn = onReply ? el('button', {
    class: 'msg-action msg-reply', text: 'Reply',
    attrs: { type: 'button', 'aria-label': 'Reply to this message' },
    on: { click: () => onReply(message) },
  }) : null;
  return el('span', { class: 'msg-actions' }, replyBtn, reactBtn, ...own, picker);
}

/** One message row; `runStart`: a new sender or a pause, which gets space and, in groups, a name. */
function messageItem(state, message, runStart, handlers = {}) {
  const onDeleteMessage = handlers.onDeleteMessage;
  if (message.change) {
    // A change of the room by its creator: a line in the timeline, not a bubble.
    return el('li', { class: 'msg-change', attrs: { 'data-id': message.id, 'data-kind': message.change.timer ? 'timer' : 'room_change' } },
      el('span', { text: changeText(state, message) }), ' ',
      el('time', { text: clockTime(message.at), attrs: { datetime: new Date(message.at).toISOString(), title: fullTime(message.at) } }));
  }
  const inGroupChat = isGroup(message.conv);
  const showName = runStart && inGroupChat && !message.mine;
  const peer = message.mine ? null : state.peers.get(message.from);
  const name = message.name || peerLabel(peer);
  const meta = el('span', { class: 'msg-meta' },
    el('time', { text: clockTime(message.at), attrs: { datetime: new Date(message.at).toISOString(), title: fullTime(message.at) } }),
    message.editedAt && !message.unsent ? el('span', { class: 'msg-edited', text: ' · edited', attrs: { title: `Edited ${fullTime(message.editedAt)}` } }) : null,
    message.mine ? deliveryMark(state, message) : null,
    actionButtons(message, handlers),
    deleteButton(message, onDeleteMessage));
  const group = runStart ? ' msg-first' : '';
  return el('li', {
    class: `msg ${message.mine ? 'msg-mine' : 'msg-theirs'}${group}${inGroupChat ? ' msg-group' : ''}`,
    attrs: {
      'data-mine': message.mine ? 'true' : 'false', 'data-id': message.id, 'data-seq': message.seq ?? null,
      'data-from': message.mine ? 'me' : message.from,
    },
  },
  showName ? avatar(message.name, message.from, 'avatar-small msg-avatar') : null,
  el('div', { class: 'bubble' },
    showName ? el('span', { class: 'msg-sender' },
      el('span', { class: `msg-name ${hueClass(message.from)}`, text: name }), ' ', senderTag(peer, message.from)) : null,
    message.unsent ? null : quoteBlock(state, message),
    el('span', { class: 'visually-hidden', text: message.mine ? 'You said: ' : `${name} said: ` }),
    message.unsent
      ? el('p', { class: 'msg-text msg-unsent', text: message.mine ? 'You deleted this message for everyone' : 'This message was deleted' })
      : message.file && handlers.io
        ? fileCard(state, handlers.io, message, handlers.onFileControl)
        : el('p', { class: 'msg-text' }, ...linkified(message.text)),
    reactionBar(state, message, handlers.onReact),
    meta,
    message.mine ? membersDetail(state, message) : null));
}

/**
 * In a group a name is only what the sender claims (PROTOCOL.md §8.3): a verified mark, or else
 * the first ten digits of the sender's fingerprint (computed here), goes with it.
 */
function senderTag(peer, key) {
  if (peer?.verified) return el('span', { class: 'msg-fp msg-fp-verified', text: '✓ verified', attrs: { title: 'You verified this key' } });
  let fp = peer?.check?.localFp || '';
  if (!fp && crypto.wasmReady()) {
    try {
      fp = crypto.fingerprint(key);
    } catch {
      fp = '';
    }
  }
  const short = crypto.groups(fp).slice(0, 2).join(' ');
  return short ? el('span', { class: 'msg-fp', text: short, attrs: { title: `Fingerprint ${fp} (not verified)` } }) : null;
}

/** Replies and reactions need a conversation we can still write to (not a room we left). */
function canWrite(state, convId) {
  if (convId.startsWith('request:')) return false;
  const room = state.rooms.get(convId);
  return !room || room.member !== false;
}

function startsRun(messages, index) {
  const prev = messages[index - 1];
  const cur = messages[index];
  return !prev || prev.from !== cur.from || cur.at - prev.at > 5 * 60 * 1000;
}

function emptyText(state, id) {
  if (id === EVERYONE) return 'Messages here go to everyone you are connected to.';
  const room = state.rooms.get(id);
  if (room) return `This is the start of “${room.name}”. Messages go to every member, end-to-end encrypted to each.`;
  if (id.startsWith(REQUEST_CONV_PREFIX)) return `${convTitle(state, id)} connected to you but is not one of your contacts. Accept to keep talking, or block them.`;
  return `This is the start of your conversation with ${peerLabel(state.peers.get(id))}. Compare safety numbers before you share anything private.`;
}

/** How close to an end of the list (px) scrolling loads the next page there. */
const NEAR_EDGE_PX = 300;

function startsWith(longer, prefix) {
  return prefix.length <= longer.length && prefix.every((key, i) => longer[i] === key);
}

/** A view of #messages; call `render(state, { onLoadOlder })` after every change. */
export function createMessageList() {
  const list = $('messages');
  fillTickLegend($('tick-legend'));
  let shownConv = null;
  let shownKeys = []; // message keys on screen, in order
  let rows = new Map(); // key -> { node, tick } (tick: the tickSignature drawn)
  let older = null; // the "Load older messages" row, when shown
  let empty = null; // the placeholder of an empty conversation, when shown
  let handlers = {}; // what a row's buttons call (Delete, Reply, React)
  let edgeHandlers = {}; // what scrolling to either end calls (older and newer pages, window.js)
  let newer = null; // the "Show newest messages" row (the list's last), when shown
  let lastState = null; // the state last drawn, for the scroll listener

  // Scrolling near either end of the window loads the next page there (window.js), so the list
  // holds a bounded number of rows however long the conversation is.
  list.addEventListener('scroll', () => {
    const state = lastState;
    const c = state?.convs.get(state.ui.active);
    if (!c || c.id !== shownConv) return;
    const fromBottom = list.scrollHeight - list.scrollTop - list.clientHeight;
    state.ui.atBottom = fromBottom < NEAR_EDGE_PX;
    if (list.scrollTop < NEAR_EDGE_PX && c.hasMore && !c.loading) edgeHandlers.onLoadOlder?.(c.id);
    else if (fromBottom < NEAR_EDGE_PX && c.hasNewer && !c.loading && !c.loadingNewer) edgeHandlers.onLoadNewer?.(c.id);
  }, { passive: true });

  function row(state, message, runStart) {
    const node = messageItem(state, message, runStart, handlers);
    // The message a search result opened stays marked until another is opened.
    const focus = state.ui.focus;
    if (focus && focus.conv === message.conv && focus.seq === message.seq && !message.change) node.classList.add('msg-focus');
    rows.set(messageKey(message), {
      node, tick: rowSignature(state, message), look: lookSignature(message, state), runStart,
    });
    return node;
  }

  function olderRow(c, onLoadOlder) {
    if (!c.hasMore) return null;
    const button = el('button', {
      class: 'btn btn-ghost btn-small', text: c.loading ? 'Loading…' : 'Load older messages',
      attrs: { type: 'button', id: 'load-older', disabled: c.loading },
      on: { click: () => onLoadOlder(c.id) },
    });
    return el('li', { class: 'load-older' }, button);
  }

  /** Under a window opened from a search result, when newer messages were left out. */
  function newerRow(c, onShowNewest) {
    if (!c.hasNewer || !onShowNewest) return null;
    return el('li', { class: 'load-newer' }, el('button', {
      class: 'btn btn-ghost btn-small', text: 'Show newest messages',
      attrs: { type: 'button', id: 'show-newest' },
      on: { click: () => onShowNewest(c.id) },
    }));
  }

  /** The first row at least partly in view, and where it is, to keep it in place across a redraw. */
  function anchor() {
    const top = list.getBoundingClientRect().top;
    for (const key of shownKeys) {
      const shown = rows.get(key);
      if (!shown) continue;
      const box = shown.node.getBoundingClientRect();
      if (box.bottom > top) return { key, top: box.top };
    }
    return null;
  }

  /** Scrolls so the anchored row is where it was; false when it is gone. */
  function restore(at) {
    const shown = at && rows.get(at.key);
    if (!shown || !shown.node.isConnected) return false;
    list.scrollTop += shown.node.getBoundingClientRect().top - at.top;
    return true;
  }

  /** The "Show newest messages" row is the list's last while the window does not reach the end. */
  function placeNewer(c, onShowNewest) {
    const want = c.hasNewer && onShowNewest;
    if (want && !newer) {
      newer = newerRow(c, onShowNewest);
      list.append(newer);
    } else if (!want && newer) {
      newer.remove();
      newer = null;
    }
  }

  function rebuild(state, c, messages, keys, onLoadOlder, onShowNewest) {
    rows = new Map();
    older = olderRow(c, onLoadOlder);
    empty = messages.length === 0 ? el('li', { class: 'msg-empty', text: emptyText(state, c.id) }) : null;
    newer = newerRow(c, onShowNewest);
    list.replaceChildren(...[older, empty, ...messages.map((m, i) => row(state, m, startsRun(messages, i))), newer].filter(Boolean));
    shownConv = c.id;
    shownKeys = keys;
  }

  /** Brings the rows that stay up to date: ticks, the "load older" row, the placeholder. */
  function refresh(state, c, messages, onLoadOlder) {
    for (const message of messages) {
      const before = rows.get(messageKey(message));
      if (before && !message.change && before.look !== lookSignature(message, state)) {
        // A reaction or a quote changed: redraw the row in place (focus stays on its button).
        const focused = before.node.contains(document.activeElement) ? document.activeElement.getAttribute('data-emoji') : null;
        const old = before.node;
        old.replaceWith(row(state, message, before.runStart));
        const fresh = rows.get(messageKey(message)).node;
        if (focused) fresh.querySelector(`.reaction-chip[data-emoji="${CSS.escape(focused)}"]`)?.focus();
        continue;
      }
      if (!message.mine && !message.change) continue;
      const shown = rows.get(messageKey(message));
      const signature = rowSignature(state, message);
      if (!shown || shown.tick === signature) continue;
      if (message.change) {
        // A member's name became known (the `room` after a `room_change` names who was added).
        shown.node.firstChild.textContent = signature;
        shown.tick = signature;
        continue;
      }
      shown.node.querySelector('.tick, .tick-none')?.replaceWith(deliveryMark(state, message));
      const detail = shown.node.querySelector('.msg-members, .msg-members-none');
      detail?.replaceWith(membersDetail(state, message, detail.open === true));
      shown.tick = signature;
    }
    const nextOlder = olderRow(c, onLoadOlder);
    if (older && nextOlder) older.replaceWith(nextOlder);
    else if (older) older.remove();
    else if (nextOlder) list.prepend(nextOlder);
    older = nextOlder;
    if (empty && messages.length === 0) empty.textContent = emptyText(state, c.id);
  }

  /** Scrolls the message a search result opened into view, once (its row is marked by row()). */
  function showFocus(state, c) {
    const focus = state.ui.focus;
    if (!focus || focus.shown || focus.conv !== c.id) return;
    const message = c.messages.find((m) => m.seq === focus.seq && !m.change);
    const shown = message && rows.get(messageKey(message));
    if (!shown) return;
    focus.shown = true;
    shown.node.classList.add('msg-focus');
    shown.node.scrollIntoView({ block: 'center' });
  }

  return function render(state, handlers) {
    lastState = state;
    const c = state.convs.get(state.ui.active);
    if (!c) return;
    draw(state, c, handlers);
    showFocus(state, c);
  };

  function draw(state, c, allHandlers) {
    const { onLoadOlder, onShowNewest, onDeleteMessage, onReply, onReact, onEdit, onUnsend, io, onFileControl } = allHandlers;
    const writable = canWrite(state, c.id);
    handlers = {
      onDeleteMessage,
      io,
      onFileControl,
      onReply: writable ? onReply : null,
      onReact: writable ? onReact : null,
      onEdit: writable ? onEdit : null,
      onUnsend: writable ? onUnsend : null,
    };
    edgeHandlers = { onLoadOlder, onLoadNewer: allHandlers.onLoadNewer };
    const messages = c.messages;
    const keys = messages.map(messageKey);
    if (shownConv !== c.id) {
      rebuild(state, c, messages, keys, onLoadOlder, onShowNewest);
      list.scrollTop = list.scrollHeight;
      state.ui.atBottom = true;
      return;
    }
    if (keys.length === shownKeys.length && startsWith(keys, shownKeys)) {
      refresh(state, c, messages, onLoadOlder);
      placeNewer(c, onShowNewest);
      return;
    }
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_EDGE_PX;
    const at = anchor();
    // The window moved (window.js): rows left at one end and came at the other, or both. When the
    // rows that stay are one run in the same order, only the ends change; otherwise (a message
    // deleted in the middle, an order change) the list is drawn again.
    const wanted = new Set(keys);
    const stays = shownKeys.filter((k) => wanted.has(k));
    const first = stays.length ? keys.indexOf(stays[0]) : -1;
    const oneRun = first >= 0 && startsWith(keys.slice(first), stays)
      && startsWith(shownKeys.slice(shownKeys.indexOf(stays[0])), stays);
    if (!oneRun) {
      rebuild(state, c, messages, keys, onLoadOlder, onShowNewest);
      if (!restore(at) || nearBottom) list.scrollTop = list.scrollHeight;
      return;
    }
    for (const key of shownKeys) {
      if (wanted.has(key)) continue;
      rows.get(key)?.node.remove();
      rows.delete(key);
    }
    empty?.remove();
    empty = null;
    const last = first + stays.length;
    const firstStaying = rows.get(stays[0]).node;
    for (let i = 0; i < first; i += 1) firstStaying.before(row(state, messages[i], startsRun(messages, i)));
    // The first staying row may start a run now (or no longer), which changes how it is drawn.
    const runStart = startsRun(messages, first);
    const kept = rows.get(stays[0]);
    if (kept.runStart !== runStart) kept.node.replaceWith(row(state, messages[first], runStart));
    const added = messages.slice(last);
    for (let i = last; i < messages.length; i += 1) list.insertBefore(row(state, messages[i], startsRun(messages, i)), newer);
    shownKeys = keys;
    refresh(state, c, messages, onLoadOlder);
    placeNewer(c, onShowNewest);
    if (added.length && (nearBottom || added.some((m) => m.mine)) && !c.hasNewer) list.scrollTop = list.scrollHeight;
    else restore(at);
  }
}
