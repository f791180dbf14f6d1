// On-call page: the override form. The schedule picked goes into the
// request's path, and the datetime-local fields (in the browser's time
// zone) become RFC 3339 instants, which is what the API takes.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-browser-zone]").forEach(function (el) {
      try { el.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local"; } catch (e) { /* keep "local" */ }
    });
    var form = document.getElementById("override-form");
    if (!form) return;
    // This listener runs before the page-wide one in klaxon.js that sends
    // the form, because the form is nearer the event's target.
    form.addEventListener("submit", function () {
      var sched = form.elements.schedule.value;
      form.setAttribute("data-api", "POST /api/v1/schedules/" + encodeURIComponent(sched) + "/overrides");
    });
    form.klaxonBody = function (body) {
      delete body.schedule;
      ["start", "end"].forEach(function (k) {
        var d = new Date(body[k]);
        if (!isNaN(d)) body[k] = d.toISOString();
      });
      return body;
    };
  });
})();
