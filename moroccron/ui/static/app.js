// moroccron UI: live updates and confirmations. Plain JavaScript, no library.
"use strict";

// Elements with data-refresh="URL" are replaced by the fragment at URL every few
// seconds (job list rows, a job's runs, the cluster status), without a page reload.
function refresh(el) {
  const url = el.dataset.refresh;
  fetch(url, {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
    .then((r) => (r.ok ? r.text() : Promise.reject(r.status)))
    .then((html) => {
      const doc = new DOMParser().parseFromString(html, "text/html");
      if (el.tagName === "TABLE") {
        const body = doc.querySelector("tbody");
        const old = el.querySelector("tbody");
        if (body && old) old.replaceWith(body);
      } else if (el.dataset.select) {
        const fresh = doc.querySelector(el.dataset.select);
        if (fresh) el.innerHTML = fresh.innerHTML;
      } else {
        el.innerHTML = doc.body.innerHTML;
      }
      el.dataset.refreshed = String(Date.now());
    })
    .catch(() => { /* a missed update is retried on the next tick */ });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-refresh]")) {
    setInterval(() => { if (!document.hidden) refresh(el); }, 2000);
  }
  document.addEventListener("submit", (ev) => {
    const msg = ev.target.dataset ? ev.target.dataset.confirm : null;
    if (msg && !window.confirm(msg)) ev.preventDefault();
  });
});
