// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var add = event.target.closest(".add-row");
    if (add) {
      var box = add.closest("[data-rows]");
      var template = box.querySelector("template[data-row-template='" + box.dataset.rows + "']");
      var index = parseInt(add.dataset.nextIndex || "0", 10);
      add.dataset.nextIndex = String(index + 1);
      var html = template.innerHTML.split(box.dataset.rows + "-__index__-").join(box.dataset.rows + "-" + index + "-")
        .split("f-" + box.dataset.rows.replace(/_/g, "-") + "-__index__-").join("f-" + box.dataset.rows.replace(/_/g, "-") + "-" + index + "-");
      box.querySelector(".row-list").insertAdjacentHTML("beforeend", html);
      var rows = box.querySelector(".row-list").children;
      var input = rows[rows.length - 1].querySelector("input, select, textarea");
      if (input) { input.focus(); }
      return;
    }
    var remove = event.target.closest(".remove-row");
    if (remove) {
      remove.closest(".row-item").remove();
    }
  });
  // Warn before leaving a form with unsaved changes.
  var dirty = false;
  document.querySelectorAll("form[data-warn-unsaved]").forEach(function (form) {
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
