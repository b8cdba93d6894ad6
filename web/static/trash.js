/* The trash page (/trash): restore a deleted project, or purge it for good.
 *
 * The server renders the list (templates/trash.html) with the buttons the visitor may
 * use (Restore: editors and admins; Purge: admins). Restoring posts to the API and
 * links to the project once it is back; purging asks first in a dialog, then deletes
 * the entry. Either way the row leaves the list and the page says what happened.
 * A project deleted or restored anywhere else (an event on the API's WebSocket) makes
 * the page fetch its rows again (/trash/entries), rendered by the server as at first.
 */
"use strict";

(() => {
  const { apiUrl, callApi, errorMessage, escapeHtml, EventStream } = window.Auteur;
  const trashApi = `${apiUrl}/api/v1/trash`;
  const table = document.getElementById("trash");
  const flash = document.getElementById("trash-flash");
  const error = document.getElementById("trash-error");
  const count = document.getElementById("trash-count");
  const dialog = document.getElementById("purge-dialog");
  let purging = null; // the row the dialog asks about

  function say(html) {
    error.hidden = true;
    flash.innerHTML = html;
    flash.hidden = false;
  }

  function fail(message) {
    error.textContent = message;
    error.hidden = false;
  }

  function counted() {
    const left = table.querySelectorAll(".trash-entry").length;
    count.textContent = `${left} deleted project${left === 1 ? "" : "s"}`;
    document.getElementById("trash-panel").hidden = left === 0;
    document.getElementById("trash-empty").hidden = left !== 0;
  }

  function removeRow(row) {
    row.remove();
    counted();
  }

  function controlOf(entry, selector) {
    const row = document.querySelector(`.trash-entry[data-entry="${CSS.escape(entry)}"]`);
    return row ? row.querySelector(selector) : null;
  }

  /* The rows again, from the server; one fetch at a time, and one more if asked meanwhile. */
  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = fetch("/trash/entries")
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`entries answered ${r.status}`))))
      .then((html) => {
        // Keep the keyboard where it was: a control in a row that is still there keeps focus.
        const focused = document.activeElement;
        const row = focused && focused.closest ? focused.closest(".trash-entry") : null;
        const control = row && [...focused.classList].find((c) => c === "purge" || c === "restore");
        const template = document.createElement("template");
        template.innerHTML = html;
        document.getElementById("trash-entries").replaceWith(template.content);
        counted();
        const again = control && controlOf(row.dataset.entry, `.${control}`);
        if (again) again.focus();
      })
      .catch((err) => console.error("refreshing the trash", err));
    await refreshing;
    refreshing = null;
    if (again) {
      again = false;
      refresh();
    }
  }

  async function act(row, button, method, url, done) {
    const label = button.textContent;
    const buttons = row.querySelectorAll("button");
    for (const b of buttons) b.disabled = true;
    button.textContent = method === "POST" ? "Restoring…" : "Purging…";
    try {
      const response = await callApi(url, { method });
      const body = response.status === 204 ? null : await response.json().catch(() => null);
      if (response.ok) {
        done(response.status, body);
        removeRow(row);
        return;
      }
      fail(`${row.dataset.name}: ${errorMessage(body, response.status)}`);
    } catch (err) {
      fail(`Could not reach the API at ${apiUrl}.`);
    }
    for (const b of buttons) b.disabled = false;
    button.textContent = label;
  }

  function restore(row, button) {
    const url = `${trashApi}/${encodeURIComponent(row.dataset.entry)}/restore`;
    act(row, button, "POST", url, (status, body) => {
      const name = escapeHtml(row.dataset.name);
      if (status === 202) say(`Restoring “${name}”: it reappears in the gallery once the controller has moved it back.`);
      else say(`Restored “${name}”. <a href="/project/${encodeURIComponent(body.id)}">Open it</a>`);
    });
  }

  function purge(row) {
    const button = row.querySelector(".purge");
    act(row, button, "DELETE", `${trashApi}/${encodeURIComponent(row.dataset.entry)}`, (status) => {
      const name = escapeHtml(row.dataset.name);
      say(status === 202 ? `Purging “${name}”: the controller deletes it shortly.` : `Purged “${name}” for good.`);
    });
  }

  table.addEventListener("click", (e) => {
    const button = e.target.closest("button");
    const row = button && button.closest(".trash-entry");
    if (!row) return;
    if (button.classList.contains("restore")) restore(row, button);
    else if (button.classList.contains("purge") && dialog) {
      purging = row;
      document.getElementById("purge-name").textContent = row.dataset.name;
      dialog.showModal();
    }
  });

  if (dialog) {
    document.getElementById("confirm-purge").addEventListener("click", () => {
      const row = purging;
      dialog.close();
      if (row) purge(row);
    });
    dialog.addEventListener("close", () => {
      // The row may have been drawn again meanwhile (a live refresh): its button now, by its entry.
      const button = purging && controlOf(purging.dataset.entry, ".purge");
      purging = null;
      if (button) button.focus();
      else document.getElementById("main").focus();
    });
  }

  const stream = new EventStream({
    since: document.body.dataset.since,
    onEvent(event) {
      if (event.type === "project.deleted" || event.type === "project.created") refresh();
    },
    onResync: refresh,
  });
  stream.start();
})();
