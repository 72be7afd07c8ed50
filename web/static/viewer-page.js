// A read-only diagram, with optional markers given as data attributes.
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  if (!root) { return; }
  var viewer = PartnerflowViewer.createViewer(root);
  fetch(root.dataset.sourceUrl, { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      canvas.zoom("fit-viewport");
      ["completed", "active", "errored", "added", "changed", "heat1", "heat2", "heat3", "heat4", "heat5"].forEach(function (state) {
        (root.dataset[state] || "").split(",").filter(Boolean).forEach(function (id) {
          if (viewer.get("elementRegistry").get(id)) { canvas.addMarker(id, "pf-" + state); }
        });
      });
      root.dataset.ready = "true";
    });
  window.partnerflowViewer = viewer;
})();
