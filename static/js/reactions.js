// Reactions under each message: one button per emoji (pressed when it is yours), toggled with
// reaction.add / reaction.remove; a `reaction` frame carries the new count and who reacted.

const QUICK = ["👍", "❤️", "😂", "🎉", "😮", "😢", "👀", "✅"];

let room = null;
let openPicker = null;

export function setup(context) {
  room = context;
  document.addEventListener("click", (event) => {
    if (openPicker && !openPicker.contains(event.target) && !event.target.closest(".react-button")) closePicker();
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closePicker(); });
  room.onRender(decorate);
  room.onFrame("reaction", changed);
}

function toggle(message, emoji) {
  const mine = (message.reactions ?? []).some((r) => r.emoji === emoji && r.users.includes(room.username));
  room.send({ type: mine ? "reaction.remove" : "reaction.add", id: message.id, emoji });
}

function bar(message) {
  const group = document.createElement("div");
  group.className = "reactions";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Reactions to message ${message.seq}`);
  for (const reaction of message.reactions ?? []) {
    if (!reaction.count) continue;
    const button = document.createElement("button");
    button.type = "button";
    const mine = reaction.users.includes(room.username);
    button.className = mine ? "reaction mine" : "reaction";
    button.dataset.emoji = reaction.emoji;
    button.setAttribute("aria-pressed", String(mine));
    button.setAttribute("aria-label", `${reaction.emoji} ${reaction.count}: ${reaction.users.join(", ")}`);
    button.title = reaction.users.join(", ");
    button.textContent = `${reaction.emoji} ${reaction.count}`;
    button.addEventListener("click", () => toggle(message, reaction.emoji));
    group.append(button);
  }
  return group;
}

function closePicker() {
  openPicker?.remove();
  openPicker = null;
}

// In the message's own column, in the flow (not floating): it wraps at phone width and never leaves the list.
function picker(body, message, anchor) {
  closePicker();
  const box = document.createElement("div");
  box.className = "emoji-picker";
  box.setAttribute("role", "dialog");
  box.setAttribute("aria-label", "Pick a reaction");
  for (const emoji of QUICK) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = emoji;
    button.setAttribute("aria-label", `React with ${emoji}`);
    button.addEventListener("click", () => { toggle(message, emoji); closePicker(); anchor.focus(); });
    box.append(button);
  }
  const any = document.createElement("input");
  any.type = "text";
  any.maxLength = 32;
  any.placeholder = "any emoji";
  any.setAttribute("aria-label", "Any emoji");
  any.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const emoji = any.value.trim();
    if (emoji) room.send({ type: "reaction.add", id: message.id, emoji });   // the server checks it is one emoji
    closePicker();
    anchor.focus();
  });
  box.append(any);
  body.append(box);
  openPicker = box;
  box.scrollIntoView({ block: "nearest" });
  box.querySelector("button").focus();
}

// A render hook (timeline.js): the "React" action and the reactions bar, for every drawn message.
function decorate(li, message, view) {
  if (message.deleted) return;
  const react = document.createElement("button");
  react.type = "button";
  react.className = "react-button";
  react.textContent = "React";
  react.setAttribute("aria-label", `React to message ${message.seq}`);
  react.addEventListener("click", () => picker(view.body, message, react));
  view.actions().append(react);
  view.body.append(bar(message));
}

function changed(frame) {
  const message = room.message(frame.seq);
  if (!message || message.id !== frame.id) return;
  const others = (message.reactions ?? []).filter((r) => r.emoji !== frame.emoji);
  const index = (message.reactions ?? []).findIndex((r) => r.emoji === frame.emoji);
  const updated = { emoji: frame.emoji, count: frame.count, users: frame.users };
  if (index === -1) others.push(updated); else others.splice(index, 0, updated);
  message.reactions = others.filter((r) => r.count > 0);
  const old = room.item(frame.seq)?.querySelector(".reactions");
  if (!old) return;
  // Redrawn in place (not the whole message): an open picker or a focused chip stays where it was.
  const focused = old.contains(document.activeElement) ? document.activeElement.dataset.emoji : null;
  const fresh = bar(message);
  old.replaceWith(fresh);
  if (focused) [...fresh.children].find((button) => button.dataset.emoji === focused)?.focus();
}
