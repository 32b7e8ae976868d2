// The room page's members panel: invite, remove, change roles and room settings without a reload,
// kept live by the room socket's member.changed and room.updated frames (relayed by room.js).

const panel = document.getElementById("members");
const slug = panel?.dataset.slug;
const owner = panel?.dataset.owner !== undefined;
const me = document.body.dataset.user;
const list = document.getElementById("member-list");
const errorLine = document.getElementById("members-error");

const csrf = () => document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";

async function api(method, path, body) {
  errorLine.textContent = "";
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) errorLine.textContent = data.error?.detail ?? "That did not work; try again.";
  return response.ok ? data : null;
}

const memberPath = (username) => `/api/rooms/${slug}/members/${encodeURIComponent(username)}`;

function button(text, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

function memberItem(member) {
  const li = document.createElement("li");
  li.dataset.username = member.username;
  const link = document.createElement("a");
  link.href = `/users/${encodeURIComponent(member.username)}/`;
  const name = document.createElement("bdi");  // a right-to-left name cannot reorder the line
  name.textContent = member.username;
  link.append(name);
  li.append(link);
  if (member.role === "owner") {
    const role = document.createElement("span");
    role.className = "role";
    role.textContent = "owner";
    li.append(" ", role);
  }
  if (owner && member.username !== me) {
    const next = member.role === "owner" ? "member" : "owner";
    li.append(" ", button(next === "owner" ? "Make owner" : "Make member", `Make ${member.username} ${next === "owner" ? "an owner" : "a member"}`,
      () => api("PATCH", memberPath(member.username), { role: next })));
    if (member.role !== "owner") {
      li.append(" ", button("Remove", `Remove ${member.username}`, () => api("DELETE", memberPath(member.username))));
    }
  }
  return li;
}

function upsert(member) {
  const item = memberItem(member);
  const existing = list.querySelector(`li[data-username="${CSS.escape(member.username)}"]`);
  if (existing) { existing.replaceWith(item); return; }
  const after = [...list.children].find((li) => li.dataset.username.localeCompare(member.username) > 0);
  list.insertBefore(item, after ?? null);
}

async function refresh() {
  const data = await api("GET", `/api/rooms/${slug}/members`);
  if (data) list.replaceChildren(...data.members.map(memberItem));
}

if (panel && list) {
  refresh();  // the same markup as live updates, with buttons instead of the no-script forms
  document.getElementById("invite-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = event.target.elements.username;
    const data = await api("POST", `/api/rooms/${slug}/members`, { username: input.value.trim() });
    if (data) { upsert(data.member); input.value = ""; }
  });
}

document.getElementById("settings-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target.elements;
  await api("PATCH", `/api/rooms/${slug}`, { title: form.title.value, topic: form.topic.value, private: event.target.querySelector("input[type=checkbox][name=private]").checked });
});

window.addEventListener("chatsite:room-frame", ({ detail: frame }) => {
  if (frame.type === "member.changed" && list) {
    if (frame.change === "removed") list.querySelector(`li[data-username="${CSS.escape(frame.member.username)}"]`)?.remove();
    else upsert(frame.member);
  } else if (frame.type === "room.updated") {
    const title = document.querySelector(".room-head h1 bdi");
    if (title) title.textContent = frame.room.title;
    let topic = document.querySelector(".room-head .topic");
    if (!topic && frame.room.topic) {
      topic = document.createElement("p");
      topic.className = "topic";
      topic.dir = "auto";
      document.querySelector(".room-head h1").after(topic);
    }
    if (topic) topic.textContent = frame.room.topic;
  }
});
