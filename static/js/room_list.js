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
  item.dataset.activity = message.created_at;
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
// Invited: the room appears at once, rendered by the server as the page renders every item (chat/_room_item.html),
// in each room list of the page, in order of activity. Removed (or left in another tab): it disappears.
function itemHtml(room, list) {
  const template = document.createElement("template");
  template.innerHTML = list.dataset.compact === undefined ? room.html : room.html_compact;
  return template.content.firstElementChild;
}

function add(list, item) {
  list.querySelector(":scope > li.empty")?.remove();   // "No rooms yet"
  const existing = list.querySelector(`:scope > li[data-room="${CSS.escape(item.dataset.room)}"]`);
  if (existing) { existing.replaceWith(item); return; }   // a public room listed but not joined
  const activity = (li) => Date.parse(li.dataset.activity ?? "") || 0;
  const later = [...list.children].find((li) => activity(li) < activity(item));
  list.insertBefore(item, later ?? null);
}

window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  if (frame.type === "room.removed") {
    for (const item of document.querySelectorAll(`ul.rooms li[data-room="${CSS.escape(frame.room)}"]`)) item.remove();
  } else if (frame.type === "room.added") {
    for (const list of document.querySelectorAll("ul.rooms")) {
      if (!list.querySelector(`li[data-room="${CSS.escape(frame.room.slug)}"][data-joined]`)) add(list, itemHtml(frame.room, list));
    }
    totalUnread();
  }
});
