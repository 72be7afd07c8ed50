// The form editor: JSON Schema text on the left, the rendered form on the right.
(function () {
  "use strict";
  var root = document.getElementById("form-editor");
  if (!root) { return; }
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var text = document.getElementById("schema");
  var preview = document.getElementById("preview");
  var status = document.getElementById("form-status");
  var timer = null;
  var dirty = false;

  function parse() {
    try { return { schema: JSON.parse(text.value) }; } catch (error) { return { error: error.message }; }
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) { return response.json().then(function (data) { return { ok: response.ok, data: data }; }); });
  }

  function refresh() {
    var parsed = parse();
    if (parsed.error) { status.textContent = root.dataset.msgInvalid + parsed.error; text.setAttribute("aria-invalid", "true"); return; }
    text.removeAttribute("aria-invalid");
    status.textContent = "";
    post(root.dataset.previewUrl, { schema: parsed.schema }).then(function (r) {
      if (r.ok) { preview.innerHTML = r.data.html; } else { status.textContent = r.data.error || ""; }
    });
  }

  text.addEventListener("input", function () { dirty = true; clearTimeout(timer); timer = setTimeout(refresh, 400); });
  document.getElementById("save-form").addEventListener("click", function () {
    var parsed = parse();
    if (parsed.error) { status.textContent = root.dataset.msgInvalid + parsed.error; return; }
    post(root.dataset.saveUrl, { schema: parsed.schema }).then(function (r) {
      if (r.ok) { dirty = false; status.textContent = r.data.message; }
      else { status.textContent = Object.values(r.data.errors || {}).flat().join(" "); }
    });
  });
  window.addEventListener("beforeunload", function (event) { if (dirty) { event.preventDefault(); event.returnValue = ""; } });
  refresh();
})();
