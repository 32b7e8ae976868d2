// The room list: unread counts update live from the bell's notification socket.

const me = Number(document.body.dataset.userId);

function badgeFor(slug) {
  return document.querySelector(`li[data-room="${CSS.escape(slug)}"][data-joined] .unread-count`);
}

function show(badge, count) {
  badge.textContent = count;
  badge.setAttribute("aria-label", `${count} unread`);
  badge.classList.toggle("hidden", count === 0);
}

window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  if (frame.type === "unread") {
    const badge = badgeFor(frame.room);
    if (badge) show(badge, frame.count);
  } else if (frame.type === "message.new" && frame.message.author_id !== me && !frame.message.deleted) {
    const badge = badgeFor(frame.message.room);
    if (badge) show(badge, Number(badge.textContent) + 1);
  }
});

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
