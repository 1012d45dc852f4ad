// p2p-chat page: drives the local peer over its WebSocket (PROTOCOL.md §8) and checks keys itself
// in WebAssembly. Plain ES modules, no build step.

import { $, showError, copyText } from './ui/dom.js';
import * as crypto from './ui/crypto.js';
import { PeerSocket } from './ui/socket.js';
import * as S from './ui/state.js';
import * as V from './ui/views.js';
import * as D from './ui/dialogs.js';

const TOKEN_KEY = 'p2p-chat-token';
const state = S.createState();
let socket = null;

// ---- token: from ?token=, kept for this tab only, removed from the address bar -------------------

function takeToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// ---- rendering ----------------------------------------------------------------------------------

const socketOpen = () => socket?.isOpen ?? false;

const chromeHandlers = {
  onAcceptKey: (change) => resolveKeyChange(change, true),
  onRejectKey: (change) => resolveKeyChange(change, false),
  onSelect: (id) => selectConv(id),
};

function renderSidebar() {
  V.renderConvList(state, selectConv);
  V.renderPeerList(state, { onVerify: (id) => D.openVerify(state, id), onDisconnect: disconnectPeer, onOpen: selectConv });
}

function renderAll() {
  V.renderIdentity(state);
  renderSidebar();
  V.renderChrome(state, socketOpen(), chromeHandlers);
  V.renderFingerprintAlert(state);
  if (D.verifyingPeer()) D.renderVerify(state);
}

const messageOptions = { onLoadOlder: (id) => loadOlder(id) };

function selectConv(id) {
  state.active = id;
  const c = S.conv(state, id);
  c.unread = 0;
  V.renderMessages(state, messageOptions);
  renderAll();
  setSidebarOpen(false);
  $('composer-input').focus();
  if (state.extended && c.loadedGen !== state.generation) loadHistory(id);
}

// ---- history (PROTOCOL.md §8.1): loaded when a conversation opens and after each (re)connect ----

function loadHistory(convId, { before = null, limit = null } = {}) {
  const c = S.conv(state, convId);
  const action = { action: 'load_history', conversation: convId };
  if (before !== null) action.before = before;
  if (limit !== null) action.limit = limit;
  if (socket?.send(action) == null) return;
  // A full load (what opening a conversation asks for) happens once per connection; a short one
  // (previews of the other conversations) does not count as one.
  if (limit === null) c.loadedGen = state.generation;
  c.previewGen = state.generation;
  c.loading = true;
  c.loadingOlder = before !== null;
}

function loadOlder(convId) {
  const c = S.conv(state, convId);
  if (c.loading || c.oldestSeq === null) return;
  loadHistory(convId, { before: c.oldestSeq });
  if (convId === state.active) V.renderMessages(state, { ...messageOptions, keepOffset: true });
}

/** After `contacts` on a new connection: every conversation's recent history (the open one first). */
function loadAllHistory() {
  loadHistory(state.active);
  for (const c of state.convs.values()) {
    if (c.id !== state.active) loadHistory(c.id, { limit: 20 });
  }
}

function resolveKeyChange(change, accept) {
  const action = { action: accept ? 'accept_key_change' : 'reject_key_change', change_id: change.changeId };
  if (send(action, null) === null) return;
  state.keyChanges.delete(String(change.changeId));
  $('daemon-status').textContent = accept ? 'New key accepted; it is not verified yet.' : 'New key rejected.';
  renderAll();
}

// ---- errors from the peer go next to the form that caused them ----------------------------------

const pending = new Map(); // req -> error element id

const ERROR_TARGET = {
  connect_peer: 'connect-error',
  send_message: 'composer-error',
  set_name: 'name-error',
  set_verified: 'verify-error',
  connect_invite: 'invite-error',
  create_room: 'room-error',
};

// Requests the page makes on its own: a failure there is not the user's to fix.
const QUIET_ERRORS = new Set(['load_history', 'list_contacts']);

function send(action, errorTarget) {
  if (errorTarget) showError($(errorTarget), '');
  const req = socket?.send(action) ?? null;
  if (req === null) {
    if (errorTarget) showError($(errorTarget), 'Not connected to your peer. Retrying…');
    else toast('Not connected to your peer.');
    return null;
  }
  if (errorTarget) pending.set(req, errorTarget);
  return req;
}

let toastTimer = null;
function toast(message) {
  const node = $('toast');
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

function onError(event) {
  const message = typeof event.message === 'string' && event.message ? event.message : 'Something went wrong.';
  const target = pending.get(event.req) ?? ERROR_TARGET[event.action];
  pending.delete(event.req);
  if (QUIET_ERRORS.has(event.action)) {
    for (const c of state.convs.values()) c.loading = false;
    $('daemon-status').textContent = message;
    return;
  }
  if (event.action === 'get_invite') inviteWanted = false;
  if (target === 'connect-error' || target === 'invite-error') setConnecting(false);
  if (target === 'verify-error' && D.verifyingPeer()) D.renderVerify(state); // undo the optimistic toggle
  if (target && (target !== 'verify-error' || D.verifyingPeer())) showError($(target), message);
  else toast(message);
}

// ---- events from our peer -----------------------------------------------------------------------

function onEvent(event) {
  switch (event.type) {
    case 'info':
      S.setInfo(state, event);
      break;
    case 'status':
      if (typeof event.message === 'string') {
        S.noteStatus(state, event.message);
        $('daemon-status').textContent = event.message;
      }
      break;
    case 'peer_connected': {
      if (typeof event.peer_id !== 'string' || !event.peer_id) return;
      const wasFresh = S.isFresh(state);
      const peer = S.upsertPeer(state, event);
      $('daemon-status').textContent = `${S.peerLabel(peer)} connected (${peer.address})`;
      setConnecting(false);
      showError($('connect-error'), '');
      showError($('invite-error'), '');
      if (wasFresh) {
        selectConv(event.peer_id);
        return;
      }
      break;
    }
    case 'peer_disconnected': {
      const peer = state.peers.get(event.peer_id);
      if (peer) {
        peer.online = false;
        peer.lastSeen = Date.now();
        const why = typeof event.reason === 'string' && event.reason ? `: ${event.reason}` : '';
        $('daemon-status').textContent = `${S.peerLabel(peer)} disconnected${why}`;
      }
      if (D.verifyingPeer() === event.peer_id) D.renderVerify(state);
      break;
    }
    case 'peer_message': {
      const c = S.incoming(state, event);
      if (c) delivered(c);
      break;
    }
    case 'message_sent': {
      const c = S.outgoing(state, event);
      if (c) delivered(c);
      break;
    }
    case 'delivery': {
      const message = typeof event.id === 'string' ? S.ownMessage(state, event.id) : null;
      if (message && S.advanceDelivery(message, event.state)) V.updateDelivery(state, message, message.conv);
      return;
    }
    case 'contacts': {
      const first = !state.extended;
      state.extended = true;
      S.applyContacts(state, event);
      if (first) loadAllHistory();
      break;
    }
    case 'history': {
      const convId = S.applyHistory(state, event);
      if (convId === null) return;
      const c = S.conv(state, convId);
      const keepOffset = c.loadingOlder === true;
      c.loadingOlder = false;
      if (convId === state.active) V.renderMessages(state, { ...messageOptions, keepOffset });
      break;
    }
    case 'room': {
      const room = S.applyRoom(state, event);
      if (!room) return;
      const c = S.conv(state, room.id);
      if (state.extended && c.previewGen !== state.generation) loadHistory(room.id, { limit: room.id === state.active ? null : 20 });
      if (pendingRoom !== null && room.name === pendingRoom) {
        pendingRoom = null;
        $('room-dialog').close();
        selectConv(room.id);
        return;
      }
      if (room.id === state.active) V.renderMessages(state, messageOptions);
      break;
    }
    case 'key_changed': {
      const change = S.applyKeyChange(state, event);
      if (!change) return;
      setConnecting(false); // a dial that met a changed key is held, not answered
      if (D.verifyingPeer() === change.peerId) D.renderVerify(state);
      break;
    }
    case 'invite':
      if (inviteWanted || $('invite-dialog').open) D.showInvite(event);
      inviteWanted = false;
      return;
    case 'peer_verified': {
      const peer = state.peers.get(event.peer_id);
      if (peer) peer.verified = event.verified === true;
      break;
    }
    case 'error':
      onError(event);
      return;
    default:
      return;
  }
  renderAll();
}

function delivered(c) {
  const last = c.messages[c.messages.length - 1];
  const visible = c.id === state.active && !document.hidden;
  if (!last.mine && !visible) c.unread += 1;
  if (c.id === state.active) V.appendMessage(state, messageOptions);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && state.convs.get(state.active)?.unread) {
    S.conv(state, state.active).unread = 0;
    renderAll();
  }
});

function onSocketState(kind, detail) {
  const conn = $('conn');
  const text = $('conn-text');
  const alert = $('conn-alert');
  conn.dataset.state = kind;
  if (kind === 'open') {
    // A new connection: the daemon's snapshot (contacts, rooms, key changes) replaces ours.
    state.generation += 1;
    state.extended = false;
    state.keyChanges.clear();
    text.textContent = 'Connected';
    conn.title = 'Connected to your p2p-chat peer';
    alert.hidden = true;
  } else if (kind === 'connecting') {
    text.textContent = 'Connecting…';
  } else {
    // The snapshot after reconnecting says who is still there.
    for (const peer of state.peers.values()) peer.online = false;
    const seconds = Math.max(1, Math.round(detail.delayMs / 1000));
    text.textContent = `Offline · retry in ${seconds} s`;
    conn.title = 'Lost the connection to your p2p-chat peer';
    if (detail.failures >= 3) {
      alert.textContent = 'Cannot reach your p2p-chat peer. Is it still running? If you restarted it, open the new link it printed (the old token no longer works).';
      alert.hidden = false;
    }
  }
  renderAll();
}

// ---- forms --------------------------------------------------------------------------------------

// The daemon answers a dial with peer_connected or error within its 10 s handshake deadline; the
// button comes back by itself a little later in case neither arrives.
let connectTimer = null;
function setConnecting(on) {
  const button = $('connect-btn');
  button.disabled = on;
  button.textContent = on ? 'Connecting…' : 'Connect';
  $('invite-connect').disabled = on;
  clearTimeout(connectTimer);
  if (on) connectTimer = setTimeout(() => setConnecting(false), 15000);
}

function onConnect(event) {
  event.preventDefault();
  const ipInput = $('connect-ip');
  const portInput = $('connect-port');
  let ip = ipInput.value.trim();
  let portText = portInput.value.trim();
  // Accept "host:port" pasted into the IP field (but not a bare IPv6 address).
  const hostPort = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(ip);
  if (hostPort) {
    ip = hostPort[1].replace(/^\[|\]$/g, '');
    portText = hostPort[2];
    ipInput.value = ip;
    portInput.value = portText;
  }
  const port = Number(portText);
  const error = $('connect-error');
  if (ip.startsWith('p2p-chat://')) {
    connectInvite(ip, 'connect-error');
    return;
  }
  if (!ip) {
    showError(error, 'Enter the other person’s IP address (for example 127.0.0.1).');
    ipInput.focus();
    return;
  }
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    showError(error, 'Enter their P2P port, a number from 1 to 65535.');
    portInput.focus();
    return;
  }
  if (send({ action: 'connect_peer', ip, port }, 'connect-error') !== null) setConnecting(true);
}

// p2p-chat://<host>:<port>/<key>: host an IPv4 address, a [IPv6] literal or a DNS name; key 43
// characters of base64url (PROTOCOL.md §8.1).
const INVITE_RE = /^p2p-chat:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/([A-Za-z0-9_-]{43})\/?$/;

function connectInvite(raw, errorTarget) {
  const invite = raw.trim();
  const match = INVITE_RE.exec(invite);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
    showError($(errorTarget), 'That is not a p2p-chat invite. It looks like p2p-chat://HOST:PORT/KEY.');
    return;
  }
  if (send({ action: 'connect_invite', invite }, errorTarget) !== null) setConnecting(true);
}

let inviteWanted = false;
let pendingRoom = null;

function shareInvite() {
  inviteWanted = send({ action: 'get_invite' }, null) !== null;
}

function createRoom(event) {
  event.preventDefault();
  const values = D.roomFormValues();
  if (values.error) {
    showError($('room-error'), values.error);
    return;
  }
  if (send({ action: 'create_room', name: values.name, members: values.members }, 'room-error') !== null) {
    pendingRoom = values.name;
  }
}

function sendComposer() {
  const input = $('composer-input');
  const text = input.value;
  if (!text.trim()) return;
  if (text.length > 16000) {
    showError($('composer-error'), 'Messages are limited to 16,000 characters.');
    return;
  }
  const action = { action: 'send_message', text };
  if (state.active !== S.EVERYONE) action.to = state.active;
  if (send(action, 'composer-error') !== null) input.value = '';
  input.focus();
}

function disconnectPeer(peerId) {
  send({ action: 'disconnect_peer', peer_id: peerId }, null);
}

// ---- narrow screens: the sidebar becomes a drawer -----------------------------------------------

function setSidebarOpen(open) {
  $('app').classList.toggle('sidebar-open', open);
  $('menu-btn').setAttribute('aria-expanded', String(open));
  $('scrim').hidden = !open;
}

// ---- start --------------------------------------------------------------------------------------

function wire() {
  $('connect-form').addEventListener('submit', onConnect);
  $('invite-form').addEventListener('submit', (e) => {
    e.preventDefault();
    connectInvite($('invite-input').value, 'invite-error');
  });
  $('share-invite').addEventListener('click', shareInvite);
  $('empty-share-invite').addEventListener('click', shareInvite);
  $('copy-invite').addEventListener('click', (e) => copyText(e.currentTarget, $('invite-text').textContent));
  $('new-room').addEventListener('click', () => D.openRoomDialog(state));
  $('room-form').addEventListener('submit', createRoom);
  $('room-cancel').addEventListener('click', () => $('room-dialog').close());
  $('composer').addEventListener('submit', (e) => { e.preventDefault(); sendComposer(); });
  $('composer-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!$('send-btn').disabled) sendComposer();
    }
  });
  $('name-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name-input').value.trim();
    if (name.length > 64) {
      showError($('name-error'), 'Names are limited to 64 characters.');
      return;
    }
    send({ action: 'set_name', name }, 'name-error');
    $('name-input').blur();
  });
  $('copy-key').addEventListener('click', (e) => state.info && copyText(e.currentTarget, state.info.public_key));
  for (const id of ['copy-addr', 'empty-copy-addr']) {
    $(id).addEventListener('click', (e) => {
      const addr = S.ownAddress(state);
      if (addr) copyText(e.currentTarget, addr.text);
    });
  }
  $('empty-go-connect').addEventListener('click', () => {
    setSidebarOpen(true);
    $('connect-ip').focus();
  });
  $('chat-verify').addEventListener('click', () => D.openVerify(state, state.active));
  $('verify-toggle').addEventListener('change', (e) => {
    const peerId = D.verifyingPeer();
    if (peerId) send({ action: 'set_verified', peer_id: peerId, verified: e.currentTarget.checked }, 'verify-error');
  });
  $('selftest-badge').addEventListener('click', () => $('checks-dialog').showModal());
  $('run-vectors').addEventListener('click', () => D.runAllVectors());
  $('menu-btn').addEventListener('click', () => setSidebarOpen(!$('app').classList.contains('sidebar-open')));
  $('scrim').addEventListener('click', () => setSidebarOpen(false));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('app').classList.contains('sidebar-open')) setSidebarOpen(false);
  });
}

async function startCrypto() {
  try {
    await crypto.loadWasm();
    D.renderSelfTest(crypto.selfTest());
    S.checkAll(state);
    renderAll();
  } catch (err) {
    D.renderSelfTest({ error: String(err?.message ?? err) });
    renderAll();
  }
}

function main() {
  wire();
  const token = takeToken();
  renderAll();
  if (!token) {
    document.body.classList.add('no-token');
    $('token-missing').hidden = false;
    $('conn').dataset.state = 'none';
    $('conn-text').textContent = 'No token';
  } else {
    socket = new PeerSocket(token, { onEvent, onState: onSocketState });
    socket.connect();
  }
  startCrypto();
}

main();
