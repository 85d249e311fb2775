// The pronunciation dictionary page: "Nghe thử" speaks a text with the hub's own voice chain
// (hear.js's hubHear) and plays it. An entry's button speaks its written form (the dictionary
// applied, as the next render will); the form's button speaks the spoken form as typed. The page
// works without this script.
(function () {
  "use strict";
  if (!window.hubHear) { return; }  // hear.js, loaded before this
  document.querySelectorAll(".hear-scope").forEach(function (scope) {
    var status = scope.querySelector(".hear-status");
    var player = scope.querySelector(".hear-audio");
    scope.querySelectorAll("button.hear").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var from = button.getAttribute("data-from");
        var field = from ? document.getElementById(from) : null;
        var text = (field ? field.value : button.getAttribute("data-text") || "").trim().slice(0, 2000);
        if (!text) { status.textContent = scope.getAttribute("data-empty"); return; }
        window.hubHear(text, {button: button, status: status, player: player, messages: scope});
      });
    });
  });
})();
