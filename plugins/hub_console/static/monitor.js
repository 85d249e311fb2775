// The monitoring pages: fetch the page's changing part every 5 s and put it in place, so a device
// going offline or a new play shows without a reload. Without this script the page is whole as served.
(function () {
  "use strict";
  var box = document.getElementById("live");
  if (!box || !window.fetch) { return; }
  var src = box.getAttribute("data-src");
  var last = box.innerHTML;
  function busy() {
    // Never replace the tables under someone reading a chart's bar or scrolling a table by keyboard.
    var active = document.activeElement;
    return active && box.contains(active) && active.tagName !== "A";
  }
  function poll() {
    if (document.hidden || busy()) { return; }
    fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null || html === last || busy()) { return; }
        // Keep opened lists open (a <details> with an id) across the swap.
        var open = [];
        box.querySelectorAll("details[id][open]").forEach(function (d) { open.push(d.id); });
        last = html;
        box.innerHTML = html;
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) { d.open = true; }
        });
      })
      .catch(function () { /* the next round tries again */ });
  }
  window.setInterval(poll, 5000);
})();
