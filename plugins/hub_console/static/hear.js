// "Nghe thử", shared by the bulletin form and the pronunciation dictionary: speak a text with the
// hub's own voice chain (POST /api/v1/speech/preview.mp3, with this session's CSRF token) and play
// it from a blob: URL. hubHear(text, parts) — parts: button (disabled while it works), status (says
// how it went, in the words of messages' data-busy/-done/-error attributes), player (an <audio>).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !window.fetch || !window.URL || !URL.createObjectURL) { return; }
  var heard = new WeakMap();  // player → the blob: URL it plays, revoked when it is replaced
  window.hubHear = function (text, parts) {
    var button = parts.button, status = parts.status, player = parts.player, messages = parts.messages;
    button.disabled = true;
    status.textContent = messages.getAttribute("data-busy");
    fetch("/api/v1/speech/preview.mp3", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": meta.getAttribute("content")},
      body: JSON.stringify({text: text})
    }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.blob();
    }).then(function (blob) {
      if (heard.has(player)) { URL.revokeObjectURL(heard.get(player)); }
      var url = URL.createObjectURL(blob);
      heard.set(player, url);
      player.src = url;
      player.hidden = false;
      status.textContent = messages.getAttribute("data-done");
      var playing = player.play();
      if (playing && playing.catch) { playing.catch(function () { /* autoplay refused: the controls remain */ }); }
    }).catch(function () {
      status.textContent = messages.getAttribute("data-error");
    }).then(function () { button.disabled = false; });
  };
})();
