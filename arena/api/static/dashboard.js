// The dashboard (arena/api/dashboard.html): polls the API every 2 s with the token kept in
// the tab's session storage. Loaded from this server only (the page's CSP allows nothing else).
"use strict";
const POLL_MS = 2000;
const SINCE = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
const COLORS = ["#3b6fd8", "#d8793b", "#2f9e66", "#a63bd8", "#d83b6f", "#3bb5d8", "#8a8f2a"];
let token = sessionStorage.getItem("arena-token") || "";

function $(id) { return document.getElementById(id); }
function text(value) { return value === null || value === undefined ? "-" : String(value); }
function cell(row, value, cls) {
  const td = row.insertCell(); td.textContent = text(value); if (cls) td.className = cls;
  return td;
}
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? s + " s ago" : Math.round(s / 60) + " min ago";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: Object.assign({ Authorization: "Bearer " + token },
                                   body ? { "Content-Type": "application/json" } : {}),
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    throw new Error(response.status + ": " + detail);
  }
  return data;
}

function showFleet(fleet) {
  $("champion").textContent = fleet.champion ? "v" + fleet.champion : "none";
  $("served").textContent = fleet.serving ? "v" + fleet.serving : "none";
  $("pin").textContent = fleet.pin
    ? "pinned v" + fleet.pin.version_id + " by " + fleet.pin.actor + ": " + fleet.pin.reason
      + (fleet.pin.expires_at ? " (until " + fleet.pin.expires_at + ")" : "")
    : "no pin";
  $("lag").textContent = fleet.total_lag === null ? "" : "lag " + fleet.total_lag + " images";
  const body = $("fleet").tBodies[0];
  body.replaceChildren();
  for (const s of fleet.scorers) {
    const row = body.insertRow();
    row.dataset.scorer = s.scorer_id;
    row.dataset.version = s.version;
    row.dataset.stale = s.stale;  // not heard from in 3 heartbeats
    cell(row, s.scorer_id);
    cell(row, "v" + s.version, s.up_to_date ? "serving" : "behind");
    cell(row, s.state + (s.error ? ": " + s.error : ""), s.state);
    cell(row, ago(s.last_seen_ms) + (s.stale ? " (stale)" : ""), s.stale ? "stale" : "");
  }
  if (!fleet.scorers.length) cell(body.insertRow(), "no scorer has reported yet", "muted");
}

function showDecisions(decisions) {
  const body = $("decisions").tBodies[0];
  body.replaceChildren();
  for (const d of decisions) {
    const row = body.insertRow();
    row.dataset.challenger = d.challenger_version;
    cell(row, new Date(d.decided_at).toLocaleTimeString());
    cell(row, "v" + d.challenger_version);
    cell(row, "v" + d.champion_version);
    cell(row, d.outcome, d.outcome === "promoted" ? "serving" : "");
    cell(row, (d.challenger_metrics.accuracy ?? NaN).toFixed(4) + " vs "
              + (d.champion_metrics.accuracy ?? NaN).toFixed(4));
    cell(row, d.p_value.toPrecision(2));
    cell(row, d.sample_count);
    cell(row, d.reason);
  }
  if (!decisions.length) cell(body.insertRow(), "no decision yet", "muted");
}

function showDrifts(drifts) {
  const body = $("drifts").tBodies[0];
  body.replaceChildren();
  for (const d of drifts) {
    const row = body.insertRow();
    cell(row, new Date(d.detected_at).toLocaleTimeString());
    cell(row, d.detector);
    cell(row, d.value_before.toPrecision(3));
    cell(row, d.value_after.toPrecision(3));
    cell(row, d.event_topic + ":" + d.event_partition + "@" + d.event_offset);
    cell(row, d.champion_version === null ? "" : "v" + d.champion_version);
  }
  if (!drifts.length) cell(body.insertRow(), "no drift detected", "muted");
}

// The accuracy timeline, drawn by uPlot (vendored: static/vendor/uplot). One line per version
// over its score history; promote / rollback / pin / unpin markers and each line's "vN" label
// are elements over the plot (.marker, .series), so they can be hovered and found.
const CHART_HEIGHT = 300;
const timeline = { chart: null, key: "", marks: [], series: [], t0: 0, t1: 1 };

function node(tag, className, parent) {
  const element = document.createElement(tag);
  element.className = className;
  parent.appendChild(element);
  return element;
}

function chartData(points) {
  const byVersion = new Map();
  for (const p of points) {
    if (!byVersion.has(p.version_id)) byVersion.set(p.version_id, new Map());
    byVersion.get(p.version_id).set(Date.parse(p.computed_at) / 1000, p.value);
  }
  const versions = [...byVersion.keys()].sort((a, b) => a - b);
  const xs = [...new Set(points.map(p => Date.parse(p.computed_at) / 1000))].sort((a, b) => a - b);
  const data = [xs, ...versions.map(v => xs.map(x => byVersion.get(v).get(x) ?? null))];
  return { versions, data };
}

function placeOverlays(u) {
  for (const old of u.over.querySelectorAll(".marker, .series")) old.remove();
  for (const [k, m] of timeline.marks.entries()) {
    const marker = node("div", "marker", u.over);
    marker.dataset.kind = m.kind;
    marker.dataset.version = text(m.to_version);
    marker.style.left = u.valToPos(m.t / 1000, "x") + "px";
    const label = node("span", "marker-label", marker);
    label.style.top = (k % 2 ? -13 : -26) + "px";  // alternate rows: less overlap
    label.textContent = m.kind + (m.to_version ? " v" + m.to_version : "");
    label.title = m.kind + " by " + m.actor + ": " + m.reason;
  }
  timeline.series.forEach((version, i) => {
    const values = u.data[i + 1];
    let last = values.length - 1;
    while (last >= 0 && values[last] === null) last--;
    if (last < 0) return;
    const label = node("span", "series", u.over);
    label.dataset.version = version;
    label.textContent = "v" + version;
    label.style.color = COLORS[i % COLORS.length];
    label.style.left = u.valToPos(u.data[0][last], "x") + 6 + "px";
    label.style.top = u.valToPos(values[last], "y") - 8 + "px";
  });
}

function newChart(versions, data, container) {
  return new uPlot({
    width: container.clientWidth || 800,
    height: CHART_HEIGHT,
    padding: [30, 44, 0, 0],  // room for the marker labels above, the "vN" labels right
    cursor: { drag: { x: false, y: false } },  // each refresh would undo a zoom
    scales: {
      x: { time: true, range: () => [timeline.t0, timeline.t1] },
      y: { range: () => [0, 1] },
    },
    axes: [
      // One row of local times (at most 6 hours are shown): uPlot's default second row of
      // dates overlaps on a short range.
      { space: 90, values: (u, ticks) => ticks.map(t => new Date(t * 1000).toLocaleTimeString()) },
      { values: (u, ticks) => ticks.map(v => v.toFixed(2)) },
    ],
    series: [
      {},
      ...versions.map((version, i) => ({
        label: "v" + version,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: true,
        points: { show: true, size: 5, fill: COLORS[i % COLORS.length] },
        value: (u, v) => (v === null ? "-" : v.toFixed(4)),
      })),
    ],
    hooks: { draw: [placeOverlays] },
  }, data, container);
}

function showTimeline(points, promotions) {
  const container = $("timeline");
  const since = Date.parse(SINCE);
  timeline.marks = promotions.map(p => ({ ...p, t: Date.parse(p.created_at) }))
                             .filter(p => p.t >= since);
  const times = points.map(p => Date.parse(p.computed_at)).concat(timeline.marks.map(m => m.t));
  if (!times.length) {
    if (timeline.chart) timeline.chart.destroy();
    timeline.chart = null;
    timeline.key = "";
    container.replaceChildren();
    node("div", "muted empty", container).textContent = "no score history yet";
    return;
  }
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  timeline.t0 = t0 / 1000;
  timeline.t1 = t1 / 1000;
  const { versions, data } = chartData(points);
  timeline.series = versions;
  const key = versions.join(",");
  if (timeline.chart && key === timeline.key) {
    timeline.chart.setData(data);
    return;
  }
  if (timeline.chart) timeline.chart.destroy();
  container.replaceChildren();
  timeline.chart = newChart(versions, data, container);
  timeline.key = key;
}

window.addEventListener("resize", () => {
  if (timeline.chart) {
    timeline.chart.setSize({ width: $("timeline").clientWidth, height: CHART_HEIGHT });
  }
});

async function refresh() {
  if (!token) return;
  try {
    const [fleet, history, promotions, decisions, drifts] = await Promise.all([
      api("GET", "/api/v1/fleet"),
      api("GET", "/api/v1/history?metric=accuracy&limit=10000&since="
                 + encodeURIComponent(SINCE)),
      api("GET", "/api/v1/promotions?limit=500"),
      api("GET", "/api/v1/decisions?limit=20"),
      api("GET", "/api/v1/drift?limit=10"),
    ]);
    showFleet(fleet);
    showTimeline(history.points.filter(p => p.role !== "blocked_by_pin"), promotions);
    showDecisions(decisions);
    showDrifts(drifts);
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    $("status").className = "muted";
  } catch (err) {
    $("status").textContent = err.message;
    $("status").className = "error";
  }
}

async function act(method, path, body) {
  $("message").className = "";
  $("message").textContent = "…";
  try {
    const result = await api(method, path, body);
    $("message").textContent = "done: scorers now serve v" + result.serving;
    $("message").className = "serving";
    refresh();
  } catch (err) {
    $("message").textContent = err.message;
    $("message").className = "error";
  }
}

$("token-form").addEventListener("submit", e => {
  e.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("arena-token", token);
  $("token").value = "";
  refresh();
});
$("pin-form").addEventListener("submit", e => {
  e.preventDefault();
  const body = { version: Number($("pin-version").value), reason: $("pin-reason").value };
  if ($("pin-until").value.trim()) body.until = $("pin-until").value.trim();
  act("POST", "/api/v1/pins", body);
});
$("unpin-form").addEventListener("submit", e => {
  e.preventDefault();
  act("DELETE", "/api/v1/pins/current?reason=" + encodeURIComponent($("unpin-reason").value
                                                                   || "released"));
});
$("rollback-form").addEventListener("submit", e => {
  e.preventDefault();
  if (!confirm("Roll back the champion?")) return;
  act("POST", "/api/v1/rollback", { reason: $("rollback-reason").value });
});
refresh();
setInterval(refresh, POLL_MS);
