/* Long work shows progress: while a section marked data-running="true" reports unfinished
   work, it is refreshed from the same page every few seconds (no framework, no CDN). */
(function () {
  "use strict";
  var INTERVAL = 4000;
  function refresh(id) {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(id);
        var current = document.getElementById(id);
        if (fresh && current) {
          current.replaceWith(fresh);
          if (fresh.dataset.running === "true") setTimeout(function () { refresh(id); }, INTERVAL);
        }
      })
      .catch(function () { setTimeout(function () { refresh(id); }, INTERVAL * 2); });
  }
  document.querySelectorAll("[data-running='true'][id]").forEach(function (section) {
    setTimeout(function () { refresh(section.id); }, INTERVAL);
  });
})();
