// People on the page: initials avatars (the same colours as chat/templatetags/chat_ui.py) and the presence list.

export function initials(username) {
  const parts = username.replace(/[_.-]/g, " ").split(" ").filter(Boolean);
  if (parts.length >= 2) return (parts[0][0] + parts[1][0]).toUpperCase();
  return (username.slice(0, 2) || "?").toUpperCase();
}

// 137° steps keep neighbouring user ids far apart on the colour wheel.
export function avatarHue(userId) {
  return ((Number(userId) || 0) * 137) % 360;
}

export function avatar(userId, username, size = "") {
  const span = document.createElement("span");
  span.className = size ? `avatar ${size}` : "avatar";
  span.style.setProperty("--hue", avatarHue(userId));
  span.setAttribute("aria-hidden", "true");   // decorative: the name is always next to it
  span.textContent = initials(username ?? "?");
  return span;
}

// online: [{id, username, state: "active" | "away"}] from the `presence` frame.
export function renderPresence(listElement, online) {
  listElement.replaceChildren(...online.map((user) => {
    const state = user.state === "away" ? "away" : "active";
    const li = document.createElement("li");
    li.className = state;
    const dot = document.createElement("span");
    dot.className = `state-dot ${state}`;
    dot.setAttribute("aria-hidden", "true");
    const link = document.createElement("a");
    link.href = `/users/${encodeURIComponent(user.username)}/`;
    link.textContent = user.username;
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = state === "away" ? " (away)" : " (active)";
    li.append(dot, avatar(user.id, user.username, "small"), link, label);
    return li;
  }));
}
