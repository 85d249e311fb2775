// The console's one poller: every element with data-src and data-every (seconds) is a changing part
// of its page; its fragment is fetched that often and put in place when it changed, so a bulletin
// sent for approval (home page) or a device going offline (monitoring) shows without a reload.
// Never while the tab is hidden or focus is inside the part (someone typing a reason, pressing a
// button, scrolling a table by keyboard); opened <details> with an id stay open across the swap.
// Without this script each page is whole as served.
(function () {
  "use strict";
  if (!window.fetch) { return; }
  function watch(box) {
    var src = box.getAttribute("data-src");
    var every = Math.max(1, Number(box.getAttribute("data-every")) || 5) * 1000;
    var last = box.innerHTML;
    function busy() {
      var active = document.activeElement;
      return active && box.contains(active) && active.tagName !== "A";
    }
    function poll() {
      if (document.hidden || busy()) { return; }
      fetch(src, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || html === last || busy()) { return; }
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
    window.setInterval(poll, every);
  }
  document.querySelectorAll("[data-src][data-every]").forEach(watch);
})();
