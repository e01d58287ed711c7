// The dashboard's pages: read the path, poll the matching /api endpoint, draw with the DOM.
// Text from the service only ever goes in as text nodes; the one exception is the timeline
// SVG, which the server builds with every value escaped.
"use strict";

const REFRESH_MS = 2000;
const TAIL_MS = 1000;
const main = document.getElementById("main");
const statusLine = document.getElementById("status");

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const enc = encodeURIComponent;
const state = (s) => h("span", { class: `state s-${s || "unknown"}` }, s || "-");
const secs = (v) => (v === null || v === undefined ? "-" : `${Number(v).toFixed(2)} s`);
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "-");
const link = (href, text, title) => h("a", { href, title }, text);
// Node ids run to 80 characters on Azure and on the engine: show the head, keep the rest as a tooltip.
const short = (id) => (id && id.length > 24 ? `${id.slice(0, 22)}…` : id);
const nodeLink = (pool, id) => link(`/pools/${enc(pool)}/nodes/${enc(id)}`, short(id), id);
const num = (v) => h("td", { class: "num" }, v === null || v === undefined ? "-" : v);

async function api(path) {
  const response = await fetch(`/api${path}`, { cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function table(headers, rows, attrs) {
  return h("table", attrs || {}, h("tr", {}, headers.map((x) => h("th", {}, x))), rows);
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.flatMap((p, i) => (i ? [h("span", {}, "/"), p] : [p])));
}

// Redraw `box` from `path` (or what path() says now) every REFRESH_MS; a failed poll keeps
// the last view and says why.
function poll(path, box, draw, every = REFRESH_MS) {
  async function once() {
    try {
      const data = await api(typeof path === "function" ? path() : path);
      box.replaceChildren(...[draw(data)].flat().filter((x) => x !== null && x !== undefined));
      statusLine.textContent = `updated ${new Date().toLocaleTimeString()}`;
      statusLine.className = "";
    } catch (err) {
      statusLine.textContent = `error: ${err.message}`;
      statusLine.className = "error";
      if (!box.childElementCount) box.replaceChildren(h("p", { class: "error-box" }, err.message));
    }
    setTimeout(once, every);
  }
  once();
}

function nodeGrid(pool, nodes) {
  return h("div", { class: "grid" }, nodes.map((n) => h("a", {
    class: `node s-${n.state}`, title: `${n.id}: ${n.state}`, "data-state": n.state,
    href: `/pools/${enc(pool)}/nodes/${enc(n.id)}` })));
}

function counts(map) {
  return h("div", { class: "counts" },
    Object.entries(map).map(([s, n]) => h("span", { class: `state s-${s}` }, `${s} ${n}`)));
}

function jobsTable(jobs) {
  return table(["job", "state", "pool", "active", "running", "completed", "succeeded", "failed"],
    jobs.map((j) => h("tr", { class: "job" }, h("td", {}, link(`/jobs/${enc(j.id)}`, j.id)),
      h("td", {}, state(j.state)), h("td", {}, j.pool ? link(`/pools/${enc(j.pool)}`, j.pool) : "-"),
      ["active", "running", "completed", "succeeded", "failed"].map((k) => num(j.counts[k])))));
}

function overviewPage() {
  crumbs();
  const box = h("div");
  main.replaceChildren(box);
  poll("/overview", box, (d) => [
    h("h2", {}, `Pools (${d.pools.length})`),
    d.pools.length ? h("div", { class: "cards" }, d.pools.map((p) => h("div", { class: "card pool" },
      h("div", {}, link(`/pools/${enc(p.id)}`, p.id), " ", state(p.state), " ",
        h("span", { class: "muted" }, `${p.current}/${p.target} nodes, ${p.vm_size || ""}`)),
      nodeGrid(p.id, p.nodes), counts(p.counts)))) : h("p", { class: "muted" }, "no pools"),
    h("h2", {}, `Jobs (${d.jobs.length}${d.more_jobs ? "+" : ""})`),
    d.jobs.length ? jobsTable(d.jobs) : h("p", { class: "muted" }, "no jobs"),
    d.more_jobs ? h("p", { class: "muted" }, `only the first ${d.jobs.length} jobs are shown`) : null,
  ]);
}

function durations(title, d) {
  if (!d.count) return null;  // nothing measured yet (no start task, no task ran)
  return h("div", { class: "card" }, h("b", {}, title), h("div", { class: "muted" },
    `${d.count} · mean ${secs(d.mean)} · median ${secs(d.median)} · ` +
    `shortest ${secs(d.shortest)} · longest ${secs(d.longest)}`));
}

function poolPage(pool) {
  crumbs(link(`/pools/${enc(pool)}`, `pool ${pool}`));
  const box = h("div");
  main.replaceChildren(box);
  poll(`/pools/${enc(pool)}`, box, (p) => [
    h("h1", {}, `pool ${p.id} `, state(p.state), " ", state(p.allocation_state)),
    h("div", { class: "card" }, h("div", { class: "muted" },
      `${p.current}/${p.target} dedicated nodes · ${p.vm_size || ""} · ` +
      `${p.stats.running_tasks} running tasks · ${p.stats.tasks_run} tasks run`),
      nodeGrid(p.id, p.nodes), counts(p.counts)),
    durations("start task", p.stats.start_task_seconds),
    table(["node", "state", "IP", "running tasks", "tasks run", "start task", "errors"],
      p.nodes.map((n) => h("tr", { class: "node-row", "data-node": n.id },
        h("td", {}, nodeLink(p.id, n.id)), h("td", {}, state(n.state)),
        h("td", {}, n.ip || "-"), num(n.running_tasks), num(n.tasks_run),
        h("td", {}, n.start_task ? [state(n.start_task.result || n.start_task.state),
          ` exit ${n.start_task.exit_code ?? "-"}, ${secs(n.start_task.seconds)}`] : "-"),
        h("td", {}, n.errors.join("; ") || "")))),
  ]);
}

// The live tail: polls `source(offset)` and appends what the file gained since.
function tailBox() {
  const pre = h("pre", { id: "tail" });
  const label = h("div", { class: "muted" });
  let current = null;
  let timer = null;
  async function step(token) {
    if (token !== current) return;
    try {
      const chunk = await api(token.path + (token.offset === null ? "" : `&offset=${token.offset}`));
      if (token !== current) return;
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      if (token.offset === null && chunk.skipped) pre.append(`[… ${chunk.skipped} bytes before]\n`);
      if (chunk.text) pre.append(chunk.text);
      if (atEnd) pre.scrollTop = pre.scrollHeight;
      token.offset = chunk.offset;
      label.textContent = `${token.title} · ${chunk.size} bytes`;
    } catch (err) {
      label.textContent = `${token.title} · ${err.message}`;
    }
    timer = setTimeout(() => step(token), TAIL_MS);
  }
  function follow(path, title) {
    clearTimeout(timer);
    pre.replaceChildren();
    current = { path, title, offset: null };
    step(current);
  }
  return { el: h("div", {}, label, pre), follow };
}

function filesTable(list, onPick) {
  return table(["file", "bytes"], list.map((f) => h("tr", { onclick: () => onPick(f.name) },
    h("td", {}, f.name), num(f.size))), { class: "files" });
}

function nodePage(pool, node) {
  crumbs(link(`/pools/${enc(pool)}`, `pool ${pool}`), link(location.pathname, `node ${short(node)}`, node));
  const info = h("div");
  const filesBox = h("div", { class: "files" });
  const tail = tailBox();
  const base = `/pools/${enc(pool)}/nodes/${enc(node)}`;
  main.replaceChildren(info, h("h2", {}, "Files"), h("div", { class: "cols" }, filesBox, tail.el));
  poll(base, info, (n) => [
    h("h1", { title: n.id }, `node ${short(n.id)} `, state(n.state)),
    h("dl", { class: "kv card" }, h("dt", {}, "IP"), h("dd", {}, n.ip || "-"),
      h("dt", {}, "running tasks"), h("dd", {}, n.running_tasks),
      h("dt", {}, "start task"), h("dd", {}, n.start_task
        ? `${n.start_task.result || n.start_task.state}, exit ${n.start_task.exit_code ?? "-"}` : "-"),
      h("dt", {}, "errors"), h("dd", {}, n.errors.join("; ") || "none")),
    n.recent.length ? table(["job", "task", "subtask", "state"], n.recent.map((t) => h("tr", {},
      h("td", {}, t.job), h("td", {}, link(`/jobs/${enc(t.job)}/tasks/${enc(t.task)}`, t.task)),
      num(t.subtask), h("td", {}, state(t.state))))) : null,
  ]);
  const follow = (name) => tail.follow(`${base}/tail?path=${enc(name)}`, name);
  let following = false;
  poll(`${base}/files`, filesBox, (list) => {
    // Start with the start task's output, else a task's stdout with something in it.
    const first = list.find((f) => f.name === "startup/stdout.txt")
      || list.find((f) => f.name.endsWith("/stdout.txt") && f.size) || list[0];
    if (!following && first) { following = true; follow(first.name); }
    return filesTable(list, follow);
  }, 5000);
}

function jobPage(job) {
  crumbs(link(`/jobs/${enc(job)}`, `job ${job}`));
  const box = h("div");
  main.replaceChildren(box);
  poll(`/jobs/${enc(job)}`, box, (j) => [
    h("h1", {}, `job ${j.id} `, state(j.state), " ",
      h("span", { class: "muted" }, "on pool "), j.pool ? link(`/pools/${enc(j.pool)}`, j.pool) : "-"),
    counts(j.stats.states),
    h("div", { class: "cards" }, durations("run", j.stats.run_seconds),
      durations("wait for a node", j.stats.wait_seconds)),
    table(["task", "state", "exit", "retries", "instances", "node", "wait", "run", "failure"],
      j.tasks.map((t) => [h("tr", { class: "task" },
        h("td", {}, link(`/jobs/${enc(job)}/tasks/${enc(t.id)}`, t.id)),
        h("td", {}, state(t.state), " ", t.result ? state(t.result) : null), num(t.exit_code),
        num(t.retries), num(t.instances), h("td", {}, t.node && t.pool ? nodeLink(t.pool, t.node) : "-"), num(secs(t.wait_seconds)),
        num(secs(t.run_seconds)), h("td", {}, t.failure || "")),
      ...(t.subtasks || []).map((s) => h("tr", { class: "subtask muted" },
        h("td", {}, `  └ subtask ${s.instance}`), h("td", {}, state(s.state)), num(s.exit_code),
        h("td", {}), h("td", {}), h("td", {}, s.node && s.pool ? nodeLink(s.pool, s.node) : "-"),
        h("td", {}), h("td", {}), h("td", {})))])),
  ]);
}

function taskPage(job, task) {
  crumbs(link(`/jobs/${enc(job)}`, `job ${job}`), link(location.pathname, `task ${task}`));
  const base = `/jobs/${enc(job)}/tasks/${enc(task)}`;
  const info = h("div");
  const timeline = h("div", { class: "timeline-box", id: "timeline" });
  const picker = h("div", { class: "picker" });
  const filesBox = h("div", { class: "files" });
  const tail = tailBox();
  const pick = { instance: 0, name: "stdout.txt", count: 0 };
  main.replaceChildren(info, h("h2", {}, "Timeline"), timeline, h("h2", {}, "Files"), picker,
    h("div", { class: "cols" }, filesBox, tail.el));
  const follow = () => tail.follow(`${base}/tail?instance=${pick.instance}&name=${enc(pick.name)}`,
    `instance ${pick.instance}: ${pick.name}`);
  const drawPicker = () => picker.replaceChildren(h("span", { class: "muted" }, "instance"),
    ...[...Array(pick.count).keys()].map((i) => h("button", { class: i === pick.instance ? "on" : null,
      onclick: () => { pick.instance = i; drawPicker(); follow(); } }, i === 0 ? "0 (primary)" : i)));
  poll(base, info, (t) => {
    if (t.instance_list.length !== pick.count) { pick.count = t.instance_list.length; drawPicker(); }
    return [
      h("h1", {}, `task ${t.id} `, state(t.state), " ", t.result ? state(t.result) : null),
      h("dl", { class: "kv card" }, h("dt", {}, "command"), h("dd", {}, h("code", {}, t.command)),
        h("dt", {}, "exit code"), h("dd", {}, t.exit_code ?? "-"), h("dt", {}, "retries"),
        h("dd", {}, t.retries), h("dt", {}, "waited / ran"),
        h("dd", {}, `${secs(t.wait_seconds)} / ${secs(t.run_seconds)}`),
        t.failure ? [h("dt", {}, "failure"), h("dd", {}, t.failure)] : null),
      table(["instance", "node", "state", "exit", "start", "end"], t.instance_list.map((i) =>
        h("tr", { class: "instance", "data-node": i.node || "" }, num(i.instance === 0 ? "0 (primary)" : i.instance),
          h("td", {}, i.node && i.pool ? nodeLink(i.pool, i.node) : "-"),
          h("td", {}, state(i.state)), num(i.exit_code), h("td", {}, time(i.start)),
          h("td", {}, time(i.end))))),
    ];
  });
  poll(`${base}/timeline`, timeline, (d) => {
    const holder = h("div");
    holder.innerHTML = d.svg;  // built server-side, every value escaped (render.svg)
    const late = d.late ? h("p", { class: "muted", title: d.late }, `last node ready: ${short(d.late)}`) : null;
    return [late, ...d.notes.map((n) => h("p", { class: "muted" }, n)), holder];
  }, 3000);
  poll(() => `${base}/files?instance=${pick.instance}`, filesBox, (list) => filesTable(list, (name) => {
    pick.name = name; follow();
  }), 3000);
  follow();
}

function route() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "pools" && parts.length === 2) return poolPage(parts[1]);
  if (parts[0] === "pools" && parts[2] === "nodes" && parts.length === 4) return nodePage(parts[1], parts[3]);
  if (parts[0] === "jobs" && parts.length === 2) return jobPage(parts[1]);
  if (parts[0] === "jobs" && parts[2] === "tasks" && parts.length === 4) return taskPage(parts[1], parts[3]);
  return overviewPage();
}

route();
