// Drawing the state. Peer-supplied strings only ever reach the DOM through el()/textContent.

import { $, el, shortTime, clockTime, fullTime, initials, hueClass, truncateMiddle, lastSeenText, icon } from './dom.js';
import * as crypto from './crypto.js';
import {
  EVERYONE, peerLabel, sidebarConvs, onlinePeers, isFresh, ownAddress, isRoom, isGroup, convTitle, keyChangeFor,
} from './state.js';

function avatar(name, key, extra = '') {
  return el('span', { class: `avatar ${hueClass(key)} ${extra}`.trim(), text: initials(name), attrs: { 'aria-hidden': 'true' } });
}

function everyoneAvatar(extra = '') {
  return el('span', { class: `avatar avatar-everyone ${extra}`.trim(), attrs: { 'aria-hidden': 'true' } });
}

function roomAvatar(room, extra = '') {
  return el('span', { class: `avatar avatar-room ${hueClass(room?.id ?? '')} ${extra}`.trim(), text: initials(room?.name ?? '#'), attrs: { 'aria-hidden': 'true' } });
}

/** "offline · last seen 5 min ago" for a contact that is not connected. */
export function offlineText(peer) {
  const seen = lastSeenText(peer?.lastSeen);
  return seen ? `offline · last seen ${seen}` : 'offline';
}

function verifiedMark(peer, state) {
  if (state && keyChangeFor(state, peer.id)) return el('span', { class: 'tag tag-danger', text: 'Key changed' });
  if (peer.check?.problems?.length) return el('span', { class: 'tag tag-danger', text: 'Key mismatch' });
  if (peer.verified) return el('span', { class: 'tag tag-ok', text: 'Verified', attrs: { title: 'You compared safety numbers' } });
  return null;
}

function preview(state, c) {
  const last = c.messages[c.messages.length - 1];
  if (!last) {
    if (c.id === EVERYONE) {
      const n = onlinePeers(state).length;
      return n === 0 ? 'Nobody connected' : `${n} connected`;
    }
    if (isRoom(c.id)) return `${state.rooms.get(c.id)?.members.length ?? 0} members`;
    const peer = state.peers.get(c.id);
    return peer?.online ? 'Say hello' : offlineText(peer);
  }
  const who = last.mine ? 'You: ' : isGroup(c.id) ? `${last.name}: ` : '';
  return who + last.text.replace(/\s+/g, ' ');
}

/** The "Chats" list. */
export function renderConvList(state, onSelect) {
  const list = $('conv-list');
  list.replaceChildren(
    ...sidebarConvs(state).map((c) => {
      const peer = state.peers.get(c.id);
      const room = state.rooms.get(c.id);
      const title = convTitle(state, c.id);
      const last = c.messages[c.messages.length - 1];
      const active = c.id === state.active;
      const offline = Boolean(peer && !peer.online);
      const changed = peer ? keyChangeFor(state, peer.id) : null;
      const label = `${title}${room ? ', room' : ''}${offline ? `, ${offlineText(peer)}` : ''}${changed ? ', key changed' : ''}${c.unread ? `, ${c.unread} unread` : ''}`;
      const button = el('button', {
        class: `conv-item${offline ? ' conv-offline' : ''}`,
        attrs: {
          type: 'button', 'data-conv': c.id, 'data-online': peer ? String(peer.online) : false,
          'aria-current': active ? 'true' : false, 'aria-label': label, title: offline ? offlineText(peer) : false,
        },
        on: { click: () => onSelect(c.id) },
      },
      c.id === EVERYONE ? everyoneAvatar() : room ? roomAvatar(room) : avatar(title, c.id, peer?.online ? 'online' : 'offline'),
      el('span', { class: 'conv-body' },
        el('span', { class: 'conv-top' },
          el('span', { class: 'conv-name', text: title }),
          peer?.verified && !changed && !peer.check?.problems?.length ? el('span', { class: 'verified-dot', attrs: { title: 'Verified', 'aria-hidden': 'true' } }) : null,
          changed ? el('span', { class: 'tag tag-danger', text: 'Key changed', attrs: { 'aria-hidden': 'true' } }) : null,
          el('span', { class: 'conv-time', text: last ? shortTime(last.at) : '' })),
        el('span', { class: 'conv-bottom' },
          el('span', { class: `conv-preview${last ? '' : ' conv-status'}`, text: preview(state, c) }),
          c.unread ? el('span', { class: 'unread', text: c.unread > 99 ? '99+' : c.unread, attrs: { 'aria-hidden': 'true' } }) : null)));
      return el('li', {}, button);
    }),
  );
}

/** The "Peers" list: connected peers with address, fingerprint and verification state. */
export function renderPeerList(state, { onVerify, onDisconnect, onOpen }) {
  const peers = onlinePeers(state).sort((a, b) => peerLabel(a).localeCompare(peerLabel(b)));
  $('peer-count').textContent = String(peers.length);
  $('peers-empty').hidden = peers.length > 0;
  $('peer-list').replaceChildren(
    ...peers.map((peer) => {
      const fp = peer.check?.localFp || peer.daemonFp;
      const checked = peer.check && !peer.check.error;
      return el('li', { class: `peer-item${peer.check?.problems?.length ? ' peer-bad' : ''}`, attrs: { 'data-peer': peer.id } },
        el('div', { class: 'peer-top' },
          avatar(peerLabel(peer), peer.id, 'avatar-small online'),
          el('button', { class: 'link peer-name', text: peerLabel(peer), attrs: { type: 'button', title: 'Open conversation' }, on: { click: () => onOpen(peer.id) } }),
          verifiedMark(peer, state) ?? el('span', { class: 'tag tag-muted', text: 'Not verified' })),
        el('p', { class: 'peer-addr' },
          el('span', { class: 'visually-hidden', text: 'Address ' }),
          el('span', { text: peer.address || 'unknown address' }),
          peer.direction ? el('span', { class: 'peer-dir', text: peer.direction === 'inbound' ? ' · they connected' : ' · you connected' }) : null),
        el('p', { class: 'peer-fp', attrs: { title: checked ? 'Fingerprint computed in this page (wasm)' : 'Fingerprint as reported by your peer; not yet checked here' } },
          el('span', { class: 'visually-hidden', text: 'Fingerprint ' }),
          el('code', { text: fp })),
        el('div', { class: 'peer-actions' },
          el('button', { class: 'btn btn-small btn-ghost', text: peer.verified ? 'Safety number' : 'Verify', attrs: { type: 'button', 'data-action': 'verify', 'aria-label': `${peer.verified ? 'Safety number' : 'Verify'}: ${peerLabel(peer)}` }, on: { click: () => onVerify(peer.id) } }),
          el('button', { class: 'btn btn-small btn-ghost btn-quiet', text: 'Disconnect', attrs: { type: 'button', 'aria-label': `Disconnect ${peerLabel(peer)}` }, on: { click: () => onDisconnect(peer.id) } })));
    }),
  );
}

const TICK = 'M1.5 8.5 5 12l7.5-8';
const DELIVERY_ICONS = {
  queued: () => icon('tick-icon', '0 0 16 16', [
    ['circle', { cx: 8, cy: 8, r: 6, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6 }],
    ['path', { d: 'M8 4.5V8l2.4 1.6', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.6, 'stroke-linecap': 'round' }],
  ]),
  sent: () => icon('tick-icon', '0 0 16 16', [
    ['path', { d: TICK, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }],
  ]),
  delivered: () => icon('tick-icon tick-icon-double', '0 0 22 16', [
    ['path', { d: TICK, fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }],
    ['path', { d: 'M8.5 11 9.5 12l7.5-8', fill: 'none', stroke: 'currentColor', 'stroke-width': 1.8, 'stroke-linecap': 'round', 'stroke-linejoin': 'round' }],
  ]),
};

/** Who a message in this conversation goes to, for tooltips. */
function audience(state, convId) {
  if (convId === EVERYONE) return 'everyone';
  if (isRoom(convId)) return 'every member';
  return peerLabel(state.peers.get(convId));
}

/** The tick(s) after one of our messages: queued (clock), sent (one tick), delivered (two). */
export function deliveryMark(state, message, convId) {
  if (!message.state) {
    // A §8-only daemon: say how many sessions it went out on.
    const n = message.recipients.length;
    return el('span', { class: n ? 'msg-delivery' : 'msg-delivery msg-undelivered', text: n ? (n === 1 ? ' · sent' : ` · sent to ${n}`) : ' · nobody connected' });
  }
  const who = audience(state, convId);
  const label = {
    queued: 'Queued',
    sent: 'Sent',
    delivered: 'Delivered',
  }[message.state];
  const tip = {
    queued: `Queued: stored, goes out when ${who === 'everyone' || who === 'every member' ? 'members are' : `${who} is`} online`,
    sent: `Sent to ${who}; not yet confirmed`,
    delivered: `Delivered to ${who}`,
  }[message.state];
  return el('span', { class: `tick tick-${message.state}`, attrs: { role: 'img', 'aria-label': label, title: tip, 'data-state': message.state } },
    DELIVERY_ICONS[message.state]());
}

/** Replaces the tick of a message already on screen (after a `delivery` event). */
export function updateDelivery(state, message, convId) {
  const node = message.tickNode;
  if (!node?.isConnected) return;
  const next = deliveryMark(state, message, convId);
  node.replaceWith(next);
  message.tickNode = next;
}

/** One message row. */
export function messageItem(state, message, runStart, convId) {
  const inGroupChat = isGroup(convId);
  const showName = runStart && inGroupChat && !message.mine;
  const peer = message.mine ? null : state.peers.get(message.from);
  const meta = el('span', { class: 'msg-meta' },
    el('time', { text: clockTime(message.at), attrs: { datetime: new Date(message.at).toISOString(), title: fullTime(message.at) } }));
  if (message.mine) {
    message.tickNode = deliveryMark(state, message, convId);
    meta.append(message.tickNode);
  }
  const group = runStart ? ' msg-first' : '';
  return el('li', { class: `msg ${message.mine ? 'msg-mine' : 'msg-theirs'}${group}${inGroupChat ? ' msg-group' : ''}`, attrs: { 'data-mine': message.mine ? 'true' : 'false', 'data-id': message.id } },
    !message.mine && showName ? avatar(message.name, message.from, 'avatar-small msg-avatar') : null,
    el('div', { class: 'bubble' },
      !message.mine && showName ? el('span', { class: `msg-name ${hueClass(message.from)}`, text: message.name || peerLabel(peer) }) : null,
      el('span', { class: 'visually-hidden', text: message.mine ? 'You said: ' : `${message.name || peerLabel(peer)} said: ` }),
      el('p', { class: 'msg-text', text: message.text }),
      meta));
}

/** Whether a message starts a run (new sender or a pause), which gets space and, in Everyone, a name. */
function startsRun(c, index) {
  const prev = c.messages[index - 1];
  const cur = c.messages[index];
  return !prev || prev.from !== cur.from || cur.at - prev.at > 5 * 60 * 1000;
}

/** Redraws the whole message list for the active conversation. `keepOffset` keeps the view on the
 * same messages (after older ones were added above). */
export function renderMessages(state, { onLoadOlder, keepOffset = false } = {}) {
  const c = state.convs.get(state.active);
  const list = $('messages');
  const fromBottom = list.scrollHeight - list.scrollTop;
  const older = c?.hasMore
    ? el('li', { class: 'load-older' }, el('button', {
      class: 'btn btn-ghost btn-small', text: c.loading ? 'Loading…' : 'Load older messages',
      attrs: { type: 'button', id: 'load-older', disabled: c.loading || !onLoadOlder },
      on: { click: () => onLoadOlder?.(c.id) },
    }))
    : null;
  if (!c || c.messages.length === 0) {
    const peer = state.peers.get(state.active);
    const room = state.rooms.get(state.active);
    const text = state.active === EVERYONE
      ? 'Messages here go to everyone you are connected to.'
      : room ? `This is the start of “${room.name}”. Messages go to every member, end-to-end encrypted to each.`
        : `This is the start of your conversation with ${peerLabel(peer)}. Compare safety numbers before you share anything private.`;
    list.replaceChildren(...[older, el('li', { class: 'msg-empty', text })].filter(Boolean));
    return;
  }
  list.replaceChildren(...[older, ...c.messages.map((m, i) => messageItem(state, m, startsRun(c, i), c.id))].filter(Boolean));
  list.scrollTop = keepOffset ? list.scrollHeight - fromBottom : list.scrollHeight;
}

/** Appends the newest message of the active conversation (keeps aria-live announcements to one). */
export function appendMessage(state, options) {
  const c = state.convs.get(state.active);
  const list = $('messages');
  const i = c.messages.length - 1;
  const last = c.messages[i];
  // A message that sorts before others (an older timestamp) needs the whole list redrawn.
  const lastShown = list.querySelector('.msg:last-child');
  if (i > 0 && c.messages[i - 1] !== undefined && lastShown && lastShown.dataset.id !== c.messages[i - 1].id) {
    renderMessages(state, options);
    return;
  }
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  const empty = list.querySelector('.msg-empty');
  if (empty) empty.remove();
  list.append(messageItem(state, last, startsRun(c, i), c.id));
  if (nearBottom || last.mine) list.scrollTop = list.scrollHeight;
}

/** The chat header, composer state and the empty state. */
export function renderChrome(state, socketOpen, handlers = {}) {
  const fresh = isFresh(state);
  $('empty-state').hidden = !fresh;
  $('chat').hidden = fresh;
  for (const id of ['share-invite', 'empty-share-invite', 'new-room', 'invite-form']) $(id).hidden = !state.extended;

  const id = state.active;
  const peer = state.peers.get(id);
  const room = state.rooms.get(id);
  const online = onlinePeers(state);
  const titleNode = $('chat-title');
  const sub = $('chat-sub');
  const avatarBox = $('chat-avatar');
  const title = convTitle(state, id);
  if (id === EVERYONE) {
    titleNode.textContent = 'Everyone';
    sub.textContent = online.length === 0 ? 'Nobody connected' : `${online.length} connected: ${online.map(peerLabel).join(', ')}`;
    avatarBox.className = 'avatar avatar-everyone';
    avatarBox.textContent = '';
  } else if (room) {
    titleNode.replaceChildren(el('span', { text: room.name }), ' ', el('span', { class: 'tag tag-muted', text: 'Room' }));
    const own = state.info?.public_key;
    const others = room.members.filter((m) => m !== own).map((m) => peerLabel(state.peers.get(m))).sort((a, b) => a.localeCompare(b));
    const names = room.members.includes(own) ? ['you', ...others] : others;
    sub.textContent = `${room.members.length} members: ${names.join(', ')}`;
    avatarBox.className = `avatar avatar-room ${hueClass(room.id)}`;
    avatarBox.textContent = initials(room.name);
  } else {
    titleNode.replaceChildren(el('span', { text: peerLabel(peer) }), ' ', verifiedMark(peer ?? {}, state) ?? '');
    sub.textContent = peer?.online ? `${peer.address} · online` : `${peer?.address ? `${peer.address} · ` : ''}${offlineText(peer)}`;
    avatarBox.className = `avatar ${hueClass(id)} ${peer?.online ? 'online' : 'offline'}`;
    avatarBox.textContent = initials(peerLabel(peer));
  }
  const verifyBtn = $('chat-verify');
  verifyBtn.hidden = id === EVERYONE || !peer;
  verifyBtn.textContent = peer?.verified ? 'Safety number' : 'Verify';

  const problems = peer?.check?.problems ?? [];
  const alert = $('chat-alert');
  alert.hidden = problems.length === 0;
  alert.textContent = problems.length ? `Warning: ${problems.join('; ')}. Do not trust this conversation until you compare safety numbers.` : '';
  renderKeyChange(state, handlers);

  // With §8.1 the daemon queues messages for offline contacts and room members.
  const queueing = state.extended && (Boolean(room) || Boolean(peer?.contact));
  const canSend = socketOpen && (id === EVERYONE ? online.length > 0 : Boolean(peer?.online) || queueing);
  $('send-btn').disabled = !canSend;
  const input = $('composer-input');
  input.placeholder = !socketOpen ? 'Not connected to your peer…'
    : canSend ? (id === EVERYONE ? 'Message everyone…'
      : peer && !peer.online ? `Message ${title} (delivered when they are back online)…` : `Message ${title}…`)
      : id === EVERYONE ? 'Connect to a peer first' : `${peerLabel(peer)} is offline`;
  $('composer-label').textContent = id === EVERYONE ? 'Message to everyone' : `Message to ${title}`;

  const unread = [...state.convs.values()].reduce((n, c) => n + c.unread, 0);
  document.title = unread ? `(${unread}) p2p-chat` : 'p2p-chat';
}

/** Fingerprint of a key computed here in wasm, or a placeholder. */
function localFingerprint(key) {
  if (!crypto.wasmReady()) return 'computing…';
  try {
    return crypto.fingerprint(key);
  } catch {
    return 'not a valid key';
  }
}

/**
 * The key-change warning: in the affected conversation a banner with both fingerprints and
 * Accept / Reject; elsewhere a line at the top that leads there.
 */
function renderKeyChange(state, { onAcceptKey, onRejectKey, onSelect } = {}) {
  const change = keyChangeFor(state, state.active);
  const box = $('key-alert');
  box.hidden = !change;
  if (change) {
    const name = change.name || peerLabel(state.peers.get(change.peerId));
    box.dataset.change = String(change.changeId);
    box.replaceChildren(
      el('h2', { class: 'key-alert-title', text: `${name}’s key changed — messages are held until you accept` }),
      el('p', { text: `Someone at ${change.address || 'their address'} answered as ${name} with a different key. `
        + 'That happens when they reinstall or move to a new device, but it is also what an attacker in the middle looks like. '
        + 'Ask them, by voice or in person, before you accept.'
        + (change.wasVerified ? ' You had verified the old key; the new one is not verified.' : '') }),
      el('dl', { class: 'fp-list key-fps' },
        el('dt', { text: 'Old fingerprint' }), el('dd', {}, el('code', { class: 'key-old-fp', text: localFingerprint(change.peerId) })),
        el('dt', { text: 'New fingerprint' }), el('dd', {}, el('code', { class: 'key-new-fp', text: localFingerprint(change.newKey) }))),
      el('div', { class: 'key-alert-actions' },
        el('button', { class: 'btn btn-small key-accept', text: 'Accept new key', attrs: { type: 'button', id: 'key-accept' }, on: { click: () => onAcceptKey?.(change) } }),
        el('button', { class: 'btn btn-small key-reject', text: 'Reject', attrs: { type: 'button', id: 'key-reject' }, on: { click: () => onRejectKey?.(change) } })));
  } else {
    box.replaceChildren();
    delete box.dataset.change;
  }
  const elsewhere = [...state.keyChanges.values()].filter((c) => c.peerId !== state.active);
  const top = $('key-global');
  top.hidden = elsewhere.length === 0;
  top.replaceChildren(...elsewhere.map((c) => el('span', { class: 'alert-line' },
    el('strong', { text: `${c.name || peerLabel(state.peers.get(c.peerId))}’s key changed. ` }),
    'Messages to them are held. ',
    el('button', { class: 'link alert-link', text: 'Review', attrs: { type: 'button' }, on: { click: () => onSelect?.(c.peerId) } }))));
}

/** Identity in the top bar, own address in the sidebar and the empty state. */
export function renderIdentity(state) {
  const info = state.info;
  const key = $('own-key');
  key.textContent = info ? truncateMiddle(info.public_key, 10, 6) : '—';
  key.title = info ? `Your public key: ${info.public_key}` : '';
  key.dataset.key = info?.public_key ?? '';
  $('copy-key').disabled = !info;
  $('own-port').textContent = info?.p2p_port ? String(info.p2p_port) : '—';
  const input = $('name-input');
  if (info && document.activeElement !== input) input.value = info.name;

  const addr = ownAddress(state);
  $('own-addr').textContent = addr?.text ?? '—';
  $('empty-addr').textContent = addr?.text ?? '—';
  $('copy-addr').disabled = !addr;
  $('empty-copy-addr').disabled = !addr;
  $('own-addr-hint').textContent = !addr ? 'Waiting for your peer…'
    : addr.local ? `Works on this computer. From elsewhere: this computer's network IP, port ${addr.port}.`
      : 'Give this to the person you want to chat with.';
}

/** The loud banner for fingerprints that differ from the daemon's. */
export function renderFingerprintAlert(state) {
  const lines = [];
  if (state.ownCheck?.mismatch) lines.push('Your own fingerprint reported by p2p-chat differs from the one this page computed from your key.');
  for (const peer of state.peers.values()) {
    if (peer.online && peer.check?.problems?.length) lines.push(`${peerLabel(peer)}: ${peer.check.problems.join('; ')}.`);
  }
  const alert = $('fp-alert');
  alert.hidden = lines.length === 0;
  alert.replaceChildren(...(lines.length ? [el('strong', { text: 'Fingerprint mismatch. ' }), ...lines.map((l) => el('span', { class: 'alert-line', text: l }))] : []));
}
