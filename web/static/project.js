/* The project page (/project/<id>): live status, uploads, versions and delete.
 *
 * The server renders the page (templates/project.html); this file updates the
 * status and git fields from the API's events, re-fetches the assets part
 * (/project/<id>/assets) when they change, uploads files straight to the API with
 * XMLHttpRequest (for its upload progress), lists an asset's versions from the API
 * when its "Versions" is opened (each downloadable; editors may restore one: a job
 * commits it, followed by its upload.* events in #restore-status), deletes the project
 * (an admin may also purge it), and changes its quality and description (PATCH; a
 * refusal is shown beside the field the API names). The upload form, Restore, the edit
 * form and the delete button are rendered only for those who may use them (editors and
 * admins; purging: admins). Previews (templates/_preview.html): a thumbnail or poster that is
 * not there yet shows its placeholder and is loaded again on the media.thumbnail or
 * media.poster event; a video the browser cannot decode offers its download.
 *
 * An .upload-item's data-status goes queued → uploading → processing → completed,
 * or failed (with the reason) or cancelled.
 */
"use strict";

(() => {
  const { apiUrl, callApi, authorize, isoTime, absoluteTime, relativeTime, fileSize, errorMessage, failureOf, failureTitle,
    EventStream } = window.Auteur;
  const LIVE = new Set(["pending", "processing", "deleting"]);
  const projectId = document.body.dataset.project;
  const projectApi = `${apiUrl}/api/v1/projects/${encodeURIComponent(projectId)}`;
  const field = (name) => document.querySelector(`[data-field="${name}"]`);
  const quotePath = (path) => path.split("/").map(encodeURIComponent).join("/");

  /* -- status and git --------------------------------------------------------------- */

  function showStatus(status) {
    const badge = field("status-badge");
    badge.className = `badge status status-${status}`;
    badge.querySelector(".status-text").textContent = status;
    badge.querySelector(".spinner").hidden = !LIVE.has(status);
  }

  const editForm = document.getElementById("edit-form"); // editors only
  const editFields = document.getElementById("edit-fields");
  let lastCommit = field("current_commit").title;
  let lastCount = field("asset_count").textContent;

  /* The media integrity warning, as templates/project.html renders it. */
  function showMediaFindings(findings) {
    const box = field("media-findings");
    box.hidden = !findings.length;
    box.querySelector(".media-count").textContent = findings.length;
    const items = findings.map((f) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = f.path;
      li.append(code, `: ${f.problem}`);
      if (f.detail) {
        const detail = document.createElement("span");
        detail.className = "muted";
        detail.textContent = ` (${f.detail})`;
        li.append(detail);
      }
      return li;
    });
    box.querySelector(".media-list").replaceChildren(...items);
  }

  function update(p) {
    showStatus(p.status);
    const quality = field("quality");
    quality.textContent = p.quality || "";
    quality.className = `badge quality quality-${p.quality || ""}`;
    quality.hidden = !p.quality; // a spec that failed to parse has none
    field("quality-text").textContent = p.quality || "—";
    field("description").textContent = p.description || "—";
    if (editFields) allowEdit(p);
    const failure = field("failure");
    failure.hidden = p.status !== "failed";
    failure.querySelector(".failure-title").textContent = p.status === "failed" ? failureTitle(p) : "";
    failure.querySelector(".failure-text").textContent = p.status === "failed" ? failureOf(p) : "";
    showMediaFindings(p.media_findings || []);
    const rows = (p.conditions || []).map((c) => {
      const tr = document.createElement("tr");
      for (const value of [c.type, String(Boolean(c.status)), c.reason, c.message || ""]) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      }
      return tr;
    });
    if (rows.length) field("conditions").replaceChildren(...rows);
    const commit = field("current_commit");
    commit.title = p.current_commit || "";
    commit.textContent = p.current_commit ? p.current_commit.slice(0, 12) : "none yet";
    const dirty = field("is_dirty");
    dirty.textContent = p.is_dirty ? "dirty" : "clean";
    dirty.className = p.is_dirty ? "warn" : "ok";
    field("branch").textContent = p.branch || "main";
    field("last_commit_message").textContent = p.last_commit_message || "";
    if (p.last_commit_author !== undefined) field("last_commit_author").textContent = p.last_commit_author || "";
    const time = field("last_commit_at");
    time.dateTime = isoTime(p.last_commit_at);
    time.title = absoluteTime(p.last_commit_at);
    time.textContent = relativeTime(p.last_commit_at);
    field("lfs_files").textContent = p.lfs_files || 0;
    field("asset_count").textContent = p.asset_count || 0;
    lastCommit = p.current_commit || "";
    lastCount = String(p.asset_count || 0);
    assetsMayHaveChanged();
  }

  /* The assets part is drawn again when the head or the count it was drawn for has moved.
   * Events come in bursts (on opening, the last seconds are replayed, older states first),
   * so this waits for a quiet moment and compares only then: a burst that ends where the
   * page already is redraws nothing, and a click on the list is not lost to a redraw. */
  let shownCommit = lastCommit;
  let shownCount = lastCount;
  let settleTimer = null;
  function assetsMayHaveChanged() {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      if (lastCommit !== shownCommit || lastCount !== shownCount) refreshAssets();
    }, 150);
  }

  let refreshing = null;
  let again = false;
  function refreshAssets() {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    const drawing = [lastCommit, lastCount];
    refreshing = fetch(`/project/${encodeURIComponent(projectId)}/assets`)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`assets answered ${r.status}`))))
      .then((html) => {
        const body = document.getElementById("assets-body");
        const open = new Set(Array.from(body.querySelectorAll("details.versions[open]"), (d) => d.dataset.path));
        const template = document.createElement("template");
        template.innerHTML = html;
        for (const details of template.content.querySelectorAll("details.versions")) {
          if (open.has(details.dataset.path)) details.open = true; // its toggle event loads it afresh
        }
        body.replaceWith(template.content);
        [shownCommit, shownCount] = drawing;
      })
      .catch((err) => console.error("refreshing assets", err))
      .finally(() => {
        refreshing = null;
        if (again) {
          again = false;
          refreshAssets();
        }
      });
    return refreshing;
  }

  /* -- previews ------------------------------------------------------------------- */

  function offerDownloadIfUnplayable(video) {
    if (video.error && video.error.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED) {
      video.closest(".preview").querySelector(".preview-unplayable").hidden = false;
    }
  }

  /* Error events do not bubble: catch them on their way down, for the parts drawn again too.
   * A picture or video may have failed before this deferred script ran: those are looked at once here. */
  document.addEventListener("error", (event) => {
    const el = event.target;
    if (!(el instanceof HTMLElement) || !el.closest("#assets")) return;
    if (el.classList.contains("preview-picture")) el.closest(".preview").dataset.state = "missing";
    if (el instanceof HTMLVideoElement) offerDownloadIfUnplayable(el);
  }, true);
  document.querySelectorAll("#assets video.preview-player").forEach(offerDownloadIfUnplayable);
  for (const img of document.querySelectorAll("#assets img.preview-picture")) {
    if (img.complete && img.naturalWidth === 0) img.closest(".preview").dataset.state = "missing"; // failed already
  }
  document.addEventListener("load", (event) => {
    if (event.target instanceof HTMLImageElement && event.target.classList.contains("preview-picture")) {
      delete event.target.closest(".preview").dataset.state;
    }
  }, true);

  /* A thumbnail or poster was made: load the missing pictures again (the same bytes may be
   * at several paths). The query only makes the URL new, so the browser asks afresh. */
  function reloadPictures(event) {
    const stamp = encodeURIComponent(event.id || String(Date.now()));
    for (const preview of document.querySelectorAll('#assets .preview[data-state="missing"]')) {
      const img = preview.querySelector(".preview-picture");
      delete preview.dataset.state;
      img.src = `${img.src.split("?")[0]}?seen=${stamp}`;
    }
    if (event.type === "media.poster") {
      for (const video of document.querySelectorAll("#assets video.preview-player")) {
        if (video.closest(".preview").dataset.path === (event.data || {}).path) {
          video.poster = `${video.poster.split("?")[0]}?seen=${stamp}`;
        }
      }
    }
  }

  function gone() {
    showStatus("deleted");
    document.getElementById("gone").hidden = false;
    for (const el of document.querySelectorAll("#upload input, #upload select, #upload label.button")) {
      el.disabled = true;
      el.setAttribute("aria-disabled", "true");
    }
  }

  /* -- uploads ------------------------------------------------------------------- */

  const CONCURRENT = 2;
  const uploadsList = document.getElementById("uploads");
  const itemTemplate = document.getElementById("upload-item");
  const typeSelect = document.getElementById("asset-type");
  const fileInput = document.getElementById("files");
  const dropzone = document.getElementById("dropzone");
  const queue = [];
  const byUploadId = new Map(); // upload_id -> upload, once the API has stored the bytes
  const finished = new Map(); // upload_id -> event data, when the event beat the HTTP answer
  let active = 0;

  function setStatus(upload, status, text) {
    upload.item.dataset.status = status;
    upload.status = status;
    upload.item.querySelector(".upload-status").textContent = text;
    const cancel = upload.item.querySelector(".cancel");
    cancel.hidden = !(status === "queued" || status === "uploading");
  }

  function setProgress(upload, fraction) {
    const bar = upload.item.querySelector("progress");
    bar.value = fraction;
    if (upload.status === "uploading") {
      upload.item.querySelector(".upload-status").textContent = `Uploading ${Math.floor(fraction * 100)}%`;
    }
  }

  function add(files) {
    const type = typeSelect.value;
    for (const file of files) {
      const item = itemTemplate.content.firstElementChild.cloneNode(true);
      const upload = { file, type, item, status: "queued", xhr: null, path: null, startedAt: 0 };
      item.querySelector(".upload-name").textContent = `${file.name} → ${type}`;
      item.querySelector("progress").setAttribute("aria-label", `Upload of ${file.name}`);
      item.querySelector(".cancel").setAttribute("aria-label", `Cancel the upload of ${file.name}`);
      item.querySelector(".cancel").addEventListener("click", () => cancel(upload));
      setStatus(upload, "queued", "Waiting…");
      uploadsList.prepend(item);
      queue.push(upload);
    }
    pump();
  }

  function pump() {
    while (active < CONCURRENT && queue.length) start(queue.shift());
  }

  function cancel(upload) {
    if (upload.status === "queued") {
      queue.splice(queue.indexOf(upload), 1);
      setStatus(upload, "cancelled", "Cancelled");
    } else if (upload.status === "uploading" && upload.xhr) {
      upload.xhr.abort();
    }
  }

  function start(upload) {
    active += 1;
    setStatus(upload, "uploading", "Uploading 0%");
    const xhr = new XMLHttpRequest();
    upload.xhr = xhr;
    upload.startedAt = Date.now();
    xhr.open("POST", `${projectApi}/assets?asset_type=${encodeURIComponent(upload.type)}`);
    authorize(xhr);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && e.total > 0) setProgress(upload, e.loaded / e.total);
    });
    const settle = () => {
      upload.xhr = null;
      active -= 1;
      pump();
    };
    xhr.addEventListener("load", () => {
      settle();
      const accepted = xhr.status === 200 && xhr.response && xhr.response.uploads && xhr.response.uploads[0];
      if (!accepted) {
        setStatus(upload, "failed", `Failed: ${errorMessage(xhr.response, xhr.status)}`);
        return;
      }
      setProgress(upload, 1);
      upload.path = accepted.path;
      upload.item.dataset.uploadId = accepted.upload_id;
      byUploadId.set(accepted.upload_id, upload);
      setStatus(upload, "processing", "Stored; committing…");
      const early = finished.get(accepted.upload_id);
      if (early) finish(upload, early);
      else watchProcessing();
    });
    xhr.addEventListener("error", () => {
      settle();
      setStatus(upload, "failed", `Failed: could not reach the API at ${apiUrl}`);
    });
    xhr.addEventListener("abort", () => {
      settle();
      setStatus(upload, "cancelled", "Cancelled");
    });
    const form = new FormData();
    form.append("files", upload.file, upload.file.name);
    xhr.send(form);
  }

  function finish(upload, data) {
    if (upload.status !== "processing") return;
    if (data.status === "completed") {
      setStatus(upload, "completed", "Completed");
      refreshAssets();
    } else {
      setStatus(upload, "failed", `Failed: ${data.error || "the ingest failed"}`);
    }
  }

  function onUploadEvent(event) {
    const data = event.data || {};
    if (!data.upload_id) return;
    const upload = byUploadId.get(data.upload_id);
    if (upload) finish(upload, data);
    else finished.set(data.upload_id, data);
  }

  /* Events are the fast path; if the stream was down when one was sent, ask the
   * API's listing whether the file got committed (same path and size). */
  let watching = null;
  function watchProcessing() {
    if (watching) return;
    watching = setInterval(async () => {
      const waiting = Array.from(byUploadId.values()).filter((u) => u.status === "processing");
      if (!waiting.length) {
        clearInterval(watching);
        watching = null;
        return;
      }
      if (stream.open && waiting.every((u) => Date.now() - u.startedAt < 10_000)) return;
      try {
        const response = await callApi(`${projectApi}/assets`);
        if (!response.ok) return;
        const assets = new Map((await response.json()).map((a) => [a.path, a]));
        for (const u of waiting) {
          const a = assets.get(u.path);
          if (a && a.committed && a.size === u.file.size) finish(u, { status: "completed" });
        }
      } catch (err) {
        /* the API is away; the next tick tries again */
      }
    }, 3000);
  }

  function setUpUploads() {
    fileInput.addEventListener("change", () => {
      add(Array.from(fileInput.files));
      fileInput.value = "";
    });
    for (const type of ["dragenter", "dragover"]) {
      dropzone.addEventListener(type, (e) => {
        e.preventDefault();
        dropzone.classList.add("dragging");
      });
    }
    dropzone.addEventListener("dragleave", (e) => {
      if (!dropzone.contains(e.relatedTarget)) dropzone.classList.remove("dragging");
    });
    dropzone.addEventListener("drop", (e) => {
      e.preventDefault();
      dropzone.classList.remove("dragging");
      if (e.dataTransfer && e.dataTransfer.files.length) add(Array.from(e.dataTransfer.files));
    });
  }
  if (fileInput) setUpUploads();
  // A file dropped anywhere must not replace the page with the file (nor, for a viewer, open it).
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());

  /* -- quality and description -------------------------------------------------- */

  function setUpEdit(form) {
    const save = document.getElementById("edit-save");
    const state = document.getElementById("edit-state");
    const general = document.getElementById("edit-error");
    const errors = new Map(Array.from(form.querySelectorAll("[data-error-for]")).map((el) => [el.dataset.errorFor, el]));

    function showError(fieldName, message) {
      for (const [name, el] of errors) {
        const mine = message && name === fieldName;
        el.hidden = !mine;
        el.textContent = mine ? message : "";
        form.elements[name].setAttribute("aria-invalid", mine ? "true" : "false");
      }
      const elsewhere = message && !errors.has(fieldName);
      general.hidden = !elsewhere;
      general.textContent = elsewhere ? message : "";
      if (message && errors.has(fieldName)) form.elements[fieldName].focus();
    }

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(null, "");
      save.disabled = true;
      state.textContent = "Saving…";
      const body = { quality: form.elements.quality.value, description: form.elements.description.value };
      try {
        const response = await callApi(projectApi, {
          method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
        });
        const answer = await response.json().catch(() => null);
        if (response.ok) {
          update(answer);
          state.textContent = response.status === 202 ? "Saved; the controller is applying it…" : "Saved.";
        } else {
          state.textContent = "";
          showError(answer && answer.error && answer.error.field, errorMessage(answer, response.status));
        }
      } catch (err) {
        state.textContent = "";
        showError(null, `Could not reach the API at ${apiUrl}.`);
      }
      save.disabled = false;
    });
  }

  /* A spec that cannot be read has no quality to change: the fields wait until it is fixed,
   * then start from what it says. */
  function allowEdit(p) {
    const blocked = !p.quality;
    if (editFields.disabled && !blocked) {
      editForm.elements.quality.value = p.quality;
      editForm.elements.description.value = p.description || "";
    }
    editFields.disabled = blocked;
    document.getElementById("edit-blocked").hidden = !blocked;
  }

  if (editForm) setUpEdit(editForm);

  /* -- versions and restores ------------------------------------------------------ */

  const restoreStatus = document.getElementById("restore-status");
  const restores = new Map(); // upload_id -> the asset's path, while its job runs

  function showRestore(state, text) {
    restoreStatus.hidden = false;
    restoreStatus.dataset.state = state;
    restoreStatus.textContent = text;
  }

  function versionItem(path, version, index, canRestore) {
    const li = document.createElement("li");
    li.className = "version";
    li.dataset.commit = version.commit;
    const time = document.createElement("time");
    time.className = "muted";
    time.dateTime = isoTime(version.time);
    time.title = absoluteTime(version.time);
    time.textContent = relativeTime(version.time);
    const who = document.createElement("span");
    who.className = "version-author";
    who.textContent = version.author;
    li.append(time, " ", who, " ");
    if (version.change === "deleted") {
      const badge = document.createElement("span");
      badge.className = "badge small";
      badge.textContent = "deleted";
      li.append(badge);
      return li;
    }
    const size = document.createElement("span");
    size.className = "muted";
    size.textContent = fileSize(version.size);
    const link = document.createElement("a");
    link.href = `${projectApi}/assets/${quotePath(path)}?version=${version.commit}`;
    link.setAttribute("download", path.split("/").pop());
    link.textContent = "Download";
    link.setAttribute("aria-label", `Download the version of ${absoluteTime(version.time)}`);
    li.append(size, " ", link);
    if (index === 0) {
      const badge = document.createElement("span");
      badge.className = "badge small";
      badge.textContent = "current";
      li.append(" ", badge);
    } else if (canRestore) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button small restore";
      button.textContent = "Restore";
      button.setAttribute("aria-label", `Restore the version of ${absoluteTime(version.time)}`);
      button.addEventListener("click", () => restore(button, path, version));
      li.append(" ", button);
    }
    return li;
  }

  async function loadVersions(details) {
    const list = details.querySelector(".version-list");
    const path = details.dataset.path;
    const canRestore = document.getElementById("assets-body").dataset.canRestore !== undefined && details.dataset.restorable !== undefined;
    list.replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: "Loading…" }));
    try {
      const response = await callApi(`${projectApi}/versions?path=${encodeURIComponent(path)}`);
      const answer = await response.json().catch(() => null);
      if (!response.ok) {
        const text = response.status === 404 ? "Not committed yet." : errorMessage(answer, response.status);
        list.replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: text }));
        return;
      }
      list.replaceChildren(...answer.items.map((v, i) => versionItem(path, v, i, canRestore)));
    } catch (err) {
      list.replaceChildren(Object.assign(document.createElement("li"), { className: "muted", textContent: `Could not reach the API at ${apiUrl}.` }));
    }
  }

  async function restore(button, path, version) {
    const name = path.split("/").pop();
    button.disabled = true;
    showRestore("queued", `Restoring ${name} to the version of ${absoluteTime(version.time)}…`);
    try {
      const response = await callApi(`${projectApi}/versions/restore`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ path, version: version.commit }),
      });
      const answer = await response.json().catch(() => null);
      if (response.status !== 202) {
        showRestore("failed", `Restoring ${name} failed: ${errorMessage(answer, response.status)}`);
        button.disabled = false;
        return;
      }
      restores.set(answer.upload_id, path);
      showRestore("queued", `Restoring ${name}: queued…`);
      const early = finished.get(answer.upload_id); // the job's last event beat this answer
      if (early) onRestoreEvent({ type: early.status === "completed" ? "upload.completed" : "upload.failed", data: early });
    } catch (err) {
      showRestore("failed", `Restoring ${name} failed: could not reach the API at ${apiUrl}.`);
      button.disabled = false;
    }
  }

  function onRestoreEvent(event) {
    const data = event.data || {};
    const path = restores.get(data.upload_id);
    if (!path) return false;
    const name = path.split("/").pop();
    if (event.type === "upload.processing") {
      showRestore("processing", `Restoring ${name}: committing…`);
    } else if (event.type === "upload.completed") {
      restores.delete(data.upload_id);
      showRestore("completed", `Restored ${name} (commit ${(data.commit || "").slice(0, 12)}).`);
      refreshAssets();
    } else if (event.type === "upload.failed" || event.type === "restore.failed") {
      restores.delete(data.upload_id);
      showRestore("failed", `Restoring ${name} failed: ${data.error || "the job failed"}`);
    }
    return true;
  }

  // "toggle" does not bubble: listen while it is captured, for every Versions opened, even in a refreshed fragment.
  document.addEventListener("toggle", (e) => {
    if (e.target instanceof HTMLDetailsElement && e.target.matches("details.versions") && e.target.open) loadVersions(e.target);
  }, true);

  /* -- delete ------------------------------------------------------------------- */

  function setUpDelete(deleteButton) {
    const deleteDialog = document.getElementById("delete-dialog");
    const deleteError = document.getElementById("delete-error");
    const choices = [
      [document.getElementById("confirm-delete"), false],
      [document.getElementById("confirm-purge"), true], // admins only
    ].filter(([button]) => button);

    async function remove(button, purge) {
      const label = button.textContent;
      for (const [other] of choices) other.disabled = true;
      button.textContent = "Deleting…";
      try {
        const response = await callApi(purge ? `${projectApi}?purge=true` : projectApi, { method: "DELETE" });
        if (response.status === 204 || response.status === 202 || response.status === 404) {
          const name = document.getElementById("project-name").textContent;
          window.location.assign(`/?deleted=${encodeURIComponent(name)}${purge ? "&purged=true" : ""}`);
          return;
        }
        deleteError.textContent = errorMessage(await response.json().catch(() => null), response.status);
      } catch (err) {
        deleteError.textContent = `Could not reach the API at ${apiUrl}.`;
      }
      deleteError.hidden = false;
      for (const [other] of choices) other.disabled = false;
      button.textContent = label;
    }

    deleteButton.addEventListener("click", () => {
      deleteError.hidden = true;
      deleteDialog.showModal();
    });
    deleteDialog.addEventListener("close", () => deleteButton.focus());
    for (const [button, purge] of choices) button.addEventListener("click", () => remove(button, purge));
  }

  const deleteButton = document.getElementById("delete-project");
  if (deleteButton) setUpDelete(deleteButton);

  /* -- live --------------------------------------------------------------------- */

  const stream = new EventStream({
    since: document.body.dataset.since,
    onEvent(event) {
      const p = event.project || {};
      if (p.id !== projectId) return;
      if (event.type === "project.deleted") gone();
      else if (event.type === "project.created" || event.type === "project.updated") update(p);
      else if (event.type === "media.thumbnail" || event.type === "media.poster") reloadPictures(event);
      else if (event.type.startsWith("upload.") || event.type === "restore.failed") {
        const last = event.type === "upload.completed" || event.type === "upload.failed" || event.type === "restore.failed";
        if (!onRestoreEvent(event) && last) onUploadEvent(event);
      }
    },
    async onResync() {
      try {
        const response = await callApi(projectApi);
        if (response.status === 404) gone();
        else if (response.ok) update(await response.json());
        refreshAssets();
        watchProcessing();
      } catch (err) {
        console.error("resync failed", err);
      }
    },
  });
  stream.start();
})();
