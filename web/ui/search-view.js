// The search panel's results (PROTOCOL.md §8.5), drawn from the state. Each result shows where
// and who, and the peer's snippet with the matches in <mark> elements made from the ranges: the
// text is untrusted and only ever becomes text nodes.

import { $, el, shortTime, fullTime } from './dom.js';
import { convTitle, EVERYONE } from './state.js';
import { search } from './history.js';

/**
 * The snippet as nodes: text, <mark> for each range (UTF-16 offsets, as JavaScript strings
 * index), text. Ranges that overlap, run backwards or pass the end are skipped.
 */
export function snippetNodes(text, ranges, cutBefore = false, cutAfter = false) {
  const nodes = [];
  if (cutBefore) nodes.push(document.createTextNode('…'));
  let at = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (start < at || end > text.length || start >= end) continue;
    if (start > at) nodes.push(document.createTextNode(text.slice(at, start)));
    nodes.push(el('mark', { text: text.slice(start, end) }));
    at = end;
  }
  if (at < text.length) nodes.push(document.createTextNode(text.slice(at)));
  if (cutAfter) nodes.push(document.createTextNode('…'));
  return nodes;
}

function statusText(state, s) {
  if (s.error) return s.error;
  if (s.pending) return 'Searching…';
  if (!s.done) return '';
  const where = s.conv ? ` in ${s.conv === EVERYONE ? 'Everyone' : convTitle(state, s.conv)}` : '';
  if (s.results.length === 0) return `No messages found${where}.`;
  const count = `${s.results.length}${s.more ? '+' : ''} message${s.results.length === 1 && !s.more ? '' : 's'}`;
  return `${count} found${where}${s.more ? ' (the newest shown)' : ''}.`;
}

/** A view of #search-results; call `render(state, { onOpenResult })` after every change. */
export function createSearchView() {
  let shown = -1; // the search version on screen
  return function render(state, { onOpenResult }) {
    const s = search(state);
    const status = $('search-status');
    status.textContent = statusText(state, s);
    status.classList.toggle('form-error', Boolean(s.error));
    $('search-clear').hidden = !s.query;
    if (shown === s.version) return;
    shown = s.version;
    $('search-results').replaceChildren(...s.results.map((r) => {
      // In a one-to-one chat the conversation already names the other side.
      const who = r.from === 'me' ? 'You' : r.from === r.conversation ? '' : r.name || 'Unnamed peer';
      return el('li', { class: 'search-hit' },
        el('button', {
          class: 'search-hit-btn',
          attrs: { type: 'button', 'data-conversation': r.conversation, 'data-seq': r.seq },
          on: { click: () => onOpenResult(r) },
        },
        el('span', { class: 'search-hit-head' },
          el('span', { class: 'search-hit-conv', text: convTitle(state, r.conversation) }),
          who ? el('span', { class: 'search-hit-who', text: who }) : null,
          el('time', { class: 'search-hit-time', text: shortTime(r.at), attrs: { title: fullTime(r.at) } })),
        el('span', { class: 'search-hit-text' }, ...snippetNodes(r.snippet, r.ranges, r.cutBefore, r.cutAfter))));
    }));
  };
}
