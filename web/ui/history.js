// Search, opening a conversation at a found message, and deleting on this device
// (PROTOCOL.md §8.5): the state they keep and the actions they send. No DOM here (search-view.js
// draws the results; messages.js the focused message and the delete buttons).

import * as S from './state.js';
import { loadHistory, send, toast } from './commands.js';

/** Results one search asks for. */
const SEARCH_LIMIT = 50;
/** Messages shown on each side of a found message. */
const AROUND = 25;
/** The longest query the peer accepts. */
export const MAX_QUERY = 256;

/** The search state, made on first use: { query, scope, pending, results, more, error, version }. */
export function search(state) {
  state.search ??= { query: '', conv: null, pending: false, done: false, results: [], more: false, error: '', version: 0 };
  return state.search;
}

/** Sends `search` for `query`, in the open conversation when `inOpen`, else everywhere. */
export function startSearch(state, io, query, inOpen) {
  const s = search(state);
  s.query = query.trim();
  s.conv = inOpen ? state.ui.active : null;
  s.results = [];
  s.more = false;
  s.error = '';
  s.done = false;
  s.version += 1;
  if (!s.query) {
    s.pending = false;
    return;
  }
  if (s.query.length > MAX_QUERY) {
    s.error = `A search may be at most ${MAX_QUERY} characters.`;
    return;
  }
  const action = { action: 'search', query: s.query, limit: SEARCH_LIMIT };
  if (s.conv) action.conversation = s.conv;
  s.pending = io.send(action) !== null;
  if (!s.pending) s.error = 'Not connected to your peer.';
}

/** Applies `search_results`; an answer to an older query (typed over since) is dropped. */
export function applySearchResults(state, event) {
  const s = search(state);
  if (event.query !== s.query || (event.conversation ?? null) !== s.conv) return;
  s.pending = false;
  s.done = true;
  s.more = event.more === true;
  s.results = (Array.isArray(event.results) ? event.results : [])
    .filter((r) => r && typeof r.conversation === 'string' && typeof r.snippet === 'string' && Number.isSafeInteger(r.seq))
    .map((r) => ({
      conversation: r.conversation,
      seq: r.seq,
      id: S.str(r.id),
      from: S.str(r.from),
      name: S.str(r.name).trim(),
      at: Number(r.direction === 'out' ? r.sent_at : r.received_at) || 0,
      snippet: r.snippet,
      ranges: Array.isArray(r.ranges) ? r.ranges.filter((x) => Array.isArray(x) && x.length === 2 && x.every(Number.isSafeInteger)) : [],
      cutBefore: r.cut_before === true,
      cutAfter: r.cut_after === true,
    }));
  s.version += 1;
}

/** The peer refused the search (an `error` for `search`). */
export function searchFailed(state, message) {
  const s = search(state);
  s.pending = false;
  s.error = message;
  s.version += 1;
}

/** Forgets what the page holds of a conversation's messages (before showing another part of it). */
export function resetConv(state, convId) {
  const c = S.conv(state, convId);
  for (const m of c.messages) state.byKey.delete(S.messageKey(m));
  c.messages = [];
  c.oldestSeq = null;
  c.hasMore = false;
  c.hasNewer = false;
  c.loadingNewer = false;
  c.loadingOlder = false;
  c.stale = false;
  return c;
}

/** Opens a result: its conversation, showing the messages around it (`history_around`). */
export function openResult(state, io, result) {
  state.ui.active = result.conversation;
  state.ui.sidebarOpen = false;
  const c = resetConv(state, result.conversation);
  c.unread = 0;
  // What is on screen is this window, not the newest page: nothing else loads it over.
  c.loadedGen = state.connection.generation;
  c.previewGen = state.connection.generation;
  c.loading = true;
  state.ui.focus = { conv: result.conversation, seq: result.seq, shown: false };
  send(state, io, { action: 'history_around', conversation: result.conversation, seq: result.seq, limit: AROUND });
}

/** A `history` answering `history_around`: whether newer messages are left out, and which row to show. */
export function aroundLoaded(state, c, event) {
  c.hasNewer = event.has_newer === true;
  state.ui.focus = { conv: c.id, seq: event.around, shown: false };
}

/** "Show newest messages" under a window opened from a search. */
export function showNewest(state, io, convId) {
  resetConv(state, convId);
  state.ui.focus = null;
  loadHistory(state, io, convId);
}

/** Deletes one message on this device. */
export function deleteMessage(state, io, message) {
  if (!message?.conv || !message.id) return;
  send(state, io, { action: 'delete_message', conversation: message.conv, id: message.id, from: message.mine ? 'me' : message.from });
}

/** Deletes a conversation's history on this device. */
export function deleteConversation(state, io, convId) {
  send(state, io, { action: 'delete_conversation', conversation: convId });
}

function dropResults(state, keep) {
  const s = search(state);
  const before = s.results.length;
  s.results = s.results.filter(keep);
  if (s.results.length !== before) s.version += 1;
}

/** Applies `message_deleted`. */
export function applyMessageDeleted(state, event, io) {
  const convId = S.str(event.conversation);
  const c = state.convs.get(convId);
  const from = typeof event.from === 'string' ? event.from : null;
  const gone = (m) => m.id === event.id && !m.change && (from === null || m.from === from);
  if (c) {
    for (const m of c.messages.filter(gone)) state.byKey.delete(S.messageKey(m));
    c.messages = c.messages.filter((m) => !gone(m));
  }
  dropResults(state, (r) => !(r.conversation === convId && r.id === event.id && (from === null || r.from === from)));
  // A disappearing message that expired (timer.js) goes quietly; a user's delete is confirmed.
  if (event.reason !== 'expired') toast(state, io, 'Message deleted on this device only. Others keep their copies.');
}

/** Applies `conversation_deleted`. */
export function applyConversationDeleted(state, event, io) {
  const convId = S.str(event.conversation);
  if (state.convs.has(convId)) {
    const c = resetConv(state, convId);
    c.unread = 0;
    c.lastAt = 0;
  }
  dropResults(state, (r) => r.conversation !== convId);
  toast(state, io, 'Chat history deleted on this device only. Others keep their copies.');
}
