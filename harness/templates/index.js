// The index page's behaviour, inlined by harness/report.py (write_index); no library, no URL.
// Filter: every select above the table must match the row's data-<key> (empty = all).
// Sort: a header button sorts by the cells' data-v (numbers as numbers, missing last).
// Side by side: ticked runs become columns of a table built from the JSON in #runs-data.
"use strict";
(function () {
  const table = document.getElementById("runs");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const data = JSON.parse(document.getElementById("runs-data").textContent);
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));
  const shown = document.getElementById("shown");

  function filter() {
    let n = 0;
    for (const row of rows) {
      const keep = selects.every((s) => s.value === "" || row.dataset[s.dataset.filter] === s.value);
      row.hidden = !keep;
      if (keep) n += 1;
    }
    shown.textContent = n + " of " + rows.length + " runs shown";
  }
  for (const s of selects) s.addEventListener("change", filter);

  function key(row, col, numeric) {
    const v = row.cells[col].dataset.v;
    if (!numeric) return v;
    return v === "" ? null : Number(v);
  }

  function compare(a, b, numeric, dir) {
    if (numeric) {
      if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1; // missing last
      return dir * (a - b);
    }
    return dir * a.localeCompare(b, undefined, {numeric: true});
  }

  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      for (const other of headers) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      const numeric = th.dataset.type === "num";
      const sorted = rows.slice().sort(
        (a, b) => compare(key(a, col, numeric), key(b, col, numeric), numeric, dir));
      for (const row of sorted) body.appendChild(row);
    });
  });

  const section = document.getElementById("compare");
  const holder = document.getElementById("compare-table");
  const boxes = rows.map((row) => row.cells[0].querySelector("input"));

  function cell(tag, text, cls) {
    const el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  }

  function sideBySide() {
    const ids = boxes.filter((b) => b.checked).map((b) => b.value);
    document.getElementById("compare-count").textContent = String(ids.length);
    section.hidden = ids.length === 0;
    holder.textContent = "";
    if (!ids.length) return;
    const t = document.createElement("table");
    const head = t.insertRow();
    head.appendChild(cell("th", "metric", "l"));
    for (const id of ids) {
      const th = cell("th", "", "l");
      const a = document.createElement("a");
      a.href = encodeURIComponent(id) + ".html";
      a.textContent = id;
      th.appendChild(a);
      head.appendChild(th);
    }
    data.metrics.forEach((name, i) => {
      const tr = t.insertRow();
      tr.appendChild(cell("th", name, "l"));
      for (const id of ids) tr.appendChild(cell("td", data.runs[id][i], ""));
    });
    holder.appendChild(t);
  }
  for (const b of boxes) b.addEventListener("change", sideBySide);
  document.getElementById("compare-clear").addEventListener("click", () => {
    for (const b of boxes) b.checked = false;
    sideBySide();
  });
  filter();
  sideBySide();
})();
