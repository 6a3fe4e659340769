// Draws the claims page's charts (#claims-chart-data) with the inlined uPlot: one line
// per series across the rounds, the x axis labelled with the round numbers only. Runs on
// "load", after uPlot and the report script. Hover shows values in the legend; clicking
// a legend entry hides its line. Each drawn chart gets data-drawn and data-points.
window.addEventListener("load", function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("claims-chart-data").textContent);

  function formatNumber(v) {
    if (v === null || v === undefined) return "-";
    if (v === 0) return "0";
    if (Math.abs(v) >= 100) return Math.round(v).toLocaleString();
    return String(parseFloat(v.toPrecision(3)));
  }

  specs.forEach(function (spec) {
    var el = document.getElementById(spec.id);
    if (!el || typeof uPlot === "undefined") return;
    var rounds = [];
    for (var r = 1; r <= spec.rounds; r++) rounds.push(r);
    var opts = {
      width: Math.max(260, el.clientWidth),
      height: 230,
      scales: { x: { time: false, range: [0.75, rounds.length + 0.25] }, y: { range: function (u, min, max) {
        return [Math.min(0, min), max > 0 ? max * 1.1 : 1];
      } } },
      axes: [
        { label: "round (a fresh process each)", splits: function () { return rounds; },
          values: function (u, splits) { return splits.map(String); } },
        { label: spec.unit, size: 64, values: function (u, splits) { return splits.map(formatNumber); } }
      ],
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { live: true },
      series: [{ label: "round", value: function (u, v) { return v === null ? "-" : String(v); } }].concat(
        spec.series.map(function (s) {
          return { label: s.label, stroke: s.color, width: 2, points: { show: true, size: 6 },
                   value: function (u, v) { return formatNumber(v); } };
        }))
    };
    var chart = new uPlot(opts, [rounds].concat(spec.series.map(function (s) { return s.values; })), el);
    var points = 0;
    spec.series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) points++; }); });
    el.setAttribute("data-points", String(points));
    el.setAttribute("data-drawn", "true");
    window.addEventListener("resize", function () {
      chart.setSize({ width: Math.max(260, el.clientWidth), height: chart.height });
    });
  });
});
