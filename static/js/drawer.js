// Drawers and menus that collapse at phone widths: a button with aria-controls and aria-expanded opens its
// panel, moves focus into it; Escape, a click outside or focus leaving it closes it (focus back on the button).

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), textarea:not([disabled]), select, [tabindex]:not([tabindex='-1'])";

function panelOf(button) {
  return document.getElementById(button.getAttribute("aria-controls"));
}

function close(button, { restoreFocus = false } = {}) {
  const panel = panelOf(button);
  if (!panel?.classList.contains("open")) return;
  panel.classList.remove("open");
  button.setAttribute("aria-expanded", "false");
  document.body.classList.remove("drawer-open");
  if (restoreFocus) button.focus();
}

function open(button) {
  for (const other of document.querySelectorAll("[data-drawer-toggle][aria-expanded='true']")) close(other);
  const panel = panelOf(button);
  panel.classList.add("open");
  button.setAttribute("aria-expanded", "true");
  if (panel.classList.contains("drawer-side")) document.body.classList.add("drawer-open");
  // After the transition starts the panel is visible, so it can take focus.
  requestAnimationFrame(() => panel.querySelector(FOCUSABLE)?.focus());
}

function openToggle() {
  return document.querySelector("[data-drawer-toggle][aria-expanded='true']");
}

for (const button of document.querySelectorAll("[data-drawer-toggle]")) {
  button.addEventListener("click", () => {
    if (button.getAttribute("aria-expanded") === "true") close(button, { restoreFocus: true });
    else open(button);
  });
  panelOf(button)?.addEventListener("focusout", (event) => {
    const panel = panelOf(button);
    if (event.relatedTarget && !panel.contains(event.relatedTarget) && event.relatedTarget !== button) close(button);
  });
}

document.addEventListener("keydown", (event) => {
  const button = openToggle();
  if (event.key === "Escape" && button) close(button, { restoreFocus: true });
});

document.addEventListener("click", (event) => {
  const button = openToggle();
  if (!button) return;
  if (button.contains(event.target) || panelOf(button).contains(event.target)) return;
  close(button);
});

// Back at desktop width every drawer is a plain column again.
matchMedia("(min-width: 48.01rem)").addEventListener("change", (event) => {
  if (event.matches) for (const button of document.querySelectorAll("[data-drawer-toggle]")) close(button);
});
