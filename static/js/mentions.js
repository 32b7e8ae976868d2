// The composer's @ suggestions: the room's members (from the page) in a listbox under the textbox.
// Arrows move, Enter or Tab picks, Escape closes; a click picks too. The textarea keeps its textbox
// role (a multi-line field), pointing at the list with aria-controls / aria-activedescendant.
// room.js runs setup() before it wires the composer, so this keydown (Enter picks a name) comes first.

const QUERY_RE = /(?:^|[^\w@])@([\w.@+-]{0,150})$/u;
const MAX_SHOWN = 8;

let input = null;
let list = null;
let members = [];
let matches = [];
let active = 0;
let query = null;            // {start, end} of "@prefix" in the textarea

function close() {
  matches = [];
  query = null;
  list.hidden = true;
  list.replaceChildren();
  input.removeAttribute("aria-activedescendant");
}

function show() {
  list.replaceChildren(...matches.map((member, index) => {
    const option = document.createElement("li");
    option.id = `mention-option-${member.id}`;
    option.setAttribute("role", "option");
    option.setAttribute("aria-selected", String(index === active));
    option.textContent = `@${member.username}`;
    option.addEventListener("mousedown", (event) => { event.preventDefault(); pick(index); });  // keep focus
    return option;
  }));
  list.hidden = false;
  input.setAttribute("aria-activedescendant", `mention-option-${matches[active].id}`);
}

function update() {
  const caret = input.selectionStart;
  const found = input.selectionEnd === caret ? QUERY_RE.exec(input.value.slice(0, caret)) : null;
  if (!found) { close(); return; }
  const prefix = found[1].toLowerCase();
  matches = members.filter((m) => m.username.toLowerCase().startsWith(prefix)).slice(0, MAX_SHOWN);
  if (!matches.length) { close(); return; }
  query = { start: caret - found[1].length - 1, end: caret };
  active = Math.min(active, matches.length - 1);
  show();
}

function pick(index) {
  const member = matches[index];
  if (!member || !query) return;
  const text = `@${member.username} `;
  input.value = input.value.slice(0, query.start) + text + input.value.slice(query.end);
  const caret = query.start + text.length;
  input.setSelectionRange(caret, caret);
  close();
  input.focus();
}

export function setup(room) {
  input = room.input;
  list = document.getElementById("mention-list");
  members = JSON.parse(document.getElementById("mention-members").textContent).filter((m) => m.id !== room.me);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.addEventListener("input", () => { active = 0; update(); });
  input.addEventListener("click", update);
  input.addEventListener("blur", close);
  // Registered before room.js's own listener: Enter picks, not sends.
  input.addEventListener("keydown", (event) => {
    if (list.hidden || !matches.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      active = (active + (event.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      show();
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      pick(active);
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  });
}
