// Klaxon UI: the little JavaScript the server-rendered pages need.
// - Klaxon.api(method, path, body): JSON request with the CSRF token.
// - Live regions: #live[data-live-every] is re-fetched (?fragment=live) and
//   replaced when it changed, so pages update without reloading.
// - Forms with data-api="METHOD PATH" are sent as JSON through Klaxon.api;
//   data-then="reload" or a path to go to afterwards.
// No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";
  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }
  var prefix = meta("route-prefix");

  function api(method, path, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": meta("csrf-token"), "Accept": "application/json" }
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(prefix + path, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
        if (!resp.ok) {
          var msg = (data && (data.error || data.message)) || text || resp.statusText;
          var err = new Error(resp.status + ": " + msg);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    });
  }

  function showError(form, err) {
    var out = form.querySelector(".form-error");
    if (!out) {
      out = document.createElement("p");
      out.className = "form-error";
      out.setAttribute("role", "alert");
      form.appendChild(out);
    }
    out.textContent = err.message;
  }

  // formJSON turns named inputs into an object. Names with [] collect
  // arrays; data-type="number" and checkboxes convert.
  function formJSON(form) {
    var obj = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "csrf_token") return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) {
        if (el.type === "checkbox" && !el.name.endsWith("[]")) obj[el.name] = false;
        return;
      }
      var v = el.type === "checkbox" && !el.name.endsWith("[]") ? true : el.value;
      if (el.dataset.type === "number") v = Number(v);
      if (el.name.endsWith("[]")) {
        var k = el.name.slice(0, -2);
        (obj[k] = obj[k] || []).push(v);
      } else {
        obj[el.name] = v;
      }
    });
    return obj;
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var spec = form.getAttribute("data-api");
    if (!spec) return;
    ev.preventDefault();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    var parts = spec.split(" ");
    var body = form.dataset.body === "none" ? undefined : formJSON(form);
    if (form.klaxonBody) body = form.klaxonBody(body);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    api(parts[0], parts[1], body).then(function (data) {
      // data-reset: empty the form once sent (a note, a link); an old
      // error message goes too.
      if (form.hasAttribute("data-reset")) form.reset();
      var oldErr = form.querySelector(".form-error");
      if (oldErr) oldErr.remove();
      var then = form.getAttribute("data-then") || "reload";
      if (then === "reload") {
        refreshLive(true).then(function (replaced) { if (!replaced) window.location.reload(); });
      } else {
        if (data && typeof data === "object") {
          then = then.replace(/\{(\w+)\}/g, function (_, k) { return encodeURIComponent(data[k]); });
        }
        window.location.assign(prefix + then);
      }
    }).catch(function (err) { showError(form, err); })
      .finally(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  });

  var live = null, lastHTML = null;
  function refreshLive(force) {
    if (!live) return Promise.resolve(false);
    // Only a field being typed in holds the refresh back: a button or a
    // link keeps focus after a click (a link opened in a new tab, a
    // cancelled confirm), and must not freeze the page.
    var typing = live.contains(document.activeElement) && /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (!force && (document.hidden || typing)) {
      return Promise.resolve(false);
    }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "live");
    return fetch(url.toString(), { credentials: "same-origin" }).then(function (resp) {
      if (resp.status === 401 || resp.redirected) { window.location.reload(); return false; }
      if (!resp.ok) return false;
      return resp.text().then(function (html) {
        if (html === lastHTML) return true;
        lastHTML = html;
        live.innerHTML = html;
        live.dispatchEvent(new CustomEvent("klaxon:updated", { bubbles: true }));
        return true;
      });
    }).catch(function () { return false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    live = document.getElementById("live");
    if (live) {
      lastHTML = null;
      var every = parseInt(live.dataset.liveEvery, 10) || 0;
      if (every > 0) setInterval(function () { refreshLive(false); }, every);
      document.addEventListener("visibilitychange", function () { if (!document.hidden) refreshLive(false); });
    }
    document.querySelectorAll("[data-local-time]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.title = d.toString();
    });
  });

  window.Klaxon = { api: api, refreshLive: refreshLive, formJSON: formJSON, prefix: prefix };
})();
