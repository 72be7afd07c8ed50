// The form editor: a visual editor of the form's fields and its JSON Schema text, side by
// side views of one definition, with the rendered form as a live preview. The visual editor
// works on the definition itself (JSON Schema 2020-12 with Partnerflow's x- hints): what it
// does not know (x-rules, x-shows, bounds, patterns...) is kept as written.
(function () {
  "use strict";
  var root = document.getElementById("form-editor");
  if (!root) { return; }
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var M = JSON.parse(document.getElementById("form-editor-messages").textContent);
  var text = document.getElementById("schema");
  var preview = document.getElementById("preview");
  var status = document.getElementById("form-status");
  var list = document.getElementById("fields");
  var announce = document.getElementById("fields-announce");
  var timer = null;
  var dirty = false;
  var schema = null;
  var fresh = {};  // keys added in this session: only those may still be renamed

  // --- field kinds: what the visual editor offers, and how each is written in JSON Schema
  var KINDS = ["text", "textarea", "number", "euros", "date", "select", "radio", "checkbox",
               "user", "organisation", "file", "rows"];
  var CHOICES = { select: true, radio: true };
  var KEY = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

  function kindOf(prop) {
    var widget = prop["x-widget"];
    if (widget && KINDS.indexOf(widget) >= 0) { return widget; }
    if (prop.type === "array") { return "rows"; }
    if (prop.type === "boolean") { return "checkbox"; }
    if (prop.type === "number" || prop.type === "integer") { return "number"; }
    if (prop.format === "date") { return "date"; }
    if (prop.oneOf || prop["enum"]) { return "select"; }
    return widget || "text";
  }

  function setKind(prop, kind) {
    var wasChoice = !!(prop.oneOf || prop["enum"]);
    delete prop.format;
    if (kind !== "rows") { delete prop.items; delete prop.minItems; }
    if (!CHOICES[kind] && !(kind === "checkbox" && wasChoice)) { delete prop.oneOf; delete prop["enum"]; }
    prop["x-widget"] = kind;
    if (kind === "number" || kind === "euros") { prop.type = "number"; delete prop.maxLength; delete prop.minLength; }
    else if (kind === "checkbox") { prop.type = "boolean"; delete prop.maxLength; delete prop.minLength; }
    else if (kind === "rows") {
      prop.type = "array"; delete prop.maxLength; delete prop.minLength;
      prop.items = prop.items || { type: "object", properties: {}, required: [] };
    } else {
      prop.type = "string";
      if (kind === "date") { prop.format = "date"; }
      if (CHOICES[kind] && !prop.oneOf) { prop.oneOf = [{ "const": "oui", title: M.choiceYes }]; }
    }
  }

  // --- the definition's fields, in their order
  function ordered(node) {
    var props = node.properties || {};
    var keys = Object.keys(props);
    return keys.map(function (key, index) { return { key: key, prop: props[key], index: index }; })
      .sort(function (a, b) {
        var oa = typeof a.prop["x-order"] === "number" ? a.prop["x-order"] : 1000;
        var ob = typeof b.prop["x-order"] === "number" ? b.prop["x-order"] : 1000;
        return oa - ob || a.index - b.index;
      });
  }

  function renumber(node, keys) {
    var props = {};
    keys.forEach(function (key, i) { props[key] = node.properties[key]; props[key]["x-order"] = (i + 1) * 10; });
    node.properties = props;
  }

  function isRequired(node, key) { return (node.required || []).indexOf(key) >= 0; }

  function setRequired(node, key, on) {
    var req = (node.required || []).filter(function (k) { return k !== key; });
    if (on) { req.push(key); }
    node.required = req;
    var prop = node.properties[key];
    if (prop.type === "string" && !CHOICES[kindOf(prop)]) {
      if (on && !prop.minLength) { prop.minLength = 1; }
    }
  }

  // --- writing the definition back: JSON text, preview, dirty flag
  function changed(message) {
    dirty = true;
    text.value = JSON.stringify(schema, null, 2);
    text.removeAttribute("aria-invalid");
    if (message) { announce.textContent = message; }
    schedulePreview();
  }

  function schedulePreview() { clearTimeout(timer); timer = setTimeout(refreshPreview, 400); }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); });
  }

  function refreshPreview() {
    if (!schema) { return; }
    post(root.dataset.previewUrl, { schema: schema }).then(function (r) {
      if (r.ok) { preview.innerHTML = r.data.html; status.textContent = ""; }
      else { status.textContent = r.data.error || ""; }
    });
  }

  // --- small builders of accessible controls
  var uid = 0;
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs[name]; }
      else if (name.slice(0, 2) === "on") { node.addEventListener(name.slice(2), attrs[name]); }
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) { if (child) { node.appendChild(child); } });
    return node;
  }

  function labelled(label, control, help) {
    var id = "fb-" + (++uid);
    control.id = id;
    var parts = [el("label", { "for": id, text: label })];
    if (help) {
      var hid = id + "-help";
      control.setAttribute("aria-describedby", hid);
      parts.push(el("p", { "class": "help", id: hid, text: help }));
    }
    parts.push(control);
    return el("div", { "class": "fb-control" }, parts);
  }

  function textInput(value, onchange, attrs) {
    var input = el("input", Object.assign({ type: "text", value: value || "" }, attrs || {}));
    input.addEventListener("input", function () { onchange(input.value, input); });
    return input;
  }

  function select(options, value, onchange) {
    var node = el("select", {}, options.map(function (o) {
      return el("option", { value: o[0], selected: o[0] === value ? "selected" : null, text: o[1] });
    }));
    node.addEventListener("change", function () { onchange(node.value); });
    return node;
  }

  // --- one field's card
  function fieldCard(node, item, position, count, depth, redraw) {
    var key = item.key, prop = item.prop, kind = kindOf(prop);
    var title = prop.title || key;
    var card = el("fieldset", { "class": "fb-field", draggable: "true", "data-key": key });
    card.appendChild(el("legend", { text: M.field.replace("%(n)s", position + 1).replace("%(label)s", title) }));

    var keys = ordered(node).map(function (f) { return f.key; });
    function move(to) {
      keys.splice(position, 1);
      keys.splice(to, 0, key);
      renumber(node, keys);
      changed(M.moved.replace("%(label)s", title).replace("%(n)s", to + 1));
      redraw(key);
    }
    var tools = el("div", { "class": "fb-tools" }, [
      el("span", { "class": "fb-handle", "aria-hidden": "true", title: M.drag, text: "⋮⋮" }),
      el("button", { type: "button", "class": "fb-up", "aria-label": M.up.replace("%(label)s", title),
                     disabled: position === 0 ? "disabled" : null, text: "↑",
                     onclick: function () { move(position - 1); } }),
      el("button", { type: "button", "class": "fb-down", "aria-label": M.down.replace("%(label)s", title),
                     disabled: position === count - 1 ? "disabled" : null, text: "↓",
                     onclick: function () { move(position + 1); } }),
      el("button", { type: "button", "class": "fb-remove", "aria-label": M.remove.replace("%(label)s", title),
                     text: M.removeShort, onclick: function () {
                       if (!window.confirm(M.confirmRemove.replace("%(label)s", title))) { return; }
                       delete node.properties[key];
                       node.required = (node.required || []).filter(function (k) { return k !== key; });
                       changed(M.removed.replace("%(label)s", title));
                       redraw(null);
                     } })
    ]);
    card.appendChild(tools);

    // the key: the process variable; only a field added now may still be renamed
    var keyInput = textInput(key, function (value, input) {
      if (!KEY.test(value) || (value !== key && node.properties[value])) {
        input.setAttribute("aria-invalid", "true");
        return;
      }
      input.removeAttribute("aria-invalid");
    }, { readonly: fresh[key] ? null : "readonly", "class": "fb-key", spellcheck: "false" });
    keyInput.addEventListener("change", function () {
      var value = keyInput.value;
      if (value === key || !KEY.test(value) || node.properties[value]) { keyInput.value = key; return; }
      var rebuilt = {};
      Object.keys(node.properties).forEach(function (k) { rebuilt[k === key ? value : k] = node.properties[k]; });
      node.properties = rebuilt;
      node.required = (node.required || []).map(function (k) { return k === key ? value : k; });
      delete fresh[key]; fresh[value] = true;
      changed();
      redraw(value);
    });
    card.appendChild(labelled(M.key, keyInput, fresh[key] ? M.keyHelpNew : M.keyHelp));

    card.appendChild(labelled(M.label, textInput(prop.title, function (value) {
      prop.title = value; changed();
      card.querySelector("legend").textContent = M.field.replace("%(n)s", position + 1).replace("%(label)s", value || key);
    })));
    card.appendChild(labelled(M.kind, select(KINDS.map(function (k) { return [k, M.kinds[k]]; }), kind, function (value) {
      setKind(prop, value); changed(); redraw(key);
    })));
    var help = el("textarea", { rows: "2" });
    help.value = prop["x-help"] || "";
    help.addEventListener("input", function () {
      if (help.value) { prop["x-help"] = help.value; } else { delete prop["x-help"]; }
      changed();
    });
    card.appendChild(labelled(M.help, help));

    var required = el("input", { type: "checkbox", checked: isRequired(node, key) ? "checked" : null });
    required.addEventListener("change", function () { setRequired(node, key, required.checked); changed(); });
    card.appendChild(el("div", { "class": "fb-check" }, [required, el("label", { "for": "fb-req-" + (++uid), text: M.required })]));
    required.id = "fb-req-" + uid;

    var audiences = depth === 0
      ? [["internal", M.audiences.internal], ["partner", M.audiences.partner], ["everyone", M.audiences.everyone]]
      : [["", M.audiences.inherit], ["internal", M.audiences.internal]];
    card.appendChild(labelled(M.audience, select(audiences, prop["x-audience"] || (depth === 0 ? "internal" : ""), function (value) {
      if (value && !(depth === 0 && value === "internal" && !prop["x-audience"])) { prop["x-audience"] = value; }
      else if (!value) { delete prop["x-audience"]; }
      changed();
    }), depth === 0 ? M.audienceHelp : null));

    if (CHOICES[kind]) { card.appendChild(choicesEditor(prop, redraw, key)); }
    if (kind === "rows" && depth === 0) {
      var items = prop.items = prop.items || { type: "object", properties: {}, required: [] };
      items.properties = items.properties || {};
      var nested = el("div", { "class": "fb-rows" }, [el("h3", { text: M.rowFields })]);
      var sub = el("ol", { "class": "fb-list" });
      nested.appendChild(sub);
      drawList(items, sub, 1);
      nested.appendChild(addButton(items, function () { drawList(items, sub, 1); }, M.addRowField));
      card.appendChild(nested);
    } else if (kind === "rows") {
      card.appendChild(el("p", { "class": "help", text: M.deepRows }));
    }

    // drag and drop within the same list
    card.addEventListener("dragstart", function (event) {
      event.stopPropagation();
      event.dataTransfer.setData("text/plain", key);
      event.dataTransfer.effectAllowed = "move";
      card.classList.add("fb-dragging");
    });
    card.addEventListener("dragend", function () { card.classList.remove("fb-dragging"); });
    card.addEventListener("dragover", function (event) { event.preventDefault(); event.stopPropagation(); });
    card.addEventListener("drop", function (event) {
      event.preventDefault(); event.stopPropagation();
      var dragged = event.dataTransfer.getData("text/plain");
      var from = keys.indexOf(dragged);
      if (from < 0 || dragged === key) { return; }
      keys.splice(from, 1);
      keys.splice(keys.indexOf(key), 0, dragged);
      renumber(node, keys);
      changed(M.moved.replace("%(label)s", (node.properties[dragged].title || dragged)).replace("%(n)s", keys.indexOf(dragged) + 1));
      redraw(dragged);
    });
    return card;
  }

  function choicesEditor(prop, redraw, key) {
    var box = el("div", { "class": "fb-choices" }, [el("h3", { text: M.choices })]);
    var choices = prop.oneOf = prop.oneOf || [];
    var table = el("table", {}, [el("thead", {}, [el("tr", {}, [
      el("th", { scope: "col", text: M.choiceValue }), el("th", { scope: "col", text: M.choiceLabel }),
      el("th", { scope: "col", text: M.actions })])])]);
    var body = el("tbody");
    choices.forEach(function (choice, i) {
      body.appendChild(el("tr", {}, [
        el("td", {}, [textInput(choice["const"], function (v) { choice["const"] = v; changed(); },
                                { "aria-label": M.choiceValue + " " + (i + 1), spellcheck: "false" })]),
        el("td", {}, [textInput(choice.title, function (v) { choice.title = v; changed(); },
                                { "aria-label": M.choiceLabel + " " + (i + 1) })]),
        el("td", {}, [el("button", { type: "button", "aria-label": M.removeChoice.replace("%(n)s", i + 1), text: M.removeShort,
                                     onclick: function () { choices.splice(i, 1); changed(); redraw(key); } })])
      ]));
    });
    table.appendChild(body);
    box.appendChild(table);
    box.appendChild(el("button", { type: "button", text: M.addChoice, onclick: function () {
      choices.push({ "const": "choix_" + (choices.length + 1), title: M.newChoice });
      changed(); redraw(key);
    } }));
    return box;
  }

  function addButton(node, after, label) {
    return el("button", { type: "button", "class": "fb-add", text: label, onclick: function () {
      var n = 1;
      while (node.properties["champ_" + n]) { n += 1; }
      var key = "champ_" + n;
      var keys = ordered(node).map(function (f) { return f.key; });
      node.properties[key] = { type: "string", title: M.newField, "x-widget": "text", maxLength: 300 };
      fresh[key] = true;
      keys.push(key);
      renumber(node, keys);
      changed(M.added);
      after(key);
    } });
  }

  function drawList(node, container, depth, focusKey) {
    container.innerHTML = "";
    var fields = ordered(node);
    var redraw = function (key) { drawList(node, container, depth, key); };
    fields.forEach(function (item, position) {
      var li = el("li", {}, [fieldCard(node, item, position, fields.length, depth, redraw)]);
      container.appendChild(li);
      if (focusKey && item.key === focusKey) {
        var target = li.querySelector(".fb-key") || li;
        setTimeout(function () { (li.querySelector("button.fb-up:not([disabled]), button.fb-down:not([disabled])") || target).focus(); }, 0);
      }
    });
  }

  function drawAll(focusKey) {
    drawList(schema, list, 0, focusKey);
  }

  // --- the JSON text stays available: typing in it redraws the visual editor
  function fromText() {
    var parsed;
    try { parsed = JSON.parse(text.value); } catch (error) {
      status.textContent = root.dataset.msgInvalid + error.message;
      text.setAttribute("aria-invalid", "true");
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      status.textContent = M.notObject; text.setAttribute("aria-invalid", "true"); return;
    }
    text.removeAttribute("aria-invalid");
    status.textContent = "";
    schema = parsed;
    schema.properties = schema.properties || {};
    drawAll();
    refreshPreview();
  }

  var textPending = false;  // the JSON text was typed in and not read back yet
  text.addEventListener("input", function () {
    dirty = true; textPending = true; clearTimeout(timer);
    timer = setTimeout(function () { textPending = false; fromText(); }, 400);
  });
  document.getElementById("add-field").addEventListener("click", function () {
    addButton(schema, drawAll, "").click();
  });
  document.getElementById("save-form").addEventListener("click", function () {
    if (textPending) {  // save what the JSON view says now, not what it said before
      clearTimeout(timer); textPending = false; fromText();
      if (text.getAttribute("aria-invalid") === "true") { return; }
    }
    if (!schema) { return; }
    post(root.dataset.saveUrl, { schema: schema }).then(function (r) {
      if (r.ok) { dirty = false; status.textContent = r.data.message; }
      else { status.textContent = Object.values(r.data.errors || {}).flat().join(" "); }
    });
  });
  // the two views of the definition: tabs, reachable by keyboard
  var tabs = Array.prototype.slice.call(root.querySelectorAll("[role=tab]"));
  function show(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    });
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { show(tab); });
    tab.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        var next = tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        show(next); next.focus(); event.preventDefault();
      }
    });
  });
  window.addEventListener("beforeunload", function (event) { if (dirty) { event.preventDefault(); event.returnValue = ""; } });
  fromText();
})();
