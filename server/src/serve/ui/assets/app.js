// Live updates for Marrow's pages: task and session changes arrive over
// Server-Sent Events (/api/v1/admin/events) and update the bars and
// badges in place; a page whose rows it cannot update (a new task, a task
// that ended on its own page) redraws its main part from the server, in
// place, at most every 2 s.
(function () {
  "use strict";
  function human(n) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + " " + u[i];
  }
  function rel(t) {
    var d = Math.floor(Date.now() / 1000) - t, n = Math.abs(d), w;
    if (n < 10) return "just now";
    if (n < 60) w = n + " s"; else if (n < 3600) w = Math.floor(n / 60) + " min";
    else if (n < 86400) w = Math.floor(n / 3600) + " h"; else w = Math.floor(n / 86400) + " d";
    return d >= 0 ? w + " ago" : "in " + w;
  }
  function tick() {
    document.querySelectorAll("time[data-t]").forEach(function (e) {
      e.textContent = rel(parseInt(e.getAttribute("data-t"), 10));
    });
  }
  // Redraws the page's main part from the server, in place: the page is
  // not reloaded, so what the user typed in other places stays.
  var refreshAt = 0, refreshing = false;
  function refreshSoon() {
    var now = Date.now();
    if (refreshing || now < refreshAt) return;
    refreshAt = now + 2000;
    refreshing = true;
    setTimeout(function () {
      fetch(window.location.href, { credentials: "same-origin" })
        .then(function (r) { return r.text(); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.querySelector("main"), here = document.querySelector("main");
          if (fresh && here && !here.contains(document.activeElement.form || null)) {
            here.innerHTML = fresh.innerHTML;
            tick();
          }
        })
        .catch(function () {})
        .then(function () { refreshing = false; });
    }, 300);
  }
  function setBar(el, done, total, label) {
    var pct = total > 0 ? Math.min(100, done * 100 / total) : 0;
    var fill = el.querySelector(".fill");
    if (fill) fill.style.width = pct.toFixed(1) + "%";
    var bar = el.querySelector(".bar");
    if (bar) bar.setAttribute("aria-valuenow", pct.toFixed(0));
    var l = el.querySelector("[data-label]");
    if (l) l.textContent = label;
  }
  function setState(el, state) {
    var b = el.querySelector("[data-state]");
    if (!b) return;
    b.textContent = state;
    b.className = "badge " + ({ done: "ok", failed: "bad", running: "run", cancelled: "off", paused: "off" }[state] || "wait");
  }
  function onTask(t) {
    var rows = document.querySelectorAll('[data-task="' + t.id + '"]');
    if (!rows.length) {
      if (document.body.querySelector("[data-live-tasks]")) refreshSoon();
      return;
    }
    rows.forEach(function (el) {
      var p = t.progress;
      if (t.state === "done") setBar(el, 1, 1, "done");
      else if (p) setBar(el, p.done_bytes, p.total_bytes, p.phase + " " + human(p.done_bytes) +
        " of " + human(p.total_bytes) + ", " + human(p.rate) + "/s" +
        (p.eta_secs != null ? ", " + p.eta_secs + " s left" : ""));
      var before = el.getAttribute("data-task-state");
      setState(el, t.state);
      el.setAttribute("data-task-state", t.state);
      // The final report and errors are drawn by the server.
      if (before !== t.state && el.hasAttribute("data-reload-on-end") &&
          t.state !== "pending" && t.state !== "running") refreshSoon();
    });
  }
  function onSession(s) {
    var rows = document.querySelectorAll('[data-session="' + s.id + '"]');
    if (!rows.length) {
      if (document.body.querySelector("[data-live-sessions]")) refreshSoon();
      return;
    }
    rows.forEach(function (el) {
      setState(el, s.state);
      if (el.hasAttribute("data-reload-on-change")) refreshSoon();
    });
  }
  // A site's newest pull: its state and counts while it runs; the page
  // is redrawn when a pull starts or ends.
  function onSync(r) {
    var rows = document.querySelectorAll('[data-sync="' + r.site.toLowerCase() + '"]');
    if (!rows.length) {
      if (document.body.querySelector("[data-live-sync]")) refreshSoon();
      return;
    }
    rows.forEach(function (el) {
      var before = el.getAttribute("data-sync-run"), state = el.getAttribute("data-sync-state");
      setState(el, r.state);
      var c = el.querySelector("[data-counts]");
      if (c) c.textContent = r.published + " published, " + r.failed + " refused; " +
        r.chunks + " chunks, " + human(r.bytes);
      if (before !== String(r.id) || (state !== r.state && r.state !== "running" && r.state !== "paused")) refreshSoon();
      el.setAttribute("data-sync-state", r.state);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 15000);
    if (!document.querySelector("[data-live]") || !window.EventSource) return;
    var es = new EventSource("/api/v1/admin/events");
    es.addEventListener("task", function (e) { onTask(JSON.parse(e.data)); });
    es.addEventListener("session", function (e) { onSession(JSON.parse(e.data)); });
    es.addEventListener("sync", function (e) { onSync(JSON.parse(e.data)); });
  });
})();

// Driver upload: the ZIP goes as the request body to the admin API, with
// the session's CSRF token, and a bar shows the bytes sent.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var form = document.querySelector("form[data-upload]");
  if (!form) return;
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var file = form.querySelector("input[type=file]").files[0];
    var os = form.querySelector("input[name=os]").value.trim();
    var status = form.querySelector("[data-upload-status]");
    var bar = form.querySelector(".bar"), fill = form.querySelector(".fill");
    var csrf = document.querySelector("input[name=csrf]");
    if (!file) { status.textContent = "choose a ZIP file"; return; }
    var url = form.getAttribute("data-upload") + "?os=" + encodeURIComponent(os) +
      "&name=" + encodeURIComponent(file.name);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Content-Type", "application/zip");
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf.value);
    bar.hidden = false;
    xhr.upload.onprogress = function (ev) {
      if (ev.lengthComputable) fill.style.width = (ev.loaded * 100 / ev.total).toFixed(1) + "%";
      status.textContent = "uploading " + Math.round(ev.loaded / 1024) + " KiB";
    };
    xhr.onload = function () {
      if (xhr.status === 201) { status.textContent = "stored"; window.location.reload(); return; }
      var why = xhr.responseText;
      try { why = JSON.parse(why).error; } catch (_) {}
      status.textContent = "upload failed: " + why;
      status.className = "field-error";
    };
    xhr.onerror = function () { status.textContent = "upload failed: the server did not answer"; };
    xhr.send(file);
  });
});
