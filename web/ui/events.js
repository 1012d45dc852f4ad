// The one place each event from our peer (PROTOCOL.md §8, §8.1) is applied to the page's state.
// A handler changes the state and may send follow-up actions through `io` (as in commands.js);
// it never touches the DOM: the page is redrawn from the state after every event.

import * as S from './state.js';
import * as C from './commands.js';

const HANDLERS = {
  info(state, event) {
    S.setInfo(state, event);
  },

  status(state, event) {
    if (typeof event.message !== 'string') return;
    S.noteStatus(state, event.message);
    state.ui.status = event.message;
  },

  peer_connected(state, event, io) {
    if (typeof event.peer_id !== 'string' || !event.peer_id) return;
    const wasFresh = S.isFresh(state);
    const peer = S.upsertPeer(state, event);
    state.ui.status = `${S.peerLabel(peer)} connected (${peer.address})`;
    C.setConnecting(state, io, false);
    C.setError(state, 'connect-error', '');
    C.setError(state, 'invite-error', '');
    // The very first peer opens its conversation.
    if (wasFresh) C.selectConv(state, io, peer.id);
  },

  peer_disconnected(state, event) {
    const peer = state.peers.get(event.peer_id);
    if (!peer) return;
    peer.online = false;
    peer.lastSeen = Date.now();
    const why = typeof event.reason === 'string' && event.reason ? `: ${event.reason}` : '';
    state.ui.status = `${S.peerLabel(peer)} disconnected${why}`;
  },

  peer_message(state, event, io) {
    const c = S.incoming(state, event);
    if (c) S.noteArrival(state, c, io.pageVisible());
  },

  message_sent(state, event, io) {
    const c = S.outgoing(state, event);
    if (c) S.noteArrival(state, c, io.pageVisible());
  },

  delivery(state, event) {
    const message = typeof event.id === 'string' ? S.ownMessage(state, event.id) : null;
    if (message) S.advanceDelivery(message, event.state);
  },

  peer_verified(state, event) {
    const peer = state.peers.get(event.peer_id);
    if (peer) peer.verified = event.verified === true;
  },

  contacts(state, event, io) {
    S.applyContacts(state, event);
    // The first listing on a connection completes the snapshot: now fetch what was said meanwhile.
    if (state.connection.snapshotGen !== state.connection.generation) {
      state.connection.snapshotGen = state.connection.generation;
      C.loadAllHistory(state, io);
    }
  },

  history(state, event) {
    S.applyHistory(state, event);
  },

  room(state, event, io) {
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

  key_changed(state, event, io) {
    if (S.applyKeyChange(state, event)) C.setConnecting(state, io, false); // a dial that met a changed key is held, not answered
  },

  invite(state, event) {
    state.invite = {
      text: S.str(event.invite),
      qrSvg: S.str(event.qr_svg).trim(),
    };
    if (state.ui.inviteWanted) state.ui.dialog = 'invite';
    state.ui.inviteWanted = false;
  },

  error(state, event, io) {
    const message = typeof event.message === 'string' && event.message ? event.message : 'Something went wrong.';
    const target = C.errorTargetOf(state, event);
    if (event.action === 'load_history') {
      // The page's own request: not the user's to fix.
      for (const c of state.convs.values()) c.loading = false;
      state.ui.status = message;
      return;
    }
    if (event.action === 'get_invite') state.ui.inviteWanted = false;
    if (event.action === 'create_room') state.ui.roomRequested = false;
    if (target === 'connect-error' || target === 'invite-error') C.setConnecting(state, io, false);
    // A verification error belongs in its dialog, and only while that is open.
    if (target && (target !== 'verify-error' || state.ui.dialog === 'verify')) C.setError(state, target, message);
    else C.toast(state, io, message);
  },
};

/** Applies one event; returns false for a type this page does not know (nothing changed). */
export function applyEvent(state, event, io) {
  const handler = Object.hasOwn(HANDLERS, event.type) ? HANDLERS[event.type] : null;
  if (!handler) return false;
  handler(state, event, io);
  return true;
}
