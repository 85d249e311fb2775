// The pronunciation dictionary page: "Nghe thử" speaks a text with the hub's own voice chain
// (POST /api/v1/speech/preview.mp3, this session's CSRF token) and plays it from a blob: URL. An
// entry's button speaks its written form (the dictionary applied, as the next render will); the
// form's button speaks the spoken form as typed. The page works without this script.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !window.fetch || !window.URL || !URL.createObjectURL) { return; }
  document.querySelectorAll(".hear-scope").forEach(function (scope) {
    var status = scope.querySelector(".hear-status");
    var player = scope.querySelector(".hear-audio");
    var heard = null;
    scope.querySelectorAll("button.hear").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var from = button.getAttribute("data-from");
        var field = from ? document.getElementById(from) : null;
        var text = (field ? field.value : button.getAttribute("data-text") || "").trim().slice(0, 2000);
        if (!text) { status.textContent = scope.getAttribute("data-empty"); return; }
        button.disabled = true;
        status.textContent = scope.getAttribute("data-busy");
        fetch("/api/v1/speech/preview.mp3", {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRF-Token": meta.getAttribute("content")},
          body: JSON.stringify({text: text})
        }).then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.blob();
        }).then(function (blob) {
          if (heard) { URL.revokeObjectURL(heard); }
          heard = URL.createObjectURL(blob);
          player.src = heard;
          player.hidden = false;
          status.textContent = scope.getAttribute("data-done");
          var playing = player.play();
          if (playing && playing.catch) { playing.catch(function () { /* autoplay refused: the controls remain */ }); }
        }).catch(function () {
          status.textContent = scope.getAttribute("data-error");
        }).then(function () { button.disabled = false; });
      });
    });
  });
})();
