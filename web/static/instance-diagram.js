// Instance diagrams: markers for completed, active and errored elements; flows between two
// completed or active elements are drawn as taken; clicking an element lists its executions.
(function () {
  "use strict";
  var blocks = document.querySelectorAll(".instance-viewer");
  if (!blocks.length) { return; }
  var panel = document.getElementById("executions");
  var executions = null;

  function list(root) {
    return function (name) { return (root.dataset[name] || "").split(",").filter(Boolean); };
  }

  function showExecutions(element) {
    var title = document.getElementById("executions-title");
    var ol = document.getElementById("executions-list");
    title.textContent = (element.businessObject.name || element.id);
    ol.innerHTML = "";
    (executions[element.id] || []).forEach(function (run) {
      var li = document.createElement("li");
      li.textContent = run.at.replace("T", " ").slice(0, 19) + " — " + run.type + (run.actor ? " — " + run.actor : "") +
        (run.data ? " — " + JSON.stringify(run.data) : "");
      ol.appendChild(li);
    });
    if (!ol.children.length) {
      var empty = document.createElement("li");
      empty.textContent = "—";
      ol.appendChild(empty);
    }
    panel.hidden = false;
  }

  blocks.forEach(function (root) {
    var viewer = PartnerflowViewer.createViewer(root);
    var get = list(root);
    fetch(root.dataset.sourceUrl, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        var done = get("completed"), active = get("active"), errored = get("errored");
        var reached = {};
        done.concat(active).forEach(function (id) { reached[id] = true; });
        [["completed", done], ["active", active], ["errored", errored]].forEach(function (pair) {
          pair[1].forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "pf-" + pair[0]); } });
        });
        registry.filter(function (e) { return e.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
          var bo = flow.businessObject;
          if (bo.sourceRef && bo.targetRef && reached[bo.sourceRef.id] && reached[bo.targetRef.id]) {
            canvas.addMarker(flow.id, "pf-completed");
          }
        });
        viewer.get("eventBus").on("element.click", function (event) {
          if (event.element.type === "bpmn:Process" || event.element.type === "bpmn:Collaboration") { return; }
          var ready = executions ? Promise.resolve() : fetch(root.dataset.executionsUrl, { credentials: "same-origin" })
            .then(function (r) { return r.json(); }).then(function (data) { executions = data; });
          ready.then(function () { showExecutions(event.element); });
        });
        root.dataset.ready = "true";
      });
  });
})();
