// The playlist form: the list of approved bulletins narrows while the search box is typed in
// (accents ignored), and Enter in the search box searches on the server instead of doing nothing.
// Without this script the "Tìm" button does the same in one round trip.
// Programme audio uploaded or recorded in the form's recorder (static/recorder.js, which posts it to
// /api/v1/media with its progress bar) is added as the form's "add:media:<sha256>" button would:
// the whole form is posted, the hub shows it again with the new item last, nothing saved yet.
(function () {
  "use strict";
  var form = document.querySelector("form.playlist-form");
  if (form) {
    form.addEventListener("recorder:done", function (event) {
      var answer = event.detail || {};
      if (!/^[0-9a-f]{64}$/.test(answer.sha256 || "")) { return; }
      var action = document.createElement("input");
      action.type = "hidden";
      action.name = "action";
      action.value = "add:media:" + answer.sha256;
      form.appendChild(action);
      form.submit();
    });
  }
  var box = document.getElementById("q");
  var search = document.querySelector("button[name=action][value=search]");
  var offered = document.querySelectorAll("ul.offered > li.record");
  if (!box || !search) { return; }
  function plain(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase();
  }
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      search.click();
    }
  });
  box.addEventListener("input", function () {
    var wanted = plain(box.value.trim());
    Array.prototype.forEach.call(offered, function (item) {
      var title = item.querySelector("p");
      item.hidden = wanted !== "" && plain(title ? title.textContent : "").indexOf(wanted) < 0;
    });
  });
}());
