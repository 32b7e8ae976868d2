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
