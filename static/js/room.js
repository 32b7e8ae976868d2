// The room page: live messages over /ws/rooms/<slug>/, history paging, presence, typing, read state.
// Rendering lives in timeline.js. Hook points: `sendMessage(body, extra)` (the composer's send, extra
// fields go into the `message.send` frame) and the features' one interface:
//
// Each module of FEATURES exports setup(room); `room` (built below) offers
//   room.onRender(fn)        fn(li, message, view) after each render of a message (timeline's onRenderMessage)
//   room.onFrame(type, fn)   fn(frame) for a server frame, after the page's own handling of it
//   room.onCompose(part)     a part of the composer: blocked() -> reason not to send yet, hasContent()
//                            (something to send without text), fill(extra) adds its fields to the
//                            message.send frame, restore(extra) takes them back when the send is refused
//   room.send(frame), room.message(seq), room.item(seq), room.refresh(seq), room.showMessage(seq),
//   room.showError(text), and me, username, slug, input, form.
// setup() runs before the composer's own listeners, so a feature's keydown (mentions' Enter) comes first.

import { ReconnectingSocket } from "./socket.js";
import { Timeline, onRenderMessage } from "./timeline.js";
import { renderPresence } from "./people.js";
import { setTitleCount } from "./title.js";
import * as mentions from "./mentions.js";
import * as uploads from "./uploads.js";
import * as replies from "./replies.js";
import * as reactions from "./reactions.js";

// Render hooks run in this order: the reply quote and "Reply" first, then the reactions and "React".
const FEATURES = [mentions, uploads, replies, reactions];

const root = document.getElementById("room");
const slug = root.dataset.slug;
const me = Number(root.dataset.userId);
const input = document.getElementById("message-input");
const form = document.getElementById("composer");
const composerError = document.getElementById("composer-error");
const connection = document.getElementById("connection");
const typingLine = document.getElementById("typing");
const onlineList = document.getElementById("online");
const olderButton = document.getElementById("load-older");
const jumpButton = document.getElementById("jump-unread");
const announcer = document.getElementById("announcer");
const scroller = document.getElementById("scroller");

const timeline = new Timeline({
  list: document.getElementById("messages"),
  scroller,
  me,
  username: root.dataset.username,
  moderator: root.dataset.moderator !== undefined,
  roomName: root.dataset.roomName,
  lastReadSeq: Number(root.dataset.lastReadSeq || 0),
  startLoaded: root.dataset.hasMore === undefined,
  onEdit: (message, body) => socket.send({ type: "message.edit", id: message.id, body }),
  onDelete: (message) => {
    if (confirm("Delete this message for everyone?")) socket.send({ type: "message.delete", id: message.id });
  },
  onEditDone: () => input.focus(),
});

let lastSeq = 0;                   // highest contiguous seq we hold
let syncing = false;
let readSent = 0;
let rateLimitedUntil = 0;
let unseen = 0;                    // messages from others that arrived while the tab was hidden
const typers = new Map();          // user id -> {username, timer}
const frameHooks = new Map();      // frame type -> [fn]
const composeParts = [];

// ------------------------------------------------------------------ receiving

function receive(message, { live }) {
  const stick = timeline.nearBottom() || message.author_id === me;
  const hidden = document.visibilityState !== "visible";
  if (!timeline.insert(message)) return;
  if (live && message.author_id !== me && !message.deleted) {
    if (hidden || !stick) timeline.noteUnseen(message);
    if (hidden) setTitleCount("room", ++unseen);
    announce(message);
  }
  timeline.layout();
  if (stick) timeline.scrollToBottom();
  updateJump();
}

function receiveNew(message) {
  const gap = message.seq > lastSeq + 1 && !syncing;
  receive(message, { live: !syncing || message.seq > lastSeq });
  if (gap) { requestSync(); return; }   // fetch what we missed, in order
  advance();
}

function advance() {
  while (timeline.has(lastSeq + 1)) lastSeq += 1;
  markRead();
}

function requestSync() {
  if (syncing || !socket.open) return;
  syncing = true;
  socket.send({ type: "sync", after_seq: lastSeq });
}

function markRead() {
  if (document.visibilityState !== "visible" || lastSeq <= readSent) return;
  readSent = lastSeq;
  socket.send({ type: "read", seq: lastSeq });
}

// New messages are read out politely, batched: one sentence per second at most, never history.
let announceQueue = [];
let announceTimer = null;
function announce(message) {
  announceQueue.push(message);
  if (announceTimer) return;
  announceTimer = setTimeout(() => {
    const batch = announceQueue;
    announceQueue = [];
    announceTimer = null;
    const last = batch[batch.length - 1];
    const files = last.attachments?.length ?? 0;
    const said = last.body || (files === 1 ? "sent a file" : `sent ${files} files`);
    const text = `${last.author ?? "deleted user"}: ${said}`;
    announcer.textContent = batch.length === 1 ? text : `${batch.length} new messages. Latest, ${text}`;
  }, 1000);
}

// ------------------------------------------------------------------ the jump-to-new control

function dividerAbove() {
  const divider = timeline.dividerElement();
  if (!divider) return timeline.unreadOlder;
  return divider.getBoundingClientRect().bottom < scroller.getBoundingClientRect().top;
}

function updateJump() {
  jumpButton.hidden = !(timeline.hasUnreadMarker && dividerAbove());
}

async function jumpToNew() {
  for (let pages = 0; timeline.unreadOlder && pages < 20; pages += 1) {
    if (!(await loadOlder())) break;
  }
  const divider = timeline.dividerElement();
  if (!divider) return;
  divider.scrollIntoView({ block: "start" });
  divider.focus({ preventScroll: true });
  updateJump();
}

// ------------------------------------------------------------------ presence and typing

function showTyping() {
  const names = [...typers.values()].map((t) => t.username);
  typingLine.textContent = names.length === 0 ? "" :
    names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

function setStatus(state, detail) {
  if (state === "open") { connection.hidden = true; return; }
  connection.hidden = false;
  if (state === "final") {
    connection.textContent = detail;
    restorePending(detail);   // these will never be delivered: give the text back
    return;
  }
  connection.textContent = `Connection lost; reconnecting… (next try in ${Math.ceil(detail / 1000)} s)`;
}

// Idle or hidden for a while: "away"; back on the page and active: "active". Sent only on a change.
const IDLE_MS = 5 * 60 * 1000;
let presenceState = "active";
let idleTimer = null;
function setPresence(state) {
  if (state === presenceState) return;
  presenceState = state;
  socket.send({ type: "presence.state", state });
}
function activity() {
  clearTimeout(idleTimer);
  if (document.visibilityState === "visible") setPresence("active");
  idleTimer = setTimeout(() => setPresence("away"), IDLE_MS);
}
for (const type of ["pointerdown", "keydown", "focus"]) window.addEventListener(type, activity, { passive: true });
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") {
    activity();
    unseen = 0;
    setTitleCount("room", 0);
    markRead();
  } else {
    setPresence("away");
  }
});

// ------------------------------------------------------------------ frames

function restorePending(reason) {
  const sends = timeline.takePending();
  if (!sends.length) return;
  for (const { extra } of sends) for (const part of composeParts) part.restore?.(extra);
  const current = input.value.trim();
  input.value = [...sends.map((send) => send.body), current].filter(Boolean).join("\n");
  composerError.textContent = `Not sent: ${reason} Your text is back in the box.`;
  timeline.layout();
}

const SEND_ERRORS = new Set(["rate_limited", "unavailable", "empty_body", "body_too_long", "invalid_frame", "unknown_attachment"]);
// A reply whose original was deleted or is gone is refused with these; they mean a send only then.
const REPLY_ERRORS = new Set(["deleted", "not_found"]);

function refusesSend(frame) {
  if (!timeline.pending.size) return false;
  if (SEND_ERRORS.has(frame.code)) return true;
  return REPLY_ERRORS.has(frame.code) && [...timeline.pending.values()].some(({ extra }) => extra.reply_to);
}

const handlers = {
  "message.new": (frame) => receiveNew(frame.message),
  "message.edited": (frame) => { timeline.update(frame.message); timeline.layout(); },
  "message.deleted": (frame) => { timeline.markDeleted(frame.seq); timeline.layout(); },
  "sync.done": (frame) => {
    syncing = false;
    advance();
    if (frame.has_more) requestSync();
  },
  presence: (frame) => renderPresence(onlineList, frame.online),
  typing: (frame) => {
    if (frame.user.id === me) return;
    const previous = typers.get(frame.user.id);
    if (previous) clearTimeout(previous.timer);
    if (frame.active) {
      const timer = setTimeout(() => { typers.delete(frame.user.id); showTyping(); }, 6000);
      typers.set(frame.user.id, { username: frame.user.username, timer });
    } else {
      typers.delete(frame.user.id);
    }
    showTyping();
  },
  unread: () => {},
  error: (frame) => {
    if (frame.code === "rate_limited" || frame.code === "unavailable") {
      rateLimitedUntil = Date.now() + (frame.retry_after ?? 1) * 1000;
    }
    if (refusesSend(frame)) restorePending(frame.detail);
    else composerError.textContent = frame.detail;
  },
};

const socket = new ReconnectingSocket(`/ws/rooms/${slug}/`, {
  onFrame: (frame) => {
    handlers[frame.type]?.(frame);
    const hooks = frameHooks.get(frame.type) ?? [];
    for (const fn of hooks) fn(frame);   // the features, after the page's own handling
    // Anything else (member.changed, room.updated, unknown types) goes to the page's other scripts (members.js).
    if (!handlers[frame.type] && !hooks.length) window.dispatchEvent(new CustomEvent("chatsite:room-frame", { detail: frame }));
  },
  onStatus: setStatus,
  onOpen: () => {
    syncing = false;
    requestSync();              // whatever arrived while we were away, once and in order
    if (presenceState !== "active") socket.send({ type: "presence.state", state: presenceState });
    for (const [clientId, { body, extra }] of timeline.pending) {
      socket.send({ ...extra, type: "message.send", body, client_id: clientId });
    }
  },
});

// ------------------------------------------------------------------ sending

// The composer's send; other modules may call it with extra frame fields (e.g. a reply's target).
export function sendMessage(body, extra = {}) {
  composerError.textContent = "";
  const wait = rateLimitWait();
  if (wait) { composerError.textContent = wait; return false; }
  const clientId = crypto.randomUUID();
  const files = extra.attachments?.length ?? 0;
  const label = body || (files === 1 ? "(1 file)" : `(${files} files)`);
  timeline.addPending(clientId, body, { label, extra });
  timeline.clearDivider();      // replying means the reader has caught up
  timeline.layout();
  timeline.scrollToBottom();
  updateJump();
  socket.send({ ...extra, type: "message.send", body, client_id: clientId });  // resent on reconnect until acked
  return true;
}

function rateLimitWait() {
  if (Date.now() >= rateLimitedUntil) return null;
  const wait = Math.ceil((rateLimitedUntil - Date.now()) / 1000);
  return `You are sending too fast; you can send again in ${wait} s.`;
}

// The composer's own send: the text plus what the composer parts add (reply target, attachments).
function send() {
  composerError.textContent = "";
  const body = input.value.trim();
  const blocked = rateLimitWait() ?? composeParts.map((part) => part.blocked?.()).find(Boolean);
  if (blocked) { composerError.textContent = blocked; return; }
  if (!body && !composeParts.some((part) => part.hasContent?.())) return;
  const extra = {};
  for (const part of composeParts) part.fill?.(extra);
  if (sendMessage(body, extra)) {
    input.value = "";
    stopTyping();
  }
}

let typingActive = false;
let typingTimer = null;
function stopTyping() {
  clearTimeout(typingTimer);
  if (typingActive) { typingActive = false; socket.send({ type: "typing", active: false }); }
}

// ------------------------------------------------------------------ features

const room = {
  me, slug,
  username: root.dataset.username,
  input, form,
  onRender: onRenderMessage,
  onFrame(type, fn) {
    if (!frameHooks.has(type)) frameHooks.set(type, []);
    frameHooks.get(type).push(fn);
  },
  onCompose(part) { composeParts.push(part); },
  send: (frame) => socket.send(frame),
  message: (seq) => timeline.get(seq),
  item: (seq) => timeline.item(seq),
  refresh(seq) {
    const message = timeline.get(seq);
    if (message) { timeline.update(message); timeline.layout(); }
  },
  showMessage: (seq) => showMessage(seq),
  showError: (text) => { composerError.textContent = text; },
};
for (const feature of FEATURES) feature.setup(room);

input.addEventListener("input", () => {
  if (!typingActive && input.value) { typingActive = true; socket.send({ type: "typing", active: true }); }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
});
input.addEventListener("keydown", (event) => {
  if (event.defaultPrevented) return;   // a feature (the mention list) took this key
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
  if (event.key === "ArrowUp" && input.value === "") {
    const seq = timeline.lastOwnSeq();
    if (seq !== null && timeline.startEdit(seq)) event.preventDefault();
  }
});
form.addEventListener("submit", (event) => { event.preventDefault(); send(); });

// ------------------------------------------------------------------ history

olderButton.addEventListener("click", loadOlder);
jumpButton.addEventListener("click", jumpToNew);
let atBottom = true;               // as of the last scroll: images that load later keep the reader there
scroller.addEventListener("scroll", () => {
  atBottom = timeline.nearBottom();
  if (scroller.scrollTop < 40 && !olderButton.hidden) loadOlder();
  updateJump();
}, { passive: true });
// An attachment's image arrives after its message and makes it taller ("load" does not bubble: capture).
scroller.addEventListener("load", (event) => {
  if (event.target.tagName === "IMG" && atBottom) timeline.scrollToBottom();
}, { capture: true });

let loadingOlder = null;
// Loads the page before the oldest message held; resolves true when it added messages.
function loadOlder() {
  loadingOlder ??= fetchOlder().finally(() => { loadingOlder = null; });
  return loadingOlder;
}

async function history(query) {
  const response = await fetch(`/api/rooms/${slug}/messages?${query}`, { headers: { Accept: "application/json" } });
  return response.ok ? response.json() : null;
}

async function fetchOlder() {
  const oldest = timeline.oldestSeq;
  if (!Number.isFinite(oldest) || oldest <= 1) { olderButton.hidden = true; return false; }
  const page = await history(`before_seq=${oldest}&limit=50`);
  if (!page) return false;
  const height = scroller.scrollHeight;
  for (const message of page.messages) timeline.insert(message);
  olderButton.hidden = !page.has_more;
  timeline.startLoaded = !page.has_more;
  if (timeline.unreadOlder) timeline.findDivider({ hasMore: page.has_more });
  timeline.layout();
  scroller.scrollTop += scroller.scrollHeight - height;   // keep the reader's place
  updateJump();
  return page.messages.length > 0;
}

// ------------------------------------------------------------------ jumping to one message

// A reply's original, a search hit or a notification (#seq-N): when it is not loaded, the page around it
// is, with a "Show the messages in between" gap up to what was already there; then it is scrolled to
// and marked ("target" for the page's #seq-N, a passing "highlight" for a quote's jump).
async function showMessage(seq, { mark = "highlight" } = {}) {
  if (!timeline.has(seq)) {
    const page = await history(`around=${seq}&limit=50`);
    if (!page?.messages.length) return false;
    const older = page.messages[0].seq < timeline.oldestSeq || !Number.isFinite(timeline.oldestSeq);
    for (const message of page.messages) timeline.insert(message);
    if (older) {
      olderButton.hidden = !page.has_more;
      timeline.startLoaded = !page.has_more;
    }
    timeline.addGap(page.messages.at(-1).seq, loadBetween);
    timeline.layout();
  }
  const li = timeline.item(seq);
  if (!li) return false;
  li.scrollIntoView({ block: "center" });
  li.tabIndex = -1;
  li.focus({ preventScroll: true });
  if (mark === "target") for (const old of document.querySelectorAll("#messages .target")) old.classList.remove("target");
  li.classList.add(mark);
  if (mark === "highlight") setTimeout(() => li.classList.remove("highlight"), 2500);
  updateJump();
  return true;
}

// Fills a gap (after, before): resolves true once its messages are in (another gap follows if there are more).
async function loadBetween(after, before) {
  const page = await history(`after_seq=${after}&before_seq=${before}&limit=200`);
  if (!page) return false;
  for (const message of page.messages) timeline.insert(message);
  if (page.has_more && page.messages.length) timeline.addGap(page.messages.at(-1).seq, loadBetween);
  timeline.layout();
  return true;
}

function showLinked() {
  const linked = /^#seq-(\d+)$/.exec(location.hash);
  if (linked) showMessage(Number(linked[1]), { mark: "target" });
}
window.addEventListener("hashchange", showLinked);

// ------------------------------------------------------------------ start

for (const message of JSON.parse(document.getElementById("history").textContent)) timeline.insert(message);
lastSeq = timeline.newestSeq;
timeline.findDivider({ hasMore: root.dataset.hasMore !== undefined });
timeline.layout();
timeline.scrollToBottom();
updateJump();
activity();
input.focus();
showLinked();
