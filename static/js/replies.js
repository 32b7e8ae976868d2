// Replies: a "Reply" action, the composer's "Replying to" bar (its target goes out as `reply_to`), the
// quote above a reply that jumps to the original (room.showMessage loads history around it when it is
// not on screen), and live reply counts.

let room = null;
let target = null;             // the message the next send answers
const sentTargets = new Map(); // reply_to id -> message, to give a refused send its target back
const bar = document.getElementById("reply-bar");
const barText = document.getElementById("reply-bar-text");

export function setup(context) {
  room = context;
  document.getElementById("reply-cancel").addEventListener("click", cancel);
  room.input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && target && !event.defaultPrevented) cancel();
  });
  room.onRender(decorate);
  room.onCompose({
    fill(extra) {
      if (!target) return;
      extra.reply_to = target.id;
      sentTargets.set(target.id, target);
      target = null;
      bar.hidden = true;
    },
    restore(extra) {
      const message = sentTargets.get(extra.reply_to);
      if (message) start(message);
    },
  });
  room.onFrame("message.edited", (frame) => {
    refreshQuotes(frame.message.id, { excerpt: excerptOf(frame.message.body, 120) });
  });
  room.onFrame("message.deleted", (frame) => refreshQuotes(frame.id, { deleted: true, excerpt: "" }));
  room.onFrame("message.replies", (frame) => {
    const message = room.message(frame.seq);
    if (!message || message.id !== frame.id) return;
    message.reply_count = frame.count;
    room.item(frame.seq)?.querySelector(".reply-count")?.replaceWith(countNode(message));
  });
}

function cancel() {
  target = null;
  bar.hidden = true;
  room.input.focus();
}

function start(message) {
  target = message;
  barText.textContent = `Replying to ${message.author ?? "deleted user"}: ${excerptOf(message.body, 80)}`;
  bar.hidden = false;
  room.input.focus();
}

// The server's quote rule (chat/frames.py): whitespace folded, cut with an ellipsis.
function excerptOf(text, length) {
  const flat = text.split(/\s+/).join(" ").trim();
  return flat.length <= length ? flat : `${flat.slice(0, length - 1)}…`;
}

function countLabel(count) {
  return count === 1 ? "1 reply" : `${count} replies`;
}

function countNode(message) {
  const node = document.createElement("span");
  node.className = "reply-count";
  node.hidden = !message.reply_count;
  node.textContent = countLabel(message.reply_count ?? 0);
  return node;
}

// A render hook (timeline.js): the quote of the original, the "Reply" action and the reply count.
function decorate(li, message, view) {
  if (message.reply) view.body.prepend(quoteNode(message.reply));
  if (message.deleted) return;
  const reply = document.createElement("button");
  reply.type = "button";
  reply.textContent = "Reply";
  reply.setAttribute("aria-label", `Reply to message ${message.seq}`);
  reply.addEventListener("click", () => start(message));
  view.actions().prepend(reply);
  view.body.append(countNode(message));
}

function quoteNode(original) {
  const quote = document.createElement("button");
  quote.type = "button";
  quote.className = "quote";
  const who = original.author ?? "deleted user";
  const text = original.deleted ? "(message deleted)" : original.excerpt;
  quote.dataset.replyId = original.id;
  quote.dir = "auto";   // user-written text, isolated like the message bodies
  quote.textContent = `↪ ${who}: ${text}`;
  quote.setAttribute("aria-label", `In reply to ${who}: ${text}. Show that message`);
  quote.addEventListener("click", () => room.showMessage(original.seq));
  return quote;
}

// Quotes on screen follow their original's edits and deletion.
function refreshQuotes(id, change) {
  for (const quote of document.querySelectorAll(`.quote[data-reply-id="${id}"]`)) {
    const message = room.message(Number(quote.closest("li.message").dataset.seq));
    if (!message?.reply) continue;
    Object.assign(message.reply, change);
    quote.replaceWith(quoteNode(message.reply));
  }
}
