// LeadTrail dashboard: draws charts from the JSON next to each canvas (Chart.js, vendored),
// makes tables sortable by keyboard or mouse, copies the snippet, and polls the live check.
// Everything here is progressive: the tables and links work without it.
(function () {
  "use strict";
  var PALETTE = ["#1f5fbf", "#e07b00", "#1e7b34", "#b3261e", "#8a4fff", "#00838f",
    "#6d4c41", "#c2185b", "#546e7a", "#9e9d24"];

  function drawCharts() {
    if (typeof window.Chart === "undefined") { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) { return; }
      var spec = JSON.parse(source.textContent);
      var line = spec.type === "line";
      var datasets = spec.datasets.map(function (set, i) {
        var colour = PALETTE[i % PALETTE.length];
        return Object.assign({
          borderColor: colour, backgroundColor: line ? colour : colour + "cc",
          pointRadius: line ? 2 : undefined, tension: 0.2
        }, set);
      });
      var scales = {};
      if (datasets.some(function (d) { return d.yAxisID === "y1"; })) {
        scales.y = { position: "left", beginAtZero: true };
        scales.y1 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } };
      }
      // Stacked bars (answered and missed calls): one bar per label, parts on top.
      if (spec.stacked) {
        scales.x = { stacked: true };
        scales.y = { stacked: true, beginAtZero: true };
      }
      // Axis labels carry the currency symbol the server chose (formatting.py).
      Object.keys(spec.axes || {}).forEach(function (axis) {
        var prefix = spec.axes[axis].prefix || "";
        scales[axis] = Object.assign(scales[axis] || { beginAtZero: true }, {
          ticks: { callback: function (value) {
            return prefix + Number(value).toLocaleString("en-US");
          } }
        });
      });
      new window.Chart(canvas, {
        type: spec.type,
        data: { labels: spec.labels, datasets: datasets },
        options: {
          indexAxis: spec.horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false,
          animation: false, scales: scales,
          plugins: {
            legend: { display: datasets.length > 1 },
            // Tooltips print each point exactly as the table beside the chart does.
            tooltip: { callbacks: { label: function (item) {
              var text = item.dataset.text ? item.dataset.text[item.dataIndex] : item.formattedValue;
              return item.dataset.label + ": " + text;
            } } }
          }
        }
      });
    });
  }

  function sortable(table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") !== "descending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a.cells[column]), y = cellValue(b.cells[column]);
          var order = (typeof x === "number" && typeof y === "number") ? x - y
            : String(x).localeCompare(String(y));
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function cellValue(cell) {
    if (!cell) { return ""; }
    var raw = cell.getAttribute("data-sort");
    if (raw === null) { return cell.textContent.trim().toLowerCase(); }
    var number = parseFloat(raw);
    return raw === "" ? -Infinity : (isNaN(number) ? raw : number);
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy"));
        field.select();
        var status = button.parentNode.querySelector(".copied");
        var done = function () { if (status) { status.textContent = "Copied."; } };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(done, function () {});
        } else {
          done();
        }
      });
    });
  }

  function liveCheck() {
    var target = document.querySelector("[data-poll]");
    if (!target) { return; }
    var url = target.getAttribute("data-poll");
    var poll = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (!body || !body.last_event) { return; }
          var last = body.last_event;
          target.textContent = "";
          target.append("Last event received: ");
          var strong = document.createElement("strong");
          strong.setAttribute("data-field", "type");
          strong.textContent = last.type;
          target.append(strong, " on " + (last.path || "?") + " at ");
          var time = document.createElement("time");
          time.setAttribute("data-field", "received_at");
          time.setAttribute("datetime", last.received_at);
          time.textContent = last.received_display || last.received_at;
          target.append(time, ".");
        })
        .catch(function () {});
    };
    window.setInterval(poll, 3000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    document.querySelectorAll("table[data-sortable]").forEach(sortable);
    copyButtons();
    liveCheck();
  });
}());
