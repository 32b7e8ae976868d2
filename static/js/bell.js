// The bell on every page: opens /ws/notifications/, keeps the unread count live, shows the latest.
// Other scripts hear every frame of that socket as a "chatsite:notification-frame" event on window.

import { ReconnectingSocket } from "./socket.js";

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
  li.append(link);
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
  if (response.ok) setCount((await response.json()).unread_count);
}

button.addEventListener("click", async () => {
  const open = panel.hidden;
  panel.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (!open) return;
  await refresh();
  const unseen = items.filter((n) => !n.read).map((n) => n.id);
  if (unseen.length) markRead(unseen);   // opening the bell reads what it shows; they stay bold until closed
});
readAll.addEventListener("click", () => markRead(null));
document.addEventListener("keydown", (event) => { if (event.key === "Escape") panel.hidden = true; });

const socket = new ReconnectingSocket("/ws/notifications/", {
  onOpen: () => {
    refresh();   // counts may have changed while we were disconnected
    if (document.body.dataset.watchRooms !== undefined) socket.send({ type: "rooms.watch" });
  },
  onFrame: (frame) => {
    if (frame.type === "notification.new") {
      items = [frame.notification, ...items.filter((n) => n.id !== frame.notification.id)].slice(0, 10);
      setCount(frame.unread_count);
      render();
    } else if (frame.type === "notification.read") {
      for (const n of items) if (frame.ids.includes(n.id)) n.read = true;
      setCount(frame.unread_count);
      if (panel.hidden) render();
    }
    window.dispatchEvent(new CustomEvent("chatsite:notification-frame", { detail: frame }));
  },
});
