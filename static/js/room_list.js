// Room lists (the home page and the room page's drawer): unread counts, bold, preview and order update
// live from the bell's notification socket; the sum goes into the tab title.

import { setTitleCount } from "./title.js";

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

window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  if (frame.type === "rooms.watching") {
    document.body.dataset.watching = frame.count;   // live from here on (tests wait for this)
    return;
  }
  if (frame.type !== "unread") return;
  const item = itemFor(frame.room);
  if (item) show(item, frame.count);
  totalUnread();
});

totalUnread();
// Items are rendered by the server as the page renders every item (chat/_room_item.html), never built here:
// invited, the room appears at once (`room.added`); a new or deleted message re-renders it (`room.item`:
// preview, time, count), each in its place by activity, in each room list of the page. Removed (or left
// in another tab): it disappears.
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
  } else if (frame.type === "room.item") {
    for (const list of document.querySelectorAll("ul.rooms")) {
      const old = list.querySelector(`:scope > li[data-room="${CSS.escape(frame.room)}"]`);
      if (!old) continue;
      const item = itemHtml(frame, list);
      old.remove();
      if (old.classList.contains("current")) {   // the open room (the server cannot know which page this is):
        old.dataset.activity = item.dataset.activity;   // read here, so only its place changes
        add(list, old);
      } else {
        add(list, item);
      }
    }
    totalUnread();
  }
});
