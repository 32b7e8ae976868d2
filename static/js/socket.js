// A WebSocket that reconnects with exponential backoff and full jitter, and speaks JSON frames.

const MAX_BACKOFF_MS = 1000;
const FINAL_CODES = { 4401: "You are signed out.", 4403: "You are not allowed in this room.", 4404: "This room does not exist." };

export class ReconnectingSocket {
  constructor(path, { onOpen = () => {}, onFrame = () => {}, onStatus = () => {} } = {}) {
    this.path = path;
    this.onOpen = onOpen;
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.attempt = 0;
    this.stopped = false;
    this.connect();
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.path}`;
  }

  connect() {
    this.ws = new WebSocket(this.url());
    this.ws.addEventListener("open", () => {
      this.attempt = 0;
      this.onStatus("open");
      this.onOpen();
    });
    this.ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      // `unavailable` (Redis is down) and `rate_limited` (too many connects: the close 4429 follows) say when to retry.
      if (frame.type === "error" && ["unavailable", "rate_limited"].includes(frame.code) && frame.retry_after) {
        this.retryAfter = frame.retry_after;
      }
      this.onFrame(frame);
    });
    this.ws.addEventListener("close", (event) => this.closed(event));
  }

  closed(event) {
    if (this.stopped) return;
    // The session ended, or its key was renewed (a password change in this browser): the login page
    // says why, and sends a browser that is still signed in straight back to this page.
    if (event.code === 4401) {
      this.stopped = true;
      location.assign(`/accounts/login/?reason=signed_out&next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    if (FINAL_CODES[event.code]) { this.stopped = true; this.onStatus("final", FINAL_CODES[event.code]); return; }
    const delay = this.nextDelay(event.code);
    this.attempt += 1;
    this.onStatus("reconnecting", delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // The server says when to come back: 1012 (it restarts: another process is up now) and 1013 (this
  // socket fell behind) mean at once, spread over a second so a whole server's clients do not arrive
  // together; an `unavailable` error's retry_after sets the next wait. Otherwise backoff with full
  // jitter, capped low enough (1 s) that the page is back within 2 s of the service.
  nextDelay(code) {
    if (code === 1012 || code === 1013) return Math.round(100 + Math.random() * 900);
    const hinted = this.retryAfter ? this.retryAfter * 1000 : 0;
    this.retryAfter = 0;
    if (code === 4429) return Math.round(Math.max(hinted, 1000) + Math.random() * 1000);  // not before the limit allows
    const cap = Math.max(hinted, Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.attempt));
    return Math.round(Math.random() * cap);  // full jitter
  }

  send(frame) {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  get open() { return this.ws.readyState === WebSocket.OPEN; }
}
