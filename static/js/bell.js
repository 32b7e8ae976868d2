// The bell on every page: opens /ws/notifications/, keeps the unread count live, shows the latest.
// Other scripts hear every frame of that socket as a "chatsite:notification-frame" event on window.
// Items are marked read when clicked or by "Mark all read", never just by opening the panel.

import { ReconnectingSocket } from "./socket.js";
import { fullDateTime, relativeTime } from "./render.js";
import { desktopNotify, setupDesktopButton } from "./desktop_notify.js";

const button = document.getElementById("bell-button");
const badge = document.getElementById("bell-count");
const panel = document.getElementById("bell-panel");
const list = document.getElementById("bell-list");
const readAll = document.getElementById("bell-read-all");
const csrf = () => document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";

let items = [];

function setCount(count) {
  if (count === null || count === undefined) { refresh(); return; }
  badge.textContent = count;
  badge.classList.toggle("hidden", count === 0);
  button.setAttribute("aria-label", `Notifications, ${count} unread`);
}

function render() {
  list.replaceChildren(...(items.length ? items.map(item) : [empty()]));
}

function empty() {
  const li = document.createElement("li");
  li.className = "empty";
  li.textContent = "No notifications yet.";
  return li;
}

function item(n) {
  const li = document.createElement("li");
  li.className = n.read ? "read" : "unread";
  const link = document.createElement("a");
  link.href = n.url;
  link.textContent = n.text;
  link.dir = "auto";
  link.addEventListener("click", () => { if (!n.read) markRead([n.id]); });
  const time = document.createElement("time");
  time.dateTime = n.created_at;
  time.title = fullDateTime(n.created_at);
  time.textContent = relativeTime(n.created_at);
  li.append(link, time);
  if (!n.read) {
    const state = document.createElement("span");
    state.className = "visually-hidden";
    state.textContent = " (unread)";
    link.append(state);
  }
  return li;
}

async function refresh() {
  const response = await fetch("/api/notifications/", { headers: { Accept: "application/json" } });
  if (!response.ok) return;
  const data = await response.json();
  items = data.notifications;
  setCount(data.unread_count);
  render();
}

async function markRead(ids) {
  const body = ids ? { ids } : { all: true };
  const response = await fetch("/api/notifications/read", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) return;
  const data = await response.json();
  for (const n of items) if (ids === null || data.marked.includes(n.id)) n.read = true;
  setCount(data.unread_count);
  render();
}

// A notification about the room this tab shows, while it is visible, is read already.
function lookingAt(notification) {
  const room = document.getElementById("room");
  return Boolean(room && notification.room === room.dataset.slug && document.visibilityState === "visible");
}

button.addEventListener("click", async () => {
  const open = panel.hidden;
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (open) await refresh();
});
readAll.addEventListener("click", () => markRead(null));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || panel.hidden) return;
  panel.hidden = true;
  button.setAttribute("aria-expanded", "false");
  button.focus();
});
document.addEventListener("click", (event) => {
  if (!panel.hidden && !panel.contains(event.target) && !button.contains(event.target)) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }
});
setupDesktopButton(document.getElementById("desktop-notify"));

const socket = new ReconnectingSocket("/ws/notifications/", {
  onOpen: () => {
    refresh();   // counts may have changed while we were disconnected
    if (document.body.dataset.watchRooms !== undefined) socket.send({ type: "rooms.watch" });
  },
  onFrame: (frame) => {
    if (frame.type === "notification.new") {
      const seen = lookingAt(frame.notification);
      if (seen) frame.notification.read = true;
      items = [frame.notification, ...items.filter((n) => n.id !== frame.notification.id)].slice(0, 10);
      if (seen) markRead([frame.notification.id]);   // the reader sees it happen: no ring
      else setCount(frame.unread_count);
      render();
      desktopNotify(frame.notification);
    } else if (frame.type === "notification.read") {
      for (const n of items) if (frame.ids.includes(n.id)) n.read = true;
      setCount(frame.unread_count);
      render();
    }
    window.dispatchEvent(new CustomEvent("chatsite:notification-frame", { detail: frame }));
  },
});
