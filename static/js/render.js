// Safe rendering of user text: the server's sanitized HTML for messages, text nodes for anything else.

const URL_RE = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;

export function renderText(element, text) {
  element.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    element.append(document.createTextNode(text.slice(last, match.index)));
    const link = document.createElement("a");
    link.href = match[0];
    link.textContent = match[0];
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    element.append(link);
    last = match.index + match[0].length;
  }
  element.append(document.createTextNode(text.slice(last)));
}

// `html` is the message's `html` field: rendered and sanitized (allow-list) on the server, the only
// HTML the page inserts. Mentions of the reader get the stronger "me" style here, so the server
// encodes one frame for everyone.
export function renderHtml(element, html, me) {
  element.innerHTML = html;
  element.classList.add("rich");
  for (const link of element.querySelectorAll("a.mention")) {
    if (Number(link.dataset.userId) === me) {
      link.classList.add("me");
      link.title = "Mentions you";
    }
  }
}

export function timeLabel(iso) {
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// The full date and time, for tooltips: "Tuesday, 1 December 2026 at 22:51".
export function fullDateTime(iso) {
  return new Date(iso).toLocaleString([], { dateStyle: "full", timeStyle: "short" });
}

// "Today", "Yesterday", "Monday 30 November", or with the year when it is not this year.
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  const startOf = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(date)) / 86_400_000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  const options = { weekday: "long", day: "numeric", month: "long" };
  if (date.getFullYear() !== now.getFullYear()) options.year = "numeric";
  return date.toLocaleDateString([], options);
}

export function dayKey(iso) {
  const date = new Date(iso);
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

// "just now", "5 min ago", "3 h ago", else the date.
export function relativeTime(iso, now = Date.now()) {
  const seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString([], { day: "numeric", month: "short" });
}
