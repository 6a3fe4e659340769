// Draws every chart spec in #chart-data with uPlot. Hover shows values in the legend;
// clicking a legend entry hides its line. Each drawn chart gets data-drawn and
// data-points attributes (the browser test reads them).
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("chart-data").textContent);
  var drawn = [];

  // Up to three significant digits below 100 (error rates are small), thousands separators above.
  function formatNumber(v) {
    if (v === 0) return "0";
    if (Math.abs(v) >= 100) return Math.round(v).toLocaleString();
    return String(parseFloat(v.toPrecision(3)));
  }

  function formatValue(v) {
    return v === null || v === undefined ? "-" : formatNumber(v);
  }

  // Axis labels: uPlot passes null for the log-scale ticks it leaves unlabelled.
  function formatTick(v) {
    return v === null || v === undefined ? "" : formatNumber(v);
  }

  function build(spec) {
    var el = document.getElementById(spec.id);
    if (!el || typeof uPlot === "undefined") return;
    var xs = spec.x.values;
    var logX = spec.x.log && xs.length > 1;
    var hasUsers = spec.series.some(function (s) { return s.scale === "users"; });
    var maxUsers = 0;
    spec.series.forEach(function (s) {
      if (s.scale === "users") s.values.forEach(function (v) { if (v > maxUsers) maxUsers = v; });
    });
    var axes = [
      { label: spec.x.label, splits: logX ? function () { return xs; } : undefined,
        // every step is labelled (the log-scale default would keep only powers of ten)
        filter: logX ? function (u, splits) { return splits; } : undefined,
        values: function (u, splits) { return splits.map(formatTick); } },
      { label: spec.y.label, size: 64, values: function (u, splits) { return splits.map(formatTick); } }
    ];
    if (hasUsers) axes.push({ scale: "users", side: 1, label: "users", grid: { show: false }, size: 50 });
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: spec.small ? 210 : 320,
      scales: {
        x: { time: false, distr: logX ? 3 : 1 },
        y: { distr: spec.y.log ? 3 : 1 },
        users: { range: [0, Math.max(1, maxUsers * 1.15)] }
      },
      axes: axes,
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { live: true },
      series: [{ label: spec.x.label, value: function (u, v) { return formatValue(v); } }].concat(
        spec.series.map(function (s) {
          return {
            label: s.label, stroke: s.color, dash: s.dash,
            width: s.width !== undefined ? s.width : (s.scale === "users" ? 1 : 2),
            // spanGaps: a series measured at only some of the x values (capacity's probes);
            // marker: points alone, no line (capacity's marks on the SLO line)
            scale: s.scale || "y", spanGaps: !!s.spanGaps,
            points: s.marker ? { show: true, size: s.marker, fill: s.color, width: 2 }
                             : { show: xs.length <= 12 || !!s.spanGaps, size: 6 },
            value: function (u, v) { return formatValue(v); }
          };
        }))
    };
    var data = [xs].concat(spec.series.map(function (s) { return s.values; }));
    var chart = new uPlot(opts, data, el);
    var points = 0;
    spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) points++; }); });
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-drawn", "true");
    drawn.push({ chart: chart, el: el });
  }

  specs.forEach(build);
  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      drawn.forEach(function (d) { d.chart.setSize({ width: Math.max(260, d.el.clientWidth), height: d.chart.height }); });
    }, 100);
  });
})();
