// The one place each event from our peer (PROTOCOL.md §8, §8.1) is applied to the page's state.
// A handler changes the state and may send follow-up actions through `io` (as in commands.js);
// it never touches the DOM: the page is redrawn from the state after every event.

import * as S from './state.js';
import * as C from './commands.js';
import { plainError } from './errors.js';
import * as H from './history.js';
import * as R from './requests.js';
import { applyAmendment, applyReaction } from './convo.js';
import * as T from './timer.js';
import { applyNearby } from './nearby.js';
import * as Ind from './indicators.js';
import * as W from './window.js';
import { applyFileProgress } from './files.js';

/** A "connecting to …" line is true only while that dial is under way. */
function clearDialStatus(state) {
  if (/^connecting to /i.test(state.ui.status)) state.ui.status = '';
}

/** The peer's close reason, in words where it is one the user caused or can act on. */
function disconnectReason(reason) {
  if (typeof reason !== 'string' || !reason) return '';
  if (/disconnected by the user/i.test(reason)) return ' (you disconnected)';
  if (/duplicate session/i.test(reason)) return ' (a newer connection to them replaced this one)';
  return `: ${reason}`;
}

const HANDLERS = {
  info(state, event, io) {
    S.setInfo(state, event);
    // set_name has no answer of its own: the peer confirms it with the next `info` (carrying the
    // name as it keeps it, after its own clean-up).
    if (state.ui.nameSaving !== null) {
      state.ui.nameSaving = null;
      state.ui.nameSaved = Date.now();
      io.later(C.NAME_SAVED_MS);
    }
  },

  status(state, event, io) {
    if (typeof event.message !== 'string') return;
    S.noteStatus(state, event.message);
    state.ui.status = event.message;
    // "connecting to …" is true only while a dial can still be answered; the peer's own redials
    // of contacts end without an event when they fail.
    state.ui.statusUntil = /^connecting to /i.test(event.message) ? Date.now() + C.CONNECT_WAIT_MS : 0;
    if (state.ui.statusUntil) io.later(C.CONNECT_WAIT_MS);
  },

  peer_connected(state, event, io) {
    if (typeof event.peer_id !== 'string' || !event.peer_id) return;
    const wasFresh = S.isFresh(state);
    const peer = S.upsertPeer(state, event);
    const stranger = peer.stranger && !peer.contact;
    state.ui.status = stranger
      ? `Message request from ${S.peerLabel(peer)} (${S.dialableAddress(peer)})`
      : `${S.peerLabel(peer)} connected (${S.dialableAddress(peer)})`;
    C.setConnecting(state, io, false);
    for (const form of C.DIAL_FORMS) C.setError(state, form, '');
    if (state.ui.contactDial === peer.id) state.ui.contactDial = null;
    // The very first peer opens its conversation.
    if (wasFresh && !stranger) C.selectConv(state, io, peer.id);
  },

  peer_disconnected(state, event) {
    const peer = state.peers.get(event.peer_id);
    if (!peer) return;
    peer.online = false;
    peer.lastSeen = Date.now();
    state.ui.status = `${S.peerLabel(peer)} disconnected${disconnectReason(event.reason)}`;
  },

  peer_message(state, event, io) {
    Ind.noteMessage(state, event);
    const c = S.incoming(state, event);
    if (!c) return;
    S.noteArrival(state, c, io.pageVisible());
    W.afterLive(state, c);
    io.notify?.(c, event);
  },

  message_sent(state, event, io) {
    const c = S.outgoing(state, event);
    if (!c) return;
    S.noteArrival(state, c, io.pageVisible());
    W.afterLive(state, c);
  },

  resync(state) {
    // This window fell behind and events were dropped for it: what it holds may have holes. The
    // snapshot that follows is handled as after a reconnect (a new generation): every
    // conversation's newest page replaces its window (window.js).
    state.connection.generation += 1;
    state.ui.status = 'This window fell behind; it reloaded its messages.';
  },

  delivery(state, event) {
    const message = typeof event.id === 'string' ? S.ownMessage(state, event.id) : null;
    if (!message) return;
    S.advanceDelivery(message, event.state);
    // A room message also names the member whose copy moved (PROTOCOL.md §8.1).
    if (typeof event.peer_id === 'string') S.advanceMember(message, event.peer_id, event.peer_state);
  },

  reaction(state, event) {
    applyReaction(state, event);
  },

  file_progress(state, event) {
    applyFileProgress(state, event);
  },

  message_edited(state, event) {
    applyAmendment(state, event, false);
  },

  message_unsent(state, event) {
    applyAmendment(state, event, true);
  },

  peer_verified(state, event) {
    const peer = state.peers.get(event.peer_id);
    if (peer) peer.verified = event.verified === true;
  },

  peer_renamed(state, event) {
    const peer = state.peers.get(event.peer_id);
    const name = typeof event.name === 'string' ? event.name.trim() : '';
    // A local nickname stays; the `contacts` listing that follows carries the name to show.
    if (peer && name && !peer.nickname) peer.name = name;
  },

  request(state, event) {
    R.applyRequest(state, event);
  },

  requests(state, event) {
    R.applyRequests(state, event);
  },

  nearby(state, event) {
    applyNearby(state, event);
  },

  request_resolved(state, event, io) {
    R.applyRequestResolved(state, event, io);
  },

  nickname_set(state, event, io) {
    C.nicknameSet(state, io, event);
  },

  contacts(state, event, io) {
    S.applyContacts(state, event);
    T.applyContactsTimers(state, event);
    // The first listing on a connection completes the snapshot: now fetch what was said meanwhile.
    if (state.connection.snapshotGen !== state.connection.generation) {
      state.connection.snapshotGen = state.connection.generation;
      C.loadAllHistory(state, io);
    }
  },

  history(state, event) {
    const known = typeof event.conversation === 'string' ? state.convs.get(event.conversation) : null;
    if (W.dropLateAnswer(known, event)) return;
    T.applyHistoryTimers(state, event);
    const newestPage = !Number.isSafeInteger(event.after) && !Number.isSafeInteger(event.around)
      && !Number.isSafeInteger(event.before);
    if (known && newestPage) W.replaceWindow(state, known, event);
    const c = S.applyHistory(state, event);
    if (!c) return;
    if (Number.isSafeInteger(event.around)) H.aroundLoaded(state, c, event);
    W.afterPage(state, c, event);
  },

  search_results(state, event) {
    H.applySearchResults(state, event);
  },

  message_deleted(state, event, io) {
    H.applyMessageDeleted(state, event, io);
  },

  conversation_deleted(state, event, io) {
    H.applyConversationDeleted(state, event, io);
  },

  timer(state, event) {
    T.applyTimer(state, event);
  },

  indicators(state, event) {
    Ind.applyIndicators(state, event);
  },

  typing(state, event) {
    Ind.applyTyping(state, event);
  },

  read(state, event) {
    Ind.applyRead(state, event);
  },

  room(state, event, io) {
    T.applyRoomTimer(state, event);
    const applied = S.applyRoom(state, event);
    if (!applied) return;
    const { room, isNew } = applied;
    const c = S.conv(state, room.id);
    if (c.previewGen !== state.connection.generation) {
      C.loadHistory(state, io, room.id, { limit: room.id === state.ui.active ? null : 20 });
    }
    // The answer to our create_room is the first room id we have not seen since asking.
    if (isNew && state.ui.roomRequested) {
      state.ui.roomRequested = false;
      if (state.ui.dialog === 'room') state.ui.dialog = null;
      C.selectConv(state, io, room.id);
    }
  },

  room_change(state, event) {
    // The creator changed the room (PROTOCOL.md §8.4): shown in its timeline; the `room` that
    // follows carries the new membership.
    S.applyRoomChange(state, event);
    if (state.ui.roomEditing === event.room && state.ui.dialog === 'room') {
      state.ui.dialog = null;
      state.ui.roomEditing = null;
    }
  },

  key_changed(state, event, io) {
    if (S.applyKeyChange(state, event)) {
      C.setConnecting(state, io, false); // a dial that met a changed key is held, not answered
      clearDialStatus(state);
    }
  },

  invite(state, event) {
    state.invite = {
      text: S.str(event.invite),
      qrSvg: S.str(event.qr_svg).trim(),
    };
    if (state.ui.inviteWanted) state.ui.dialog = 'invite';
    state.ui.inviteWanted = false;
  },

  /** How an introduction goes (PROTOCOL.md §8.12): shown only for those the user asked for. */
  introduction(state, event) {
    const key = S.str(event.peer_id);
    if (!state.ui.introducing.has(key)) return;
    const name = S.peerLabel(state.peers.get(key)) || 'them';
    const via = event.via ? S.peerLabel(state.peers.get(event.via)) : null;
    const words = {
      asked: `Asking ${via} to introduce you to ${name}…`,
      accepted: `${name} agreed; connecting…`,
      connected: `Connected to ${name} through an introduction`,
      declined: `${name} declined the introduction`,
      failed: `Introduced to ${name}, but no connection came through`,
      no_introducer: `Nobody who could introduce you to ${name} is connected`,
    };
    const final = ['connected', 'failed', 'declined', 'no_introducer'].includes(event.state) || !event.via;
    state.ui.status = words[event.state] ?? (final ? `Nobody could introduce you to ${name}` : `${via} cannot introduce you to ${name}`);
    if (final) state.ui.introducing.delete(key);
  },

  error(state, event, io) {
    const message = plainError(state, event);
    const target = C.errorTargetOf(state, event);
    if (event.action === 'load_history') {
      // The page's own request: not the user's to fix.
      for (const c of state.convs.values()) c.loading = false;
      state.ui.status = message;
      return;
    }
    if (event.action === 'search') {
      H.searchFailed(state, message);
      return;
    }
    if (event.action === 'typing' || event.action === 'mark_read') {
      // The page's own reports, not the user's to fix (a message deleted meanwhile).
      state.ui.status = message;
      return;
    }
    if (event.action === 'history_around') {
      for (const c of state.convs.values()) c.loading = false;
    }
    if (event.action === 'get_invite') state.ui.inviteWanted = false;
    if (event.action === 'create_room') state.ui.roomRequested = false;
    if (event.action === 'introduce') state.ui.introducing.clear();
    if (C.DIAL_FORMS.includes(target)) {
      C.setConnecting(state, io, false);
      clearDialStatus(state);
    }
    // A verification error belongs in its dialog, and only while that is open.
    if (target && (target !== 'verify-error' || state.ui.dialog === 'verify')) {
      C.setError(state, target, message);
      if (C.DIAL_FORMS.includes(target)) state.ui.failedDial = target;
    } else {
      C.toast(state, io, message);
    }
  },
};

/** Applies one event; returns false for a type this page does not know (nothing changed). */
export function applyEvent(state, event, io) {
  const handler = Object.hasOwn(HANDLERS, event.type) ? HANDLERS[event.type] : null;
  if (!handler) return false;
  handler(state, event, io);
  return true;
}
