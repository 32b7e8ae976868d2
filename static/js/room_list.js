// The room list: unread counts update live from the bell's notification socket.

window.addEventListener("chatsite:notification-frame", ({ detail: frame }) => {
  if (frame.type !== "unread") return;
  const badge = document.querySelector(`li[data-room="${CSS.escape(frame.room)}"] .unread-count`);
  if (!badge) return;
  badge.textContent = frame.count;
  badge.setAttribute("aria-label", `${frame.count} unread`);
  badge.classList.toggle("hidden", frame.count === 0);
});
