// The room page: live messages over /ws/rooms/<slug>/, history paging, presence, typing, read state.

import { ReconnectingSocket } from "./socket.js";
import { renderText, timeLabel } from "./render.js";

const root = document.getElementById("room");
const slug = root.dataset.slug;
const me = Number(root.dataset.userId);
const moderator = root.dataset.moderator !== undefined;
const list = document.getElementById("messages");
const scroller = document.getElementById("scroller");
const input = document.getElementById("message-input");
const form = document.getElementById("composer");
const composerError = document.getElementById("composer-error");
const connection = document.getElementById("connection");
const typingLine = document.getElementById("typing");
const onlineList = document.getElementById("online");
const olderButton = document.getElementById("load-older");

const bySeq = new Map();           // seq -> message data
const pending = new Map();         // client_id -> <li> shown before the server confirmed it
let lastSeq = 0;                   // highest contiguous seq we hold
let syncing = false;
let readSent = 0;
let rateLimitedUntil = 0;
const typers = new Map();          // user id -> {username, timer}

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function messageItem(message) {
  const li = document.createElement("li");
  li.dataset.seq = message.seq;
  li.dataset.id = message.id;
  li.id = `seq-${message.seq}`;  // notifications link here
  fillItem(li, message);
  return li;
}

function fillItem(li, message) {
  li.replaceChildren();
  const meta = document.createElement("time");
  meta.className = "meta";
  meta.dateTime = message.created_at;
  meta.textContent = timeLabel(message.created_at);
  const author = document.createElement("span");
  author.className = "author";
  author.dir = "auto";  // user-written text is isolated: a right-to-left name cannot reorder its line
  author.textContent = message.author ?? "deleted user";
  const body = document.createElement("span");
  body.className = "body";
  body.dir = "auto";
  li.append(meta, author, body);
  if (message.deleted) {
    body.textContent = "(message deleted)";
    li.classList.add("deleted");
    return;
  }
  renderText(body, message.body);
  if (message.edited_at) {
    const edited = document.createElement("span");
    edited.className = "edited";
    edited.textContent = "(edited)";
    li.append(edited);
  }
  if (message.author_id === me || moderator) {
    const actions = document.createElement("span");
    actions.className = "actions";
    if (message.author_id === me) {
      actions.append(actionButton("Edit", `Edit message ${message.seq}`, () => startEdit(li, message)));
    }
    actions.append(actionButton("Delete", `Delete message ${message.seq}`, () => {
      if (confirm("Delete this message for everyone?")) socket.send({ type: "message.delete", id: message.id });
    }));
    li.append(actions);
  }
}

function actionButton(text, label, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = text;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", onClick);
  return button;
}

function startEdit(li, message) {
  const editor = document.createElement("textarea");
  editor.value = message.body;
  editor.setAttribute("aria-label", "Edit message");
  const save = actionButton("Save", "Save edit", () => {
    const body = editor.value.trim();
    if (body && body !== message.body) socket.send({ type: "message.edit", id: message.id, body });
    fillItem(li, message);
  });
  const cancel = actionButton("Cancel", "Cancel edit", () => fillItem(li, message));
  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); save.click(); }
    if (event.key === "Escape") cancel.click();
  });
  li.replaceChildren(editor, save, cancel);
  editor.focus();
}

function insert(message) {
  if (bySeq.has(message.seq)) return;
  bySeq.set(message.seq, message);
  const stick = nearBottom() || message.author_id === me;
  const li = messageItem(message);
  const waiting = message.client_id && pending.get(message.client_id);
  if (waiting) { waiting.remove(); pending.delete(message.client_id); }
  // Keep seq order even when history pages and live messages interleave.
  let before = null;
  for (const item of list.children) {
    if (item.dataset.seq && Number(item.dataset.seq) > message.seq) { before = item; break; }
  }
  list.insertBefore(li, before ?? list.querySelector("li.pending"));
  if (stick) scroller.scrollTop = scroller.scrollHeight;
}

function receiveNew(message) {
  if (message.seq > lastSeq + 1 && !syncing) {
    insert(message);
    requestSync();              // a gap: fetch what we missed, in order
    return;
  }
  insert(message);
  advance();
}

function advance() {
  while (bySeq.has(lastSeq + 1)) lastSeq += 1;
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

function showTyping() {
  const names = [...typers.values()].map((t) => t.username);
  typingLine.textContent = names.length === 0 ? "" :
    names.length === 1 ? `${names[0]} is typing…` : `${names.join(", ")} are typing…`;
}

function showPresence(online) {
  onlineList.replaceChildren(...online.map((user) => {
    const li = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/users/${encodeURIComponent(user.username)}/`;
    link.textContent = user.username;
    li.append(link);
    return li;
  }));
}

function setStatus(state, detail) {
  if (state === "open") { connection.hidden = true; return; }
  connection.hidden = false;
  connection.textContent = state === "final" ? detail : `Connection lost; reconnecting… (next try in ${Math.ceil(detail / 1000)} s)`;
}

const handlers = {
  "message.new": (frame) => receiveNew(frame.message),
  "message.edited": (frame) => {
    const li = list.querySelector(`li[data-id="${frame.message.id}"]`);
    bySeq.set(frame.message.seq, frame.message);
    if (li) fillItem(li, frame.message);
  },
  "message.deleted": (frame) => {
    const li = list.querySelector(`li[data-id="${frame.id}"]`);
    const message = bySeq.get(frame.seq);
    if (message) { message.deleted = true; message.body = ""; }
    if (li && message) fillItem(li, message);
  },
  "sync.done": (frame) => {
    syncing = false;
    advance();
    if (frame.has_more) requestSync();
  },
  presence: (frame) => showPresence(frame.online),
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
    if (frame.code === "rate_limited") {
      rateLimitedUntil = Date.now() + (frame.retry_after ?? 1) * 1000;
      composerError.textContent = `You are sending too fast; you can send again in ${Math.ceil(frame.retry_after ?? 1)} s.`;
      for (const li of pending.values()) li.remove();
      pending.clear();
    } else {
      composerError.textContent = frame.detail;
    }
  },
};

const socket = new ReconnectingSocket(`/ws/rooms/${slug}/`, {
  // Frames this module does not handle (member.changed, room.updated) go to the page's other modules.
  onFrame: (frame) => (handlers[frame.type] ?? ((f) => window.dispatchEvent(new CustomEvent("chatsite:room-frame", { detail: f }))))(frame),
  onStatus: setStatus,
  onOpen: () => {
    syncing = false;
    requestSync();              // whatever arrived while we were away, once and in order
    for (const [clientId, li] of pending) socket.send({ type: "message.send", body: li.dataset.body, client_id: clientId });
  },
});

function send() {
  const body = input.value.trim();
  composerError.textContent = "";
  if (!body) return;
  if (Date.now() < rateLimitedUntil) {
    composerError.textContent = `You are sending too fast; you can send again in ${Math.ceil((rateLimitedUntil - Date.now()) / 1000)} s.`;
    return;
  }
  const clientId = crypto.randomUUID();
  const li = document.createElement("li");
  li.className = "pending";
  li.dataset.body = body;
  li.textContent = body;
  list.append(li);
  pending.set(clientId, li);
  scroller.scrollTop = scroller.scrollHeight;
  socket.send({ type: "message.send", body, client_id: clientId });  // resent on reconnect if not confirmed
  input.value = "";
  stopTyping();
}

let typingActive = false;
let typingTimer = null;
function stopTyping() {
  clearTimeout(typingTimer);
  if (typingActive) { typingActive = false; socket.send({ type: "typing", active: false }); }
}

input.addEventListener("input", () => {
  if (!typingActive && input.value) { typingActive = true; socket.send({ type: "typing", active: true }); }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 3000);
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
});
form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
document.addEventListener("visibilitychange", markRead);

olderButton.addEventListener("click", loadOlder);
scroller.addEventListener("scroll", () => { if (scroller.scrollTop < 40 && !olderButton.hidden) loadOlder(); });

let loadingOlder = false;
async function loadOlder() {
  if (loadingOlder) return;
  const oldest = Math.min(...bySeq.keys());
  if (!Number.isFinite(oldest) || oldest <= 1) { olderButton.hidden = true; return; }
  loadingOlder = true;
  try {
    const response = await fetch(`/api/rooms/${slug}/messages?before_seq=${oldest}&limit=50`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const page = await response.json();
    const height = scroller.scrollHeight;
    for (const message of page.messages) insert(message);
    scroller.scrollTop += scroller.scrollHeight - height;   // keep the reader's place
    olderButton.hidden = !page.has_more;
  } finally {
    loadingOlder = false;
  }
}

for (const message of JSON.parse(document.getElementById("history").textContent)) insert(message);
lastSeq = Math.max(0, ...bySeq.keys());
scroller.scrollTop = scroller.scrollHeight;
input.focus();
