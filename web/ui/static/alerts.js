// The alerts page: changing a state box or the receiver applies the
// filter at once; the matcher filter applies on Enter or "Apply".
(function () {
  "use strict";
  var form = document.getElementById("alert-filters");
  if (!form) return;
  form.addEventListener("change", function (ev) {
    if (ev.target.name === "state" || ev.target.name === "receiver") form.submit();
  });
})();
