// Small DOM helpers. Everything a peer can influence goes through textContent, never innerHTML.

/** The element with this id (the page is static, so a missing id is a bug in index.html). */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`index.html has no #${id}`);
  return node;
}

/**
 * Creates an element. `props.class` sets className, `props.text` sets textContent, `props.attrs`
 * sets attributes, `props.on` adds listeners; other children are appended (strings become text).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [event, handler] of Object.entries(props.on ?? {})) node.addEventListener(event, handler);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Shows `message` in an inline error element, or hides it when message is empty. */
export function showError(node, message) {
  node.textContent = message ?? '';
  node.hidden = !message;
}

/** Copies text to the clipboard and briefly confirms on the button. */
export async function copyText(button, text) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    // Clipboard access can be refused (no user gesture, insecure context): select-and-copy fallback.
    const area = el('textarea', { class: 'visually-hidden', attrs: { readonly: true } });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    button.textContent = ok ? 'Copied' : 'Copy failed';
  }
  setTimeout(() => { button.textContent = label; }, 1500);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** "14:05" today, "3 Nov" otherwise. */
export function shortTime(ms) {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return '';
  const now = new Date();
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dayFormat.format(date);
}

/** Time of day for a message bubble. */
export function clockTime(ms) {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '' : timeFormat.format(date);
}

/** Full date and time, for tooltips. */
export function fullTime(ms) {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? '' : fullFormat.format(date);
}

/** One or two letters for an avatar. */
export function initials(name) {
  // Letters and digits only, so a name like "<img src=x>" gives "IS", not "<S".
  const words = String(name ?? '').split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  if (words.length === 0) return '?';
  const letters = words.length === 1 ? [[...words[0]][0]] : [[...words[0]][0], [...words[1]][0]];
  return letters.join('').toUpperCase();
}

/** A stable colour class (`hue-0` … `hue-7`, defined in style.css) so each peer keeps its avatar colour. */
export function hueClass(text) {
  let hash = 0;
  for (const ch of String(text)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hue-${hash % 8}`;
}

/** First and last few characters of a long string. */
export function truncateMiddle(text, head = 8, tail = 6) {
  const s = String(text ?? '');
  return s.length <= head + tail + 1 ? s : `${s.slice(0, head)}…${s.slice(-tail)}`;
}

/** "just now", "5 min ago", "at 14:05" (today), "yesterday", "3 Nov". */
export function lastSeenText(ms, now = Date.now()) {
  const date = new Date(ms);
  if (!ms || Number.isNaN(date.getTime())) return '';
  const minutes = Math.floor((now - ms) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const today = new Date(now);
  if (date.toDateString() === today.toDateString()) return `at ${timeFormat.format(date)}`;
  const yesterday = new Date(now - 86400000);
  if (date.toDateString() === yesterday.toDateString()) return 'yesterday';
  return dayFormat.format(date);
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A small inline SVG icon drawn with currentColor; `shapes` are [tag, attributes] pairs. */
export function icon(className, viewBox, shapes) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('class', className);
  svg.setAttribute('viewBox', viewBox);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const [tag, attrs] of shapes) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    svg.append(node);
  }
  return svg;
}
