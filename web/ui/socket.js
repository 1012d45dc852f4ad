// The WebSocket to our own peer (PROTOCOL.md §8), reconnected with capped exponential backoff.

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

export class PeerSocket {
  /**
   * @param {string} token the per-launch token from the URL the peer printed
   * @param {{onEvent: (event: object) => void, onState: (state: string, detail: object) => void}} handlers
   *   state is one of "connecting", "open", "waiting" (detail.delayMs, detail.failures)
   */
  constructor(token, { onEvent, onState }) {
    this.token = token;
    this.onEvent = onEvent;
    this.onState = onState;
    this.ws = null;
    this.failures = 0;
    this.timer = null;
    this.nextReq = 1;
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws?token=${encodeURIComponent(this.token)}`;
  }

  connect() {
    clearTimeout(this.timer);
    this.onState('connecting', { failures: this.failures });
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      this.failures = 0;
      this.onState('open', {});
    });
    ws.addEventListener('message', (message) => {
      if (typeof message.data !== 'string') return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event && typeof event === 'object' && typeof event.type === 'string') this.onEvent(event);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!opened) this.failures += 1;
      this.scheduleRetry();
    });
  }

  scheduleRetry() {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** Math.min(this.failures, 5));
    const delayMs = Math.round(base * (0.75 + Math.random() * 0.5));
    this.onState('waiting', { delayMs, failures: this.failures });
    this.timer = setTimeout(() => this.connect(), delayMs);
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends an action with a fresh `req` id and returns that id, or null when not connected. */
  send(action) {
    if (!this.isOpen) return null;
    const req = this.nextReq++;
    this.ws.send(JSON.stringify({ ...action, req }));
    return req;
  }
}
