// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // keyboard: "n" takes the next case on the queue page; "/" focuses the first field of a form
  document.addEventListener("keydown", function (ev) {
    var tag = (ev.target && ev.target.tagName) || "";
    if (/INPUT|TEXTAREA|SELECT/.test(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "n") {
      var next = document.getElementById("next-case");
      if (next) { ev.preventDefault(); next.click(); }
    }
  });

  // live plan calculator: asks the server for the plan the terms make, as they change
  var form = document.getElementById("plan-form");
  if (form) {
    var out = document.getElementById("plan-preview");
    var timer = null;
    var preview = function () {
      var data = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("data-preview"), {
        method: "POST",
        headers: { "X-CSRF-Token": form.querySelector("[name=csrf]").value },
        body: data,
        credentials: "same-origin",
      }).then(function (r) { return r.text(); }).then(function (html) { out.innerHTML = html; });
    };
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(preview, 150); });
    preview();
  }

  // the script panel follows the "who is on the line" choice
  var who = document.getElementById("on-the-line");
  if (who) {
    var sync = function () {
      var val = who.value;
      document.querySelectorAll("[data-script-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-script-for") !== val;
      });
    };
    who.addEventListener("change", sync);
    sync();
  }
})();
