// The Runnel dashboard: reads the JobManager's REST API once a second and draws the cluster,
// its jobs (graph with per-vertex rates and backpressure, checkpoints, exceptions) and its
// TaskManagers. No framework, no build step: this file is served as it is.
"use strict";

const view = document.getElementById("view");
const RATES = "busyTimeMsPerSecond,backPressuredTimeMsPerSecond,numRecordsInPerSecond,numRecordsOutPerSecond";

async function api(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function duration(ms) {
  if (ms < 0) return "–";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor(s / 60) % 60}m`;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function rate(n) {
  if (n === undefined) return "–";
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k/s`;
  return `${n.toFixed(0)}/s`;
}

function state(s) {
  return `<span class="state ${esc(s)}">${esc(s)}</span>`;
}

async function overviewPage() {
  const [overview, jobs] = await Promise.all([api("/overview"), api("/jobs/overview")]);
  const rows = jobs.jobs.map(j => `
    <tr class="job-row" data-job="${esc(j.jid)}">
      <td><a href="#/jobs/${esc(j.jid)}">${esc(j.name)}</a></td>
      <td>${state(j.state)}</td>
      <td>${new Date(j["start-time"]).toLocaleString()}</td>
      <td>${duration(j.duration)}</td>
      <td>${j.tasks.total}</td>
    </tr>`).join("");
  return `
    <section id="cluster-overview"><h2>Cluster</h2><div class="cards">
      <div class="card">TaskManagers<b>${overview.taskmanagers}</b></div>
      <div class="card">Slots<b>${overview["slots-available"]} / ${overview["slots-total"]}</b></div>
      <div class="card">Running jobs<b>${overview["jobs-running"]}</b></div>
      <div class="card">Finished<b>${overview["jobs-finished"]}</b></div>
      <div class="card">Failed<b>${overview["jobs-failed"]}</b></div>
    </div></section>
    <section id="jobs"><h2>Jobs</h2>
      <table><tr><th>Name</th><th>State</th><th>Started</th><th>Duration</th><th>Tasks</th></tr>${rows}</table>
      ${jobs.jobs.length ? "" : '<p class="muted">No jobs yet.</p>'}
    </section>`;
}

// Columns by longest path from a source, rows in order within a column.
function layout(nodes) {
  const depth = {};
  const byId = Object.fromEntries(nodes.map(n => [n.id, n]));
  const visit = id => {
    if (depth[id] !== undefined) return depth[id];
    depth[id] = 0;
    const inputs = byId[id].inputs || [];
    depth[id] = inputs.length ? 1 + Math.max(...inputs.map(i => visit(i.id))) : 0;
    return depth[id];
  };
  nodes.forEach(n => visit(n.id));
  const columns = [];
  nodes.forEach(n => (columns[depth[n.id]] = columns[depth[n.id]] || []).push(n.id));
  const pos = {};
  columns.forEach((col, c) => col.forEach((id, r) => (pos[id] = { x: 20 + c * 290, y: 20 + r * 110 })));
  const rows = Math.max(...columns.map(c => c.length));
  return { pos, width: 20 + columns.length * 290, height: 20 + rows * 110 };
}

function graph(plan, metrics) {
  const { pos, width, height } = layout(plan.nodes);
  const W = 240, H = 84;
  const edges = plan.nodes.flatMap(n => (n.inputs || []).map(i => {
    const a = pos[i.id], b = pos[n.id];
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 6, y2 = b.y + H / 2;
    return `<path class="edge" d="M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}"/>
      <text x="${(x1 + x2) / 2 - 20}" y="${(y1 + y2) / 2 - 6}" font-size="10" fill="#5a6478">${esc(i.ship_strategy)}</text>`;
  })).join("");
  const boxes = plan.nodes.map(n => {
    const m = metrics[n.id] || {};
    // Percent of each second, the larger of its subtasks: shown, and colored as Flink colors
    // vertices: backpressured (half the time or more) red, busy orange, else blue.
    const pct = m => m === undefined ? undefined : Math.round(m.max / 10);
    const busy = pct(m.busyTimeMsPerSecond), back = pct(m.backPressuredTimeMsPerSecond);
    const fill = back >= 50 ? "#b5302f" : busy >= 50 ? "#d9822b" : "#2f6fb5";
    const show = p => p === undefined ? "–" : `${p}%`;
    const { x, y } = pos[n.id];
    return `<g class="vertex" data-vertex="${esc(n.id)}" transform="translate(${x},${y})">
      <title>${esc(n.description)}</title>
      <rect width="${W}" height="${H}" fill="${fill}"/>
      <text x="10" y="18" font-weight="600">${esc(n.description.length > 30 ? n.description.slice(0, 29) + "…" : n.description)}</text>
      <text x="10" y="36">parallelism ${n.parallelism}</text>
      <text x="10" y="54">in ${rate(m.numRecordsInPerSecond && m.numRecordsInPerSecond.sum)} · out ${rate(m.numRecordsOutPerSecond && m.numRecordsOutPerSecond.sum)}</text>
      <text x="10" y="72">busy ${show(busy)} · backpressured ${show(back)}</text>
    </g>`;
  }).join("");
  return `<svg viewBox="0 0 ${width} ${height}" height="${height}">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
      <path d="M0,0 L10,5 L0,10 z" fill="#8a94a8"/></marker></defs>${edges}${boxes}</svg>`;
}

async function jobPage(id) {
  const [job, checkpoints, exceptions] = await Promise.all([
    api(`/jobs/${id}`), api(`/jobs/${id}/checkpoints`), api(`/jobs/${id}/exceptions`),
  ]);
  const metrics = {};
  if (job.state === "RUNNING") {
    await Promise.all(job.vertices.map(async v => {
      const list = await api(`/jobs/${id}/vertices/${v.id}/subtasks/metrics?get=${RATES}&agg=max,sum`);
      metrics[v.id] = Object.fromEntries(list.map(m => [m.id, m]));
    }));
  }
  const counts = checkpoints.counts;
  const history = (checkpoints.history || []).slice(0, 10).map(c => `
    <tr class="checkpoint-row"><td>${c.id}</td><td>${state(c.status)}</td><td>${c.is_savepoint ? "savepoint" : "checkpoint"}</td>
    <td>${new Date(c.trigger_timestamp).toLocaleTimeString()}</td><td>${c.end_to_end_duration ?? "–"} ms</td>
    <td>${bytes(c.state_size || 0)}</td><td>${bytes(c.checkpointed_size || 0)}</td></tr>`).join("");
  const errors = exceptions.exceptionHistory.entries.map(e => `
    <tr class="exception-row"><td>${new Date(e.timestamp).toLocaleString()}</td><td class="error">${esc(e.stacktrace)}</td></tr>`).join("");
  return `
    <section id="job-header"><h2>${esc(job.name)} ${state(job.state)}</h2>
      <div class="cards">
        <div class="card">Job id<b style="font-size:13px">${esc(job.jid)}</b></div>
        <div class="card">Duration<b>${duration(job.duration)}</b></div>
        <div class="card">Tasks running<b>${job["status-counts"].RUNNING}</b></div>
      </div></section>
    <section id="job-graph"><h2>Job graph</h2>${graph(job.plan, metrics)}</section>
    <section id="checkpoints"><h2>Checkpoints</h2>
      <div class="cards">
        <div class="card">Completed<b id="checkpoints-completed">${counts.completed}</b></div>
        <div class="card">In progress<b>${counts.in_progress}</b></div>
        <div class="card">Failed<b>${counts.failed}</b></div>
        <div class="card">Restored<b>${counts.restored}</b></div>
      </div>
      <table><tr><th>Id</th><th>Status</th><th>Kind</th><th>Triggered</th><th>Duration</th><th>State</th><th>Written</th></tr>${history}</table>
    </section>
    <section id="exceptions"><h2>Exceptions</h2>
      ${errors ? `<table>${errors}</table>` : '<p class="muted">None.</p>'}</section>`;
}

async function taskManagersPage() {
  const tms = await api("/taskmanagers");
  const rows = tms.taskmanagers.map(t => `
    <tr class="tm-row"><td>${esc(t.id)}</td><td>${esc(t.path)}</td><td>${t.freeSlots} / ${t.slotsNumber}</td>
    <td>${t.hardware.cpuCores}</td><td>${bytes(t.hardware.physicalMemory)}</td>
    <td>${duration(Date.now() - t.timeSinceLastHeartbeat)} ago</td></tr>`).join("");
  return `<section id="taskmanagers"><h2>TaskManagers</h2>
    <table><tr><th>Id</th><th>Data address</th><th>Free slots</th><th>Cores</th><th>Memory</th><th>Heartbeat</th></tr>${rows}</table>
    ${tms.taskmanagers.length ? "" : '<p class="muted">None registered.</p>'}</section>`;
}

async function render() {
  const route = location.hash.replace(/^#/, "") || "/";
  const job = route.match(/^\/jobs\/([0-9a-f]{32})$/);
  try {
    view.innerHTML = job ? await jobPage(job[1])
      : route === "/taskmanagers" ? await taskManagersPage()
      : await overviewPage();
    document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    view.innerHTML = `<section><p class="error">${esc(e.message)}</p></section>`;
  }
}

window.addEventListener("hashchange", render);
render();
setInterval(render, 1000);
