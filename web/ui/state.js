// The page's whole state, in one object made by createState(), and the functions that change it or
// read it. No DOM here: views (views.js, messages.js, dialogs.js) draw this state, events.js
// applies the peer's events to it, commands.js the user's actions.

import { fileOf } from './files.js';
import * as crypto from './crypto.js';
import { quoteOf, reactionsOf } from './convo.js';

export const EVERYONE = 'everyone';
export const ROOM_PREFIX = 'room:';
/** A message request's conversation (PROTOCOL.md §8.2; requests.js). */
export const REQUEST_CONV_PREFIX = 'request:';

export function createState() {
  return {
    // ---- what our peer told us (PROTOCOL.md §8, §8.1) ----
    info: null, // the last `info` event
    ownCheck: null, // { localFp, mismatch, error } once wasm has checked info.fingerprint
    listenHost: null, // from a "listening on HOST:PORT" status, when the daemon sends one
    peers: new Map(), // peer_id -> peer (see newPeer); kept after disconnect, with online = false
    rooms: new Map(), // "room:<id>" -> { id, name, members, creator, member }
    keyChanges: new Map(), // String(change_id) -> unresolved `key_changed`
    requests: new Map(), // peer_id -> message request (requests.js)
    convs: new Map([[EVERYONE, newConv(EVERYONE)]]),
    byKey: new Map(), // "sender/id" -> message, so a message never shows twice
    invite: null, // { text, qrSvg } from the last `invite` event
    filePreviews: new Map(), // file key -> { status, url }: pictures checked and shown (files.js)
    // ---- the connection to our peer ----
    connection: {
      kind: 'starting', // 'none' (no token), 'connecting', 'open', 'waiting'
      delayMs: 0, // 'waiting': until the next attempt
      failures: 0, // attempts in a row that never opened
      generation: 0, // counts WebSocket connections, so history is reloaded once per connection
      snapshotGen: -1, // the generation whose first `contacts` has arrived
    },
    // ---- this page's own state ----
    ui: {
      active: EVERYONE, // the open conversation
      atBottom: true, // the open conversation is scrolled to its end (messages.js keeps this)
      status: '', // the line at the foot of the sidebar
      statusUntil: 0, // when a "connecting to …" status stops being true (ms), else 0
      toast: null, // { text, until }
      errors: {}, // form error element id -> message
      pending: new Map(), // req -> form error element id, for errors that answer it
      connectingUntil: 0, // a dial is under way until then (ms); the buttons wait
      dialog: null, // 'verify' | 'invite' | 'room' | 'checks' | null
      verifyPeer: null, // whose safety number the verify dialog shows
      inviteWanted: false, // the user asked for an invite; show it when it comes
      roomRequested: false, // create_room sent: the next new room id is ours, and opens
      roomEditing: null, // the room whose members the room dialog changes (change_room), or null
      sidebarOpen: false, // narrow screens: the sidebar is a drawer
      lastDial: null, // { form, ip, port } or { form, invite }: what Retry dials again
      failedDial: null, // the form whose last dial failed (its Retry button shows)
      contactDial: null, // the offline contact whose Connect button was pressed
      introducing: new Set(), // keys the user asked an introduction to, until it ends (§8.12)
      nameSaving: null, // the name sent with set_name, until `info` confirms it
      nameSaved: 0, // when `info` confirmed it (ms): "Saved" shows for a while
      pasteTooLong: false, // the composer refused a paste past the limit
      renaming: null, // the contact whose nickname field is open
      renamePending: null, // the contact whose set_nickname was sent, until `nickname_set`
      renameSaved: null, // { peerId, text, until }: the confirmation after `nickname_set`
      renameWarning: null, // { peerId, text }: the nickname looks like another contact's name
      reply: null, // { conv, from, id, name, text }: the message the composer replies to
      editing: null, // { conv, id, text }: our message the composer edits
    },
    selfTest: null, // { passed, failed, ms, failures } or { error }
    // ---- this browser's notification preferences (notify.js keeps them in localStorage) ----
    prefs: { previews: true, muted: new Set() },
  };
}

function newConv(id) {
  return {
    id, messages: [], unread: 0, lastAt: 0, hasMore: false, oldestSeq: null,
    loadedGen: -1, // the connection on which the full history was asked for
    previewGen: -1, // … or at least a preview of it
    loading: false, loadingOlder: false,
    // The window of the conversation held here (window.js): newer messages exist after it, a
    // newer page is on its way, the next newest page replaces it (after a reconnect or resync).
    hasNewer: false, loadingNewer: false, stale: false,
    lastArrival: null, // the last live message, shown or not (for the unread count)
  };
}

function newPeer(id, fields = {}) {
  return {
    id, publicKey: id, name: '', address: '', listenPort: null, direction: '', reached: '', daemonFp: '',
    verified: false, online: false, contact: false, lastSeen: 0, lastAddress: '', check: null, ...fields,
  };
}

export function isRoom(id) {
  return typeof id === 'string' && id.startsWith(ROOM_PREFIX);
}

/** Everyone and rooms show sender names; a one-to-one conversation does not. */
export function isGroup(id) {
  return id === EVERYONE || isRoom(id);
}

export function conv(state, id) {
  if (!state.convs.has(id)) state.convs.set(id, newConv(id));
  return state.convs.get(id);
}

export function str(value, fallback = '') {
  return typeof value === 'string' ? value : fallback;
}

// ---- peers and our own identity ---------------------------------------------------------------

/** Applies `peer_connected`; returns the peer. */
export function upsertPeer(state, event) {
  const id = str(event.peer_id);
  const old = state.peers.get(id);
  const peer = newPeer(id, {
    publicKey: str(event.public_key, id),
    name: str(event.name).trim(),
    address: str(event.address),
    listenPort: Number.isInteger(event.listen_port) ? event.listen_port : null,
    direction: str(event.direction),
    // How the session was reached (PROTOCOL.md §7.1): direct, mapped or punched.
    reached: str(event.reached),
    daemonFp: str(event.fingerprint),
    verified: event.verified === true,
    online: true,
    contact: event.contact === true || (old?.contact ?? false),
    // A message request's session (PROTOCOL.md §8.2), and the contacts its name looks like.
    stranger: event.contact === false,
    confusableWith: Array.isArray(event.confusable_with) ? event.confusable_with.filter((k) => typeof k === 'string') : [],
    lastAddress: old?.lastAddress ?? '',
    // Ours, not the peer's: a new session (a redial, or the duplicate rule's swap) keeps it.
    nickname: old?.nickname ?? '',
    lastSeen: Date.now(),
    check: old?.check ?? null,
  });
  state.peers.set(id, peer);
  conv(state, id);
  checkPeer(state, peer);
  return peer;
}

/**
 * The address another computer can dial for this peer: the connection's IP with the port the peer
 * listens on (an inbound connection's own port is ephemeral). A contact's stored `last_address`
 * already has that form.
 */
export function dialableAddress(peer) {
  if (!peer?.address) return '';
  if (!peer.listenPort) return peer.address;
  const host = peer.address.replace(/:\d+$/, '');
  return `${host}:${peer.listenPort}`;
}

/** "ip:port" split for `connect_peer`, or null. IPv6 literals come as "[::1]:6000". */
export function splitAddress(text) {
  const match = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(String(text ?? ''));
  if (!match) return null;
  const port = Number(match[2]);
  return port >= 1 && port <= 65535 ? { ip: match[1], port } : null;
}

/**
 * A name to show for a peer (names are optional and peer-chosen): our own nickname for it wins,
 * whatever name its sessions and messages carry.
 */
export function peerLabel(peer) {
  return peer?.nickname || peer?.name || 'Unnamed peer';
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
    // A contact known only from `contacts` comes with no daemon fingerprint: nothing to compare.
    if (peer.daemonFp && crypto.digits(localFp) !== crypto.digits(peer.daemonFp)) {
      problems.push('the fingerprint your peer reported differs from the one this page computed');
    }
    if (peer.publicKey !== peer.id) problems.push('the peer id is not its public key');
    peer.check = { localFp, safety, problems, error: null };
  } catch (err) {
    peer.check = { localFp: '', safety: [], problems: [], error: String(err?.message ?? err) };
  }
}

/** The `host:port` text of one `info.addresses` entry (older peers sent bare strings). */
function addressOf(entry) {
  if (typeof entry === 'string') return entry || null;
  return entry && typeof entry.address === 'string' && entry.address ? entry.address : null;
}

/** Applies `info`; checks our own fingerprint in wasm. */
export function setInfo(state, event) {
  const keyChanged = state.info?.public_key !== event.public_key;
  state.info = {
    public_key: str(event.public_key),
    fingerprint: str(event.fingerprint),
    name: str(event.name),
    p2p_port: Number.isInteger(event.p2p_port) ? event.p2p_port : null,
    // Each `{address, kind}` (kind: mapped / lan / ipv6 / observed), best first (PROTOCOL §8).
    addresses: Array.isArray(event.addresses) ? event.addresses.map(addressOf).filter(Boolean) : [],
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

// ---- messages ---------------------------------------------------------------------------------

/** The dedupe key of a message: (sender, id), with "me" as our own sender. */
export function messageKey(message) {
  return `${message.mine ? 'me' : message.from}/${message.id}`;
}

const STATE_RANK = { queued: 0, sent: 1, delivered: 2 };

/** A delivery state from the daemon, or null. */
export function deliveryState(value) {
  return Object.hasOwn(STATE_RANK, value) ? value : null;
}

/** Moves a message's delivery state forward (never back). Returns true when it changed. */
export function advanceDelivery(message, value) {
  const next = deliveryState(value);
  if (!next) return false;
  if (message.state && STATE_RANK[message.state] >= STATE_RANK[next]) return false;
  message.state = next;
  return true;
}

/**
 * Our room message's members and how far each got (PROTOCOL.md §8.1): a Map peer_id -> state,
 * from `message_sent.recipients` (all queued), `history` entries' `recipients` and the `delivery`
 * events that name a `peer_id`. Null for other messages.
 */
function memberStates(list, stateOf) {
  const members = new Map();
  for (const item of list) {
    const [key, value] = stateOf(item);
    if (typeof key === 'string' && key) members.set(key, deliveryState(value) ?? 'queued');
  }
  return members;
}

/** Moves one member's state of our room message forward. Returns true when it changed. */
export function advanceMember(message, peerId, value) {
  const next = deliveryState(value);
  if (!message.members || typeof peerId !== 'string' || !next) return false;
  const now = message.members.get(peerId);
  if (now && STATE_RANK[now] >= STATE_RANK[next]) return false;
  message.members.set(peerId, next);
  return true;
}

/** "delivered to 1 of 2" counts of our room message, or null for other messages. */
export function memberCounts(message) {
  if (!message.members || message.members.size === 0) return null;
  let delivered = 0;
  for (const value of message.members.values()) if (value === 'delivered') delivered += 1;
  return { delivered, total: message.members.size };
}

/** Time order, then the daemon's sequence number (history) for equal times. */
function byTime(a, b) {
  return (a.at - b.at) || ((a.seq ?? Infinity) - (b.seq ?? Infinity));
}

/**
 * Adds a message to a conversation unless already shown. Returns the conversation, or null for a
 * duplicate.
 */
export function addMessage(state, convId, message) {
  const key = messageKey(message);
  if (state.byKey.has(key)) return null;
  message.conv = convId;
  const c = conv(state, convId);
  c.lastArrival = message;
  c.lastAt = Math.max(c.lastAt, message.at);
  // A window that does not reach the newest messages (window.js) leaves it to the newer pages.
  if (c.hasNewer) return c;
  state.byKey.set(key, message);
  c.messages.push(message);
  if (c.messages.length > 1 && byTime(c.messages[c.messages.length - 2], message) > 0) c.messages.sort(byTime);
  return c;
}

/** Our own message `id`, if shown. */
export function ownMessage(state, id) {
  return state.byKey.get(`me/${id}`) ?? null;
}

/** Conversation id an incoming message belongs to. */
function incomingConv(event, from) {
  const c = str(event.conversation);
  if (c === EVERYONE || isRoom(c) || c === REQUEST_CONV_PREFIX + from) return c;
  return from;
}

/** Applies `peer_message`. */
export function incoming(state, event) {
  const from = str(event.peer_id);
  const convId = incomingConv(event, from);
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
    replyTo: quoteOf(event.reply_to),
    reactions: new Map(),
    seq: Number.isSafeInteger(event.seq) ? event.seq : null,
    file: fileOf(event.file),
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
    state: deliveryState(event.state),
    members: isRoom(convId) && Array.isArray(event.recipients) ? memberStates(event.recipients, (r) => [r, 'queued']) : null,
    replyTo: quoteOf(event.reply_to),
    reactions: new Map(),
    seq: Number.isSafeInteger(event.seq) ? event.seq : null,
    file: fileOf(event.file),
  });
}

/** A message counts as unread unless it is ours or its conversation is on screen. */
export function noteArrival(state, c, pageVisible) {
  const last = c.lastArrival;
  if (last && !last.mine && !(c.id === state.ui.active && pageVisible)) c.unread += 1;
}

/** `read_by` of a history entry (PROTOCOL.md §8.10): who has read our message. */
function readByOf(list) {
  return new Set(Array.isArray(list) ? list.filter((k) => typeof k === 'string' && k) : []);
}

/**
 * Applies `history`: merges the messages (oldest first) into their conversation, skipping those
 * already shown (but taking their sequence number and a newer delivery state). Returns the
 * conversation, or null when the event is unusable.
 */
export function applyHistory(state, event) {
  const convId = str(event.conversation);
  if (!convId || !Array.isArray(event.messages)) return null;
  const c = conv(state, convId);
  const before = c.oldestSeq;
  let oldest = null;
  for (const m of event.messages) {
    if (m && typeof m === 'object' && m.kind === 'room_change' && isRoom(convId)) {
      const seq = Number.isSafeInteger(m.seq) ? m.seq : null;
      const item = roomChangeItem(state, convId, m, seq);
      const existing = state.byKey.get(messageKey(item));
      if (existing) existing.seq = seq;
      else {
        state.byKey.set(messageKey(item), item);
        c.messages.push(item);
      }
      continue;
    }
    if (!m || typeof m !== 'object' || typeof m.id !== 'string' || !m.id) continue;
    const mine = m.direction === 'out' || m.from === 'me';
    const seq = Number.isSafeInteger(m.seq) ? m.seq : null;
    if (seq !== null) oldest = oldest === null ? seq : Math.min(oldest, seq);
    const sentAt = Number(m.sent_at) || 0;
    const at = (mine ? sentAt : Number(m.received_at) || sentAt) || Date.now();
    const from = mine ? 'me' : str(m.from);
    const existing = state.byKey.get(`${mine ? 'me' : from}/${m.id}`);
    const members = mine && isRoom(convId) && Array.isArray(m.recipients)
      ? memberStates(m.recipients, (r) => [r?.peer_id, r?.state]) : null;
    if (existing) {
      if (seq !== null) existing.seq = seq;
      if (mine) advanceDelivery(existing, m.state);
      if (members) {
        if (!existing.members) existing.members = new Map();
        for (const [key, value] of members) {
          if (!existing.members.has(key)) existing.members.set(key, value);
          else advanceMember(existing, key, value);
        }
      }
      if (mine) for (const key of readByOf(m.read_by)) (existing.readBy ??= new Set()).add(key);
      existing.reactions = reactionsOf(m.reactions);
      existing.replyTo = quoteOf(m.reply_to) ?? existing.replyTo;
      existing.text = str(m.text);
      existing.editedAt = Number(m.edited_at) || null;
      existing.unsent = m.unsent === true;
      if (!existing.file) existing.file = fileOf(m.file);
      continue;
    }
    const peer = state.peers.get(from);
    const message = {
      id: m.id,
      mine,
      from,
      name: mine ? (state.info?.name || 'You') : (str(m.name).trim() || peerLabel(peer)),
      text: str(m.text),
      sentAt: sentAt || at,
      at,
      seq,
      recipients: [],
      state: mine ? deliveryState(m.state) : null,
      members,
      conv: convId,
      replyTo: quoteOf(m.reply_to),
      reactions: reactionsOf(m.reactions),
      editedAt: Number(m.edited_at) || null,
      unsent: m.unsent === true,
      readBy: mine ? readByOf(m.read_by) : null,
      file: fileOf(m.file),
    };
    state.byKey.set(messageKey(message), message);
    c.messages.push(message);
    c.lastAt = Math.max(c.lastAt, at);
  }
  c.messages.sort(byTime);
  // has_more describes the oldest page we have seen; a newer page says nothing about older ones.
  if (before === null || oldest === null || oldest <= before) c.hasMore = event.has_more === true;
  if (oldest !== null) c.oldestSeq = before === null ? oldest : Math.min(before, oldest);
  c.loading = false;
  c.loadingOlder = false;
  return c;
}

// ---- contacts, rooms, key changes ---------------------------------------------------------------

/** Applies `contacts`: every contact gets a peer entry (offline ones too) and a conversation. */
export function applyContacts(state, event) {
  if (!Array.isArray(event.contacts)) return;
  // A snapshot: whoever is not in it is no longer a contact (e.g. replaced after a key change).
  const listed = new Set(event.contacts.map((c) => c?.peer_id));
  for (const peer of state.peers.values()) if (!listed.has(peer.id)) peer.contact = false;
  for (const contact of event.contacts) {
    if (!contact || typeof contact.peer_id !== 'string' || !contact.peer_id) continue;
    const id = contact.peer_id;
    let peer = state.peers.get(id);
    if (!peer) {
      peer = newPeer(id);
      state.peers.set(id, peer);
    }
    peer.contact = true;
    if (str(contact.name).trim()) peer.name = str(contact.name).trim();
    peer.nickname = str(contact.nickname).trim();
    if (str(contact.last_address)) peer.lastAddress = str(contact.last_address);
    if (!peer.online && str(contact.last_address)) {
      peer.address = str(contact.last_address);
      peer.listenPort = null; // last_address is already ip:listen_port
    }
    if (typeof contact.verified === 'boolean') peer.verified = contact.verified;
    const wasOnline = peer.online;
    if (typeof contact.online === 'boolean') peer.online = contact.online;
    // The peer's last_seen is when the last session began (its handshake); the page has seen the
    // session end itself when it was open meanwhile, so it keeps the later of the two.
    const lastSeen = Number(contact.last_seen); // Unix ms
    if (peer.online || (wasOnline && !peer.online)) peer.lastSeen = Date.now();
    else if (Number.isFinite(lastSeen) && lastSeen > 0) peer.lastSeen = Math.max(peer.lastSeen, lastSeen);
    if (!peer.check) checkPeer(state, peer);
    conv(state, id);
  }
}

/** Applies `room`. Returns { room, isNew } (isNew: an id this page had not seen), or null. */
export function applyRoom(state, event) {
  const id = str(event.id);
  if (!isRoom(id)) return null;
  const isNew = !state.rooms.has(id);
  const room = {
    id,
    name: str(event.name).trim() || 'Unnamed room',
    members: Array.isArray(event.members) ? event.members.filter((m) => typeof m === 'string') : [],
    creator: typeof event.creator === 'string' ? event.creator : null,
    member: event.member !== false,
    // peer_id -> name, for members we never met (PROTOCOL.md §8.1, `room`).
    names: new Map(event.names && typeof event.names === 'object'
      ? Object.entries(event.names).filter(([k, v]) => typeof v === 'string' && v.trim()).map(([k, v]) => [k, v.trim()]) : []),
  };
  state.rooms.set(id, room);
  conv(state, id);
  return { room, isNew };
}

/**
 * A room member's name: our contact's name, else the name the room's creator gave it (a member we
 * never met), else a short form of its key. `room` may be null.
 */
export function memberLabel(state, key, room = null) {
  const peer = state.peers.get(key);
  if (peer?.name) return peer.name;
  const given = room?.names?.get(key);
  if (given) return given;
  return `member ${String(key).slice(0, 8)}…`;
}

/**
 * Whether our peer can reach room member `key` now, and if not why (PROTOCOL.md §8.1, §8.4): its
 * messages to the member wait in the outbox until a session with it comes up.
 *   online      — a session is up
 *   offline     — a contact, not connected; our peer redials its last address when it owes it something
 *   no_address  — a contact with no dialable address known: it must connect to us
 *   never_met   — not a contact: we have never connected to it, so nothing can reach it
 */
export function memberReach(state, key) {
  const peer = state.peers.get(key);
  if (peer?.online) return 'online';
  if (peer?.contact) return peer.lastAddress || peer.address ? 'offline' : 'no_address';
  return 'never_met';
}

/** Who could introduce us to a room member we never met: the room's creator, when that is not us. */
function introducer(state, room) {
  const creator = room?.creator;
  if (!creator || creator === state.info?.public_key) return 'a member who knows them';
  return peerLabel(state.peers.get(creator));
}

/** Why our message has not reached room member `key` yet, in words. */
export function waitingReason(state, room, key, memberState) {
  const name = memberLabel(state, key, room);
  if (memberState === 'sent') return `${name}: sent, waiting for their confirmation`;
  switch (memberReach(state, key)) {
    case 'online': return `${name}: connected, sending`;
    case 'offline': return `${name}: offline, goes out when they are back online`;
    case 'no_address': return `${name}: offline and no address known, goes out when they connect to you`;
    default: return `${name}: not reachable, you have never connected to them — ask ${introducer(state, room)} to introduce you or to share an invite`;
  }
}

/** "you have never connected to Carol — ask Bob to introduce you or to share an invite". */
export function neverMetText(state, room, key) {
  return `you have never connected to ${memberLabel(state, key, room)} — ask ${introducer(state, room)} to introduce you or to share an invite`;
}

/** The room's members (not us) that nothing can reach: we have never connected to them. */
export function unreachableMembers(state, room) {
  const own = state.info?.public_key;
  if (!room?.member) return [];
  return room.members.filter((m) => m !== own && memberReach(state, m) === 'never_met');
}

/** True when we created this room and are in it: only then can we change it (PROTOCOL.md §8.4). */
export function canChangeRoom(state, room) {
  return !!room && room.member && !!state.info?.public_key && room.creator === state.info.public_key;
}

/**
 * A room change (the `room_change` event, or a `room_change` history entry) as a timeline item of
 * its room. Its id is made of what it says, so the live event and the history entry are one item.
 */
function roomChangeItem(state, roomId, change, seq) {
  const keys = (list) => (Array.isArray(list) ? list.filter((k) => typeof k === 'string') : []);
  const added = keys(change.added);
  const removed = keys(change.removed);
  const name = typeof change.name === 'string' ? change.name : null;
  const at = Number(change.at) || Date.now();
  const by = str(change.by);
  return {
    id: `${at}|${by}|${added.join(',')}|${removed.join(',')}|${name ?? ''}`,
    mine: false,
    from: 'room-change',
    name: '',
    text: '',
    sentAt: at,
    at,
    seq,
    recipients: [],
    state: null,
    conv: roomId,
    change: { by, added, removed, name },
  };
}

/** Applies `room_change`: the change goes into the room's timeline. Returns the room's conversation, or null. */
export function applyRoomChange(state, event) {
  const id = str(event.room);
  if (!isRoom(id)) return null;
  return addMessage(state, id, roomChangeItem(state, id, event, null));
}

/** Words for a room change: "Alice added Bob, removed Carol and renamed the room “x”". */
export function roomChangeText(state, change, roomId = null) {
  const own = state.info?.public_key;
  const room = roomId ? state.rooms.get(roomId) : null;
  const who = (key) => (key === own ? 'you' : memberLabel(state, key, room));
  const parts = [];
  if (change.added.length) parts.push(`added ${change.added.map(who).join(', ')}`);
  if (change.removed.length) parts.push(`removed ${change.removed.map(who).join(', ')}`);
  if (change.name !== null) parts.push(`renamed the room “${change.name}”`);
  const actor = change.by === own ? 'You' : peerLabel(state.peers.get(change.by));
  const list = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0] ?? 'changed the room';
  return `${actor} ${list}`;
}

/** Applies `key_changed`: the contact is no longer verified until its new key is checked again. */
export function applyKeyChange(state, event) {
  const changeId = event.change_id;
  if ((typeof changeId !== 'string' && typeof changeId !== 'number') || typeof event.peer_id !== 'string') return null;
  const change = {
    changeId,
    peerId: event.peer_id,
    newKey: str(event.new_key),
    name: str(event.name).trim(),
    address: str(event.address),
    wasVerified: event.was_verified === true,
  };
  state.keyChanges.set(String(changeId), change);
  let peer = state.peers.get(change.peerId);
  if (!peer) {
    peer = newPeer(change.peerId, { name: change.name, address: change.address, contact: true });
    state.peers.set(peer.id, peer);
    checkPeer(state, peer);
  }
  peer.verified = false;
  conv(state, change.peerId);
  return change;
}

/** The unresolved key change of a contact, if any. */
export function keyChangeFor(state, peerId) {
  for (const change of state.keyChanges.values()) if (change.peerId === peerId) return change;
  return null;
}

// ---- the connection -----------------------------------------------------------------------------

/** A new WebSocket connection: the daemon's snapshot (contacts, rooms, key changes) replaces ours. */
export function connectionOpened(state) {
  state.connection.generation += 1;
  state.connection.failures = 0;
  state.connection.kind = 'open';
  state.keyChanges.clear();
}

/** The connection is gone: nobody counts as online until the next snapshot says so. */
export function connectionLost(state, { delayMs, failures }) {
  state.connection.kind = 'waiting';
  state.connection.delayMs = delayMs;
  state.connection.failures = failures;
  state.ui.nameSaving = null; // a set_name on the lost connection is answered on no other
  for (const peer of state.peers.values()) peer.online = false;
}

// ---- what the views show ------------------------------------------------------------------------

/** Title of a conversation. */
export function convTitle(state, id) {
  if (id === EVERYONE) return 'Everyone';
  if (isRoom(id)) return state.rooms.get(id)?.name ?? 'Room';
  if (id.startsWith(REQUEST_CONV_PREFIX)) {
    const key = id.slice(REQUEST_CONV_PREFIX.length);
    return state.requests.get(key)?.name || peerLabel(state.peers.get(key));
  }
  return peerLabel(state.peers.get(id));
}

/** Connected contacts (a message request's session is not one: "everyone" never reaches it). */
export function onlinePeers(state) {
  return [...state.peers.values()].filter((p) => p.online && !(p.stranger && !p.contact));
}

/** A peer's conversation stays listed while it is online, a contact, or has messages. */
function keepPeerConv(state, c) {
  const peer = state.peers.get(c.id);
  if (!peer) return false;
  // A message request is listed under Requests, not Chats, until it is accepted.
  if (peer.stranger && !peer.contact) return c.messages.length > 0;
  return peer.online || peer.contact || c.messages.length > 0 || keyChangeFor(state, c.id) !== null;
}

/** Conversations for the sidebar: Everyone first, then the rest by latest activity. */
export function sidebarConvs(state) {
  const rest = [...state.convs.values()]
    .filter((c) => c.id !== EVERYONE && (state.rooms.has(c.id) || keepPeerConv(state, c)))
    .sort((a, b) => (b.lastAt - a.lastAt) || convTitle(state, a.id).localeCompare(convTitle(state, b.id)));
  return [state.convs.get(EVERYONE), ...rest];
}

/** True when nothing has happened yet: no peer ever connected, no room and no message. */
export function isFresh(state) {
  return state.peers.size === 0 && state.rooms.size === 0 && [...state.convs.values()].every((c) => c.messages.length === 0);
}

/** Whether a message can be sent in the open conversation now. */
export function canSend(state) {
  if (state.connection.kind !== 'open') return false;
  const id = state.ui.active;
  if (id === EVERYONE) return onlinePeers(state).length > 0;
  // The daemon queues messages for offline contacts and room members (PROTOCOL.md §8.1); a
  // room with no member but us has nobody to queue for, and the daemon refuses it.
  if (state.rooms.has(id)) return !aloneInRoom(state, id);
  // Replying to a message request accepts it (PROTOCOL.md §8.2).
  if (id.startsWith(REQUEST_CONV_PREFIX)) return true;
  const peer = state.peers.get(id);
  return Boolean(peer?.online || peer?.contact);
}

/** Whether we are the only member of room `id` (false while our own key is not known yet). */
export function aloneInRoom(state, id) {
  const room = state.rooms.get(id);
  const me = state.info?.public_key;
  return Boolean(room && me) && room.members.every((m) => m === me);
}

/** A dial is under way (the daemon answers within its 10 s handshake deadline). */
export function isConnecting(state, now = Date.now()) {
  return now < state.ui.connectingUntil;
}

/** Unread messages of the conversations that are not muted: the tab title's and favicon's count. */
export function totalUnread(state) {
  return [...state.convs.values()].reduce((n, c) => n + (state.prefs.muted.has(c.id) ? 0 : c.unread), 0);
}

/** "host:port" for others to dial, and whether the host is only a stand-in. */
export function ownAddress(state) {
  const port = state.info?.p2p_port;
  if (!port) return null;
  // The daemon's own answer: the address of this computer on its network (PROTOCOL.md §8, `info`).
  const given = state.info.addresses?.[0];
  if (given) return { text: given, local: /^(127\.|\[::1\])/.test(given), port };
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
