// hio dashboard: polls the master's API with the token kept in sessionStorage
// (or given once as ?token=, then moved there and cut from the address bar).
"use strict";

const KEY = "hio.token";
const POLL_MS = 1000, FAILURES_MS = 5000, SERIES_MAX = 3600;
const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

let token = null, pipeline = null, series = [], since = 0, nowMs = 0;
let lastFailures = 0, timer = null;

function takeToken() {
  const u = new URL(location.href);
  const t = u.searchParams.get("token");
  if (t) {
    sessionStorage.setItem(KEY, t);
    u.searchParams.delete("token");
    history.replaceState(null, "", u.pathname + u.search + u.hash);
  }
  return sessionStorage.getItem(KEY);
}

async function api(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
  if (r.status === 401) throw Object.assign(new Error("wrong token"), { auth: true });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + u[i];
}

function setNum(id, v, text) {
  const e = $(id);
  e.dataset.value = String(v);
  e.textContent = text !== undefined ? text : String(v);
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const c of cells) tr.append(c instanceof Node ? wrapTd(c) : el("td", {}, String(c)));
    return tr;
  }));
}

function wrapTd(node) {
  if (node.tagName === "TD") return node;
  const td = el("td");
  td.append(node);
  return td;
}

// ---- charts: plain SVG ----

function niceMax(v) {
  if (v <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// lines: [{key, color, dash, axis: "l"|"r", area}]
function drawChart(node, data, lines, opts) {
  const W = 960, H = opts.h, L = 44, R = opts.right ? 40 : 10, T = 8, B = 20;
  node.replaceChildren();
  const t1 = nowMs, t0 = Math.min(t1 - 60000, data.length ? data[0].t_ms : t1 - 60000);
  const span = Math.max(1, t1 - t0);
  const x = (t) => L + ((t - t0) / span) * (W - L - R);
  const maxOf = (axis) => niceMax(Math.max(0, ...data.flatMap((s) =>
    lines.filter((l) => l.axis === axis).map((l) => l.value(s)))));
  const ym = { l: maxOf("l"), r: opts.right ? maxOf("r") : 1 };
  const y = (v, axis) => T + (1 - v / ym[axis]) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const yy = T + (i / 4) * (H - T - B);
    node.append(svg("line", { x1: L, x2: W - R, y1: yy, y2: yy, class: "grid" }));
    const lt = svg("text", { x: L - 6, y: yy + 4, "text-anchor": "end", class: "axis" });
    lt.textContent = fmtAxis(ym.l * (1 - i / 4));
    node.append(lt);
    if (opts.right) {
      const rt = svg("text", { x: W - R + 6, y: yy + 4, class: "axis" });
      rt.textContent = fmtAxis(ym.r * (1 - i / 4));
      node.append(rt);
    }
  }
  for (let i = 0; i <= 6; i++) {
    const t = t0 + (i / 6) * span;
    const tt = svg("text", { x: x(t), y: H - 4, "text-anchor": i === 0 ? "start" : i === 6 ? "end" : "middle", class: "axis" });
    tt.textContent = i === 6 ? "now" : "-" + fmtAge(t1 - t);
    node.append(tt);
  }
  for (const l of lines) {
    if (!data.length) continue;
    let d = "";
    data.forEach((s, i) => {
      const px = x(s.t_ms).toFixed(1), py = y(l.value(s), l.axis).toFixed(1);
      // Steps: a count holds until the next sample.
      d += i === 0 ? `M${px},${py}` : `H${px}V${py}`;
    });
    d += `H${x(t1).toFixed(1)}`;
    if (l.area) {
      const base = y(0, l.axis).toFixed(1);
      node.append(svg("path", { d: d + `V${base}H${x(data[0].t_ms).toFixed(1)}Z`, fill: l.color, "fill-opacity": 0.12, stroke: "none" }));
    }
    node.append(svg("path", { d, fill: "none", stroke: l.color, "stroke-width": l.width || 1.6, "stroke-dasharray": l.dash || "none", "data-key": l.key, "data-points": data.length }));
  }
}

function fmtAxis(v) { return v >= 1000 ? (v / 1000).toFixed(v >= 10000 ? 0 : 1) + "k" : String(Math.round(v * 10) / 10); }
function fmtAge(ms) {
  const s = Math.round(ms / 1000);
  return s < 120 ? s + "s" : Math.round(s / 60) + "min";
}

const FIG3 = [
  { key: "queue", label: "queue length (left axis)", color: "#d9480f", axis: "l", area: true, width: 2, value: (s) => s.queue },
  { key: "busy", label: "PEs busy", color: "#1971c2", axis: "r", value: (s) => s.busy },
  { key: "pes", label: "PEs running", color: "#74c0fc", axis: "r", width: 2, value: (s) => s.busy + s.idle + s.starting },
  { key: "starting", label: "PEs starting", color: "#f59f00", axis: "r", value: (s) => s.starting },
  { key: "desired", label: "desired PEs", color: "#495057", axis: "r", dash: "4 3", value: (s) => Math.max(0, s.desired) },
];

function legend() {
  $("legend-fig3").replaceChildren(...FIG3.map((l) => {
    const s = el("span");
    const i = el("i");
    i.style.background = l.color;
    s.append(i, document.createTextNode(l.label + (l.axis === "r" ? " (right)" : "")));
    return s;
  }));
}

// ---- data ----

function renderStatus(st) {
  const pls = st.pipelines || [];
  const sel = $("pipeline");
  const names = pls.map((p) => p.name);
  if (!names.includes("default")) names.unshift("default");
  if ([...sel.options].map((o) => o.value).join() !== names.join()) {
    sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    sel.value = pipeline;
  }
  const p = pls.find((q) => q.name === pipeline) || { queue_length: 0, leased: 0, in: 0, done: 0, failed: 0, desired: -1 };
  const pes = (st.pes || []).filter((e) => e.pipeline === pipeline);
  const count = (s) => pes.filter((e) => e.state === s).length;
  setNum("n-queue", p.queue_length);
  setNum("n-leased", p.leased);
  const pe = $("n-pes");
  pe.dataset.busy = count("busy"); pe.dataset.idle = count("idle"); pe.dataset.starting = count("starting");
  pe.textContent = `${count("busy")} / ${count("idle")} / ${count("starting")}`;
  setNum("n-desired", p.desired, p.desired < 0 ? "manual" : String(p.desired));
  setNum("n-in", p.in);
  setNum("n-done", p.done);
  setNum("n-failed", p.failed);
  const up = (st.workers || []).filter((w) => w.state === "up").length;
  setNum("n-workers", up);
  const bb = (st.counters || {}).backlog_bytes || 0;
  setNum("n-backlog", bb, fmtBytes(bb));

  const mounts = st.mounts || [];
  $("mounts-empty").hidden = mounts.length > 0;
  fillRows($("mounts").tBodies[0], mounts.map((m) => {
    const frac = m.spool_max > 0 ? Math.min(1, m.spool_bytes / m.spool_max) : 0;
    const td = el("td", { class: "nowrap" });
    const bar = el("span", { class: "bar" + (frac > 0.9 ? " full" : "") });
    const fill = el("span");
    fill.style.width = (frac * 100).toFixed(1) + "%";
    bar.append(fill);
    td.append(bar, document.createTextNode(fmtBytes(m.spool_bytes) + (m.spool_max > 0 ? " of " + fmtBytes(m.spool_max) : "")));
    const mp = el("td", { title: m.id }, m.mountpoint + " (" + m.pipeline + ")");
    const sp = el("td", { "data-spooled": m.spooled }, String(m.spooled));
    const fl = el("td", { title: m.last_error || "" }, m.failing ? m.failing + (m.last_error ? ": " + m.last_error : "") : "0");
    return [mp, m.host, sp, td, fl];
  }));
  fillRows($("pes").tBodies[0], pes.filter((e) => e.state !== "gone").map((e) => [e.id.slice(0, 12), e.host + ":" + e.port,
    el("span", { class: "pill " + e.state }, e.state), e.done, e.failed]));
}

function renderSeries() {
  drawChart($("fig3"), series, FIG3, { h: 260, right: true });
  drawChart($("rate"), series, [{ key: "throughput", color: "#2b8a3e", axis: "l", area: true, width: 2, value: (s) => s.throughput }], { h: 140 });
  const last = series.slice(-5);
  const rate = last.length ? last.reduce((a, s) => a + s.throughput, 0) / last.length : 0;
  setNum("n-rate", rate.toFixed(1));
}

function renderFailures(f) {
  const rows = f.failures || [];
  $("failures-empty").hidden = rows.length > 0;
  fillRows($("failures").tBodies[0], rows.map((r) => [
    new Date(r.ts / 1000).toLocaleTimeString(), r.name,
    el("td", { class: "reason" }, r.error || "(no reason given)")]));
}

async function poll() {
  try {
    const pl = encodeURIComponent(pipeline);
    const [st, se] = await Promise.all([api("/v1/status"), api(`/v1/pipelines/${pl}/series?since=${since}`)]);
    nowMs = se.now_ms || nowMs;
    for (const s of se.samples || []) if (s.t_ms > since) series.push(s);
    if (series.length > SERIES_MAX) series = series.slice(-SERIES_MAX);
    if (series.length) since = series[series.length - 1].t_ms;
    renderStatus(st);
    renderSeries();
    if (Date.now() - lastFailures >= FAILURES_MS) {
      lastFailures = Date.now();
      renderFailures(await api(`/v1/pipelines/${pl}/failures?limit=20`));
    }
    $("state").textContent = "live · " + (st.workers || []).length + " worker(s)";
    $("state").className = "state";
    $("updated").textContent = new Date().toLocaleTimeString();
    document.body.dataset.ready = "1";
  } catch (e) {
    if (e.auth) return signOut("The master refused this token.");
    $("state").textContent = "master unreachable: " + e.message;
    $("state").className = "state bad";
  }
}

function start() {
  $("login").hidden = true;
  $("dash").hidden = false;
  $("logout").hidden = false;
  poll();
  timer = setInterval(poll, POLL_MS);
}

function signOut(why) {
  clearInterval(timer);
  sessionStorage.removeItem(KEY);
  token = null;
  $("dash").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why || "";
  $("state").textContent = "signed out";
}

document.addEventListener("DOMContentLoaded", () => {
  pipeline = new URL(location.href).searchParams.get("pipeline") || "default";
  legend();
  $("pipeline").addEventListener("change", (ev) => {
    pipeline = ev.target.value;
    series = []; since = 0; lastFailures = 0;
    poll();
  });
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem(KEY, token);
    start();
  });
  $("logout").addEventListener("click", () => signOut(""));
  token = takeToken();
  if (token) start(); else signOut("");
});
