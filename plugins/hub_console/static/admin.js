// Administration pages: "copy" buttons beside a token, an address or a command shown once.
// The page works without this script (the text can be selected and copied by hand).
(function () {
  "use strict";
  if (!navigator.clipboard) { return; }
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = button.getAttribute("data-copied") || "✓";
        window.setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });
})();
