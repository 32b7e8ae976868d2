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
