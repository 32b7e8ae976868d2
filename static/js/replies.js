// Replies: a "Reply" action, the composer's "Replying to" bar, the quote above a reply that jumps to
// the original (loading history around it when it is not on screen), and live reply counts.

let ctx = null;
let target = null;           // the message the next send answers
const bar = document.getElementById("reply-bar");
const barText = document.getElementById("reply-bar-text");

export function setup(context) {
  ctx = context;
  document.getElementById("reply-cancel").addEventListener("click", cancel);
  ctx.input.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && target && !event.defaultPrevented) cancel();
  });
  const linked = /^#seq-(\d+)$/.exec(location.hash);   // notifications link to #seq-N
  if (linked) setTimeout(() => jumpTo(Number(linked[1])));   // once room.js has drawn the history
}

function cancel() {
  target = null;
  bar.hidden = true;
  ctx.input.focus();
}

function start(message) {
  target = message;
  barText.textContent = `Replying to ${message.author ?? "deleted user"}: ${excerpt(message.body)}`;
  bar.hidden = false;
  ctx.input.focus();
}

function excerpt(text) {
  const flat = text.split(/\s+/).join(" ").trim();
  return flat.length <= 80 ? flat : `${flat.slice(0, 79)}…`;
}

// Called by room.js with each message.send frame before it goes out.
export function outgoing(frame) {
  if (frame.type !== "message.send" || !target) return;
  frame.reply_to = target.id;
  target = null;
  bar.hidden = true;
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

// Called by room.js for every (re)drawn message.
export function decorate(li, message) {
  decorateQuote(li, message);
  if (message.deleted) return;
  const reply = document.createElement("button");
  reply.type = "button";
  reply.textContent = "Reply";
  reply.setAttribute("aria-label", `Reply to message ${message.seq}`);
  reply.addEventListener("click", () => start(message));
  ctx.actions(li).prepend(reply);
  li.append(countNode(message));
}

function decorateQuote(li, message) {
  if (message.reply) {
    const quote = document.createElement("button");
    quote.type = "button";
    quote.className = "quote";
    const who = message.reply.author ?? "deleted user";
    const text = message.reply.deleted ? "(message deleted)" : message.reply.excerpt;
    quote.dataset.replyId = message.reply.id;
    quote.textContent = `↪ ${who}: ${text}`;
    quote.setAttribute("aria-label", `In reply to ${who}: ${text}. Show that message`);
    quote.addEventListener("click", () => jumpTo(message.reply.seq));
    li.prepend(quote);
  }
}

function flash(li) {
  li.scrollIntoView({ block: "center" });
  li.classList.add("highlight");
  li.tabIndex = -1;
  li.focus({ preventScroll: true });
  setTimeout(() => li.classList.remove("highlight"), 2500);
}

export async function jumpTo(seq) {
  let li = ctx.item(seq);
  if (!li) {
    const response = await fetch(`/api/rooms/${ctx.slug}/messages?around=${seq}&limit=50`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const page = await response.json();
    ctx.insertPage(page.messages);
    if (page.has_newer) gapAfter(page.messages.at(-1).seq);
    li = ctx.item(seq);
  }
  if (li) flash(li);
}

// Between a page loaded around an old message and the messages already on screen.
function gapAfter(seq) {
  const next = ctx.nextHeld(seq);
  if (next === null || next === seq + 1) return;
  const gap = document.createElement("li");
  gap.className = "gap";
  gap.dataset.seq = String(seq + 0.5);   // keeps its place in seq order (room.js inserts by data-seq)
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = "Show the messages in between";
  button.addEventListener("click", async () => {
    const response = await fetch(`/api/rooms/${ctx.slug}/messages?after_seq=${seq}&before_seq=${next}&limit=200`, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const page = await response.json();
    gap.remove();
    ctx.insertPage(page.messages);
    if (page.has_more && page.messages.length) gapAfter(page.messages.at(-1).seq);
  });
  gap.append(button);
  ctx.place(gap);
}

// Quotes on screen follow their original's edits and deletion.
function refreshQuotes(id, change) {
  for (const quote of document.querySelectorAll(`.quote[data-reply-id="${id}"]`)) {
    const message = ctx.message(Number(quote.closest("li").dataset.seq));
    if (!message?.reply) continue;
    Object.assign(message.reply, change);
    const li = quote.closest("li");
    quote.remove();
    decorateQuote(li, message);
  }
}

export const frames = {
  "message.edited": (frame) => {
    const excerptOf = (text) => (text.length <= 120 ? text : `${text.slice(0, 119)}…`);
    refreshQuotes(frame.message.id, { excerpt: excerptOf(frame.message.body.split(/\s+/).join(" ").trim()) });
  },
  "message.deleted": (frame) => refreshQuotes(frame.id, { deleted: true, excerpt: "" }),
  "message.replies": (frame) => {
    const message = ctx.message(frame.seq);
    if (!message || message.id !== frame.id) return;
    message.reply_count = frame.count;
    ctx.item(frame.seq)?.querySelector(".reply-count")?.replaceWith(countNode(message));
  },
};
