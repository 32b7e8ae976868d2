// Room lists (the home page and the room page's drawer): unread counts, bold, preview and order update
// live from the bell's notification socket; the sum goes into the tab title.

import { setTitleCount } from "./title.js";

const me = Number(document.body.dataset.userId);

function itemFor(slug) {
  return document.querySelector(`ul.rooms li[data-room="${CSS.escape(slug)}"][data-joined]`);
}

function show(item, count) {
  const badge = item.querySelector(".unread-count");
  badge.textContent = count;
  badge.setAttribute("aria-label", `${count} unread`);
  badge.classList.toggle("hidden", count === 0);
  item.classList.toggle("unread", count > 0);
}

function totalUnread() {
  let total = 0;
  for (const item of document.querySelectorAll("ul.rooms li[data-joined]:not(.current)")) {
    total += Number(item.querySelector(".unread-count")?.textContent || 0);
  }
  setTitleCount("rooms", total);
}

function preview(item, message) {
  const line = item.querySelector(".preview");
  if (line) line.textContent = `${message.author ?? "deleted user"}: ${message.body.replace(/\s+/g, " ").slice(0, 100)}`;
  const time = item.querySelector("time.activity");
  if (time) { time.dateTime = message.created_at; time.textContent = "just now"; }
  item.parentElement.prepend(item);   // most recently active first
}

window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  if (frame.type === "rooms.watching") {
    document.body.dataset.watching = frame.count;   // live from here on (tests wait for this)
    return;
  }
  if (frame.type === "unread") {
    const item = itemFor(frame.room);
    if (item) show(item, frame.count);
  } else if (frame.type === "message.new" && !frame.message.deleted) {
    const item = itemFor(frame.message.room);
    if (!item) return;
    preview(item, frame.message);
    if (frame.message.author_id !== me && !item.classList.contains("current")) {
      show(item, Number(item.querySelector(".unread-count").textContent) + 1);
    }
  } else {
    return;
  }
  totalUnread();
});

totalUnread();
// Invited: the room appears at once. Removed (or left in another tab): it disappears.
window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  let list = document.getElementById("room-list");
  if (frame.type === "room.removed") {
    document.querySelector(`li[data-room="${CSS.escape(frame.room)}"]`)?.remove();
  } else if (frame.type === "room.added" && !list?.querySelector(`li[data-room="${CSS.escape(frame.room.slug)}"]`)) {
    if (!list) {  // the first room of someone who had none: the list replaces the empty state
      list = document.createElement("ul");
      list.className = "rooms";
      list.id = "room-list";
      document.querySelector("#main .empty, main .empty")?.replaceWith(list);
    }
    const li = document.createElement("li");
    li.dataset.room = frame.room.slug;
    li.dataset.joined = "";
    const link = document.createElement("a");
    link.href = frame.room.url;
    const title = document.createElement("bdi");
    title.textContent = frame.room.title;
    link.append(frame.room.kind === "private" ? "🔒 " : "#", title);
    const badge = document.createElement("span");
    badge.className = "unread-count hidden";
    badge.textContent = "0";
    li.append(link, " ", badge);
    list.append(li);
  }
});
