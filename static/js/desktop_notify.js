// Desktop notifications for mentions and DMs while the tab is hidden. Permission is only ever asked
// for from the button in the bell panel (a click), never on page load.

const KINDS = new Set(["mention", "direct_message"]);

function supported() {
  return "Notification" in window;
}

function label(button) {
  const state = Notification.permission;
  button.textContent = state === "granted" ? "Desktop alerts are on"
    : state === "denied" ? "Desktop alerts are blocked (browser settings)"
    : "Turn on desktop alerts";
  button.disabled = state !== "default";
}

export function setupDesktopButton(button) {
  if (!button || !supported()) return;
  button.hidden = false;
  label(button);
  button.addEventListener("click", async () => {
    await Notification.requestPermission();
    label(button);
  });
}

export function desktopNotify(notification) {
  if (!supported() || Notification.permission !== "granted") return;
  if (document.visibilityState === "visible" || !KINDS.has(notification.kind) || notification.read) return;
  // One notification per id across the user's tabs: the tag replaces duplicates.
  const shown = new Notification("chatsite", { body: notification.text, tag: `chatsite-${notification.id}` });
  shown.addEventListener("click", () => {
    window.focus();
    location.assign(notification.url);
    shown.close();
  });
}
