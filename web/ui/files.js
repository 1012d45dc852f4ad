// Files and pictures (PROTOCOL.md §8.11): uploading what the user attaches or drops (POST /files,
// the token in a header, never through the WebSocket), the `file` of a message and its
// `file_progress`, and showing a file: a picture inline from a blob: URL only when its type is an
// image type and the SHA-256 this page computes over the bytes equals the offered one; anything
// else a download link. Nothing here ever opens a file.

import { el } from './dom.js';
import { EVERYONE, REQUEST_CONV_PREFIX } from './state.js';

/** Media types shown inline, once their hash is checked. SVG is not one: it can hold script. */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

/** The header that carries the launch token on the file routes. */
const TOKEN_HEADER = 'X-P2P-Chat-Token';

const STATES = new Set(['waiting', 'sending', 'receiving', 'paused', 'complete', 'failed', 'cancelled', 'refused']);

/** The `file` of a `peer_message`, `message_sent` or `history` entry, checked; null if none. */
export function fileOf(raw) {
  if (!raw || typeof raw !== 'object' || typeof raw.key !== 'string') return null;
  return {
    key: raw.key,
    name: typeof raw.name === 'string' ? raw.name : 'file',
    size: Number(raw.size) || 0,
    mediaType: typeof raw.media_type === 'string' ? raw.media_type : 'application/octet-stream',
    sha256: typeof raw.sha256 === 'string' ? raw.sha256.toLowerCase() : '',
    state: STATES.has(raw.state) ? raw.state : 'waiting',
    bytes: Number(raw.bytes) || 0,
    rate: 0,
    reason: '',
    peers: new Map(), // our file in a room: peer_id -> { state, bytes, rate }
  };
}

/** Applies `file_progress` to the message it is about. Returns whether anything changed. */
export function applyFileProgress(state, event) {
  if (typeof event.id !== 'string') return false;
  const sender = event.from === 'me' ? 'me' : String(event.from ?? '');
  const message = state.byKey.get(`${sender}/${event.id}`);
  const file = message?.file;
  if (!file) return false;
  const entry = {
    state: STATES.has(event.state) ? event.state : file.state,
    bytes: Number(event.bytes) || 0,
    rate: Number(event.rate) || 0,
    reason: typeof event.reason === 'string' ? event.reason : '',
  };
  if (event.direction === 'out' && typeof event.peer_id === 'string') file.peers.set(event.peer_id, entry);
  // Ours to several members: show the least advanced; otherwise the transfer itself.
  const shown = file.peers.size ? leastAdvanced([...file.peers.values()]) : entry;
  Object.assign(file, shown);
  return true;
}

const RANK = { failed: 0, cancelled: 0, refused: 0, paused: 1, waiting: 2, sending: 3, receiving: 3, complete: 4 };

function leastAdvanced(entries) {
  return entries.reduce((a, b) => ((RANK[b.state] ?? 2) < (RANK[a.state] ?? 2)
    || ((RANK[b.state] ?? 2) === (RANK[a.state] ?? 2) && b.bytes < a.bytes) ? b : a));
}

/** What of a file a row shows, so the row is redrawn when it changes. */
export function fileSignature(state, message) {
  const file = message.file;
  if (!file) return '';
  const preview = state.filePreviews.get(file.key);
  return `${file.state}:${file.bytes}:${file.rate}:${file.reason}:${preview?.status ?? ''}`;
}

/** "1.5 MB" */
export function sizeText(bytes) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "2 min 5 s" */
function durationText(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The line under a file: how far it got, how fast, how long is left, or why it stopped. */
export function progressText(file, mine) {
  const done = `${sizeText(file.bytes)} of ${sizeText(file.size)}`;
  switch (file.state) {
    case 'complete': return mine ? `${sizeText(file.size)} · received and verified` : `${sizeText(file.size)} · verified`;
    case 'sending':
    case 'receiving': {
      const left = file.rate > 0 ? ` · ${durationText((file.size - file.bytes) / file.rate)} left` : '';
      const speed = file.rate > 0 ? ` · ${sizeText(file.rate)}/s` : '';
      return `${file.state === 'sending' ? 'Sending' : 'Receiving'} ${done}${speed}${left}`;
    }
    case 'paused': return `Paused at ${done}${file.reason === 'paused by the other side' ? ' by the other side' : ''}`;
    case 'waiting': return mine ? `${sizeText(file.size)} · waiting for the recipient` : `${sizeText(file.size)} · waiting`;
    case 'refused': return `Refused: ${file.reason || 'by the recipient'}`;
    case 'failed': return `Failed: ${file.reason || 'unknown'}`;
    case 'cancelled': return `Cancelled${file.reason ? `: ${file.reason}` : ''}`;
    default: return sizeText(file.size);
  }
}

/** Uploads each of `files` (a FileList or array) and sends it to conversation `to`. */
export async function sendFiles(io, files, to, onError) {
  for (const file of files) {
    try {
      const response = await fetch('/files', {
        method: 'POST',
        headers: { [TOKEN_HEADER]: io.token },
        body: file,
      });
      if (response.status !== 201) {
        onError(`${file.name}: ${(await response.text()).trim() || `upload failed (${response.status})`}`);
        continue;
      }
      const { upload } = await response.json();
      io.send({ action: 'send_file', upload, name: file.name || 'file', media_type: file.type || undefined, to });
    } catch (err) {
      onError(`${file.name}: ${err?.message ?? err}`);
    }
  }
}

/** The file's bytes, fetched with the token (a plain link could not carry it). */
async function fetchBlob(io, file, type) {
  const response = await fetch(`/files/${encodeURIComponent(file.key)}`, { headers: { [TOKEN_HEADER]: io.token } });
  if (!response.ok) throw new Error(`download failed (${response.status})`);
  const bytes = await response.arrayBuffer();
  return { bytes, blob: new Blob([bytes], { type }) };
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Starts loading a complete picture for inline display, if it is one; redraws when done. */
export function ensurePreview(state, io, file) {
  if (!file || file.state !== 'complete' || !INLINE_TYPES.has(file.mediaType)) return;
  if (state.filePreviews.has(file.key)) return;
  state.filePreviews.set(file.key, { status: 'loading', url: null });
  fetchBlob(io, file, file.mediaType)
    .then(async ({ bytes, blob }) => {
      const hash = await sha256Hex(bytes);
      const ok = hash === file.sha256;
      state.filePreviews.set(file.key, ok
        ? { status: 'ready', url: URL.createObjectURL(blob) }
        : { status: 'mismatch', url: null });
    })
    .catch(() => state.filePreviews.set(file.key, { status: 'error', url: null }))
    .finally(() => io.redraw());
}

/** Saves the file: fetched with the token into a blob, then handed to the browser's download. */
async function download(io, file) {
  const { blob } = await fetchBlob(io, file, 'application/octet-stream');
  const url = URL.createObjectURL(blob);
  const link = el('a', { attrs: { href: url, download: file.name, rel: 'noopener' } });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The buttons a transfer offers now. */
function controls(message, onControl) {
  const { file } = message;
  const button = (action, text) => el('button', {
    class: `file-control file-${action}`, text, attrs: { type: 'button' },
    on: { click: () => onControl(action, message) },
  });
  switch (file.state) {
    case 'waiting':
    case 'sending':
    case 'receiving': return [button('pause_file', 'Pause'), button('cancel_file', 'Cancel')];
    case 'paused': return [
      file.reason === 'paused by the other side' ? null : button('resume_file', 'Resume'),
      button('cancel_file', 'Cancel')];
    case 'failed':
    case 'refused':
    case 'cancelled': return [button('retry_file', 'Retry')];
    default: return [];
  }
}

/** The card a file message shows: picture or name, progress, controls, download. */
export function fileCard(state, io, message, onControl) {
  const { file } = message;
  ensurePreview(state, io, file);
  const preview = state.filePreviews.get(file.key);
  const moving = ['sending', 'receiving', 'paused', 'waiting'].includes(file.state);
  const percent = file.size ? Math.min(100, Math.floor((file.bytes / file.size) * 100)) : 100;
  const picture = preview?.status === 'ready'
    ? el('img', { class: 'file-image', attrs: { src: preview.url, alt: file.name } })
    : null;
  const saveable = file.state === 'complete' || message.mine;
  return el('div', { class: 'file-card', attrs: { 'data-state': file.state, 'data-key': file.key } },
    picture,
    el('div', { class: 'file-head' },
      saveable
        ? el('a', {
          class: 'file-name', text: file.name,
          attrs: { href: '#', title: `Save ${file.name} (SHA-256 ${file.sha256})` },
          on: { click: (e) => { e.preventDefault(); download(io, file).catch(() => {}); } },
        })
        : el('span', { class: 'file-name', text: file.name })),
    moving ? el('progress', { class: 'file-progress', attrs: { max: 100, value: percent } }) : null,
    el('span', { class: 'file-status', text: progressText(file, message.mine) }),
    preview?.status === 'mismatch' ? el('span', { class: 'file-warning', text: 'Not shown: its bytes do not match the offered SHA-256' }) : null,
    el('span', { class: 'file-controls' }, ...controls(message, onControl)));
}

/** Whether the open conversation takes files: a contact's chat or a room we are in (never
 * "everyone", never a message request). */
export function canAttach(state) {
  if (state.connection.kind !== 'open') return false;
  const id = state.ui.active;
  if (id === EVERYONE || id.startsWith(REQUEST_CONV_PREFIX)) return false;
  const room = state.rooms.get(id);
  if (room) return room.member !== false;
  return Boolean(state.peers.get(id)?.contact);
}
