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
    // What the normaliser could not read (an unknown abbreviation, letters), so the editor fixes
    // the text or adds a pronunciation before approving rather than hearing it spelt on air.
    var unread = document.getElementById("unread");
    var unreadList = document.getElementById("unread-list");
    var showUnread = function (items) {
      if (!unread || !unreadList) { return; }
      while (unreadList.firstChild) { unreadList.removeChild(unreadList.firstChild); }
      items.forEach(function (item) {
        var li = document.createElement("li");
        var word = document.createElement("strong");
        word.textContent = item.token;
        li.appendChild(word);
        li.appendChild(document.createTextNode(" (" + (unread.getAttribute("data-" + item.kind) || item.kind) + ")"));
        unreadList.appendChild(li);
      });
      unread.hidden = items.length === 0;
    };
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
        showUnread(Array.isArray(data.unread) ? data.unread : []);
        box.hidden = false;
      }).catch(function () { /* no preview: the form still works */ });
    };
    body.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(preview, 600);
    });
    if (body.value.trim()) { preview(); }
  }
  // "Nghe thử": the title and body as the speech renderer reads them, spoken by its own chain
  // (POST /api/v1/speech/preview.mp3, cached on the hub), played from a blob: URL.
  var title = document.getElementById("title");
  var listen = document.getElementById("listen");
  var button = document.getElementById("listen-button");
  var status = document.getElementById("listen-status");
  var player = document.getElementById("listen-audio");
  var speechText = function () {
    var t = title ? title.value.trim() : "";
    if (t && ".!?…:;".indexOf(t.charAt(t.length - 1)) < 0) { t += "."; }
    var b = body ? body.value.trim() : "";
    return t ? (b ? t + "\n\n" + b : t) : b;
  };
  if (listen && button && status && player && window.hubHear) {  // hear.js, loaded before this
    listen.hidden = false;
    button.addEventListener("click", function () {
      var text = speechText().slice(0, 2000);
      if (!text) { status.textContent = listen.getAttribute("data-empty"); return; }
      window.hubHear(text, {button: button, status: status, player: player, messages: listen});
    });
  }
  // The first slide as the display board will show it (POST /api/v1/slides/preview.png), redrawn
  // about a second after typing stops. Hidden when the slides plugin is off or the text is empty.
  var figure = document.getElementById("slide-preview");
  // The <img> is made here, when there is a slide to show (an <img> without src is not valid HTML).
  var holder = document.getElementById("slide-preview-img");
  var img = null;
  if (holder) {
    img = document.createElement("img");
    img.alt = holder.getAttribute("data-alt") || "";
    holder.appendChild(img);
  }
  var priority = document.getElementById("priority");
  if (meta && figure && img && window.fetch && window.URL && URL.createObjectURL) {
    var slideTimer = null;
    var slideAsked = 0;
    var shown = null;
    var drawSlide = function () {
      var t = title ? title.value : "";
      var b = body ? body.value : "";
      var mine = ++slideAsked;
      if (!t.trim() && !b.trim()) { figure.hidden = true; return; }
      fetch("/api/v1/slides/preview.png", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": meta.getAttribute("content")},
        body: JSON.stringify({title: t.slice(0, 300), body: b.slice(0, 20000),
                              priority: priority ? priority.value : "normal"})
      }).then(function (r) { return r.ok ? r.blob() : null; }).then(function (blob) {
        if (mine !== slideAsked || !blob) { return; }
        if (shown) { URL.revokeObjectURL(shown); }
        shown = URL.createObjectURL(blob);
        img.src = shown;
        figure.hidden = false;
      }).catch(function () { /* no slide preview: the form still works */ });
    };
    var later = function () {
      window.clearTimeout(slideTimer);
      slideTimer = window.setTimeout(drawSlide, 1000);
    };
    [title, body].forEach(function (el) { if (el) { el.addEventListener("input", later); } });
    if (priority) { priority.addEventListener("change", later); }
    drawSlide();
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
