// Incident page: the response forms sit below the live region (state,
// timeline, alerts, links) so that the actions read top to bottom, but
// outside it, so that a refresh never wipes what someone is typing.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    var respond = document.getElementById("respond");
    if (live && respond) live.after(respond);
  });
  // "Assign to me" fills the assignee field before its form is sent.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-fill-assignee]");
    if (!b || !b.form) return;
    b.form.elements.assignee.value = b.getAttribute("data-fill-assignee");
  });
})();
