// Safe rendering of user text: text nodes only, with http(s) links made clickable.

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

export function timeLabel(iso) {
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
