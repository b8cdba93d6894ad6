/* The gallery (/): one page of a view (search, status, order), live, and the New Project dialog.
 *
 * The server renders the page the URL asks for (templates/gallery.html, _card.html) with
 * plain links and a plain GET form, so it works without scripts. This file asks the API
 * instead: the search box, the status and sort selects and Previous/Next fetch one page
 * of /api/v1/projects (one request in flight; keystrokes typed meanwhile become one more),
 * and the URL follows (replaceState while typing, pushState when paging), so a reload or a
 * shared link shows the same view. Events update the cards in view at once and ask for the
 * page again (at most every LIVE_GAP_MS), so a new project shows at its place and the counts
 * follow. fillCard mirrors the card template: keep them in step. The New Project button and
 * dialog are rendered only for those who may create (editors and admins).
 */
"use strict";

(() => {
  const { apiUrl, callApi, escapeHtml, isoTime, relativeTime, errorMessage, failureOf, failureTitle, EventStream } = window.Auteur;
  const LIVE = new Set(["pending", "processing", "deleting"]);
  const SORT_LABELS = { newest: "newest first", name: "name", changed: "last changed" };
  const LIVE_GAP_MS = 250;
  const PICTURE_PAUSE_MS = 300;
  const PAGE_SIZE = Number(document.body.dataset.pageSize) || 60;
  const list = document.getElementById("cards");
  const count = document.getElementById("count");
  const form = document.getElementById("view");
  const searchBox = document.getElementById("filter");
  const statusBox = document.getElementById("status-filter");
  const sortBox = document.getElementById("sort");
  const empty = document.getElementById("empty");
  const noMatch = document.getElementById("no-match");
  const pastEnd = document.getElementById("past-end");
  const previous = document.getElementById("previous");
  const next = document.getElementById("next");
  const pageOf = document.getElementById("page-of");

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
      `<img data-src="${escapeHtml(pictureUrl(p))}" alt="" loading="lazy" width="320" height="180"></span>` +
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
    const findings = (p.media_findings || []).length;
    const media = findings
      ? ` <span class="badge warn media-warning" title="${findings} media file(s) damaged or misplaced: see the project">media warning</span>`
      : "";
    const assets = p.asset_count || 0;
    return (
      `<span class="badges">${quality}<span class="badge status status-${escapeHtml(p.status)}">${spinner}${escapeHtml(p.status)}</span>${media}</span>` +
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
    const img = card.querySelector("img");
    if (card.dataset.commit !== commit) {
      card.dataset.commit = commit;
      if (img.dataset.src) img.dataset.src = pictureUrl(p);
      else img.src = pictureUrl(p);
    }
  }

  /* -- the view ------------------------------------------------------------------ */

  function viewOf(search) {
    const params = new URLSearchParams(search);
    const page = Number.parseInt(params.get("page") || "1", 10);
    return {
      q: params.get("q") || "",
      status: params.get("status") || "",
      sort: params.get("sort") || "newest",
      page: Number.isFinite(page) && page > 0 ? page : 1,
    };
  }

  function galleryUrl(v, page = v.page) {
    const params = new URLSearchParams();
    if (v.q) params.set("q", v.q);
    if (v.status) params.set("status", v.status);
    if (v.sort !== "newest") params.set("sort", v.sort);
    if (page > 1) params.set("page", String(page));
    const query = params.toString();
    return query ? `/?${query}` : "/";
  }

  function listUrl(v) {
    const params = new URLSearchParams({ sort: v.sort, limit: String(PAGE_SIZE), offset: String((v.page - 1) * PAGE_SIZE) });
    if (v.q) params.set("q", v.q);
    if (v.status) params.set("status", v.status);
    return `${apiUrl}/api/v1/projects?${params}`;
  }

  let view = viewOf(window.location.search);
  const same = (a, b) => a.q === b.q && a.status === b.status && a.sort === b.sort && a.page === b.page;

  /* The cards of one page in the API's order: existing cards are kept (and their pictures),
   * moved only when out of place; `arrived` marks the ones a live update brought. */
  const shown = new WeakMap(); // card -> the JSON it shows
  function showCards(projects, arrived) {
    let at = list.firstElementChild;
    const keep = new Set();
    for (const p of projects) {
      let card = document.getElementById(`card-${p.id}`);
      if (!card) {
        card = newCard(p);
        if (arrived) card.classList.add("arrived");
      }
      const json = JSON.stringify(p);
      if (shown.get(card) !== json) {
        fillCard(card, p);
        shown.set(card, json);
      }
      keep.add(card);
      if (card === at) at = at.nextElementSibling;
      else list.insertBefore(card, at);
    }
    for (const card of Array.from(list.children)) if (!keep.has(card)) card.remove();
    clearTimeout(pictureTimer);
    pictureTimer = setTimeout(showPictures, PICTURE_PAUSE_MS);
  }

  /* New cards ask for their pictures once the view has stayed put for PICTURE_PAUSE_MS:
   * typing a search does not send a burst of picture requests per keystroke ahead of the
   * next page. Until then the card shows its initials, as it does without a picture. */
  let pictureTimer = null;
  function showPictures() {
    for (const img of list.querySelectorAll("img[data-src]")) {
      img.src = img.dataset.src;
      img.removeAttribute("data-src");
    }
  }

  function showTotals(total, counts, onPage) {
    const filtered = Boolean(view.q || view.status);
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    count.textContent = `${total} ${filtered ? "matching " : ""}${total === 1 ? "project" : "projects"}`;
    empty.hidden = total > 0 || filtered;
    noMatch.hidden = total > 0 || !filtered;
    pastEnd.hidden = onPage > 0 || total === 0;
    document.getElementById("first-page").href = galleryUrl(view, 1);
    let all = 0;
    for (const option of statusBox.options) {
      if (!option.value) continue;
      all += counts[option.value] || 0;
      option.textContent = `${option.value} (${counts[option.value] || 0})`;
    }
    statusBox.options[0].textContent = `All (${all})`;
    pageOf.textContent = `Page ${view.page} of ${pages}`;
    previous.hidden = view.page <= 1;
    previous.href = galleryUrl(view, view.page - 1);
    next.hidden = view.page >= pages;
    next.href = galleryUrl(view, view.page + 1);
    list.setAttribute("aria-label", `Projects, ${SORT_LABELS[view.sort] || view.sort}`);
  }

  function showControls() {
    if (searchBox.value !== view.q) searchBox.value = view.q;
    statusBox.value = view.status;
    sortBox.value = view.sort;
  }

  /* Ask the API for the view's page: one request at a time, the latest view wins. */
  let loading = false;
  let again = false;
  let againLive = false;
  async function load(live = false) {
    if (loading) {
      again = true;
      againLive = againLive || live;
      return;
    }
    loading = true;
    const asked = { ...view };
    list.setAttribute("aria-busy", "true");
    try {
      const response = await callApi(listUrl(asked));
      if (!response.ok) throw new Error(`listing projects answered ${response.status}`);
      const projects = await response.json();
      if (same(asked, view)) {
        const total = Number(response.headers.get("X-Total-Count") || projects.length);
        showCards(projects, live);
        showTotals(total, JSON.parse(response.headers.get("X-Status-Counts") || "{}"), projects.length);
        window.__galleryShown = performance.now();
      } else {
        again = true;
      }
    } catch (err) {
      console.error("loading the gallery's view", err);
    } finally {
      loading = false;
      if (again) {
        const wasLive = againLive;
        again = againLive = false;
        load(wasLive);
      } else {
        list.setAttribute("aria-busy", "false");
      }
    }
  }

  function change(update, how = "replace") {
    view = { ...view, ...update };
    const url = galleryUrl(view);
    if (how === "push") window.history.pushState(null, "", url);
    else window.history.replaceState(null, "", url);
    load();
  }

  searchBox.addEventListener("input", () => {
    if (searchBox.value !== view.q) change({ q: searchBox.value, page: 1 });
  });
  statusBox.addEventListener("change", () => change({ status: statusBox.value, page: 1 }));
  sortBox.addEventListener("change", () => change({ sort: sortBox.value, page: 1 }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    change({ q: searchBox.value, status: statusBox.value, sort: sortBox.value, page: 1 });
  });
  document.getElementById("apply-view").hidden = true; // the controls apply themselves
  for (const [link, step] of [[previous, -1], [next, 1]]) {
    link.addEventListener("click", (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return; // a new tab: the plain link
      e.preventDefault();
      change({ page: Math.max(1, view.page + step) }, "push");
      list.scrollIntoView({ block: "start" });
    });
  }
  window.addEventListener("popstate", () => {
    view = viewOf(window.location.search);
    showControls();
    load();
  });

  /* Live: at most one page request every LIVE_GAP_MS, however many events arrive. */
  let lastLive = 0;
  let liveTimer = null;
  function loadLive() {
    if (liveTimer !== null) return;
    const wait = Math.max(0, lastLive + LIVE_GAP_MS - performance.now());
    liveTimer = setTimeout(() => {
      liveTimer = null;
      lastLive = performance.now();
      load(true);
    }, wait);
  }

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

  const stream = new EventStream({
    since: document.body.dataset.since,
    onEvent(event) {
      const p = event.project || {};
      const card = p.id ? document.getElementById(`card-${p.id}`) : null;
      if (event.type === "media.poster") refreshPicture(p.id);
      if (!event.type.startsWith("project.")) return;
      if (card && event.type === "project.deleted") card.remove();
      else if (card) fillCard(card, p); // at once; the page's answer then says whether it still belongs
      loadLive();
    },
    onResync() {
      load(true);
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

  showControls(); // a reload may have kept what was typed; the URL says what is shown
  window.__galleryReady = performance.now();
})();
