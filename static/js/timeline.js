// The room's message list: renders messages in seq order, groups runs by one author, adds day separators,
// the "new messages" divider and the start-of-room marker, and shows pending sends until their ack.
//
// Hook points for other modules:
//   onRenderMessage(fn): fn(li, message, view) runs after every render of a message (reactions, replies);
//     view.body is the message's content column, view.actions() its (hover) action bar, made on demand.
//   timeline.renderMessage(li, message) / timeline.update(message): re-render one message in place.

import { dayKey, dayLabel, fullDateTime, renderHtml, renderText, timeLabel } from "./render.js";
import { avatar } from "./people.js";
import { renderAttachments } from "./uploads.js";

const GROUP_GAP_MS = 5 * 60 * 1000;   // a run by one author breaks after five quiet minutes
const renderHooks = [];

export function onRenderMessage(fn) {
  renderHooks.push(fn);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// User-written text is isolated: a right-to-left name or body cannot reorder the rest of its line.
export function userText(node) {
  node.dir = "auto";
  return node;
}

function timeElement(iso) {
  const time = el("time", "meta", timeLabel(iso));
  time.dateTime = iso;
  time.title = fullDateTime(iso);
  return time;
}

export class Timeline {
  constructor({ list, scroller, me, username, moderator, roomName, lastReadSeq, startLoaded, onEdit, onDelete, onEditDone }) {
    Object.assign(this, { list, scroller, me, username, moderator, roomName, onEdit, onDelete, onEditDone });
    this.bySeq = new Map();          // seq -> message data
    this.pending = new Map();        // client_id -> {li, body}
    this.startLoaded = startLoaded;
    this.lastReadSeq = lastReadSeq;  // the reader's marker when the page loaded
    this.dividerSeq = null;          // first new message, once known
    this.unreadOlder = false;        // the first new message is older than what is loaded
  }

  // ------------------------------------------------------------------ messages

  has(seq) { return this.bySeq.has(seq); }
  get(seq) { return this.bySeq.get(seq); }
  item(seq) { return this.list.querySelector(`li.message[data-seq="${seq}"]`); }

  // The nearest seq held after `seq`, or null.
  nextHeld(seq) {
    let next = null;
    for (const held of this.bySeq.keys()) if (held > seq && (next === null || held < next)) next = held;
    return next;
  }
  get oldestSeq() { return Math.min(...this.bySeq.keys()); }
  get newestSeq() { return Math.max(0, ...this.bySeq.keys()); }

  nearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 80;
  }

  scrollToBottom() { this.scroller.scrollTop = this.scroller.scrollHeight; }

  // Adds a message in seq order (history pages and live messages may interleave); returns its <li> or null.
  insert(message) {
    if (this.bySeq.has(message.seq)) return null;
    this.bySeq.set(message.seq, message);
    const li = el("li", "message");
    li.dataset.seq = message.seq;
    li.dataset.id = message.id;
    li.id = `seq-${message.seq}`;   // notifications link here
    this.renderMessage(li, message);
    const waiting = message.client_id && this.pending.get(message.client_id);
    if (waiting) { waiting.li.remove(); this.pending.delete(message.client_id); }
    let before = null;
    for (const item of this.list.querySelectorAll("li.message")) {
      if (item.dataset.seq && Number(item.dataset.seq) > message.seq) { before = item; break; }
    }
    this.list.insertBefore(li, before ?? this.list.querySelector("li.pending"));
    return li;
  }

  update(message) {
    this.bySeq.set(message.seq, message);
    const li = this.item(message.seq);
    if (li && !li.querySelector(".editor")) this.renderMessage(li, message);
  }

  markDeleted(seq) {
    const message = this.bySeq.get(seq);
    if (!message) return;
    message.deleted = true;
    message.body = "";
    this.update(message);
  }

  renderMessage(li, message) {
    li.replaceChildren();
    li.dataset.authorId = message.author_id ?? "";
    li.dataset.createdAt = message.created_at;
    li.classList.toggle("mine", message.author_id === this.me);
    li.classList.toggle("deleted", Boolean(message.deleted));
    const head = el("div", "msg-head");
    head.append(userText(el("span", "author", message.author ?? "deleted user")), timeElement(message.created_at));
    const body = el("div", "msg-body");
    const text = userText(el("span", "body"));
    body.append(text);
    li.append(avatar(message.author_id, message.author ?? "?"), head, body);
    if (message.deleted) {
      text.textContent = "(message deleted)";
    } else {
      // The server's sanitized HTML is the only markup inserted; the body itself is always text.
      if (message.html) renderHtml(text, message.html, this.me);
      else renderText(text, message.body);
      if (message.edited_at) {
        const edited = el("span", "edited", "(edited)");
        edited.title = `Edited ${fullDateTime(message.edited_at)}`;
        body.append(edited);
      }
      renderAttachments(body, message.attachments);
      this.renderActions(li, message);
    }
    const view = { body, actions: () => this.actionsOf(li) };
    for (const hook of renderHooks) hook(li, message, view);
  }

  renderActions(li, message) {
    const mine = message.author_id === this.me;
    if (!mine && !this.moderator) return;
    const actions = this.actionsOf(li);
    if (mine) actions.append(this.button("Edit", `Edit message ${message.seq}`, () => this.startEdit(message.seq)));
    actions.append(this.button("Delete", `Delete message ${message.seq}`, () => this.onDelete(message)));
  }

  actionsOf(li) {
    let actions = li.querySelector(":scope > .actions");
    if (!actions) {
      actions = el("span", "actions");
      li.append(actions);
    }
    return actions;
  }

  button(text, label, onClick) {
    const button = el("button", "", text);
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", onClick);
    return button;
  }

  // The newest message of mine that can still be edited (ArrowUp in an empty composer).
  lastOwnSeq() {
    let found = null;
    for (const [seq, message] of this.bySeq) {
      if (message.author_id === this.me && !message.deleted && (found === null || seq > found)) found = seq;
    }
    return found;
  }

  startEdit(seq) {
    const message = this.bySeq.get(seq);
    const li = this.item(seq);
    if (!message || !li || message.deleted) return false;
    const body = li.querySelector(".msg-body");
    const editor = el("div", "editor");
    const area = el("textarea");
    area.value = message.body;
    area.rows = Math.min(8, message.body.split("\n").length + 1);
    area.setAttribute("aria-label", `Edit message ${seq}`);
    const done = (save) => {
      const text = area.value.trim();
      if (save && text && text !== message.body) this.onEdit(message, text);
      this.renderMessage(li, this.bySeq.get(seq));
      this.layout();
      this.onEditDone?.();
    };
    const save = this.button("Save", "Save edit", () => done(true));
    const cancel = this.button("Cancel", "Cancel edit", () => done(false));
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); done(true); }
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); done(false); }
    });
    editor.append(area, save, cancel, el("span", "editor-help", "Enter saves, Escape cancels"));
    body.replaceChildren(editor);
    li.querySelector(".actions")?.remove();
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    return true;
  }

  // ------------------------------------------------------------------ pending sends

  // `label` is what the pending line shows (the text, or e.g. "(2 files)"); `extra` is kept for takePending.
  addPending(clientId, body, { label = body, extra = {} } = {}) {
    const li = el("li", "message pending mine");
    li.dataset.authorId = this.me;
    li.dataset.createdAt = new Date().toISOString();
    li.dataset.clientId = clientId;
    const head = el("div", "msg-head");
    head.append(userText(el("span", "author", this.username)), timeElement(li.dataset.createdAt));
    const content = el("div", "msg-body");
    const text = userText(el("span", "body", label));
    content.append(text, el("span", "status", "Sending…"));
    li.append(avatar(this.me, this.username), head, content);
    this.list.append(li);
    this.pending.set(clientId, { li, body, extra });
    return li;
  }

  // Drops every unconfirmed send and returns them ({body, extra}), oldest first.
  takePending() {
    const sends = [...this.pending.values()].map(({ li, body, extra }) => { li.remove(); return { body, extra }; });
    this.pending.clear();
    return sends;
  }

  // ------------------------------------------------------------------ gaps

  // Messages between `afterSeq` and the next held one are not loaded (a page fetched around an old
  // message): a button in their place; `load()` resolves once they are in.
  addGap(afterSeq, load) {
    const next = this.nextHeld(afterSeq);
    if (next === null || next === afterSeq + 1) return;
    const gap = el("li", "gap");
    gap.dataset.after = afterSeq;
    const button = this.button("Show the messages in between", "Show the messages in between", async () => {
      button.disabled = true;
      if (await load(afterSeq, next)) gap.remove();
      else button.disabled = false;
      this.layout();
    });
    button.className = "link";
    gap.append(button);
    this.item(next).before(gap);
  }

  // ------------------------------------------------------------------ new-messages divider

  // At load: the first message after the reader's marker that someone else wrote.
  findDivider({ hasMore }) {
    const unread = [...this.bySeq.values()].filter((m) => m.seq > this.lastReadSeq && m.author_id !== this.me);
    if (unread.length) {
      this.dividerSeq = Math.min(...unread.map((m) => m.seq));
      this.unreadOlder = false;
    }
    // The marker is older than the loaded page: the first new message is further up.
    if (hasMore && this.bySeq.size && this.oldestSeq > this.lastReadSeq + 1) this.unreadOlder = true;
    if (this.unreadOlder) this.dividerSeq = null;
  }

  // A live message from someone else the reader has not seen (tab hidden, or scrolled up).
  noteUnseen(message) {
    if (this.dividerSeq === null && !this.unreadOlder && message.author_id !== this.me) this.dividerSeq = message.seq;
  }

  clearDivider() {
    this.dividerSeq = null;
    this.unreadOlder = false;
  }

  get hasUnreadMarker() { return this.dividerSeq !== null || this.unreadOlder; }

  dividerElement() { return this.list.querySelector(".new-divider"); }

  // ------------------------------------------------------------------ layout

  // Rebuilds separators and grouping from the messages' data attributes; cheap enough per change.
  layout() {
    for (const node of this.list.querySelectorAll(".day-divider, .new-divider, .room-start")) node.remove();
    const items = [...this.list.querySelectorAll("li.message, li.gap")];
    if (this.startLoaded) this.list.prepend(this.startMarker(!this.bySeq.size && !this.pending.size));
    let previous = null;
    for (const li of items) {
      if (li.classList.contains("gap")) { previous = null; continue; }   // after a gap: a new day label and run
      const created = li.dataset.createdAt;
      const newDay = !previous || dayKey(previous.dataset.createdAt) !== dayKey(created);
      if (newDay) {
        const day = el("li", "day-divider");   // a plain list item: a separator role would break the list
        day.append(el("span", "", dayLabel(created)));
        li.before(day);
      }
      const isDivider = this.dividerSeq !== null && Number(li.dataset.seq) === this.dividerSeq;
      if (isDivider) {
        const divider = el("li", "new-divider");
        divider.id = "new-messages";
        divider.tabIndex = -1;                 // the jump control moves focus here
        divider.append(el("span", "", "New messages"));
        li.before(divider);
      }
      const grouped = previous && !newDay && !isDivider
        && previous.dataset.authorId === li.dataset.authorId && li.dataset.authorId !== ""
        && new Date(created) - new Date(previous.dataset.createdAt) < GROUP_GAP_MS;
      li.classList.toggle("grouped", Boolean(grouped));
      previous = li;
    }
  }

  startMarker(empty) {
    const li = el("li", "room-start");
    li.append(el("strong", "", `This is the start of ${this.roomName}.`));
    li.append(el("p", "", empty ? "No messages yet. Write the first one below." : "Everything said here is below."));
    return li;
  }
}
