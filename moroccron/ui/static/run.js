// moroccron run page: while the run is live, reload its sections and follow stdout and
// stderr through the API (GET /api/v1/runs/TASK/stdout?offset=N); stop once it has ended.
"use strict";

(function () {
  const live = document.getElementById("run-live");
  if (!live) return;
  const task = live.dataset.task;
  const state = document.getElementById("tail-state");
  const encoder = new TextEncoder();
  const MAX_CHARS = 2 * 1024 * 1024; // keep the page light: the full log is one link away
  const logs = Array.from(document.querySelectorAll("pre[data-stream]"), (el) => ({el, offset: -1}));
  let final = live.dataset.final === "true";
  let launched = live.dataset.launched === "true";

  // One slice of a log from its offset; true when more is waiting past what came back.
  async function read(log) {
    const url = `/api/v1/runs/${encodeURIComponent(task)}/${log.el.dataset.stream}` +
                `?offset=${log.offset}&length=65536`;
    const r = await fetch(url, {credentials: "same-origin"});
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error || `HTTP ${r.status}`);
    }
    const piece = await r.json();
    const atBottom = log.el.scrollTop + log.el.clientHeight >= log.el.scrollHeight - 4;
    if (piece.data) {
      let text = log.el.textContent + piece.data;
      if (text.length > MAX_CHARS) text = text.slice(text.length - MAX_CHARS);
      log.el.textContent = text;
      if (atBottom) log.el.scrollTop = log.el.scrollHeight;
    }
    log.offset = piece.offset + encoder.encode(piece.data).length;
    log.el.dataset.offset = String(log.offset);
    return log.offset < piece.size;
  }

  async function readLogs() {
    for (const log of logs) {
      for (let i = 0; i < 16 && await read(log); i++) { /* catch up, a slice at a time */ }
    }
  }

  async function refreshSections() {
    const r = await fetch(location.pathname, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}});
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById("run-live");
    if (!fresh) return;
    live.innerHTML = fresh.innerHTML;
    live.dataset.final = fresh.dataset.final;
    live.dataset.launched = fresh.dataset.launched;
    final = fresh.dataset.final === "true";
    launched = fresh.dataset.launched === "true";
    const freshState = doc.getElementById("tail-state");
    if (freshState && state) state.innerHTML = freshState.innerHTML;
    live.dataset.refreshed = String(Date.now());
  }

  async function tick() {
    try {
      if (!final) await refreshSections();
      if (launched) await readLogs();
    } catch (err) {
      if (state) state.textContent = `The output could not be read: ${err.message}`;
    }
    if (final) {
      live.dataset.tailDone = "true"; // read to the end after the run ended: nothing more will come
      return;
    }
    setTimeout(tick, document.hidden ? 5000 : 1500);
  }

  if (final && launched) {
    readLogs().catch((err) => { if (state) state.textContent = `The output could not be read: ${err.message}`; })
      .finally(() => { live.dataset.tailDone = "true"; });
  } else if (final) {
    live.dataset.tailDone = "true";
  } else {
    tick();
  }
})();
