/* Shared by every page: the API's address and calls, formatting, the live event
 * stream, and signing out.
 *
 * Loaded before gallery.js / project.js / login.js, which use window.Auteur. The
 * browser talks to the API directly (its address is in <meta name="auteur-api">):
 * every call goes through callApi (or authorize, for XMLHttpRequest), which sends the
 * session cookie and, on a change, the CSRF token the API set beside it. The events
 * come from the API's WebSocket (the cookie goes along by itself), which this file
 * keeps open: it reconnects with capped, jittered backoff and resumes with
 * ?since=<last event id>, so nothing is missed. Formatting mirrors
 * web/formatting.py; keep the two in step.
 */
"use strict";

window.Auteur = (() => {
  const apiUrl = document.querySelector('meta[name="auteur-api"]').content.replace(/\/+$/, "");

  function escapeHtml(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function toSeconds(value) {
    if (value === null || value === undefined || value === "") return null;
    if (typeof value === "number") return value;
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms / 1000;
  }

  function isoTime(value) {
    const s = toSeconds(value);
    return s === null ? "" : new Date(s * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  }

  function absoluteTime(value) {
    const s = toSeconds(value);
    return s === null ? "" : new Date(s * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  function relativeTime(value, now = Date.now() / 1000) {
    const s = toSeconds(value);
    if (s === null) return "never";
    const ago = now - s;
    if (ago < 45) return "just now";
    if (ago >= 30 * 86400) {
      const d = new Date(s * 1000);
      return `${d.getUTCDate()} ${d.toLocaleString("en", { month: "short", timeZone: "UTC" })} ${d.getUTCFullYear()}`;
    }
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (ago >= size) return `${Math.floor(ago / size)} ${unit} ago`;
    }
    return "1 min ago";
  }

  /* 512 B, 1.5 KB, 20 MB (powers of 1024), as web/formatting.py's file_size. */
  function fileSize(value) {
    let size = Number(value || 0);
    let unit = "B";
    for (unit of ["B", "KB", "MB", "GB", "TB"]) {
      if (size < 1024 || unit === "TB") break;
      size /= 1024;
    }
    return unit === "B" ? `${Math.floor(size)} B` : `${size.toFixed(1)} ${unit}`.replace(".0 ", " ");
  }

  /* Every <time data-relative> on the page, refreshed once a minute. */
  function refreshTimes(root = document) {
    const now = Date.now() / 1000;
    for (const el of root.querySelectorAll("time[datetime]")) {
      if (el.dateTime && el.dataset.absolute === undefined) el.textContent = relativeTime(el.dateTime, now);
    }
  }
  setInterval(refreshTimes, 60_000);

  /* -- calling the API ------------------------------------------------------------ */

  // Set by the API's sign-in for this host, readable here on purpose: a change made with
  // the session cookie must echo it in X-CSRF-Token, which no other site can read or send.
  const CSRF_COOKIE = "auteur_csrf";
  const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

  function csrfToken() {
    const prefix = `${CSRF_COOKIE}=`;
    const found = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith(prefix));
    return found ? decodeURIComponent(found.slice(prefix.length)) : null;
  }

  /* fetch() for the API: the session cookie goes along, and the CSRF token on a change. */
  function callApi(url, init = {}) {
    const method = (init.method || "GET").toUpperCase();
    const headers = new Headers(init.headers || {});
    const token = CHANGES.has(method) ? csrfToken() : null;
    if (token) headers.set("X-CSRF-Token", token);
    return fetch(url, { ...init, headers, credentials: "include" });
  }

  /* The same for an opened XMLHttpRequest (uploads, for their progress). */
  function authorize(xhr) {
    xhr.withCredentials = true;
    const token = csrfToken();
    if (token) xhr.setRequestHeader("X-CSRF-Token", token);
  }

  /* The message of the API's error shape {"error": {"message"}}, or a fallback. */
  function errorMessage(body, status) {
    const message = body && body.error && body.error.message;
    return message || `The API answered ${status}.`;
  }

  /* Why a failed project failed, as web/rendering.py says it (failure_message, failure_title). */
  function failureOf(p) {
    if (p.last_error) return p.last_error;
    const ready = (p.conditions || []).find((c) => c.type === "Ready" && c.message);
    return ready ? ready.message : "failed";
  }

  const TEMPORARY_REASON = "StepError";
  function failureTitle(p) {
    const conditions = p.conditions || [];
    const ready = conditions.find((c) => c.type === "Ready");
    const failed = (ready && ready.reason) || "";
    if (!failed.endsWith("Failed") || failed === "Failed") return "Failed";
    const step = conditions.find((c) => c.type === failed) || {};
    return `${failed.slice(0, -"Failed".length)} failed; ${step.reason === TEMPORARY_REASON ? "retrying" : "stalled until fixed"}`;
  }

  const live = document.getElementById("live");
  function setLive(state, text) {
    if (!live) return;
    live.dataset.state = state;
    live.querySelector(".live-text").textContent = text;
  }

  /* The API's event WebSocket, kept open. onEvent gets every event but keepalives;
   * onResync runs when the API says the page missed too much and must reload. */
  class EventStream {
    constructor({ since, onEvent, onResync }) {
      this.lastId = since || null;
      this.onEvent = onEvent;
      this.onResync = onResync;
      this.attempt = 0;
      this.socket = null;
      this.timer = null;
      window.addEventListener("online", () => this.reconnectNow());
      window.addEventListener("pagehide", () => this.stop());
    }

    get open() {
      return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.socket) this.socket.close();
    }

    reconnectNow() {
      if (this.stopped || this.open) return;
      clearTimeout(this.timer);
      this.attempt = 0;
      this.connect();
    }

    url() {
      const url = new URL("/api/v1/events", apiUrl);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      if (this.lastId) url.searchParams.set("since", this.lastId);
      return url.href;
    }

    connect() {
      this.timer = null;
      let socket;
      try {
        socket = new WebSocket(this.url());
      } catch (err) {
        this.schedule();
        return;
      }
      this.socket = socket;
      socket.onopen = () => {
        this.attempt = 0;
        setLive("live", "Live");
      };
      socket.onmessage = (message) => this.receive(message.data);
      socket.onclose = () => {
        if (this.socket !== socket) return;
        this.socket = null;
        if (this.stopped) return;
        setLive("reconnecting", "Reconnecting…");
        this.schedule();
      };
    }

    schedule() {
      if (this.timer !== null || this.stopped) return;
      // 0.25 s, 0.5 s, 1 s … capped at 5 s, with ±20% jitter so a restarted API
      // is not hit by every browser at the same instant.
      const base = Math.min(5000, 250 * 2 ** this.attempt);
      this.attempt += 1;
      this.timer = setTimeout(() => this.connect(), base * (0.8 + Math.random() * 0.4));
    }

    receive(data) {
      let event;
      try {
        event = JSON.parse(data);
      } catch (err) {
        return;
      }
      if (!event || event.type === "keepalive") return;
      // Resume from journaled events only: they are the ones ?since= replays.
      if (event.id && (event.type === "resync" || event.type.startsWith("project."))) this.lastId = event.id;
      try {
        if (event.type === "resync") this.onResync(event);
        else this.onEvent(event);
      } catch (err) {
        console.error("handling event", event, err);
      }
    }
  }

  /* -- signing out (the button is there only with AUTEUR_AUTH=on) -------------------- */

  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", async () => {
      signOut.disabled = true;
      try {
        const response = await callApi(`${apiUrl}/api/v1/session`, { method: "DELETE" });
        if (response.status !== 204) throw new Error(errorMessage(await response.json().catch(() => null), response.status));
        window.location.assign("/login");
      } catch (err) {
        signOut.disabled = false;
        signOut.textContent = "Sign out failed; try again";
        console.error("signing out", err);
      }
    });
  }

  return {
    apiUrl, callApi, authorize, escapeHtml, isoTime, absoluteTime, relativeTime, fileSize, refreshTimes, errorMessage, failureOf,
    failureTitle, setLive, EventStream,
  };
})();
