// Drawing the state. Peer-supplied strings only ever reach the DOM through el()/textContent.

import { $, el, shortTime, clockTime, fullTime, initials, hueClass, truncateMiddle } from './dom.js';
import { EVERYONE, peerLabel, sidebarConvs, onlinePeers, isFresh, ownAddress } from './state.js';

function avatar(name, key, extra = '') {
  return el('span', { class: `avatar ${hueClass(key)} ${extra}`.trim(), text: initials(name), attrs: { 'aria-hidden': 'true' } });
}

function everyoneAvatar(extra = '') {
  return el('span', { class: `avatar avatar-everyone ${extra}`.trim(), attrs: { 'aria-hidden': 'true' } });
}

function verifiedMark(peer) {
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
    const peer = state.peers.get(c.id);
    return peer?.online ? 'Say hello' : 'Offline';
  }
  const who = last.mine ? 'You: ' : c.id === EVERYONE ? `${last.name}: ` : '';
  return who + last.text.replace(/\s+/g, ' ');
}

/** The "Chats" list. */
export function renderConvList(state, onSelect) {
  const list = $('conv-list');
  list.replaceChildren(
    ...sidebarConvs(state).map((c) => {
      const peer = state.peers.get(c.id);
      const title = c.id === EVERYONE ? 'Everyone' : peerLabel(peer);
      const last = c.messages[c.messages.length - 1];
      const active = c.id === state.active;
      const label = `${title}${c.unread ? `, ${c.unread} unread` : ''}`;
      const button = el('button', {
        class: 'conv-item',
        attrs: { type: 'button', 'data-conv': c.id, 'aria-current': active ? 'true' : false, 'aria-label': label },
        on: { click: () => onSelect(c.id) },
      },
      c.id === EVERYONE ? everyoneAvatar() : avatar(title, c.id, peer?.online ? 'online' : 'offline'),
      el('span', { class: 'conv-body' },
        el('span', { class: 'conv-top' },
          el('span', { class: 'conv-name', text: title }),
          peer?.verified && !peer.check?.problems?.length ? el('span', { class: 'verified-dot', attrs: { title: 'Verified', 'aria-hidden': 'true' } }) : null,
          el('span', { class: 'conv-time', text: last ? shortTime(last.at) : '' })),
        el('span', { class: 'conv-bottom' },
          el('span', { class: 'conv-preview', text: preview(state, c) }),
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
          verifiedMark(peer) ?? el('span', { class: 'tag tag-muted', text: 'Not verified' })),
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

/** One message row. */
export function messageItem(state, message, runStart, inGroupChat) {
  const showName = runStart && inGroupChat && !message.mine;
  const peer = message.mine ? null : state.peers.get(message.from);
  const meta = el('span', { class: 'msg-meta' },
    el('time', { text: clockTime(message.at), attrs: { datetime: new Date(message.at).toISOString(), title: fullTime(message.at) } }));
  if (message.mine) {
    const n = message.recipients.length;
    meta.append(el('span', { class: n ? 'msg-delivery' : 'msg-delivery msg-undelivered', text: n ? (n === 1 ? ' · sent' : ` · sent to ${n}`) : ' · nobody connected' }));
  }
  const group = runStart ? ' msg-first' : '';
  return el('li', { class: `msg ${message.mine ? 'msg-mine' : 'msg-theirs'}${group}${inGroupChat ? ' msg-group' : ''}`, attrs: { 'data-mine': message.mine ? 'true' : 'false' } },
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

/** Redraws the whole message list for the active conversation. */
export function renderMessages(state) {
  const c = state.convs.get(state.active);
  const list = $('messages');
  if (!c || c.messages.length === 0) {
    const peer = state.peers.get(state.active);
    const text = state.active === EVERYONE
      ? 'Messages here go to everyone you are connected to.'
      : `This is the start of your conversation with ${peerLabel(peer)}. Compare safety numbers before you share anything private.`;
    list.replaceChildren(el('li', { class: 'msg-empty', text }));
    return;
  }
  list.replaceChildren(...c.messages.map((m, i) => messageItem(state, m, startsRun(c, i), c.id === EVERYONE)));
  list.scrollTop = list.scrollHeight;
}

/** Appends the newest message of the active conversation (keeps aria-live announcements to one). */
export function appendMessage(state) {
  const c = state.convs.get(state.active);
  const list = $('messages');
  const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  const empty = list.querySelector('.msg-empty');
  if (empty) empty.remove();
  const i = c.messages.length - 1;
  const last = c.messages[i];
  list.append(messageItem(state, last, startsRun(c, i), c.id === EVERYONE));
  if (nearBottom || last.mine) list.scrollTop = list.scrollHeight;
}

/** The chat header, composer state and the empty state. */
export function renderChrome(state, socketOpen) {
  const fresh = isFresh(state);
  $('empty-state').hidden = !fresh;
  $('chat').hidden = fresh;

  const id = state.active;
  const peer = state.peers.get(id);
  const online = onlinePeers(state);
  const titleNode = $('chat-title');
  const sub = $('chat-sub');
  const avatarBox = $('chat-avatar');
  if (id === EVERYONE) {
    titleNode.textContent = 'Everyone';
    sub.textContent = online.length === 0 ? 'Nobody connected' : `${online.length} connected: ${online.map(peerLabel).join(', ')}`;
    avatarBox.className = 'avatar avatar-everyone';
    avatarBox.textContent = '';
  } else {
    titleNode.replaceChildren(el('span', { text: peerLabel(peer) }), ' ', verifiedMark(peer) ?? '');
    sub.textContent = peer?.online ? `${peer.address} · online` : `${peer?.address ?? ''} · offline`;
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

  const canSend = socketOpen && (id === EVERYONE ? online.length > 0 : Boolean(peer?.online));
  $('send-btn').disabled = !canSend;
  const input = $('composer-input');
  input.placeholder = !socketOpen ? 'Not connected to your peer…'
    : canSend ? (id === EVERYONE ? 'Message everyone…' : `Message ${peerLabel(peer)}…`)
      : id === EVERYONE ? 'Connect to a peer first' : `${peerLabel(peer)} is offline`;
  $('composer-label').textContent = id === EVERYONE ? 'Message to everyone' : `Message to ${peerLabel(peer)}`;

  const unread = [...state.convs.values()].reduce((n, c) => n + c.unread, 0);
  document.title = unread ? `(${unread}) p2p-chat` : 'p2p-chat';
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
