// Postmortem editor: action item rows, the JSON body of a save, and the
// live preview. The preview is rendered by the server
// (POST /markdown/preview) with the same sanitiser as the page, so
// what the preview shows is what everyone will see.
(function () {
  "use strict";
  var form, preview, timer = null, seq = 0, dirty = false;

  function rows() {
    return Array.prototype.slice.call(form.querySelectorAll("#pm-actions tbody tr.action-item"));
  }

  function actionItems() {
    return rows().map(function (tr) {
      var item = {};
      tr.querySelectorAll("[data-field]").forEach(function (el) {
        item[el.getAttribute("data-field")] = el.value.trim();
      });
      return item;
    }).filter(function (item) { return item.title || item.owner || item.due; });
  }

  // body turns the form into the postmortem the API takes.
  function body(obj) {
    obj.actionItems = actionItems();
    if (!obj.impactEnd) delete obj.impactEnd;
    return obj;
  }

  // cell keeps a table cell on one line, as the export does.
  function cell(s) { return (s || "-").replace(/\|/g, "\\|").replace(/\n/g, " "); }

  // markdown is the edited part of the document, laid out as the export
  // lays it out.
  function markdown() {
    var f = form.elements;
    var out = "# " + f.title.value + "\n\n";
    form.querySelectorAll("textarea[data-preview]").forEach(function (ta) {
      out += "## " + ta.getAttribute("data-preview") + "\n\n" + ta.value + "\n\n";
    });
    var items = actionItems();
    out += "## Action items\n\n";
    if (items.length) {
      out += "| Title | Owner | Due | Status |\n|---|---|---|---|\n";
      items.forEach(function (a) {
        out += "| " + cell(a.title) + " | " + cell(a.owner) + " | " + cell(a.due) + " | " + cell(a.status) + " |\n";
      });
    } else {
      out += "(none yet)\n";
    }
    return out;
  }

  function renderPreview() {
    var mine = ++seq;
    Klaxon.api("POST", "/markdown/preview", { markdown: markdown() }).then(function (res) {
      // An older answer arriving late must not replace a newer one.
      if (mine !== seq) return;
      // The server sanitised this HTML (goldmark without raw HTML, then
      // bluemonday's UGC policy); the page's CSP refuses inline script
      // besides.
      preview.innerHTML = res.html;
      preview.setAttribute("data-rendered", String(mine));
    }).catch(function (err) {
      if (mine !== seq) return;
      preview.textContent = "Preview failed: " + err.message;
    });
  }

  function changed() {
    dirty = true;
    var note = document.getElementById("pm-dirty");
    if (note) note.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(renderPreview, 250);
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("pm-editor");
    preview = document.getElementById("pm-preview");
    if (!form || !preview) return;
    form.klaxonBody = body;
    // Leaving with unsaved text asks first; saving reloads the page, so a
    // save clears the flag before it is sent.
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (ev) {
      if (dirty) { ev.preventDefault(); ev.returnValue = ""; }
    });
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    document.getElementById("pm-add-action").addEventListener("click", function () {
      var tpl = document.getElementById("pm-action-row");
      var row = tpl.content.querySelector("tr").cloneNode(true);
      form.querySelector("#pm-actions tbody").appendChild(row);
      row.querySelector("input").focus();
      changed();
    });
    form.addEventListener("click", function (ev) {
      var b = ev.target.closest("[data-remove-action]");
      if (!b) return;
      b.closest("tr").remove();
      changed();
    });
    renderPreview();
  });
})();
