// The playlist form: the list of approved bulletins narrows while the search box is typed in
// (accents ignored), and Enter in the search box searches on the server instead of doing nothing.
// Without this script the "Tìm" button does the same in one round trip.
(function () {
  "use strict";
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
