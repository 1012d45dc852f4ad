// Message requests (PROTOCOL.md §8.2): keys that reached us but are not contacts. Their messages
// live in the conversation `request:<peer_id>` until the user accepts (or replies) or blocks.
// The state they keep and the actions they send; no DOM here (views.js draws them).

import * as S from './state.js';
import { loadHistory, send } from './commands.js';

export const REQUEST_PREFIX = S.REQUEST_CONV_PREFIX;

/** Whether a conversation id is a message request's. */
export function isRequest(id) {
  return typeof id === 'string' && id.startsWith(REQUEST_PREFIX);
}

/** The key of a request conversation (`request:<peer_id>` → `<peer_id>`). */
export function requestKey(id) {
  return isRequest(id) ? id.slice(REQUEST_PREFIX.length) : null;
}

function requests(state) {
  state.requests ??= new Map();
  return state.requests;
}

/** The requests, most recently seen first. */
export function listRequests(state) {
  return [...requests(state).values()].sort((a, b) => b.lastSeen - a.lastSeen);
}

export function request(state, peerId) {
  return requests(state).get(peerId) ?? null;
}

function fromEvent(event) {
  if (typeof event?.peer_id !== 'string' || !event.peer_id) return null;
  return {
    id: event.peer_id,
    name: S.str(event.name).trim(),
    fingerprint: S.str(event.fingerprint),
    address: S.str(event.address),
    firstSeen: Number(event.first_seen) || 0,
    lastSeen: Number(event.last_seen) || 0,
    messages: Number.isSafeInteger(event.messages) ? event.messages : 0,
    confusableWith: Array.isArray(event.confusable_with) ? event.confusable_with.filter((k) => typeof k === 'string') : [],
  };
}

/** Applies `request` (a new or updated request); returns it, or null when unusable. */
export function applyRequest(state, event) {
  const r = fromEvent(event);
  if (!r) return null;
  requests(state).set(r.id, r);
  return r;
}

/** Applies `requests` (every request): the list replaces what the page had. */
export function applyRequests(state, event) {
  const list = Array.isArray(event.requests) ? event.requests.map(fromEvent).filter(Boolean) : [];
  requests(state).clear();
  for (const r of list) requests(state).set(r.id, r);
}

/**
 * Applies `request_resolved`: the request is gone. Accepted, its messages are now the contact's
 * conversation (reloaded from the peer); blocked or expired, they were deleted.
 */
export function applyRequestResolved(state, event, io) {
  const peerId = S.str(event.peer_id);
  if (!peerId) return;
  requests(state).delete(peerId);
  const convId = REQUEST_PREFIX + peerId;
  const c = state.convs.get(convId);
  if (c) {
    for (const m of c.messages) state.byKey.delete(S.messageKey(m));
    state.convs.delete(convId);
  }
  const accepted = event.outcome === 'accepted';
  const peer = state.peers.get(peerId);
  if (peer && accepted) {
    peer.stranger = false;
    peer.contact = true;
    peer.confusableWith = [];
  }
  if (accepted) {
    // The moved messages come back with the contact's history.
    const own = S.conv(state, peerId);
    own.loadedGen = -1;
    if (state.ui.active === convId || state.ui.active === peerId) {
      state.ui.active = peerId;
      loadHistory(state, io, peerId);
    }
  } else if (state.ui.active === convId) {
    state.ui.active = S.EVERYONE;
  }
}

/** Accepts the open request: the key becomes a contact (PROTOCOL.md §8.2). */
export function acceptRequest(state, io, peerId) {
  send(state, io, { action: 'accept_request', peer_id: peerId }, 'request-error');
}

/** Blocks the open request's key: its session closes and it cannot connect again. */
export function blockRequest(state, io, peerId) {
  send(state, io, { action: 'block_peer', peer_id: peerId }, 'request-error');
}

/** The names of the contacts a request's name looks like (for the warning). */
export function lookAlikes(state, r) {
  return (r?.confusableWith ?? []).map((k) => S.peerLabel(state.peers.get(k)));
}
