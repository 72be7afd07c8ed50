// Instance diagrams: markers for completed, active and errored elements; flows between two
// completed or active elements are drawn as taken; clicking an element lists its executions.
// Each diagram has zoom buttons, "see everything" and "see what is active"; a diagram too big
// to read at its fitted size (the negotiation) opens on what is active.
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
      li.textContent = run.at.replace("T", " ").slice(0, 19) + " — " + (run.label || run.type) +
        (run.actor ? " — " + run.actor : "") + ((run.path || []).length ? " — " + run.path.join(" ; ") : "") +
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

  // the smallest scale at which a diagram's labels can be read
  var READABLE = 0.6;

  function bounds(elements) {
    var box = null;
    elements.forEach(function (el) {
      var points = el.waypoints || [{ x: el.x, y: el.y }, { x: el.x + el.width, y: el.y + el.height }];
      points.forEach(function (p) {
        box = box ? { x1: Math.min(box.x1, p.x), y1: Math.min(box.y1, p.y), x2: Math.max(box.x2, p.x), y2: Math.max(box.y2, p.y) }
          : { x1: p.x, y1: p.y, x2: p.x, y2: p.y };
      });
    });
    return box;
  }

  // centres the view on `elements`, at 100 % or less if they do not fit
  function focus(canvas, elements) {
    var box = bounds(elements);
    if (!box) { return false; }
    var outer = canvas.viewbox().outer, pad = 120;
    var scale = Math.min(1, outer.width / (box.x2 - box.x1 + 2 * pad), outer.height / (box.y2 - box.y1 + 2 * pad));
    var cx = (box.x1 + box.x2) / 2, cy = (box.y1 + box.y2) / 2;
    canvas.viewbox({ x: cx - outer.width / scale / 2, y: cy - outer.height / scale / 2,
      width: outer.width / scale, height: outer.height / scale });
    return true;
  }

  function tools(root, canvas, current) {
    var bar = root.previousElementSibling;
    if (!bar || !bar.classList.contains("diagram-tools")) { return; }
    bar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) { return; }
      var action = button.dataset.action;
      if (action === "zoom-in") { canvas.zoom(canvas.zoom() * 1.25, "auto"); }
      if (action === "zoom-out") { canvas.zoom(canvas.zoom() / 1.25, "auto"); }
      if (action === "fit") { canvas.zoom("fit-viewport", "auto"); }
      if (action === "focus") { focus(canvas, current()); }
    });
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
        var current = function () {
          return active.concat(errored).map(function (id) { return registry.get(id); }).filter(Boolean);
        };
        tools(root, canvas, current);
        if (canvas.zoom() < READABLE && current().length) { focus(canvas, current()); }
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
