// The graph page: loads the map as JSON, draws it, redraws when a filter changes.
(function () {
  "use strict";
  var root = document.getElementById("graph");
  if (!root) { return; }
  var form = document.getElementById("graph-filters");
  var status = document.getElementById("graph-status");

  function load(url) {
    root.dataset.ready = "false";
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (window.partnerflowGraph) { window.partnerflowGraph.destroy(); }
        var cy = PartnerflowGraph.createGraph(root, data, function (href) { window.location.assign(href); });
        window.partnerflowGraph = cy;
        var truncated = data.total > data.edges.length;
        status.textContent = (truncated ? root.dataset.truncatedText : root.dataset.loadedText)
          .replace("{nodes}", String(data.nodes.length)).replace("{edges}", String(data.edges.length))
          .replace("{total}", String(data.total));
        root.dataset.ready = "true";
      });
  }

  if (form) {
    form.addEventListener("change", function () {
      var query = new URLSearchParams(new FormData(form)).toString();
      var base = root.dataset.sourceUrl.split("?")[0];
      window.history.replaceState(null, "", window.location.pathname + "?" + query);
      load(base + "?" + query);
    });
  }
  load(root.dataset.sourceUrl);
})();
