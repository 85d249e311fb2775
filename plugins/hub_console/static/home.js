// The console's home page: fetch the task lists every 3 s and put them in place, so a bulletin
// sent for approval shows without a reload. Without this script the page is whole as served.
(function () {
  "use strict";
  var box = document.getElementById("tasks");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  var last = box.innerHTML;
  function busy() {
    // Never replace the lists under someone typing a reason or pressing a button.
    var active = document.activeElement;
    return active && box.contains(active) && active.tagName !== "A";
  }
  function poll() {
    if (document.hidden || busy()) { return; }
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html !== null && html !== last && !busy()) {
          last = html;
          box.innerHTML = html;
        }
      })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(poll, 3000);
})();
