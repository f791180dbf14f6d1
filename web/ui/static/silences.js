// The silence editor: matcher rows (add, remove), start/duration/end kept
// in step, a preview of the alerts the matchers select, refreshed as they
// change, and saving through Alertmanager's POST /api/v2/silences.
(function () {
  "use strict";
  var form = document.getElementById("silence-editor");
  if (!form) return;
  var rows = document.getElementById("matcher-rows");
  var preview = document.getElementById("silence-preview");
  var errorBox = document.getElementById("editor-error");
  var prefix = (document.querySelector('meta[name="route-prefix"]') || {}).content || "";

  // --- matcher rows -------------------------------------------------------
  function matchers() {
    return Array.prototype.map.call(rows.querySelectorAll(".matcher-row"), function (row) {
      return {
        name: row.querySelector('[name="name"]').value.trim(),
        op: row.querySelector('[name="op"]').value,
        value: row.querySelector('[name="value"]').value
      };
    });
  }

  document.getElementById("add-row").addEventListener("click", function () {
    var first = rows.querySelector(".matcher-row");
    var row = first.cloneNode(true);
    row.querySelector('[name="name"]').value = "";
    row.querySelector('[name="value"]').value = "";
    row.querySelector('[name="op"]').value = "=";
    rows.appendChild(row);
    row.querySelector('[name="name"]').focus();
    schedulePreview();
  });

  rows.addEventListener("click", function (ev) {
    var btn = ev.target.closest(".remove-row");
    if (!btn) return;
    var all = rows.querySelectorAll(".matcher-row");
    var row = btn.closest(".matcher-row");
    if (all.length > 1) {
      row.remove();
    } else {
      row.querySelector('[name="name"]').value = "";
      row.querySelector('[name="value"]').value = "";
    }
    schedulePreview();
  });

  // --- preview ------------------------------------------------------------
  var timer = null, seq = 0;
  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(loadPreview, 250);
  }
  function loadPreview() {
    var q = new URLSearchParams();
    matchers().forEach(function (m) {
      q.append("n", m.name); q.append("o", m.op); q.append("v", m.value);
    });
    var mine = ++seq;
    preview.setAttribute("aria-busy", "true");
    fetch(prefix + "/silences/preview?" + q.toString(), { credentials: "same-origin" })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        // Only the answer to the latest change counts.
        if (mine !== seq) return;
        // The fragment is rendered and escaped by the server's templates.
        preview.innerHTML = html;
        preview.removeAttribute("aria-busy");
      })
      .catch(function (err) {
        if (mine !== seq) return;
        preview.textContent = "Preview failed: " + err.message;
      });
  }
  rows.addEventListener("input", schedulePreview);
  rows.addEventListener("change", schedulePreview);

  // --- times --------------------------------------------------------------
  var startsAt = document.getElementById("startsAt");
  var duration = document.getElementById("duration");
  var endsAt = document.getElementById("endsAt");
  var units = { w: 604800e3, d: 86400e3, h: 3600e3, m: 60e3, s: 1e3 };

  // parseDuration reads "1d2h30m" as milliseconds; NaN if it is not one.
  function parseDuration(s) {
    s = s.trim();
    var re = /(\d+)([wdhms])/g, total = 0, used = 0, m;
    while ((m = re.exec(s)) !== null) {
      total += parseInt(m[1], 10) * units[m[2]];
      used += m[0].length;
    }
    return used === s.length && used > 0 ? total : NaN;
  }
  function formatDuration(ms) {
    if (!(ms > 0)) return "";
    var out = "", order = ["d", "h", "m"];
    ms = Math.round(ms / 60e3) * 60e3;
    order.forEach(function (u) {
      var n = Math.floor(ms / units[u]);
      if (n > 0) { out += n + u; ms -= n * units[u]; }
    });
    return out || "1m";
  }
  function iso(d) { return d.toISOString().replace(/\.\d{3}Z$/, "Z"); }

  duration.addEventListener("input", function () {
    var start = new Date(startsAt.value), d = parseDuration(duration.value);
    if (!isNaN(start) && !isNaN(d)) endsAt.value = iso(new Date(start.getTime() + d));
  });
  startsAt.addEventListener("input", function () {
    var start = new Date(startsAt.value), d = parseDuration(duration.value);
    if (!isNaN(start) && !isNaN(d)) endsAt.value = iso(new Date(start.getTime() + d));
  });
  endsAt.addEventListener("input", function () {
    var start = new Date(startsAt.value), end = new Date(endsAt.value);
    if (!isNaN(start) && !isNaN(end)) duration.value = formatDuration(end - start);
  });

  // --- save ---------------------------------------------------------------
  function fail(msg) {
    errorBox.textContent = msg;
    errorBox.hidden = false;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    errorBox.hidden = true;
    var ms = matchers().filter(function (m) { return m.name !== "" || m.value !== ""; });
    if (ms.length === 0) return fail("Add at least one matcher.");
    for (var i = 0; i < ms.length; i++) {
      if (!ms[i].name) return fail("Matcher " + (i + 1) + ": the label name is empty.");
    }
    var start = new Date(startsAt.value), end = new Date(endsAt.value);
    if (isNaN(start)) return fail("Starts: not a time (use e.g. 2026-01-02T15:04:05Z).");
    if (isNaN(end)) return fail("Ends: not a time (use e.g. 2026-01-02T15:04:05Z).");
    var body = {
      matchers: ms.map(function (m) {
        return { name: m.name, value: m.value, isRegex: m.op === "=~" || m.op === "!~", isEqual: m.op === "=" || m.op === "=~" };
      }),
      startsAt: start.toISOString(),
      endsAt: end.toISOString(),
      createdBy: form.querySelector('[name="createdBy"]').value.trim(),
      comment: form.querySelector('[name="comment"]').value.trim()
    };
    if (form.dataset.id) body.id = form.dataset.id;
    var save = document.getElementById("save-silence");
    if (save) save.disabled = true;
    Klaxon.api("POST", "/api/v2/silences", body).then(function (data) {
      window.location.assign(prefix + "/silences/" + encodeURIComponent(data.silenceID));
    }).catch(function (err) {
      fail(err.message);
    }).finally(function () {
      if (save) save.disabled = false;
    });
  });
})();
