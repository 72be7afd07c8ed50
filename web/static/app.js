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
  // A table wider than the screen scrolls inside its frame: the frame takes the keyboard
  // focus (arrow keys scroll it) unless something inside it already does.
  function scrollableByKeyboard() {
    document.querySelectorAll("main .table-wrap, main table").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 && getComputedStyle(box).overflowX !== "visible";
      if (scrolls && !box.hasAttribute("tabindex") && !box.querySelector("a[href], button, input, select, textarea, [tabindex]")) {
        box.setAttribute("tabindex", "0");
        box.dataset.scrollFocus = "1";
      } else if (!scrolls && box.dataset.scrollFocus) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrollFocus;
      }
    });
  }
  scrollableByKeyboard();
  window.addEventListener("resize", scrollableByKeyboard);
  // On a phone, what earlier steps said folds away: the task's first field comes first.
  if (window.matchMedia && window.matchMedia("(max-width: 640px)").matches) {
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (d) { d.open = false; });
  }
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
  // A link of the error summary puts the keyboard in its field, not only the page's scroll.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      event.preventDefault();
      var fold = target.closest("details");
      if (fold) { fold.open = true; }
      target.scrollIntoView({ block: "center" });
      target.focus();
      history.replaceState(null, "", link.getAttribute("href"));
    });
  });
})();
