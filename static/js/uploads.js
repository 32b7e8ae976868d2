// Attachments: the composer's "Attach" button, paste and drag and drop upload at once; message.send carries the ids.
// As a room feature (setup) it is a composer part: no send while a file is still uploading, files alone
// may make a message, and a refused send puts its files back in the tray.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function sizeLabel(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// Wires the composer; returns {busy, count, take, give}: take() hands over (and clears) the ids of the
// uploaded files, give(ids) puts taken ones back.
export function attachUploads({ slug, form, input, onError }) {
  const picker = document.createElement("input");
  picker.type = "file";
  picker.multiple = true;
  picker.hidden = true;
  picker.id = "attach-input";
  const button = document.createElement("button");
  button.type = "button";
  button.id = "attach";
  // An SVG paperclip (like the bell's icon): it draws the same without an emoji font.
  const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  icon.setAttribute("class", "icon");
  icon.setAttribute("aria-hidden", "true");
  icon.setAttribute("viewBox", "0 0 24 24");
  icon.setAttribute("width", "18");
  icon.setAttribute("height", "18");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "2");
  path.setAttribute("stroke-linecap", "round");
  path.setAttribute("d", "M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9");
  icon.append(path);
  const text = document.createElement("span");
  text.className = "attach-text";
  text.textContent = " Attach";
  button.append(icon, text);   // the paperclip alone on a phone; the name is the aria-label
  button.setAttribute("aria-label", "Attach files");
  const tray = document.createElement("ul");
  tray.className = "upload-tray";
  tray.setAttribute("aria-label", "Attachments to send");
  form.append(picker, button);
  form.before(tray);                // above the composer, with the reply bar: what the next send carries

  const ready = new Map();          // attachment id -> tray item
  const known = new Map();          // attachment id -> {name, size}, to put a refused send's files back
  let uploading = 0;

  function trayItem(data) {
    const item = document.createElement("li");
    item.textContent = `${data.name} (${sizeLabel(data.size)}) `;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${data.name}`);
    remove.addEventListener("click", () => { ready.delete(data.id); item.remove(); input.focus(); });
    item.append(remove);
    item.dataset.id = data.id;
    return item;
  }

  async function upload(file) {
    const item = document.createElement("li");
    item.textContent = `${file.name} — uploading…`;
    tray.append(item);
    uploading += 1;
    try {
      const body = new FormData();
      body.append("file", file, file.name);
      const response = await fetch(`/api/rooms/${slug}/uploads`, {
        method: "POST", body, headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        item.remove();
        onError(`${file.name}: ${data.error?.detail ?? `upload failed (${response.status})`}`);
        return;
      }
      known.set(data.id, { id: data.id, name: data.name, size: data.size });
      const done = trayItem(data);
      item.replaceWith(done);
      ready.set(data.id, done);
    } catch {
      item.remove();
      onError(`${file.name}: the upload was interrupted; try again.`);
    } finally {
      uploading -= 1;
    }
  }

  const uploadAll = (files) => { for (const file of files) upload(file); };
  button.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => { uploadAll(picker.files); picker.value = ""; });
  input.addEventListener("paste", (event) => {
    const files = event.clipboardData?.files;
    if (files?.length) { event.preventDefault(); uploadAll(files); }
  });
  form.addEventListener("dragover", (event) => {
    if (event.dataTransfer?.types.includes("Files")) { event.preventDefault(); form.classList.add("dragging"); }
  });
  form.addEventListener("dragleave", () => form.classList.remove("dragging"));
  form.addEventListener("drop", (event) => {
    form.classList.remove("dragging");
    if (event.dataTransfer?.files.length) { event.preventDefault(); uploadAll(event.dataTransfer.files); }
  });

  return {
    busy: () => uploading > 0,
    count: () => ready.size,
    take() {
      const ids = [...ready.keys()];
      for (const item of ready.values()) item.remove();
      ready.clear();
      return ids;
    },
    give(ids) {
      for (const id of ids ?? []) {
        const data = known.get(id);
        if (!data || ready.has(id)) continue;
        const item = trayItem(data);
        tray.append(item);
        ready.set(id, item);
      }
    },
  };
}

export function setup(room) {
  const uploads = attachUploads({ slug: room.slug, form: room.form, input: room.input, onError: room.showError });
  room.onCompose({
    blocked: () => (uploads.busy() ? "Wait a moment: files are still uploading." : null),
    hasContent: () => uploads.count() > 0,
    fill: (extra) => { if (uploads.count()) extra.attachments = uploads.take(); },
    restore: (extra) => uploads.give(extra.attachments),
  });
}

// Images inline (their thumbnail, linking to the original), other files as download links; appended to `container`.
export function renderAttachments(container, attachments) {
  if (!attachments?.length) return;
  const list = document.createElement("ul");
  list.className = "attachments";
  list.setAttribute("aria-label", "Attachments");
  for (const attachment of attachments) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = attachment.url;
    if (attachment.image) {
      link.target = "_blank";
      link.rel = "noopener";
      const image = document.createElement("img");
      image.src = attachment.thumbnail_url ?? attachment.url;
      image.alt = attachment.name;
      image.loading = "lazy";
      link.append(image);
    } else {
      link.download = attachment.name;
      link.textContent = `📎 ${attachment.name} (${sizeLabel(attachment.size)})`;
    }
    item.append(link);
    list.append(item);
  }
  container.append(list);
}
