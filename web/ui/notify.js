// Notifications, the unread count in the tab's title and the favicon badge (README,
// "Notifications"). Everything here stays in this page: a notification is shown by this browser,
// from a message our own peer already delivered; nothing is sent anywhere.
//
// The preferences (previews on or off, which conversations are muted) are kept in this browser's
// localStorage, next to the notification permission they go with: both belong to this browser
// profile, not to the peer (a second browser on the same peer asks and mutes on its own).

const PREFS_KEY = 'p2p-chat-notify';

/** Longest preview of a message's text in a notification. */
export const PREVIEW_CHARS = 120;

/** Conversations muted at most; a bound, so a broken page cannot grow localStorage without end. */
const MAX_MUTED = 1000;

/** { previews: bool, muted: Set<convId> } as saved, or the defaults (previews on, nothing muted). */
export function loadPrefs(storage = globalThis.localStorage) {
  try {
    const saved = JSON.parse(storage?.getItem(PREFS_KEY) ?? 'null');
    const muted = Array.isArray(saved?.muted) ? saved.muted.filter((id) => typeof id === 'string') : [];
    return { previews: saved?.previews !== false, muted: new Set(muted.slice(0, MAX_MUTED)) };
  } catch {
    return { previews: true, muted: new Set() };
  }
}

export function savePrefs(prefs, storage = globalThis.localStorage) {
  try {
    storage?.setItem(PREFS_KEY, JSON.stringify({ previews: prefs.previews, muted: [...prefs.muted].slice(0, MAX_MUTED) }));
  } catch {
    // Storage full or refused (private mode): the setting holds for this visit only.
  }
}

/** 'unsupported', 'default' (not asked yet), 'granted' or 'denied'. */
export function permission() {
  if (typeof globalThis.Notification !== 'function') return 'unsupported';
  return globalThis.Notification.permission;
}

/** Asks the browser for permission; only ever called from the user's click on the button. */
export async function requestPermission() {
  if (permission() !== 'default') return permission();
  try {
    return await globalThis.Notification.requestPermission();
  } catch {
    return permission();
  }
}

/** Title and body of the notification for `message` (previews off: "New message", nobody named). */
export function notificationText(prefs, sender, where, text) {
  if (!prefs.previews) return { title: 'p2p-chat', body: 'New message' };
  const chars = [...String(text ?? '')];
  const preview = chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join('')}…` : chars.join('');
  return { title: where ? `${sender} in ${where}` : sender, body: preview };
}

/**
 * Shows a notification if the tab is hidden, permission was given and the conversation is not
 * muted. `onOpen` runs when it is clicked. Returns whether one was shown.
 */
export function notify(prefs, { convId, sender, where, text, hidden, onOpen }) {
  if (!hidden || prefs.muted.has(convId) || permission() !== 'granted') return false;
  const { title, body } = notificationText(prefs, sender, where, text);
  try {
    // One notification per conversation: a newer message replaces the older one (tag).
    const note = new globalThis.Notification(title, { body, tag: convId, icon: '/static/favicon.svg' });
    note.onclick = () => {
      globalThis.focus?.();
      onOpen?.();
      note.close?.();
    };
    return true;
  } catch {
    return false;
  }
}

// ---- favicon badge -------------------------------------------------------------------------------

/** web/favicon.svg without its closing tag, so a badge can be drawn on top. */
const FAVICON_BODY = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#2c6bed"/><stop offset="1" stop-color="#7a5af8"/></linearGradient></defs><rect width="32" height="32" rx="9" fill="url(#g)"/><circle cx="10.5" cy="16" r="4.5" fill="#fff"/><circle cx="21.5" cy="16" r="4.5" fill="#fff"/>';

/**
 * The favicon's address for `unread` messages: the plain icon, or an SVG data URL with a red badge
 * holding the count (digits only, at most "99+"). The CSP's `img-src 'self' data:` allows it.
 */
export function faviconHref(unread) {
  if (!unread) return '/static/favicon.svg';
  const label = unread > 99 ? '99+' : String(Math.trunc(unread));
  const size = label.length > 2 ? 9 : 11;
  const svg = `${FAVICON_BODY}<circle cx="23" cy="9" r="9" fill="#e5484d" stroke="#fff" stroke-width="1.5"/>`
    + `<text x="23" y="9" dy="0.35em" text-anchor="middle" font-family="sans-serif" font-weight="700" font-size="${size}" fill="#fff">${label}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

/** Sets the tab's title and favicon for `unread` messages (only when they change). */
export function showUnread(unread) {
  const title = unread ? `(${unread}) p2p-chat` : 'p2p-chat';
  if (document.title !== title) document.title = title;
  const link = document.getElementById('favicon');
  const href = faviconHref(unread);
  if (link && link.getAttribute('href') !== href) {
    link.setAttribute('href', href);
    link.setAttribute('data-unread', String(unread));
  }
}
