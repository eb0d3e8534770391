// Charts of the cockpit (Chart.js, vendored): the trend of one KPI by month, and a KPI's districts.
(function () {
  var palette = ["#0b3d6e", "#c62828", "#2e7d32", "#f0b429", "#6a1b9a", "#00838f", "#5d4037", "#ef6c00", "#455a64"];
  function read(id) { var el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; }
  var trends = read("trend-data");
  var select = document.getElementById("trend-kpi");
  var canvas = document.getElementById("trend-chart");
  var chart = null;
  function draw(code) {
    var t = trends[code];
    if (!t || !canvas) return;
    var sets = Object.keys(t.series).map(function (name, i) {
      return { label: name, data: t.series[name], borderColor: palette[i % palette.length], fill: false, spanGaps: true };
    });
    if (t.target !== null) sets.push({ label: "目标", data: t.months.map(function () { return t.target; }), borderColor: "#999", borderDash: [6, 4], pointRadius: 0 });
    if (t.baseline !== null) sets.push({ label: "基线", data: t.months.map(function () { return t.baseline; }), borderColor: "#bbb", borderDash: [2, 3], pointRadius: 0 });
    if (chart) chart.destroy();
    chart = new Chart(canvas, { type: "line", data: { labels: t.months.map(function (m) { return m.slice(0, 7); }), datasets: sets },
      options: { animation: false, maintainAspectRatio: false } });
  }
  if (trends && select) {
    select.addEventListener("change", function () { draw(select.value); });
    draw(select.value);
  }
  var bar = read("bar-data");
  var barCanvas = document.getElementById("bar-chart");
  if (bar && barCanvas) {
    var sets = [{ label: "指标值", data: bar.values, backgroundColor: "#0b3d6e" }];
    if (bar.target !== null) sets.push({ type: "line", label: "目标", data: bar.values.map(function () { return bar.target; }), borderColor: "#c62828", pointRadius: 0 });
    new Chart(barCanvas, { type: "bar", data: { labels: bar.labels, datasets: sets }, options: { animation: false, maintainAspectRatio: false } });
  }
  window.shuzhongChartsReady = true;
})();
