// The agent's case page: keyboard shortcuts and a placed call's progress. Progressive
// enhancement only: every button works without this file.
(function () {
  "use strict";
  var visible = function (el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); };

  // a key press clicks the visible element whose data-key it is; inside an open group (the
  // hardship kinds) the group's own keys come first
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var key = ev.key;
    if (!key || key.length !== 1) return;
    var pick = null;
    document.querySelectorAll("details[open] [data-key]").forEach(function (el) {
      if (!pick && el.getAttribute("data-key") === key && visible(el)) pick = el;
    });
    if (!pick) {
      document.querySelectorAll("[data-key]").forEach(function (el) {
        if (!pick && el.getAttribute("data-key") === key && visible(el)) pick = el;
      });
    }
    if (pick) {
      ev.preventDefault();
      pick.click();
    }
  });

  // a call in progress: follow it until it ends, then show the wrap-up with what is known
  var state = document.querySelector("[data-poll]");
  if (state) {
    var url = state.getAttribute("data-poll");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.state === "ended") { window.location.reload(); return; }
          if (s && s.state !== state.getAttribute("data-state")) { window.location.reload(); return; }
          setTimeout(poll, 700);
        })
        .catch(function () { setTimeout(poll, 1500); });
    };
    setTimeout(poll, 700);
  }
})();
