// p2p-chat page: drives the local peer over its WebSocket (PROTOCOL.md §8) and checks keys itself
// in WebAssembly. Plain ES modules, no build step.
//
//   ui/state.js     the page's state (one object) and the functions that change and read it
//   ui/events.js    each event from our peer, applied to the state (one handler per event type)
//   ui/errors.js    the peer's error texts in plain words (until errors carry a typed reason)
//   ui/commands.js  what the user asks for, sent as actions
//   ui/history.js   search, opening a chat at a found message, deleting on this device
//   ui/window.js    the window of a conversation the page holds, moved a page at a time
//   ui/render.js    redraws the page from the state: ui/views.js, ui/messages.js, ui/dialogs.js,
//                   ui/search-view.js
//   ui/timer.js     disappearing messages: the header control, its indicator, the timeline line
//   ui/nearby.js    people nearby on the LAN (drawn by ui/nearby-view.js) and their Connect
//   ui/indicators.js typing indicators and read receipts: their settings, typing and what was read
//   ui/files.js     files and pictures: uploads, transfers' progress, pictures checked and shown
//   ui/socket.js    the WebSocket, reconnected with backoff
//   ui/crypto.js    the wasm package: fingerprints, safety numbers, self-test, test vectors
//
// This file starts the page: it reads the token, wires the DOM's controls to commands, and redraws
// after every event and every action.

import { $, copyText } from './ui/dom.js';
import * as crypto from './ui/crypto.js';
import { PeerSocket } from './ui/socket.js';
import * as S from './ui/state.js';
import * as C from './ui/commands.js';
import { applyEvent } from './ui/events.js';
import { createRenderer } from './ui/render.js';
import { renderCounter } from './ui/views.js';
import { watchDialogs, roomFormValues, runAllVectors } from './ui/dialogs.js';
import * as H from './ui/history.js';
import * as R from './ui/requests.js';
import * as N from './ui/notify.js';
import * as Convo from './ui/convo.js';
import * as T from './ui/timer.js';
import * as Near from './ui/nearby.js';
import * as Ind from './ui/indicators.js';
import * as W from './ui/window.js';
import * as F from './ui/files.js';

/** Deleting is local and cannot be undone: the page asks first, saying so. */
const DELETE_MESSAGE_TEXT = 'Delete this message on this device only?\n\nThe other side keeps its copy. This cannot be undone.';
const BLOCK_TEXT = 'Block this key?\n\nIts connection closes, its request and messages are deleted, and it cannot connect to you again until you unblock it.';
const DELETE_CHAT_TEXT = 'Delete the whole history of this chat on this device only?\n\nThe others keep their copies; the contact or room stays. This cannot be undone.';

const TOKEN_KEY = 'p2p-chat-token';

/** The token: from ?token=, kept for this tab only, removed from the address bar. */
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

/**
 * Accepts "host:port" or "[ipv6]:port" pasted into the IP field, splitting it into both fields, and
 * an IPv6 address with or without brackets (a bare one has no port to split off).
 */
function splitHostPort() {
  const ipInput = $('connect-ip');
  const portInput = $('connect-port');
  const hostPort = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(ipInput.value.trim());
  if (hostPort) {
    ipInput.value = hostPort[1].replace(/^\[|\]$/g, '');
    portInput.value = hostPort[2];
  } else if (/^\[[^\]\s]+\]$/.test(ipInput.value.trim())) {
    ipInput.value = ipInput.value.trim().slice(1, -1);
  }
  return { ip: ipInput.value.trim(), portText: portInput.value.trim() };
}

/** Connects the page's static controls to commands; `act(fn)` runs fn(state, io) and redraws. */
function wire(state, act, io) {
  let typingTicker = null; // the timer repeating "typing" while the user types
  const submit = (id, fn) => $(id).addEventListener('submit', (e) => { e.preventDefault(); act(fn); });
  const click = (id, fn) => $(id).addEventListener('click', (e) => act((st, io) => fn(st, io, e)));

  submit('connect-form', (st, io) => {
    const { ip, portText } = splitHostPort();
    const badField = C.connectAddress(st, io, ip, portText);
    if (badField) $(badField).focus();
  });
  submit('invite-form', (st, io) => C.connectInvite(st, io, $('invite-input').value, 'invite-error'));
  click('connect-retry', C.retryDial);
  click('invite-retry', C.retryDial);
  click('chat-connect', (st, io) => C.connectContact(st, io, st.ui.active));
  // Using another form: the errors of the others no longer apply.
  const formErrors = { 'connect-form': 'connect-error', 'invite-form': 'invite-error', 'name-form': 'name-error', composer: 'composer-error', 'rename-form': 'rename-error' };
  for (const [form, errorId] of Object.entries(formErrors)) {
    $(form).addEventListener('focusin', () => {
      if (Object.keys(state.ui.errors).some((id) => id !== errorId)) act((st) => C.clearOtherErrors(st, errorId));
    });
  }
  click('share-invite', C.shareInvite);
  click('empty-share-invite', C.shareInvite);
  $('copy-invite').addEventListener('click', (e) => copyText(e.currentTarget, state.invite?.text ?? ''));
  click('new-room', (st) => C.openRoomDialog(st));
  // Files: the attach button, or files dropped anywhere on the open conversation.
  const sendFiles = (files) => {
    const to = state.ui.active;
    if (!files?.length || !F.canAttach(state)) return;
    F.sendFiles(io, files, to, (message) => act((st) => C.setError(st, 'composer-error', message)));
  };
  $('attach-btn').addEventListener('click', () => $('attach-input').click());
  $('attach-input').addEventListener('change', (e) => {
    sendFiles([...e.currentTarget.files]);
    e.currentTarget.value = '';
  });
  const chat = $('messages').parentElement;
  let dragDepth = 0;
  const showDrop = (on) => { $('drop-hint').hidden = !on; };
  chat.addEventListener('dragenter', (e) => {
    if (!F.canAttach(state) || !e.dataTransfer?.types?.includes('Files')) return;
    e.preventDefault();
    dragDepth += 1;
    showDrop(true);
  });
  chat.addEventListener('dragover', (e) => {
    if (F.canAttach(state) && e.dataTransfer?.types?.includes('Files')) e.preventDefault();
  });
  chat.addEventListener('dragleave', () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) showDrop(false);
  });
  chat.addEventListener('drop', (e) => {
    if (!e.dataTransfer?.files?.length) return;
    e.preventDefault();
    dragDepth = 0;
    showDrop(false);
    sendFiles([...e.dataTransfer.files]);
  });
  T.wireTimer((seconds) => act((st, io) => T.setTimer(st, io, st.ui.active, seconds)));
  Ind.wireIndicators(
    (which, on) => act((st, io) => Ind.setGlobal(st, io, which, on)),
    (which, choice) => act((st, io) => Ind.setContact(st, io, st.ui.active, which, choice)),
  );
  submit('room-form', (st, io) => (st.ui.roomEditing
    ? C.changeRoom(st, io, st.ui.roomEditing, roomFormValues())
    : C.createRoom(st, io, roomFormValues())));
  click('chat-room-members', (st) => C.openRoomMembers(st, st.ui.active));
  $('chat-reach').addEventListener('click', (e) => {
    const button = e.target.closest('button[data-introduce]');
    if (button) act((st, io) => C.introduce(st, io, button.dataset.introduce));
  });
  click('room-cancel', (st) => { st.ui.dialog = null; });

  const sendComposer = (st, io) => {
    const input = $('composer-input');
    // Sending from further up a long conversation shows its end, where the message goes.
    if (S.conv(st, st.ui.active).hasNewer) H.showNewest(st, io, st.ui.active);
    const sent = Convo.activeEdit(st) ? Convo.sendEdit(st, io, input.value) : C.sendText(st, io, input.value);
    if (sent) {
      input.value = '';
      Ind.typingStop(st, io);
    }
    input.focus();
  };
  submit('composer', sendComposer);
  const composerInput = $('composer-input');
  // A paste that would pass the limit is refused whole, with a message (never cut silently).
  composerInput.addEventListener('paste', (e) => {
    const pasted = e.clipboardData?.getData('text') ?? '';
    const { value, selectionStart, selectionEnd } = composerInput;
    act((st) => {
      if (!C.checkPaste(st, value.length, selectionEnd - selectionStart, pasted.length)) e.preventDefault();
    });
  });
  composerInput.addEventListener('input', () => {
    renderCounter();
    // Typing (not while editing an old message): said once a second, stopped after a pause.
    if (!Convo.activeEdit(state)) {
      act((st, io) => Ind.typingInput(st, io, composerInput.value));
      if (!typingTicker && state.ui.typingOut) {
        const tick = () => act((st, io) => {
          typingTicker = Ind.typingTick(st, io) ? setTimeout(tick, Ind.TYPING_REPEAT_MS) : null;
        });
        typingTicker = setTimeout(tick, Ind.TYPING_REPEAT_MS);
      }
    }
    // A length error no longer applies once the text fits again.
    if (state.ui.errors['composer-error'] && composerInput.value.length <= C.MAX_TEXT && /the limit is/.test(state.ui.errors['composer-error'])) {
      act((st) => C.setError(st, 'composer-error', ''));
    }
  });
  $('composer-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (!$('send-btn').disabled) act(sendComposer);
    }
    // Esc cancels the reply being written (the text stays) or the edit (the text goes).
    if (e.key === 'Escape' && Convo.activeEdit(state)) {
      e.preventDefault();
      e.stopPropagation();
      composerInput.value = '';
      act(Convo.cancelEdit);
    } else if (e.key === 'Escape' && state.ui.reply) {
      e.preventDefault();
      e.stopPropagation();
      act(Convo.cancelReply);
    }
    // ↑ in an empty message box edits our last message here.
    if (e.key === 'ArrowUp' && !composerInput.value && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      const last = Convo.lastEditable(state);
      if (last) {
        e.preventDefault();
        act((st) => startEditing(st, last));
      }
    }
  });
  click('reply-cancel', (st) => {
    if (Convo.activeEdit(st)) {
      composerInput.value = '';
      Convo.cancelEdit(st);
    } else {
      Convo.cancelReply(st);
    }
    $('composer-input').focus();
  });
  submit('name-form', (st, io) => {
    C.setName(st, io, $('name-input').value.trim());
    $('name-input').blur();
  });

  $('copy-key').addEventListener('click', (e) => state.info && copyText(e.currentTarget, state.info.public_key));
  for (const id of ['copy-addr', 'empty-copy-addr']) {
    $(id).addEventListener('click', (e) => {
      const addr = S.ownAddress(state);
      if (addr) copyText(e.currentTarget, addr.text);
    });
  }
  click('empty-go-connect', (st) => { st.ui.sidebarOpen = true; });
  $('empty-go-connect').addEventListener('click', () => $('connect-ip').focus());
  click('chat-verify', (st) => C.openVerify(st, st.ui.active));
  click('chat-accept', (st, io) => R.acceptRequest(st, io, R.requestKey(st.ui.active)));
  click('chat-block', (st, io) => {
    if (window.confirm(BLOCK_TEXT)) R.blockRequest(st, io, R.requestKey(st.ui.active));
  });
  click('chat-rename', (st, io) => (st.ui.renaming ? C.cancelRename(st, io) : C.openRename(st, io, st.ui.active)));
  submit('rename-form', (st, io) => C.saveRename(st, io, $('rename-input').value));
  click('rename-cancel', C.cancelRename);
  $('rename-input').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      act(C.cancelRename);
    }
  });
  $('chat-delete').addEventListener('click', () => {
    if (window.confirm(DELETE_CHAT_TEXT)) act((st, io) => H.deleteConversation(st, io, st.ui.active));
  });
  submit('search-form', (st, io) => H.startSearch(st, io, $('search-input').value, $('search-scope').value === 'open'));
  $('search-input').addEventListener('search', () => {
    if (!$('search-input').value) act((st, io) => H.startSearch(st, io, '', false));
  });
  click('search-clear', (st, io) => {
    $('search-input').value = '';
    H.startSearch(st, io, '', false);
  });
  $('verify-toggle').addEventListener('change', (e) => act((st, io) => C.setVerified(st, io, e.currentTarget.checked)));
  click('selftest-badge', (st) => { st.ui.dialog = 'checks'; });
  $('run-vectors').addEventListener('click', () => runAllVectors());
  click('menu-btn', (st) => { st.ui.sidebarOpen = !st.ui.sidebarOpen; });
  click('scrim', (st) => { st.ui.sidebarOpen = false; });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.ui.sidebarOpen) act((st) => { st.ui.sidebarOpen = false; });
  });
  watchDialogs((name) => {
    if (state.ui.dialog === name) act((st) => { st.ui.dialog = null; });
  });
  click('notify-enable', (st, io) => {
    // Asked only here, from the user's click: never on load.
    N.requestPermission().then(() => io.redraw());
  });
  $('notify-previews').addEventListener('change', (e) => act((st) => {
    st.prefs.previews = e.currentTarget.checked;
    N.savePrefs(st.prefs);
  }));
  click('chat-mute', (st) => {
    const id = st.ui.active;
    if (st.prefs.muted.has(id)) st.prefs.muted.delete(id);
    else st.prefs.muted.add(id);
    N.savePrefs(st.prefs);
  });
  document.addEventListener('visibilitychange', () => {
    const c = state.convs.get(state.ui.active);
    // Visible again: what is on screen now counts as read (the redraw tells our peer).
    if (!document.hidden) act(() => { if (c?.unread) c.unread = 0; });
  });
}

async function startCrypto(state, act) {
  try {
    await crypto.loadWasm();
    const result = crypto.selfTest();
    act((st) => {
      st.selfTest = result;
      S.checkAll(st);
    });
  } catch (err) {
    act((st) => { st.selfTest = { error: String(err?.message ?? err) }; });
  }
}

/** Edits our `message` in the composer: its text in the box, the cursor at its end. */
function startEditing(state, message) {
  if (!Convo.startEdit(state, message)) return;
  const input = $('composer-input');
  input.value = message.text;
  queueMicrotask(() => {
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
  });
}

/** The newest message row of the open chat in view (its top above the list's bottom edge): { from, id }. */
function newestOnScreen() {
  const list = $('messages');
  const bottom = list.getBoundingClientRect().bottom;
  const rows = list.querySelectorAll('li.msg[data-id]');
  for (let i = rows.length - 1; i >= 0; i -= 1) {
    if (rows[i].getBoundingClientRect().top < bottom) return { from: rows[i].dataset.from, id: rows[i].dataset.id };
  }
  return null;
}

/** Deleting for everyone asks first: it cannot be undone, and the others are told. */
const UNSEND_TEXT = 'Delete this message for everyone?\n\nIt is removed here and on every device it reached that honours deletes. This cannot be undone.';

/** The sender's name and, in a group, where: what a notification says about a message. */
function notificationOf(state, c, event) {
  const peer = state.peers.get(event.peer_id);
  const sender = (typeof event.name === 'string' && event.name.trim()) || S.peerLabel(peer);
  const room = state.rooms.get(c.id);
  const where = room ? room.name : c.id === S.EVERYONE ? 'Everyone' : '';
  return { convId: c.id, sender, where, text: event.text };
}

function main() {
  const state = S.createState();
  state.prefs = N.loadPrefs();
  const token = takeToken();
  let socket = null;
  let render = null;
  const io = {
    token,
    send: (action) => socket?.send(action) ?? null,
    later: (ms) => setTimeout(() => render(state), ms + 50),
    focus: (id) => queueMicrotask(() => $(id).focus()),
    pageVisible: () => !document.hidden,
    redraw: () => render(state),
    notify: (c, event) => N.notify(state.prefs, {
      ...notificationOf(state, c, event),
      hidden: document.hidden,
      onOpen: () => act((st) => C.selectConv(st, io, c.id)),
    }),
  };
  // Events are drawn together: a burst of a thousand messages is one redraw, not a thousand.
  let redrawPending = false;
  const redrawSoon = () => {
    if (redrawPending) return;
    redrawPending = true;
    setTimeout(() => {
      redrawPending = false;
      render(state);
    }, 0);
  };
  /** Runs a change to the state, then redraws. */
  const act = (fn) => {
    fn(state, io);
    render(state);
  };
  const draw = createRenderer({
    onSelect: (id) => act((st) => {
      Ind.typingStop(st, io);
      C.selectConv(st, io, id);
    }),
    onVerify: (id) => act((st) => C.openVerify(st, id)),
    onDisconnect: (id) => act((st) => C.disconnectPeer(st, io, id)),
    onConnectNearby: (id) => act((st) => Near.connectNearby(st, io, id)),
    onAcceptKey: (change) => act((st) => C.resolveKeyChange(st, io, change, true)),
    onRejectKey: (change) => act((st) => C.resolveKeyChange(st, io, change, false)),
    onLoadOlder: (id) => act((st) => C.loadOlder(st, io, id)),
    onLoadNewer: (id) => act((st) => W.loadNewer(st, io, id)),
    onShowNewest: (id) => act((st) => H.showNewest(st, io, id)),
    onOpenResult: (result) => act((st) => H.openResult(st, io, result)),
    onReply: (message) => act((st) => {
      Convo.startReply(st, message);
      io.focus('composer-input');
    }),
    onReact: (message, emoji) => io.send(Convo.reactAction(message, emoji)),
    onEdit: (message) => act((st) => startEditing(st, message)),
    onUnsend: (message) => {
      if (window.confirm(UNSEND_TEXT)) io.send({ action: 'delete_for_everyone', id: message.id });
    },
    onDeleteMessage: (message) => {
      if (window.confirm(DELETE_MESSAGE_TEXT)) act((st) => H.deleteMessage(st, io, message));
    },
    io,
    onFileControl: (action, message) => {
      if (action === 'cancel_file' && !window.confirm(`Cancel ${message.file.name}? This cannot be undone.`)) return;
      io.send({ action, from: message.mine ? 'me' : message.from, id: message.id });
    },
  });
  // After every redraw, and when the list scrolls: the open chat, in a visible tab, is read up to
  // the newest message on screen.
  const markRead = () => Ind.markRead(state, io, !document.hidden, newestOnScreen());
  render = (st) => {
    draw(st);
    markRead();
  };
  $('messages').addEventListener('scroll', markRead, { passive: true });
  wire(state, act, io);
  if (token) {
    socket = new PeerSocket(token, {
      onEvent: (event) => {
        if (applyEvent(state, event, io)) redrawSoon();
      },
      onState: (kind, detail) => act((st) => {
        if (kind === 'open') {
          S.connectionOpened(st);
          Ind.connectionOpened(st);
        }
        else if (kind === 'waiting') {
          S.connectionLost(st, detail);
          Ind.clearTyping(st);
        }
        else {
          st.connection.kind = kind;
          st.connection.failures = detail.failures;
        }
      }),
    });
    socket.connect();
  } else {
    state.connection.kind = 'none';
  }
  render(state);
  startCrypto(state, act);
}

main();
