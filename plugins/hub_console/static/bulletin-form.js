// The bulletin form: while the body is typed, show what the loudspeaker will say (the speech
// plugin's POST /api/v1/speech/preview, with this session's CSRF token), and a search box that
// narrows the list of communes. The form works the same without this script.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var body = document.getElementById("body");
  var box = document.getElementById("spoken");
  var out = document.getElementById("spoken-text");
  if (meta && body && box && out && window.fetch) {
    var timer = null;
    var asked = 0;
    var preview = function () {
      var text = body.value.trim();
      var mine = ++asked;
      if (!text) { box.hidden = true; return; }
      fetch("/api/v1/speech/preview", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": meta.getAttribute("content")},
        body: JSON.stringify({text: text.slice(0, 20000)})
      }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
        if (mine !== asked || !data || typeof data.spoken_text !== "string") { return; }
        out.textContent = data.spoken_text;
        box.hidden = false;
      }).catch(function () { /* no preview: the form still works */ });
    };
    body.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(preview, 600);
    });
    if (body.value.trim()) { preview(); }
  }
  var search = document.querySelector(".target-search");
  var filter = document.getElementById("target-filter");
  var labels = document.querySelectorAll("fieldset.targets label.commune");
  if (search && filter && labels.length > 8) {
    search.hidden = false;
    var fold = function (s) { return s.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase(); };
    filter.addEventListener("input", function () {
      var wanted = fold(filter.value.trim());
      labels.forEach(function (label) {
        var input = label.querySelector("input");
        label.hidden = wanted !== "" && !(input && input.checked) && fold(label.textContent).indexOf(wanted) < 0;
      });
    });
  }
})();
