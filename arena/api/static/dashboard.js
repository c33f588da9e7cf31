// The dashboard (arena/api/dashboard.html): polls the API every 2 s with the token kept in
// the tab's session storage. Loaded from this server only (the page's CSP allows nothing else).
"use strict";
const POLL_MS = 2000;
const SINCE = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
const COLORS = ["#3b6fd8", "#d8793b", "#2f9e66", "#a63bd8", "#d83b6f", "#3bb5d8", "#8a8f2a"];
const MARKS = { promote: "#16794c", rollback: "#b3261e", pin: "#9a6700", unpin: "#5b6270" };
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

function svg(tag, attrs, parent) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

function showTimeline(points, promotions) {
  const chart = $("timeline");
  chart.replaceChildren();
  const width = chart.clientWidth || 800, height = chart.clientHeight || 320;
  const left = 44, right = 70, top = 36, bottom = 24;
  const marks = promotions.map(p => ({ ...p, t: Date.parse(p.created_at) }))
                          .filter(p => p.t >= Date.parse(SINCE));
  const times = points.map(p => Date.parse(p.computed_at)).concat(marks.map(m => m.t));
  if (!times.length) {
    svg("text", { x: left, y: height / 2, fill: "#777" }, chart).textContent =
      "no score history yet";
    return;
  }
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  const x = t => left + (t - t0) / (t1 - t0) * (width - left - right);
  const y = v => top + (1 - v) * (height - top - bottom);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), stroke: "#e6e8ec" }, chart);
    svg("text", { x: 4, y: y(v) + 4, fill: "#777", "font-size": 11 }, chart).textContent =
      v.toFixed(2);
  }
  for (const t of [t0, (t0 + t1) / 2, t1]) {
    svg("text", { x: x(t), y: height - 6, fill: "#777", "font-size": 11,
                  "text-anchor": "middle" }, chart).textContent =
      new Date(t).toLocaleTimeString();
  }
  const byVersion = new Map();
  for (const p of points) {
    if (!byVersion.has(p.version_id)) byVersion.set(p.version_id, []);
    byVersion.get(p.version_id).push(p);
  }
  let i = 0;
  for (const [version, series] of [...byVersion].sort((a, b) => a[0] - b[0])) {
    const color = COLORS[i++ % COLORS.length];
    const group = svg("g", { class: "series", "data-version": version }, chart);
    const coords = series.map(p => [x(Date.parse(p.computed_at)), y(p.value)]);
    svg("polyline", { points: coords.map(c => c.join(",")).join(" "), fill: "none",
                      stroke: color, "stroke-width": 2 }, group);
    for (const [cx, cy] of coords) svg("circle", { cx, cy, r: 2.5, fill: color }, group);
    const [lx, ly] = coords[coords.length - 1];
    svg("text", { x: lx + 6, y: ly + 4, fill: color, "font-size": 12,
                  "font-weight": 600 }, group).textContent = "v" + version;
  }
  for (const [k, m] of marks.entries()) {
    const color = MARKS[m.kind] || "#555";
    const group = svg("g", { class: "marker", "data-kind": m.kind,
                             "data-version": text(m.to_version) }, chart);
    svg("line", { x1: x(m.t), x2: x(m.t), y1: top, y2: height - bottom, stroke: color,
                  "stroke-dasharray": "4 3" }, group);
    const label = svg("text", { x: x(m.t) + 3, y: 12 + (k % 2) * 13, fill: color,
                                "font-size": 11 }, group);  // alternate rows: less overlap
    label.textContent = m.kind + (m.to_version ? " v" + m.to_version : "");
    svg("title", {}, group).textContent = m.kind + " by " + m.actor + ": " + m.reason;
  }
}

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
