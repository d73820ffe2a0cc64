/* Tables marked data-sortable sort on a header click; an input with data-filter-for="<table id>"
   hides the rows that do not contain its text. Progressive: without JavaScript the table is
   served sorted by the server and paged by its links.
   Tables marked `data cards` are drawn as one card per row on a phone (static/css/desk.css):
   each body cell gets its column's header as data-label (a cell that already has one keeps
   it; a cell spanning every column gets none) and the table is marked `labelled`. Without
   JavaScript such a table scrolls instead. Every table with headers is put in a
   `.table-scroll` box (if not in one already), so that it scrolls inside it. */
(function () {
  "use strict";
  function label(table) {
    var head = table.tHead && table.tHead.rows.length
      ? table.tHead.rows[table.tHead.rows.length - 1].cells : null;
    if (!head || !head.length) return;
    var names = [];
    Array.prototype.forEach.call(head, function (th) {
      var span = th.colSpan || 1;
      for (var i = 0; i < span; i++) names.push(th.textContent.replace(/\s+/g, " ").trim());
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var span = cell.colSpan || 1;
          if (!cell.hasAttribute("data-label") && span < names.length && names[column]) {
            cell.setAttribute("data-label", names[column]);
          }
          column += span;
        });
      });
    });
    table.classList.add("labelled");
  }
  document.querySelectorAll("table.data.cards").forEach(label);
  /* every table with headers scrolls inside its own box rather than widening the page */
  document.querySelectorAll("table.data").forEach(function (table) {
    if (!table.tHead) return;
    var parent = table.parentElement;
    if (!parent.classList.contains("table-scroll") && !parent.classList.contains("scroll")) {
      var box = document.createElement("div");
      box.className = "table-scroll";
      parent.insertBefore(box, table);
      box.appendChild(table);
    }
  });
  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    var text = cell ? cell.textContent.trim() : "";
    if (!numeric) return text.toLowerCase();
    var n = parseFloat(text.replace(/[^0-9.\-]/g, ""));
    return isNaN(n) ? -Infinity : n;
  }
  document.querySelectorAll("table[data-sortable]").forEach(function (table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      th.classList.add("sortable");
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      function sort() {
        var numeric = th.dataset.sort === "num";
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > 1; });
        rows.sort(function (a, b) {
          var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
          return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") sort(); });
    });
  });
  document.querySelectorAll("input[data-filter-for]").forEach(function (input) {
    var table = document.getElementById(input.dataset.filterFor);
    if (!table) return;
    input.addEventListener("input", function () {
      var needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
      });
    });
  });
})();
