// The part of a conversation the page holds: a window of at most MAX_WINDOW items, moved a page
// at a time as the user scrolls (load_history with `before` or `after`, PROTOCOL.md §8.1). A
// conversation of 100,000 messages then costs the page what one of 200 does: the state, and the
// rows messages.js draws from it, stay bounded. No DOM here (messages.js reports the scrolling).
//
// The window is contiguous: it holds every message between its oldest and newest. `hasMore` says
// older messages exist before it, `hasNewer` that newer ones exist after it (then live messages
// are not added: the newer pages bring them when the user gets there).

import * as S from './state.js';
import { send } from './commands.js';

/** Messages per page loaded while scrolling. */
export const PAGE = 50;
/** Most items (messages and timeline lines) a conversation's window holds. */
export const MAX_WINDOW = 200;

function seqs(c) {
  return c.messages.filter((m) => !m.change && Number.isSafeInteger(m.seq)).map((m) => m.seq);
}

/** The oldest and newest `seq` in the window (null when none is known). */
export function edges(c) {
  const all = seqs(c);
  return all.length ? { oldest: Math.min(...all), newest: Math.max(...all) } : { oldest: null, newest: null };
}

function forget(state, items) {
  for (const m of items) state.byKey.delete(S.messageKey(m));
}

/** Drops the oldest items beyond MAX_WINDOW: the window then starts later, with older ones left. */
export function trimOldest(state, c) {
  const extra = c.messages.length - MAX_WINDOW;
  if (extra <= 0) return;
  forget(state, c.messages.splice(0, extra));
  c.hasMore = true;
  c.oldestSeq = edges(c).oldest;
}

/** Drops the newest items beyond MAX_WINDOW: the window then ends earlier, with newer ones left. */
export function trimNewest(state, c) {
  const extra = c.messages.length - MAX_WINDOW;
  if (extra <= 0) return;
  forget(state, c.messages.splice(MAX_WINDOW, extra));
  c.hasNewer = true;
}

/**
 * Whether a live message may join the window: only at its newest end. Elsewhere the message is
 * left to the newer pages (and counts as unread as usual).
 */
export function takesLive(c) {
  return !c.hasNewer;
}

/**
 * A live message joined the window: the oldest items go when it is full, unless the user reads
 * further up the open conversation; then the window stops following (the newest items go, and
 * "Show newest messages" or scrolling down brings them back).
 */
export function afterLive(state, c) {
  if (c.messages.length <= MAX_WINDOW) return;
  if (c.id === state.ui.active && state.ui.atBottom === false) trimNewest(state, c);
  else trimOldest(state, c);
}

/**
 * Before a page that replaces the window (the newest page after a reconnect or a resync): what the
 * window held may have holes, so it goes, except messages newer than the page (live ones that
 * overtook it).
 */
export function replaceWindow(state, c, event) {
  if (!c.stale) return;
  c.stale = false;
  const pageSeqs = (Array.isArray(event.messages) ? event.messages : [])
    .filter((m) => m && m.kind !== 'room_change' && m.kind !== 'timer' && Number.isSafeInteger(m.seq))
    .map((m) => m.seq);
  const newest = pageSeqs.length ? Math.max(...pageSeqs) : -Infinity;
  const keep = (m) => !m.change && Number.isSafeInteger(m.seq) && m.seq > newest;
  forget(state, c.messages.filter((m) => !keep(m)));
  c.messages = c.messages.filter(keep);
  c.oldestSeq = null;
  c.hasMore = false;
  c.hasNewer = false;
}

/**
 * Drops a `history` page that answers a request made before the window moved (a "Show newest
 * messages", a search result opened, a resync, a trim at that end): a page older or newer than a
 * message that is no longer the window's edge would leave a hole in it. The peer repeats the
 * `before` or `after` it was asked (PROTOCOL.md §8.1). Returns whether the page was dropped; if
 * its request was still the one pending at that end, scrolling may ask again.
 */
export function dropLateAnswer(c, event) {
  if (Number.isSafeInteger(event.after)) {
    if (c?.loadingNewer && event.after === edges(c).newest) return false;
    if (c?.loadingNewer) c.loadingNewer = false;
    return true;
  }
  if (Number.isSafeInteger(event.before)) {
    if (c?.loadingOlder && event.before === c.oldestSeq) return false;
    if (c?.loadingOlder) {
      c.loadingOlder = false;
      c.loading = false;
    }
    return true;
  }
  return false;
}

/** After a page was merged in: the window is trimmed at the end away from where it grew. */
export function afterPage(state, c, event) {
  if (Number.isSafeInteger(event.after)) {
    c.hasNewer = event.has_newer === true;
    c.loadingNewer = false;
    trimOldest(state, c);
  } else if (Number.isSafeInteger(event.before)) {
    trimNewest(state, c);
  } else if (!Number.isSafeInteger(event.around)) {
    // The newest page: the window ends at the live end.
    c.hasNewer = false;
    trimOldest(state, c);
  }
}

/** Loads the page after the window's newest message. */
export function loadNewer(state, io, convId) {
  const c = S.conv(state, convId);
  const { newest } = edges(c);
  if (c.loading || c.loadingNewer || !c.hasNewer || newest === null) return;
  if (send(state, io, { action: 'load_history', conversation: convId, after: newest, limit: PAGE }) === null) return;
  c.loadingNewer = true;
}

/** Marks every conversation's window for replacement by the next newest page. */
export function markStale(state) {
  for (const c of state.convs.values()) c.stale = true;
}
