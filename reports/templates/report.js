// Renders the report's charts: unpacks the embedded plotly.js (gzip + base64, so
// the page stays self-contained and small), then draws every figure. The body's
// data-charts-expected / data-charts-rendered / data-charts-done attributes let
// a headless browser check that every chart rendered; errors are listed on the page.
(function () {
  "use strict";
  var errors = [];

  function recordError(reason) {
    var message = reason && reason.message ? reason.message : String(reason);
    errors.push(message);
    document.body.dataset.chartErrors = String(errors.length);
    var box = document.getElementById("chart-errors");
    if (box) {
      box.hidden = false;
      var item = document.createElement("li");
      item.textContent = message;
      box.querySelector("ul").appendChild(item);
    }
  }

  window.addEventListener("error", function (event) { recordError(event.message || "script error"); });
  window.addEventListener("unhandledrejection", function (event) { recordError(event.reason); });

  async function loadPlotly() {
    if (window.Plotly) {
      return;
    }
    if (typeof DecompressionStream === "undefined") {
      throw new Error(
        "This browser cannot unpack the embedded charting library (no DecompressionStream); " +
        "the tables hold every figure without it."
      );
    }
    var binary = atob(document.getElementById("plotly-js-gzip").textContent.trim());
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i += 1) {
      bytes[i] = binary.charCodeAt(i);
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    var source = await new Response(stream).text();
    var script = document.createElement("script");
    script.textContent = source;
    document.head.appendChild(script);
  }

  async function main() {
    var figures = JSON.parse(document.getElementById("report-figures").textContent);
    var ids = Object.keys(figures);
    document.body.dataset.chartsExpected = String(ids.length);
    document.body.dataset.chartsRendered = "0";
    if (ids.length === 0) {
      return;
    }
    await loadPlotly();
    var rendered = 0;
    for (var index = 0; index < ids.length; index += 1) {
      var id = ids[index];
      var element = document.getElementById(id);
      if (!element) {
        recordError("no element for chart " + id);
        continue;
      }
      var figure = figures[id];
      await window.Plotly.newPlot(element, figure.data, figure.layout, {
        responsive: true,
        displaylogo: false,
      });
      rendered += 1;
      document.body.dataset.chartsRendered = String(rendered);
    }
  }

  main().catch(recordError).finally(function () {
    document.body.dataset.chartsDone = "true";
  });
})();
