// Message text with its http(s) addresses made clickable (README, "Links"). Built from text
// nodes and <a> elements made with the DOM API, never from markup, so a message can add nothing
// but text and links to the page. Only `http:` and `https:` addresses become links: `javascript:`,
// `data:`, `file:` and every other scheme stay text. Nothing here fetches anything: there are no
// link previews, which would tell a sender's server that (and from where) the message was read.

import { el } from './dom.js';

/** An http(s) address, up to white space or a character that never ends one in prose. */
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`\u0000-\u001f\u007f]+/giu;

/** Punctuation that ends a sentence rather than the address ("see https://x.org/a."). */
const TRAILING = /[.,;:!?)\]}»”’]+$/u;

/** Longest address made a link; a longer run stays text (it is likely junk, not a link). */
const MAX_URL_CHARS = 2048;

/** The address `candidate` names if it is a well-formed http(s) URL, else null. */
export function safeHref(candidate) {
  if (candidate.length > MAX_URL_CHARS) return null;
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (!url.hostname) return null;
  return url.href;
}

/** Keeps a closing bracket that the address itself opened ("https://en.wikipedia.org/wiki/A_(b)"). */
function trimTrailing(candidate) {
  let text = candidate.replace(TRAILING, '');
  const rest = candidate.slice(text.length);
  for (const ch of rest) {
    const open = { ')': '(', ']': '[', '}': '{' }[ch];
    if (open && text.split(open).length > text.split(ch).length) text += ch;
    else break;
  }
  return text;
}

/**
 * `text` split into strings (text) and { href, text } pieces (links), in order. Pure, for tests and
 * for `linkified`.
 */
export function splitLinks(text) {
  const pieces = [];
  let last = 0;
  for (const match of String(text).matchAll(URL_PATTERN)) {
    const candidate = trimTrailing(match[0]);
    const href = safeHref(candidate);
    if (!href) continue;
    if (match.index > last) pieces.push(text.slice(last, match.index));
    pieces.push({ href, text: candidate });
    last = match.index + candidate.length;
  }
  if (last < text.length) pieces.push(text.slice(last));
  return pieces;
}

/** The nodes showing `text`, with its http(s) addresses as links that open in a new tab. */
export function linkified(text) {
  return splitLinks(String(text ?? '')).map((piece) => (typeof piece === 'string'
    ? document.createTextNode(piece)
    : el('a', {
      class: 'msg-link',
      text: piece.text,
      attrs: {
        href: piece.href, rel: 'noopener noreferrer', target: '_blank', referrerpolicy: 'no-referrer',
      },
    })));
}
