// Live updates over server-sent events. Pages marked data-live="auto" swap in a fresh copy of their
// content (?fragment=1) when the stream reports a change; "notify" pages (a group's detail, a brief:
// each read is access-logged) only say that there is news. While the stream is down the status
// shows "stale"; the page reconnects by itself and refreshes once it is back. While the server's own
// feed does not hear from the event log (events `stale` and `fresh`, and `hello`'s `stale_since`),
// it shows "stale since HH:MM" (the browser's local time), even though the stream itself is up.
(function () {
  "use strict";
  var mode = document.body.getAttribute("data-live") || "off";
  var status = document.getElementById("live-status");
  var printButton = document.getElementById("print");
  if (printButton) { printButton.addEventListener("click", function () { window.print(); }); }
  if (mode === "off" || !status || !window.EventSource) { return; }

  var source = null, lastSeen = Date.now(), stale = false, timer = null, watchdog = null;
  var feedStaleSince = status.getAttribute("data-stale-since") || null;
  var HEARTBEAT_GRACE_MS = 25000;

  function show() {
    var any = stale || feedStaleSince !== null;
    status.classList.toggle("stale", any);
    document.body.classList.toggle("is-stale", any);
    if (feedStaleSince !== null) {
      var at = new Date(feedStaleSince);
      status.textContent = status.getAttribute("data-stale-since-text") + " " +
        at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    } else {
      status.textContent = stale ? status.getAttribute("data-stale-text") : status.getAttribute("data-live-text");
    }
  }

  function setStale(value) { stale = value; show(); }

  function feed(event) {
    var data = {};
    try { data = JSON.parse(event.data || "{}"); } catch (ignored) { data = {}; }
    var was = feedStaleSince;
    if (event.type === "stale") { feedStaleSince = data.since || null; }
    else if (event.type === "fresh") { feedStaleSince = null; }
    else if ("stale_since" in data) { feedStaleSince = data.stale_since || null; }
    show();
    if (was !== null && feedStaleSince === null) { changed(); }
  }

  function refresh() {
    if (mode === "notify") {
      var news = document.getElementById("news");
      if (news) { news.hidden = false; news.querySelector("a").setAttribute("href", location.href); }
      return;
    }
    var url = new URL(location.href);
    url.searchParams.set("fragment", "1");
    fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) { location.reload(); return null; }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var main = document.getElementById("content");
        var focused = document.activeElement && document.activeElement.id;
        main.innerHTML = html;
        if (focused) { var again = document.getElementById(focused); if (again) { again.focus(); } }
      })
      .catch(function () { setStale(true); });
  }

  function changed() {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }

  function seen() { lastSeen = Date.now(); if (stale) { setStale(false); changed(); } }

  // The stream was refused (not merely cut): if the session is no longer valid (expired, or the
  // server's key changed), go to the login page instead of retrying for ever.
  function checkSession() {
    fetch("/api/me", { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401) { location.reload(); } else { connect(); }
      })
      .catch(function () { connect(); });
  }

  function connect() {
    if (source) { source.close(); }
    source = new EventSource("/api/stream");
    source.addEventListener("hello", function (event) { seen(); feed(event); });
    source.addEventListener("ping", seen);
    source.addEventListener("stale", function (event) { seen(); feed(event); });
    source.addEventListener("fresh", function (event) { seen(); feed(event); });
    ["group", "alert", "sources"].forEach(function (name) {
      source.addEventListener(name, function () { seen(); changed(); });
    });
    source.onerror = function () {
      setStale(true);
      if (source.readyState === EventSource.CLOSED) { setTimeout(checkSession, 2000); }
    };
  }

  watchdog = setInterval(function () {
    if (Date.now() - lastSeen > HEARTBEAT_GRACE_MS) { setStale(true); lastSeen = Date.now(); connect(); }
  }, 5000);
  connect();
})();
