/* Statistics charts (app/core/charts.py): every element with data-chart holds {option, drill, title};
   it is rendered with the vendored ECharts, resized with the page, exportable as PNG, and a click on a
   bar or slice whose label has a drill link opens that link (e.g. province → city → county). */
(function () {
  "use strict";
  if (typeof window.echarts === "undefined") { return; }
  var charts = [];

  function safeName(text) { return String(text || "chart").replace(/[\\/:*?"<>|\s]+/g, "_"); }

  function render(el) {
    if (el.dataset.chartReady) { return; }
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    el.dataset.chartReady = "1";
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(spec.option);
    charts.push(chart);
    var drill = spec.drill || {};
    if (Object.keys(drill).length) {
      el.classList.add("chart-drillable");
      chart.on("click", function (params) {
        var url = drill[params.name];
        if (url) { window.location.assign(url); }
      });
    }
    var card = el.closest("[data-chart-card]");
    var button = card && card.querySelector("[data-chart-png]");
    if (button) {
      button.addEventListener("click", function () {
        var link = document.createElement("a");
        link.href = chart.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#fff" });
        link.download = safeName(spec.title) + ".png";
        document.body.appendChild(link);
        link.click();
        link.remove();
      });
    }
  }

  function renderAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(render);
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 120);
  });
  document.addEventListener("DOMContentLoaded", function () { renderAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { renderAll(e.target); });
  if (document.readyState !== "loading") { renderAll(document); }
  window.gxCharts = { renderAll: renderAll };
}());
