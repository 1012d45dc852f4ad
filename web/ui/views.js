// The page's regions drawn from the state: each render* function redraws its part of the page
// from `state` alone. Peer-supplied strings only ever reach the DOM through el()/textContent.

import { canAttach } from './files.js';
import { $, el, shortTime, initials, hueClass, truncateMiddle, lastSeenText, showError } from './dom.js';
import * as crypto from './crypto.js';
import {
  EVERYONE, peerLabel, sidebarConvs, canChangeRoom, onlinePeers, isFresh, ownAddress, isRoom, isGroup, convTitle, keyChangeFor,
  canSend, aloneInRoom, isConnecting, totalUnread, dialableAddress, splitAddress, unreachableMembers, neverMetText, memberLabel,
  roomChangeText,
} from './state.js';
import { timerText } from './timer.js';
import { MAX_TEXT, NAME_SAVED_MS } from './commands.js';
import * as R from './requests.js';
import * as N from './notify.js';
import { showUnread } from './notify.js';
import { activeEdit, activeReply } from './convo.js';

export function avatar(name, key, extra = '') {
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
  // A timeline line (a room change, a timer setting) has no text of its own: its words.
  if (last.change) return last.change.timer ? timerText(state, last.change, c.id) : roomChangeText(state, last.change, c.id);
  const who = last.mine ? 'You: ' : isGroup(c.id) ? `${last.name}: ` : '';
  return who + last.text.replace(/\s+/g, ' ');
}

/** The "Chats" list. */
export function renderConvList(state, { onSelect }) {
  const list = $('conv-list');
  list.replaceChildren(
    ...sidebarConvs(state).map((c) => {
      const peer = state.peers.get(c.id);
      const room = state.rooms.get(c.id);
      const title = convTitle(state, c.id);
      const last = c.messages[c.messages.length - 1];
      const active = c.id === state.ui.active;
      const offline = Boolean(peer && !peer.online);
      const changed = peer ? keyChangeFor(state, peer.id) : null;
      const shown = preview(state, c);
      // The button's name is its visible text plus what only the eye gets from colour and
      // badges (room, offline, unread), so what a screen reader says matches what is shown.
      const hidden = (text) => el('span', { class: 'visually-hidden', text });
      const button = el('button', {
        class: `conv-item${offline ? ' conv-offline' : ''}`,
        attrs: {
          type: 'button', 'data-conv': c.id, 'data-online': peer ? String(peer.online) : false,
          'aria-current': active ? 'true' : false, title: offline ? offlineText(peer) : false,
        },
        on: { click: () => onSelect(c.id) },
      },
      c.id === EVERYONE ? everyoneAvatar() : room ? roomAvatar(room) : avatar(title, c.id, peer?.online ? 'online' : 'offline'),
      el('span', { class: 'conv-body' },
        el('span', { class: 'conv-top' },
          el('span', { class: 'conv-name', text: title, attrs: { title } }),
          room ? hidden(', room') : null,
          peer?.verified && !changed && !peer.check?.problems?.length ? el('span', { class: 'verified-dot', attrs: { title: 'Verified', 'aria-hidden': 'true' } }) : null,
          changed ? el('span', { class: 'tag tag-danger', text: 'Key changed' }) : null,
          el('span', { class: 'conv-time', text: last ? shortTime(last.at) : '' })),
        el('span', { class: 'conv-bottom' },
          offline && shown !== offlineText(peer) ? hidden(`${offlineText(peer)}: `) : null,
          el('span', { class: `conv-preview${last ? '' : ' conv-status'}`, text: shown }),
          c.unread ? el('span', { class: 'unread', text: c.unread > 99 ? '99+' : c.unread, attrs: { 'aria-hidden': 'true' } }) : null,
          c.unread ? hidden(`, ${c.unread} unread`) : null)));
      return el('li', {}, button);
    }),
  );
}

/** The "Message requests" list (PROTOCOL.md §8.2), with the look-alike warning on each. */
export function renderRequests(state, { onSelect }) {
  const list = R.listRequests(state);
  $('requests-panel').hidden = list.length === 0;
  $('request-count').textContent = String(list.length);
  $('request-list').replaceChildren(
    ...list.map((r) => {
      const convId = R.REQUEST_PREFIX + r.id;
      const c = state.convs.get(convId);
      const peer = state.peers.get(r.id);
      const name = r.name || 'Unnamed peer';
      const alike = R.lookAlikes(state, r);
      const online = Boolean(peer?.online);
      const count = Math.max(r.messages, c?.messages.length ?? 0);
      const status = `${count === 1 ? '1 message' : `${count} messages`}${online ? ' · online' : ''}`;
      const label = `Message request from ${name}, ${status}${alike.length ? `, name looks like your contact ${alike.join(', ')}` : ''}${c?.unread ? `, ${c.unread} unread` : ''}`;
      return el('li', {},
        el('button', {
          class: 'conv-item request-item',
          attrs: { type: 'button', 'data-conv': convId, 'aria-current': state.ui.active === convId ? 'true' : false, 'aria-label': label },
          on: { click: () => onSelect(convId) },
        },
        avatar(name, r.id, online ? 'online' : 'offline'),
        el('span', { class: 'conv-body' },
          el('span', { class: 'conv-top' },
            el('span', { class: 'conv-name', text: name, attrs: { title: name } }),
            alike.length ? el('span', { class: 'tag tag-danger', text: 'Look-alike name', attrs: { 'aria-hidden': 'true' } }) : null),
          el('span', { class: 'conv-bottom' },
            el('span', { class: 'conv-preview conv-status', text: status }),
            c?.unread ? el('span', { class: 'unread', text: c.unread > 99 ? '99+' : c.unread, attrs: { 'aria-hidden': 'true' } }) : null))));
    }),
  );
}

/** How a session was reached (PROTOCOL.md §7.1), as a small label with its explanation. */
const REACHED = {
  direct: ['direct', 'A direct connection: one of you dialled the other’s address'],
  mapped: ['via router', 'Through a home router’s port mapping (UPnP-IGD, NAT-PMP or PCP)'],
  punched: ['punched', 'Through both routers at once, after a mutual contact introduced you; messages go straight between you, never through that contact'],
};

function reachedTag(peer) {
  const [text, title] = REACHED[peer.reached] ?? [];
  if (!text) return null;
  return el('span', { class: 'tag tag-muted peer-reached', text, attrs: { 'data-reached': peer.reached, title } });
}

/** The "Peers" list: connected peers with address, fingerprint and verification state. */
export function renderPeerList(state, { onVerify, onDisconnect, onSelect }) {
  // Every live session, a message request's too (tagged, and its name opens the request).
  const peers = [...state.peers.values()].filter((p) => p.online).sort((a, b) => peerLabel(a).localeCompare(peerLabel(b)));
  $('peer-count').textContent = String(peers.length);
  $('peers-empty').hidden = peers.length > 0;
  $('peer-list').replaceChildren(
    ...peers.map((peer) => {
      const fp = peer.check?.localFp || peer.daemonFp;
      const checked = peer.check && !peer.check.error;
      const stranger = peer.stranger && !peer.contact;
      const open = stranger ? R.REQUEST_PREFIX + peer.id : peer.id;
      return el('li', { class: `peer-item${peer.check?.problems?.length ? ' peer-bad' : ''}`, attrs: { 'data-peer': peer.id } },
        el('div', { class: 'peer-top' },
          avatar(peerLabel(peer), peer.id, 'avatar-small online'),
          el('button', { class: 'link peer-name', text: peerLabel(peer), attrs: { type: 'button', title: `${peerLabel(peer)} — open conversation` }, on: { click: () => onSelect(open) } }),
          stranger ? el('span', { class: 'tag tag-muted', text: 'Request' }) : null,
          peer.confusableWith?.length ? el('span', { class: 'tag tag-danger', text: 'Look-alike name', attrs: { title: `Looks like your contact ${peer.confusableWith.map((k) => peerLabel(state.peers.get(k))).join(', ')}` } }) : null,
          verifiedMark(peer, state) ?? el('span', { class: 'tag tag-muted', text: 'Not verified' })),
        el('p', { class: 'peer-addr' },
          el('span', { class: 'visually-hidden', text: 'Address ' }),
          el('span', { text: dialableAddress(peer) || 'unknown address', attrs: { title: peer.address && peer.address !== dialableAddress(peer) ? `Connected from ${peer.address}` : false } }),
          peer.direction ? el('span', { class: 'peer-dir', text: peer.direction === 'inbound' ? ' · they connected' : ' · you connected' }) : null,
          reachedTag(peer)),
        el('p', { class: 'peer-fp', attrs: { title: checked ? 'Fingerprint computed in this page (wasm)' : 'Fingerprint as reported by your peer; not yet checked here' } },
          el('span', { class: 'visually-hidden', text: 'Fingerprint ' }),
          el('code', { text: fp })),
        el('div', { class: 'peer-actions' },
          el('button', { class: 'btn btn-small btn-ghost', text: peer.verified ? 'Safety number' : 'Verify', attrs: { type: 'button', 'data-action': 'verify', 'aria-label': `${peer.verified ? 'Safety number' : 'Verify'}: ${peerLabel(peer)}` }, on: { click: () => onVerify(peer.id) } }),
          el('button', { class: 'btn btn-small btn-ghost btn-quiet', text: 'Disconnect', attrs: { type: 'button', 'aria-label': `Disconnect ${peerLabel(peer)}` }, on: { click: () => onDisconnect(peer.id) } })));
    }),
  );
}

/** The empty state or the open conversation's header. */
export function renderChatHeader(state) {
  const fresh = isFresh(state);
  $('empty-state').hidden = !fresh;
  $('chat').hidden = fresh;

  const id = state.ui.active;
  const peer = state.peers.get(id);
  const room = state.rooms.get(id);
  const requestKey = R.requestKey(id);
  const req = requestKey ? R.request(state, requestKey) ?? { id: requestKey, name: peerLabel(state.peers.get(requestKey)), confusableWith: [], fingerprint: '' } : null;
  const titleNode = $('chat-title');
  const sub = $('chat-sub');
  const avatarBox = $('chat-avatar');
  if (id === EVERYONE) {
    const online = onlinePeers(state);
    titleNode.textContent = 'Everyone';
    sub.textContent = online.length === 0 ? 'Nobody connected' : `${online.length} connected: ${online.map(peerLabel).join(', ')}`;
    avatarBox.className = 'avatar avatar-everyone';
    avatarBox.textContent = '';
  } else if (room) {
    titleNode.replaceChildren(el('span', { text: room.name }), ' ', el('span', { class: 'tag tag-muted', text: 'Room' }));
    const own = state.info?.public_key;
    const others = room.members.filter((m) => m !== own).map((m) => memberLabel(state, m, room)).sort((a, b) => a.localeCompare(b));
    const names = room.members.includes(own) ? ['you', ...others] : others;
    sub.textContent = room.member
      ? `${room.members.length} members: ${names.join(', ')}`
      : 'You were removed from this room; it is read-only.';
    avatarBox.className = `avatar avatar-room ${hueClass(room.id)}`;
    avatarBox.textContent = initials(room.name);
  } else if (req) {
    const name = req.name || 'Unnamed peer';
    const reqPeer = state.peers.get(req.id);
    titleNode.replaceChildren(el('span', { text: name, attrs: { title: name } }), ' ', el('span', { class: 'tag tag-muted', text: 'Message request' }));
    // The daemon sends no fingerprint for a request (PROTOCOL.md §8.2): computed here in wasm.
    const fp = reqPeer?.check?.localFp || localFingerprint(req.id);
    sub.textContent = `Not in your contacts${reqPeer?.online ? ' · online' : ''}${fp ? ` · fingerprint ${fp}` : ''}`;
    avatarBox.className = `avatar ${hueClass(req.id)} ${reqPeer?.online ? 'online' : 'offline'}`;
    avatarBox.textContent = initials(name);
  } else {
    titleNode.replaceChildren(el('span', { text: peerLabel(peer), attrs: { title: peerLabel(peer) } }), ' ', verifiedMark(peer ?? {}, state) ?? '');
    const addr = dialableAddress(peer);
    sub.textContent = peer?.online ? `${addr} · online` : `${addr ? `${addr} · ` : ''}${offlineText(peer)}`;
    avatarBox.className = `avatar ${hueClass(id)} ${peer?.online ? 'online' : 'offline'}`;
    avatarBox.textContent = initials(peerLabel(peer));
  }
  // Members nothing can reach (we never connected to them) are said so, never silently skipped.
  const unreachable = room ? unreachableMembers(state, room) : [];
  const reach = $('chat-reach');
  reach.hidden = unreachable.length === 0;
  reach.replaceChildren(...unreachable.map((key) => el('li', { attrs: { 'data-peer': key } },
    el('span', { class: 'reach-text', text: `Not reachable: ${neverMetText(state, room, key)}.` }),
    ' ',
    el('button', {
      class: 'btn btn-small btn-ghost',
      text: state.ui.introducing.has(key) ? 'Asking…' : 'Ask for an introduction',
      attrs: { type: 'button', 'data-introduce': key, disabled: state.ui.introducing.has(key), title: `Ask a member connected to both of you to introduce you to ${memberLabel(state, key, room)}` },
    }))));
  // The creator of a room changes its members (PROTOCOL.md §8.4); nobody else can.
  $('chat-room-members').hidden = !canChangeRoom(state, room);
  // An offline contact: a Connect button that dials its last dialable address.
  const dialable = peer && !peer.online && peer.contact ? splitAddress(peer.lastAddress || peer.address) : null;
  const connectBtn = $('chat-connect');
  const waiting = isConnecting(state) && state.ui.contactDial === id;
  connectBtn.hidden = !dialable;
  connectBtn.disabled = isConnecting(state);
  connectBtn.textContent = waiting ? 'Connecting…' : state.ui.failedDial === 'contact-error' && state.ui.contactDial === id ? 'Retry' : 'Connect';
  connectBtn.title = dialable ? `Connect to ${peerLabel(peer)} at ${dialable.ip}:${dialable.port}` : '';
  const contactError = $('contact-error');
  const ownError = state.ui.contactDial === id ? state.ui.errors['contact-error'] ?? '' : '';
  showError(contactError, peer && !peer.online ? ownError : '');

  renderRename(state, peer);

  const verifyBtn = $('chat-verify');
  verifyBtn.hidden = id === EVERYONE || !peer;
  verifyBtn.textContent = peer?.verified ? 'Safety number' : 'Verify';

  // A message request: accept or block; a name like a contact's is said loudly (PROTOCOL.md §8.3).
  $('chat-accept').hidden = !req;
  $('chat-block').hidden = !req;
  $('chat-delete').hidden = Boolean(req); // blocking deletes a request; accepting keeps it
  showError($('request-error'), req ? state.ui.errors['request-error'] ?? '' : '');
  // A contact whose new name (dialled, or renamed by its hello) looks like another contact's.
  const alike = req ? R.lookAlikes(state, req) : (peer?.confusableWith ?? []).map((k) => peerLabel(state.peers.get(k)));

  const problems = peer?.check?.problems ?? [];
  const alert = $('chat-alert');
  alert.hidden = problems.length === 0 && alike.length === 0;
  alert.textContent = alike.length
    ? `Warning: the name "${req ? req.name : peerLabel(peer)}" looks like your contact ${alike.map((n) => `"${n}"`).join(', ')}, but this is a different key${req ? ' — not your contact' : ''}. Check the fingerprint with them another way before you reply.`
    : problems.length ? `Warning: ${problems.join('; ')}. Do not trust this conversation until you compare safety numbers.` : '';
}

/** A contact's "Rename…" button, its inline nickname field, the confirmation and the look-alike warning. */
function renderRename(state, peer) {
  const isContact = Boolean(peer?.contact);
  const button = $('chat-rename');
  const form = $('rename-form');
  const input = $('rename-input');
  const open = isContact && state.ui.renaming === peer.id;
  button.hidden = !isContact;
  button.setAttribute('aria-expanded', String(open));
  button.title = isContact ? `Give ${peerLabel(peer)} a name that only you see` : '';
  if (open && form.hidden) input.value = peer.nickname || peer.name || '';
  form.hidden = !open;
  $('rename-label').textContent = isContact ? `Your name for ${peerLabel(peer)} (only you see it)` : 'Your name for this contact';
  const saved = state.ui.renameSaved;
  const showSaved = isContact && saved && saved.peerId === peer.id && Date.now() < saved.until;
  $('rename-saved').hidden = !showSaved;
  $('rename-saved').textContent = showSaved ? saved.text : '';
  const warning = state.ui.renameWarning;
  showError($('rename-warning'), isContact && warning?.peerId === peer.id ? warning.text : '');
}

/** The composer: whether it can send, and what its placeholder says. */
export function renderComposer(state) {
  const id = state.ui.active;
  const peer = state.peers.get(id);
  const title = convTitle(state, id);
  const sendable = canSend(state);
  $('send-btn').disabled = !sendable;
  $('attach-btn').hidden = !canAttach(state);
  $('composer-input').placeholder = state.connection.kind !== 'open' ? 'Not connected to your peer…'
    : sendable ? (id === EVERYONE ? 'Message everyone…' : R.isRequest(id) ? `Reply to ${title} (replying accepts the request)…`
      : peer && !peer.online ? `Message ${title} (delivered when they are back online)…` : `Message ${title}…`)
      : id === EVERYONE ? 'Connect to a peer first'
        : aloneInRoom(state, id) ? 'Nobody else is in this room' : `${peerLabel(peer)} is offline`;
  const reply = activeReply(state);
  const editing = activeEdit(state);
  $('composer-label').textContent = editing ? 'Edit your message'
    : reply ? `Reply to ${reply.from === 'me' ? 'yourself' : reply.name}`
      : id === EVERYONE ? 'Message to everyone' : `Message to ${title}`;
  $('reply-bar').hidden = !reply && !editing;
  $('reply-bar-name').textContent = editing ? 'Editing your message'
    : reply ? `Replying to ${reply.from === 'me' ? 'yourself' : reply.name}` : '';
  $('reply-bar-quote').textContent = [...(editing ?? reply)?.text ?? ''].slice(0, 120).join('');
  $('reply-cancel').setAttribute('aria-label', editing ? 'Cancel editing (Esc)' : 'Cancel reply (Esc)');
  renderCounter();
}

/** Shown from this many characters on, so the limit is seen before it is reached. */
const COUNTER_FROM = MAX_TEXT - 2000;

/** The character counter under the composer (also called on every keystroke by app.js). */
export function renderCounter() {
  const length = $('composer-input').value.length;
  const counter = $('composer-count');
  counter.hidden = length < COUNTER_FROM;
  counter.textContent = `${length.toLocaleString('en')} / ${MAX_TEXT.toLocaleString('en')}`;
  counter.dataset.level = length >= MAX_TEXT ? 'full' : length >= MAX_TEXT - 500 ? 'near' : 'ok';
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
export function renderKeyChange(state, { onAcceptKey, onRejectKey, onSelect }) {
  const change = keyChangeFor(state, state.ui.active);
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
        el('button', { class: 'btn btn-small key-accept', text: 'Accept new key', attrs: { type: 'button', id: 'key-accept' }, on: { click: () => onAcceptKey(change) } }),
        el('button', { class: 'btn btn-small key-reject', text: 'Reject', attrs: { type: 'button', id: 'key-reject' }, on: { click: () => onRejectKey(change) } })));
  } else {
    box.replaceChildren();
    delete box.dataset.change;
  }
  const elsewhere = [...state.keyChanges.values()].filter((c) => c.peerId !== state.ui.active);
  const top = $('key-global');
  top.hidden = elsewhere.length === 0;
  top.replaceChildren(...elsewhere.map((c) => el('span', { class: 'alert-line' },
    el('strong', { text: `${c.name || peerLabel(state.peers.get(c.peerId))}’s key changed. ` }),
    'Messages to them are held. ',
    el('button', { class: 'link alert-link', text: 'Review', attrs: { type: 'button' }, on: { click: () => onSelect(c.peerId) } }))));
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
  input.title = info?.name ?? '';
  const saved = $('name-saved');
  const justSaved = state.ui.nameSaved && Date.now() - state.ui.nameSaved < NAME_SAVED_MS;
  saved.hidden = !justSaved;
  saved.textContent = justSaved ? (info?.name ? `Saved: others see “${info.name}” from your next connection` : 'Saved: you have no name now') : '';

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

const FORM_ERRORS = ['connect-error', 'composer-error', 'name-error', 'verify-error', 'invite-error', 'room-error', 'rename-error'];

/** The connection badge and its warning, the sidebar's status line, form errors and the toast. */
export function renderConnection(state) {
  const { kind, delayMs, failures } = state.connection;
  const conn = $('conn');
  const text = $('conn-text');
  if (kind !== 'starting') conn.dataset.state = kind;
  document.body.classList.toggle('no-token', kind === 'none');
  $('token-missing').hidden = kind !== 'none';
  if (kind === 'none') {
    text.textContent = 'No token';
  } else if (kind === 'open') {
    text.textContent = 'Your peer is running';
    conn.title = 'This page is connected to your own p2p-chat on this computer. People you talk to are listed under Peers.';
  } else if (kind === 'connecting') {
    text.textContent = 'Reaching your peer…';
  } else if (kind === 'waiting') {
    text.textContent = `Your peer is not answering · retry in ${Math.max(1, Math.round(delayMs / 1000))} s`;
    conn.title = 'This page lost the connection to your own p2p-chat on this computer';
  }
  const alert = $('conn-alert');
  alert.hidden = kind === 'open' || kind === 'none' || failures < 3;
  alert.textContent = alert.hidden ? '' : 'Cannot reach your p2p-chat peer. Is it still running? If you restarted it, open the new link it printed (the old token no longer works).';

  // A dial is answered with peer_connected or error; the buttons wait for one of them.
  const connecting = isConnecting(state);
  const button = $('connect-btn');
  button.disabled = connecting;
  button.textContent = connecting ? 'Connecting…' : 'Connect';
  $('invite-connect').disabled = connecting;
  // Retry: next to the error of the dial that failed, dialling the same address or invite again.
  for (const form of ['connect', 'invite']) {
    const retry = $(`${form}-retry`);
    retry.hidden = state.ui.failedDial !== `${form}-error` || !state.ui.errors[`${form}-error`];
    retry.disabled = connecting;
  }
}

export function renderNotices(state) {
  const expired = state.ui.statusUntil && Date.now() >= state.ui.statusUntil;
  $('daemon-status').textContent = expired ? '' : state.ui.status;
  for (const id of FORM_ERRORS) showError($(id), state.ui.errors[id] ?? '');
  const toast = $('toast');
  const shown = state.ui.toast && Date.now() < state.ui.toast.until;
  toast.hidden = !shown;
  toast.textContent = shown ? state.ui.toast.text : '';
  showUnread(totalUnread(state));
}

/** The notification panel (permission, previews) and the open chat's Mute button. */
export function renderNotifications(state) {
  const allowed = N.permission();
  const status = {
    unsupported: 'This browser cannot show notifications.',
    default: 'Get a notification when a message arrives while this tab is in the background.',
    granted: 'On: messages that arrive while this tab is in the background are notified.',
    denied: 'Blocked in this browser’s site settings; allow notifications there to turn them on.',
  }[allowed] ?? '';
  $('notify-status').textContent = status;
  $('notify-enable').hidden = allowed !== 'default';
  $('notify-previews').checked = state.prefs.previews;
  const muted = state.prefs.muted.has(state.ui.active);
  const mute = $('chat-mute');
  mute.textContent = muted ? 'Unmute' : 'Mute';
  mute.setAttribute('aria-pressed', String(muted));
}

/** Narrow screens: the sidebar is a drawer. */
export function renderDrawer(state) {
  const open = state.ui.sidebarOpen;
  $('app').classList.toggle('sidebar-open', open);
  $('menu-btn').setAttribute('aria-expanded', String(open));
  $('scrim').hidden = !open;
}
