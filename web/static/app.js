/* Shared by every page: the API's address, formatting, and the live event stream.
 *
 * Loaded before gallery.js / project.js, which use window.Auteur. The browser talks
 * to the API directly (its address is in <meta name="auteur-api">); the events come
 * from the API's WebSocket, which this file keeps open: it reconnects with capped,
 * jittered backoff and resumes with ?since=<last event id>, so nothing is missed.
 * Formatting mirrors web/formatting.py; keep the two in step.
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

  /* Every <time data-relative> on the page, refreshed once a minute. */
  function refreshTimes(root = document) {
    const now = Date.now() / 1000;
    for (const el of root.querySelectorAll("time[datetime]")) {
      if (el.dateTime && el.dataset.absolute === undefined) el.textContent = relativeTime(el.dateTime, now);
    }
  }
  setInterval(refreshTimes, 60_000);

  /* The message of the API's error shape {"error": {"message"}}, or a fallback. */
  function errorMessage(body, status) {
    const message = body && body.error && body.error.message;
    return message || `The API answered ${status}.`;
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

  return { apiUrl, escapeHtml, isoTime, absoluteTime, relativeTime, refreshTimes, errorMessage, setLive, EventStream };
})();
