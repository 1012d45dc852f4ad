// Replies, reactions, edits and deletes for everyone in the page's state (PROTOCOL.md §8.6,
// §8.7). No DOM here: messages.js draws the quote above a reply and the reactions under a
// message; this file reads them from events and applies the peer's `reaction`,
// `message_edited` and `message_unsent` events. A quote's text is the one our own peer looked up in its
// history (`reply_to.text`), never anything the other side sent as quoted text.

/** The reactions the page offers in its picker (any emoji of up to 32 bytes may arrive). */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🎉'];

const MAX_EMOJI_BYTES = 32;

function str(value) {
  return typeof value === 'string' ? value : '';
}

/** `reply_to` of an event or history entry: { from, id, text (or null), name (or null) } or null. */
export function quoteOf(reply) {
  if (!reply || typeof reply !== 'object' || !str(reply.id) || !str(reply.from)) return null;
  return {
    from: reply.from,
    id: reply.id,
    text: typeof reply.text === 'string' ? reply.text : null,
    name: typeof reply.name === 'string' && reply.name.trim() ? reply.name.trim() : null,
  };
}

function validEmoji(emoji) {
  return typeof emoji === 'string' && emoji.length > 0 && new TextEncoder().encode(emoji).length <= MAX_EMOJI_BYTES;
}

/** `reactions` of a history entry: a Map of who ("me" or a peer_id) → emoji. */
export function reactionsOf(list) {
  const reactions = new Map();
  if (!Array.isArray(list)) return reactions;
  for (const r of list) {
    if (r && typeof r.by === 'string' && r.by && validEmoji(r.emoji)) reactions.set(r.by, r.emoji);
  }
  return reactions;
}

/**
 * Applies a `reaction` event to the message it names, if the page holds it; returns whether it
 * did. (A message not loaded yet gets its reactions with its history.)
 */
export function applyReaction(state, event) {
  const from = str(event.from);
  const id = str(event.id);
  const by = str(event.by);
  if (!from || !id || !by) return false;
  const message = state.byKey.get(`${from}/${id}`);
  if (!message) return false;
  if (!message.reactions) message.reactions = new Map();
  if (validEmoji(event.emoji)) message.reactions.set(by, event.emoji);
  else message.reactions.delete(by);
  return true;
}

/** Reactions grouped by emoji, in order of first use: [{ emoji, by: [who…], mine }]. */
export function reactionGroups(message) {
  const groups = new Map();
  for (const [by, emoji] of message.reactions ?? []) {
    if (!groups.has(emoji)) groups.set(emoji, { emoji, by: [], mine: false });
    const group = groups.get(emoji);
    group.by.push(by);
    if (by === 'me') group.mine = true;
  }
  return [...groups.values()];
}

/** The `react` action for toggling `emoji` on `message`. */
export function reactAction(message, emoji) {
  return { action: 'react', from: message.mine ? 'me' : message.from, id: message.id, emoji };
}

/** Starts a reply to `message` in its conversation (the composer shows it until sent or cancelled). */
export function startReply(state, message) {
  state.ui.reply = {
    conv: message.conv, from: message.mine ? 'me' : message.from, id: message.id, name: message.name, text: message.text,
  };
}

export function cancelReply(state) {
  state.ui.reply = null;
}

/** The reply being written in the open conversation, or null. */
export function activeReply(state) {
  const reply = state.ui.reply;
  return reply && reply.conv === state.ui.active ? reply : null;
}

/** Applies `message_edited` / `message_unsent` to the message it names, if shown. */
export function applyAmendment(state, event, unsent) {
  const message = state.byKey.get(`${str(event.from)}/${str(event.id)}`);
  if (!message) return false;
  if (unsent) {
    message.unsent = true;
    message.text = '';
    message.reactions = new Map();
    message.editedAt = null;
    if (state.ui.editing?.id === message.id && message.mine) state.ui.editing = null;
  } else if (typeof event.text === 'string') {
    message.text = event.text;
    message.editedAt = Number(event.edited_at) || Date.now();
  }
  return true;
}

/** Starts editing our `message` (the composer holds its text until sent or cancelled). */
export function startEdit(state, message) {
  if (!message.mine || message.unsent) return false;
  state.ui.reply = null;
  state.ui.editing = { conv: message.conv, id: message.id, text: message.text };
  return true;
}

/** Our newest message in the open conversation that can still be edited (for ↑), or null. */
export function lastEditable(state) {
  const c = state.convs.get(state.ui.active);
  return [...(c?.messages ?? [])].reverse().find((m) => m.mine && !m.unsent && !m.change) ?? null;
}

export function cancelEdit(state) {
  state.ui.editing = null;
}

/** The edit being written in the open conversation, or null. */
export function activeEdit(state) {
  const editing = state.ui.editing;
  return editing && editing.conv === state.ui.active ? editing : null;
}

/** Sends the edit; false (nothing sent) for empty text. */
export function sendEdit(state, io, text) {
  const editing = activeEdit(state);
  if (!editing || !text.trim()) return false;
  if (text !== editing.text) io.send({ action: 'edit_message', id: editing.id, text });
  state.ui.editing = null;
  return true;
}
