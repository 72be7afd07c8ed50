// The modeller page: load the diagram, track changes, save drafts, deploy, show problems.
(function () {
  "use strict";
  var root = document.getElementById("modeller");
  if (!root) { return; }
  var kind = root.dataset.kind;
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var status = document.getElementById("modeller-status");
  var problemsBox = document.getElementById("modeller-problems");
  var warningsBox = document.getElementById("modeller-warnings");
  var language = document.documentElement.lang || "fr";
  var modeler = kind === "dmn"
    ? PartnerflowDmn.createDmnModeler(document.getElementById("canvas"), language)
    : PartnerflowModeller.createModeler(document.getElementById("canvas"), document.getElementById("properties"), language);
  var dirty = false;
  var marked = [];
  if (kind !== "dmn" && root.dataset.templatesUrl) {
    // the connectors, offered as element templates ("Générer la convention", "Notifier", ...)
    fetch(root.dataset.templatesUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (templates) { PartnerflowModeller.setElementTemplates(modeler, templates); })
      .catch(function () { /* the modeller works without them */ });
  }

  function say(text) { status.textContent = text; }

  function watchChanges() {
    if (kind === "dmn") {
      modeler.on("views.changed", function () {
        var viewer = modeler.getActiveViewer();
        if (viewer) { viewer.get("eventBus").on("elements.changed", function () { dirty = true; }); }
      });
    } else {
      modeler.on("commandStack.changed", function () { dirty = true; });
    }
  }

  function open(xml) {
    return modeler.importXML(xml).then(function () {
      if (kind === "dmn") {
        var views = modeler.getViews();
        var table = views.filter(function (v) { return v.type === "decisionTable"; })[0];
        if (table) { return modeler.open(table); }
      } else {
        fit();
      }
    });
  }

  // the whole diagram, right of the palette
  function fit() { PartnerflowModeller.fitBesidePalette(modeler.get("canvas")); }

  // an element as the designer knows it: its name, else its id
  function elementLabel(id) {
    if (kind !== "dmn") {
      var element = modeler.get("elementRegistry").get(id);
      var name = element && element.businessObject && element.businessObject.name;
      if (name) { return name + " (" + id + ")"; }
    }
    return id;
  }

  function problemText(p) {
    return (p.element_id ? "[" + elementLabel(p.element_id) + "] " : "") + p.message + (p.hint ? " — " + p.hint : "");
  }

  // after a deployment: the heading names the version now deployed (no draft any more)
  function showDeployedVersion(items) {
    var mine = items.filter(function (i) { return i.process_key === root.dataset.key; })[0];
    var small = document.getElementById("modeller-version");
    if (mine && small) { small.textContent = "v" + mine.version; }
  }

  function currentXml() { return modeler.saveXML({ format: true }).then(function (r) { return r.xml; }); }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); });
  }

  function clearMarks() {
    if (kind === "dmn") {
      document.querySelectorAll("#canvas .pf-error-cell").forEach(function (cell) { cell.classList.remove("pf-error-cell"); });
      return;
    }
    var canvas = modeler.get("canvas");
    marked.forEach(function (id) { canvas.removeMarker(id, "pf-error"); });
    marked = [];
  }

  function showProblems(problems) {
    var list = problemsBox.querySelector("ul");
    list.innerHTML = "";
    clearMarks();
    problems.forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = problemText(p);
      if (p.element_id) { li.dataset.element = p.element_id; }
      list.appendChild(li);
      if (kind === "dmn" && p.element_id) {
        // decision table cells carry their rule entry's id
        document.querySelectorAll('#canvas [data-element-id="' + p.element_id.replace(/"/g, "") + '"]')
          .forEach(function (cell) { cell.classList.add("pf-error-cell"); });
      }
      if (kind !== "dmn" && p.element_id) {
        var registry = modeler.get("elementRegistry");
        var element = registry.get(p.element_id);
        if (element) {
          modeler.get("canvas").addMarker(p.element_id, "pf-error");
          marked.push(p.element_id);
        }
      }
    });
    problemsBox.hidden = problems.length === 0;
    if (marked.length) {
      var first = modeler.get("elementRegistry").get(marked[0]);
      modeler.get("canvas").scrollToElement(first);
      modeler.get("selection").select(first);
    }
  }

  function showWarnings(warnings) {
    var list = warningsBox.querySelector("ul");
    list.innerHTML = "";
    warnings.forEach(function (w) {
      var li = document.createElement("li");
      li.textContent = problemText(w);
      list.appendChild(li);
    });
    warningsBox.hidden = warnings.length === 0;
  }

  function saveDraft() {
    return currentXml().then(function (xml) { return post(root.dataset.saveUrl, { xml: xml }); })
      .then(function (r) {
        if (r.ok) { dirty = false; say(root.dataset.msgSaved); } else { say(root.dataset.msgError + (r.data.message || "")); }
      });
  }

  function deploy() {
    say("…");
    return currentXml().then(function (xml) { return post(root.dataset.deployUrl, { xml: xml }); })
      .then(function (r) {
        if (r.ok) {
          dirty = false;
          clearMarks();
          problemsBox.hidden = true;
          showWarnings(r.data.warnings || []);
          showDeployedVersion(r.data.items);
          var created = r.data.items.filter(function (i) { return i.created; })
            .map(function (i) { return i.name + " v" + i.version; });
          say(created.length ? root.dataset.msgDeployed + created.join(", ") : root.dataset.msgUnchanged);
        } else {
          say(r.data.message || root.dataset.msgError);
          showWarnings([]);
          showProblems(r.data.problems || []);
        }
      });
  }

  document.getElementById("save-draft").addEventListener("click", saveDraft);
  var fitButton = document.getElementById("fit");
  if (fitButton) { fitButton.addEventListener("click", fit); }
  document.getElementById("deploy").addEventListener("click", deploy);
  problemsBox.addEventListener("click", function (event) {
    var li = event.target.closest("li[data-element]");
    if (li && kind !== "dmn") {
      var element = modeler.get("elementRegistry").get(li.dataset.element);
      if (element) { modeler.get("canvas").scrollToElement(element); modeler.get("selection").select(element); }
    }
  });
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); saveDraft(); }
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
  watchChanges();
  fetch(root.dataset.sourceUrl, { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(open)
    .then(function () { dirty = false; root.dataset.ready = "true"; })
    .catch(function (error) { say(root.dataset.msgError + error.message); });
  window.partnerflowModeler = modeler;
})();
