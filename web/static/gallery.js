/* The gallery (/): live cards, the filter box and the New Project dialog.
 *
 * The server renders every card (templates/_card.html); this file only keeps them
 * current from the API's events (fillCard mirrors the template: keep them in step),
 * filters them, and creates projects through the API. The New Project button and
 * dialog are rendered only for those who may create (editors and admins).
 */
"use strict";

(() => {
  const { apiUrl, callApi, escapeHtml, isoTime, relativeTime, errorMessage, failureOf, failureTitle, EventStream } = window.Auteur;
  const LIVE = new Set(["pending", "processing", "deleting"]);
  const list = document.getElementById("cards");
  const count = document.getElementById("count");
  const filterBox = document.getElementById("filter");
  const empty = document.getElementById("empty");
  const noMatch = document.getElementById("no-match");

  /* FNV-1a of the id: the same colour slot web/pictures.py (hue_of) picks. */
  function hueOf(id) {
    let value = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(id)) value = Math.imul(value ^ byte, 0x01000193) >>> 0;
    return value % 12;
  }

  function initialsOf(name) {
    const words = String(name).replace(/[_.-]/g, " ").split(/\s+/).filter(Boolean);
    if (words.length >= 2) return (Array.from(words[0])[0] + Array.from(words[1])[0]).toUpperCase();
    return (words.length ? Array.from(words[0]).slice(0, 2).join("") : "?").toUpperCase();
  }

  function pictureUrl(p) {
    return `/picture/${encodeURIComponent(p.id)}?v=${(p.current_commit || "").slice(0, 12)}`;
  }

  function newCard(p) {
    const li = document.createElement("li");
    li.className = "card";
    li.id = `card-${p.id}`;
    li.innerHTML =
      `<a class="card-link" href="/project/${encodeURIComponent(p.id)}">` +
      `<span class="thumb hue-${hueOf(p.id)}" aria-hidden="true" data-initials="${escapeHtml(initialsOf(p.name))}">` +
      `<img src="${escapeHtml(pictureUrl(p))}" alt="" loading="lazy" width="320" height="180"></span>` +
      `<span class="card-name"></span></a>`;
    li.dataset.commit = (p.current_commit || "").slice(0, 12);
    return li;
  }

  /* Everything after the card's link, as templates/_card.html renders it. */
  function detailsHtml(p) {
    const quality = p.quality ? `<span class="badge quality quality-${escapeHtml(p.quality)}">${escapeHtml(p.quality)}</span> ` : "";
    const spinner = LIVE.has(p.status) ? '<span class="spinner"></span>' : "";
    const failure = p.status === "failed"
      ? `<span class="failure" role="note"><span class="failure-title">${escapeHtml(failureTitle(p))}</span> ` +
        `<span class="failure-text">${escapeHtml(failureOf(p))}</span></span>`
      : "";
    const assets = p.asset_count || 0;
    return (
      `<span class="badges">${quality}<span class="badge status status-${escapeHtml(p.status)}">${spinner}${escapeHtml(p.status)}</span></span>` +
      failure +
      `<span class="facts"><span>Last commit <time datetime="${isoTime(p.last_commit_at)}">${relativeTime(p.last_commit_at)}</time></span> ` +
      `<span class="assets">${assets} asset${assets === 1 ? "" : "s"}</span></span>`
    );
  }

  function fillCard(card, p) {
    card.dataset.status = p.status;
    card.dataset.created = p.created_at || "";
    const link = card.querySelector(".card-link");
    link.querySelector(".card-name").textContent = p.name;
    while (link.nextSibling) link.nextSibling.remove();
    link.insertAdjacentHTML("afterend", detailsHtml(p));
    const commit = (p.current_commit || "").slice(0, 12);
    if (card.dataset.commit !== commit) {
      card.dataset.commit = commit;
      card.querySelector("img").src = pictureUrl(p);
    }
    haystacks.delete(card);
  }

  /* Newest first, like the API: no created_at yet (just created) sorts first. */
  function isBefore(a, b) {
    return (a || "\uffff") > (b || "\uffff");
  }

  function insertSorted(card) {
    const created = card.dataset.created;
    let next = list.firstElementChild;
    while (next && !isBefore(created, next.dataset.created)) next = next.nextElementSibling;
    list.insertBefore(card, next);
  }

  function upsert(p) {
    if (!p || !p.id) return;
    let card = document.getElementById(`card-${p.id}`);
    if (!card) {
      card = newCard(p);
      card.dataset.created = p.created_at || "";
      card.classList.add("arrived");
      insertSorted(card);
      fillCard(card, p);
    } else {
      const moved = (card.dataset.created || "") !== (p.created_at || "");
      fillCard(card, p);
      if (moved) insertSorted(card);
    }
    scheduleFilter();
  }

  function remove(id) {
    const card = document.getElementById(`card-${id}`);
    if (card) card.remove();
    scheduleFilter();
  }

  /* -- filter ------------------------------------------------------------------- */

  const haystacks = new WeakMap();
  function haystackOf(card) {
    let text = haystacks.get(card);
    if (text === undefined) {
      const quality = card.querySelector(".quality");
      text = `${card.querySelector(".card-name").textContent} ${card.id.slice(5)} ${quality ? quality.textContent : ""} ${card.dataset.status}`;
      text = text.toLowerCase();
      haystacks.set(card, text);
    }
    return text;
  }

  let lastQuery = "";
  function applyFilter() {
    const query = filterBox.value.trim().toLowerCase();
    const words = query.split(/\s+/).filter(Boolean);
    let shown = 0;
    let total = 0;
    for (const card of list.children) {
      total += 1;
      const match = words.every((w) => haystackOf(card).includes(w));
      if (card.hidden === match) card.hidden = !match;
      if (match) shown += 1;
    }
    const noun = total === 1 ? "project" : "projects";
    count.textContent = query ? `${shown} of ${total} ${noun}` : `${total} ${noun}`;
    empty.hidden = total > 0;
    noMatch.hidden = !(total > 0 && shown === 0);
    lastQuery = query;
  }

  /* At most once a frame, however many events or keystrokes arrive. */
  let pending = false;
  function scheduleFilter() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      applyFilter();
    });
  }
  filterBox.addEventListener("input", () => {
    if (filterBox.value.trim().toLowerCase() !== lastQuery) scheduleFilter();
  });

  /* -- pictures ----------------------------------------------------------------- */

  // No picture (404) or an unreachable API: hide the image, the placeholder shows.
  // A picture (or the play badge of a video without its poster yet) hides the initials.
  document.addEventListener("error", (e) => {
    const thumb = e.target instanceof HTMLImageElement && e.target.closest(".thumb");
    if (!thumb) return;
    e.target.classList.add("missing");
    thumb.classList.remove("pictured");
  }, true);
  document.addEventListener("load", (e) => {
    const thumb = e.target instanceof HTMLImageElement && e.target.closest(".thumb");
    if (!thumb) return;
    e.target.classList.remove("missing");
    thumb.classList.add("pictured");
  }, true);

  // Pictures that arrived (or failed) before this script ran.
  for (const img of list.querySelectorAll(".thumb img")) {
    if (!img.complete || !img.currentSrc) continue;
    if (img.naturalWidth > 0) img.parentElement.classList.add("pictured");
    else img.classList.add("missing");
  }

  function refreshPicture(id) {
    const img = document.querySelector(`#card-${CSS.escape(id)} img`);
    if (img) img.src = `/picture/${encodeURIComponent(id)}?v=${Date.now()}`;
  }

  /* -- live --------------------------------------------------------------------- */

  async function reloadAll() {
    const response = await callApi(`${apiUrl}/api/v1/projects`);
    if (!response.ok) throw new Error(`listing projects answered ${response.status}`);
    const projects = await response.json();
    const keep = new Set(projects.map((p) => `card-${p.id}`));
    for (const card of Array.from(list.children)) if (!keep.has(card.id)) card.remove();
    for (const p of projects) {
      const card = document.getElementById(`card-${p.id}`) || newCard(p);
      fillCard(card, p);
      list.appendChild(card); // in the API's order, newest first
    }
    applyFilter();
  }

  const stream = new EventStream({
    since: document.body.dataset.since,
    onEvent(event) {
      const p = event.project || {};
      if (event.type === "project.deleted") remove(p.id);
      else if (event.type === "project.created" || event.type === "project.updated") upsert(p);
      else if (event.type === "media.poster") refreshPicture(p.id);
    },
    onResync() {
      reloadAll().catch((err) => console.error("resync failed", err));
    },
  });
  stream.start();
  window.Auteur.stream = stream; // for people (and tests) poking at the page

  /* -- New Project ---------------------------------------------------------------- */

  function setUpNewProject(opener) {
    const dialog = document.getElementById("new-project-dialog");
    const form = document.getElementById("new-project-form");
    const error = document.getElementById("np-error");
    const submit = form.querySelector('button[type="submit"]');

    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
      form.elements.name.setAttribute("aria-invalid", message ? "true" : "false");
    }

    opener.addEventListener("click", () => {
      showError("");
      dialog.showModal();
      form.elements.name.focus();
    });
    form.querySelector("[data-close]").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => opener.focus());

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const name = form.elements.name.value;
      if (!name.trim()) {
        showError("A name is required.");
        form.elements.name.focus();
        return;
      }
      const body = { name, quality: form.elements.quality.value, description: form.elements.description.value };
      submit.disabled = true;
      submit.textContent = "Creating…";
      try {
        const response = await callApi(`${apiUrl}/api/v1/projects`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        const answer = await response.json().catch(() => null);
        if (response.status === 201 || response.status === 202) {
          window.location.assign(`/project/${encodeURIComponent(answer.id)}`);
          return;
        }
        showError(errorMessage(answer, response.status));
      } catch (err) {
        showError(`Could not reach the API at ${apiUrl}. Is it running?`);
      } finally {
        submit.disabled = false;
        submit.textContent = "Create project";
      }
      form.elements.name.focus();
    });
  }

  const opener = document.getElementById("new-project");
  if (opener) setUpNewProject(opener);

  applyFilter();
  window.__galleryReady = performance.now();
})();
