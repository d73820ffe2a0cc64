// Mark-to-market runs page: refresh the progress of unfinished runs from the API every 2 s.
(function () {
  "use strict";
  var labelsNode = document.getElementById("mtm-status-labels");
  var labels = labelsNode ? JSON.parse(labelsNode.textContent) : {};
  function refresh(row) {
    var url = row.getAttribute("data-api");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (run) {
        if (!run) { return; }
        row.querySelector("[data-field=status]").textContent = labels[run.status] || run.status;
        row.querySelector("[data-field=shards]").textContent = run.shards_done + " / " + run.shards_total;
        row.querySelector("[data-field=accounts]").textContent = run.accounts;
        row.querySelector("[data-field=calls]").textContent = run.calls_issued;
        var bar = row.querySelector("progress");
        bar.value = run.progress;
        if (run.status === "succeeded" || run.status === "failed") {
          row.removeAttribute("data-polling");
        }
      })
      .catch(function () {});
  }
  function tick() {
    var rows = document.querySelectorAll("tr[data-polling]");
    rows.forEach(refresh);
    if (rows.length) { window.setTimeout(tick, 2000); }
  }
  document.addEventListener("DOMContentLoaded", tick);
})();
