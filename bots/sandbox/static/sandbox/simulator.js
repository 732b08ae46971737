// The chat simulator's page behaviour; htmx does the requests, this only makes the page pleasant:
// auto-submitting pickers, mentions, Enter to send, keeping the scroll and the opened exchanges
// across polls, tabs, and the Smart App bridge (postMessage between the page and the front end).
(function () {
  "use strict";

  const root = () => document.getElementById("simulator");

  // --- pickers -------------------------------------------------------------------------------------
  document.addEventListener("change", (event) => {
    const select = event.target;
    if (!(select instanceof HTMLSelectElement)) return;
    if (select.hasAttribute("data-autosubmit")) {
      // Another bot or user has other chats: let the server choose one again.
      const chat = document.getElementById("sim-chat");
      if (chat && select !== chat) chat.disabled = true;
      select.form.submit();
    } else if (select.id === "sim-mention" && select.value) {
      const text = document.getElementById(select.dataset.target);
      if (text) {
        const start = text.selectionStart ?? text.value.length;
        const end = text.selectionEnd ?? text.value.length;
        const token = select.value + " ";
        text.value = text.value.slice(0, start) + token + text.value.slice(end);
        text.focus();
        text.selectionStart = text.selectionEnd = start + token.length;
      }
      select.value = "";
    }
  });

  // --- composer: Enter sends, Shift+Enter is a new line ---------------------------------------------
  document.addEventListener("keydown", (event) => {
    const text = event.target;
    if (!(text instanceof HTMLTextAreaElement) || text.id !== "sim-text") return;
    if (event.key === "Enter" && !event.shiftKey && !event.ctrlKey && !event.isComposing) {
      event.preventDefault();
      text.form.requestSubmit();
    }
  });

  // --- polls: keep the scroll at the bottom and opened exchanges open -------------------------------
  let stickToBottom = true;
  let openExchanges = new Set();
  const scroller = () => document.getElementById("sim-scroll");
  const scrollDown = () => {
    const box = scroller();
    if (box) box.scrollTop = box.scrollHeight;
  };

  document.addEventListener("htmx:beforeSwap", (event) => {
    const target = event.detail.target;
    if (!target) return;
    if (target.id === "sim-feed") {
      const box = scroller();
      stickToBottom = !box || box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    } else if (target.id === "sim-traffic") {
      openExchanges = new Set([...target.querySelectorAll("details[open]")].map((item) => item.id));
    }
  });

  document.addEventListener("htmx:afterSettle", () => {
    if (stickToBottom) scrollDown();
    for (const id of openExchanges) {
      const item = document.getElementById(id);
      if (item) item.open = true;
    }
    const text = document.getElementById("sim-text");
    if (text && document.activeElement === document.body) text.focus();
  });

  // --- tabs ----------------------------------------------------------------------------------------
  document.addEventListener("click", (event) => {
    const tab = event.target.closest && event.target.closest(".sim-tab");
    if (!tab) return;
    for (const other of document.querySelectorAll(".sim-tab")) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      const panel = document.getElementById(other.dataset.tab);
      if (panel) panel.hidden = !selected;
    }
    if (tab.dataset.tab === "sim-tab-smartapp") smartAppOpen();
  });

  // --- the Smart App bridge ------------------------------------------------------------------------
  let frameStarted = false;
  let lastEventId = 0;

  function log(kind, body) {
    const list = document.getElementById("sim-smartapp-log");
    if (!list) return;
    const item = document.createElement("li");
    item.className = "sim-bridge-" + kind;
    const title = document.createElement("strong");
    title.textContent = list.dataset["label" + kind[0].toUpperCase() + kind.slice(1)] || kind;
    const pre = document.createElement("pre");
    pre.textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
    item.append(title, pre);
    list.prepend(item);
  }

  function toFrame(message) {
    const frame = document.getElementById("sim-smartapp-frame");
    // The frame's origin is opaque ("null"), so no narrower target origin can be named.
    if (frame && frame.contentWindow) frame.contentWindow.postMessage(message, "*");
    log("answer", message);
  }

  function scopeOf() {
    return Object.fromEntries(new URLSearchParams(root().dataset.query));
  }

  async function callBot(request) {
    const body = {
      ...scopeOf(),
      ref: request.ref,
      method: request.method,
      params: request.params ?? request.payload ?? {},
      sync_request: Boolean(request.sync_request),
    };
    log("request", body);
    let answer;
    try {
      const response = await fetch(root().dataset.smartappCall, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": root().dataset.csrf },
        body: JSON.stringify(body),
        credentials: "same-origin",
      });
      answer = await response.json();
      if (!response.ok) {
        log("error", answer);
        toFrame({ ref: request.ref, type: "smartapp_rpc", payload: { status: "error", errors: [{ reason: answer.error }] }, files: [] });
        return;
      }
    } catch (error) {
      log("error", String(error));
      return;
    }
    if (answer.mode === "event") {
      if (answer.status_code === null || answer.status_code >= 300) log("error", answer);
      return; // the bot answers later, through the SmartApps API: see pollEvents
    }
    const reply = answer.answer;
    if (reply && reply.status === "ok" && reply.result) {
      toFrame({ ref: request.ref, type: "smartapp_rpc", payload: { status: "ok", result: reply.result.data }, files: reply.result.files || [] });
    } else {
      const payload = reply && typeof reply === "object" ? reply : { status: "error", errors: [{ reason: answer.error || String(reply) }] };
      toFrame({ ref: request.ref, type: "smartapp_rpc", payload: payload, files: [] });
    }
  }

  async function pollEvents() {
    const params = new URLSearchParams(root().dataset.query);
    params.set("after", String(lastEventId));
    try {
      const response = await fetch(root().dataset.smartappEvents + "?" + params, { credentials: "same-origin" });
      if (response.ok) {
        const data = await response.json();
        for (const event of data.events) {
          lastEventId = Math.max(lastEventId, event.id);
          const payload = event.payload || {};
          if (event.kind !== "event") {
            log("answer", payload);
            continue;
          }
          const { type, ...rest } = payload.data || {};
          toFrame({ ref: payload.ref ?? null, type: type || "smartapp_rpc", payload: rest, files: payload.async_files || [] });
        }
      }
    } finally {
      window.setTimeout(pollEvents, 1000);
    }
  }

  function smartAppOpen() {
    const frame = document.getElementById("sim-smartapp-frame");
    if (!frame || frameStarted) return;
    frameStarted = true;
    lastEventId = Number(root().dataset.smartappAfter || 0);
    frame.src = frame.dataset.src;
    pollEvents();
  }

  window.addEventListener("message", (event) => {
    const frame = document.getElementById("sim-smartapp-frame");
    if (!frame || event.source !== frame.contentWindow) return;
    const request = event.data;
    if (!request || typeof request !== "object" || typeof request.method !== "string") {
      log("error", request);
      return;
    }
    callBot(request);
  });

  document.addEventListener("DOMContentLoaded", scrollDown);
})();
