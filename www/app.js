// Switchyard dashboard. No framework, no build step. Every string from the server is put on
// the page with textContent (never innerHTML), so a model name cannot inject markup.
"use strict";

const KEY = "switchyard.masterKey";
const REFRESH_MS = 3000;
const HISTORY = 40; // samples kept for the charts (2 minutes at 3 s)

const $ = (id) => document.getElementById(id);
const history = new Map(); // deployment id -> [{requests, failures}]
let health = new Map(); // deployment id -> {ok, error}
let timer = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}`, "content-type": "application/json", ...(options.headers || {}) },
  });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { message: text } };
  }
  if (!res.ok) throw Object.assign(new Error(body?.error?.message || `HTTP ${res.status}`), { status: res.status });
  return body;
}

function fmt(n, digits = 0) {
  return n == null || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function spark(values, cls) {
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${HISTORY} 30`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1, ...values);
  const line = document.createElementNS(svgNS, "polyline");
  if (cls) line.setAttribute("class", cls);
  line.setAttribute("points", values.map((v, i) => `${i + HISTORY - values.length},${29 - (v / max) * 27}`).join(" "));
  svg.append(line);
  return svg;
}

/** Per refresh: the change in each counter since the last one, for the charts. */
function record(d) {
  const h = history.get(d.id) || [];
  h.push({ requests: d.requests, failures: d.failures });
  while (h.length > HISTORY + 1) h.shift();
  history.set(d.id, h);
  const deltas = (k) => h.slice(1).map((s, i) => Math.max(0, s[k] - h[i][k]));
  return { requests: deltas("requests"), failures: deltas("failures") };
}

function badge(d) {
  if (d.cooldown_remaining_s > 0) return el("span", { class: "badge cool", text: `cooling ${fmt(d.cooldown_remaining_s, 0)} s` });
  const h = health.get(d.id);
  if (!h) return el("span", { class: "badge unknown", text: "not checked" });
  return h.ok ? el("span", { class: "badge ok", text: "healthy" }) : el("span", { class: "badge bad", text: "unhealthy", title: h.error || "" });
}

function deploymentCard(d, info) {
  const series = record(d);
  const errorRate = d.requests ? (100 * d.failures) / d.requests : 0;
  const limit = (used, lim) => (lim ? `${fmt(used)} / ${fmt(lim)}` : fmt(used));
  const stats = el(
    "dl",
    {},
    el("dt", { text: "in flight" }), el("dd", { text: fmt(d.in_flight) }),
    el("dt", { text: "rpm" }), el("dd", { text: limit(d.rpm_used, d.rpm_limit) }),
    el("dt", { text: "tpm" }), el("dd", { text: limit(d.tpm_used, d.tpm_limit) }),
    el("dt", { text: "latency p50 / p95" }), el("dd", { text: `${fmt(d.latency_p50_ms, 1)} / ${fmt(d.latency_p95_ms, 1)} ms` }),
    el("dt", { text: "requests" }), el("dd", { text: fmt(d.requests) }),
    el("dt", { text: "error rate" }), el("dd", { text: `${fmt(errorRate, 1)} %` }),
    el("dt", { text: "tokens" }), el("dd", { text: fmt(d.prompt_tokens + d.completion_tokens) }),
    el("dt", { text: "cost" }), el("dd", { text: `$${fmt(d.cost, 4)}` }),
  );
  const edit = el("button", { text: "Edit", "data-id": d.id });
  edit.addEventListener("click", () => startEdit(d, info));
  const del = el("button", { text: "Delete", "data-id": d.id });
  del.addEventListener("click", async () => {
    if (!confirm(`Delete deployment ${d.id}?`)) return;
    try {
      await api("/model/delete", { method: "POST", body: JSON.stringify({ id: d.id }) });
      refresh();
    } catch (e) {
      $("form-error").textContent = e.message;
    }
  });
  const card = el(
    "div",
    { class: "dep", "data-deployment": d.id },
    el("div", {}, el("span", { class: "name", text: d.model }), badge(d)),
    el("div", { class: "muted", text: `id ${d.id}` }),
    el("div", { class: "muted origin", "data-origin": info?.origin || "config", text: `from ${info?.origin || "config"}` }),
    stats,
    spark(series.requests),
    spark(series.failures, "err"),
    el("div", { class: "actions" }, edit, del),
  );
  return card;
}

function startEdit(d, info) {
  $("edit-id").value = d.id;
  $("f-group").value = d.model_name;
  $("f-model").value = info?.litellm_params?.model || d.model;
  $("f-base").value = info?.litellm_params?.api_base || "";
  $("f-key").value = "";
  $("f-weight").value = info?.litellm_params?.weight ?? "";
  $("form-title").textContent = `Edit ${d.id}`;
  $("f-submit").textContent = "Save";
  $("f-cancel").hidden = false;
}

function endEdit() {
  $("add").reset();
  $("edit-id").value = "";
  $("form-title").textContent = "Add a deployment";
  $("f-submit").textContent = "Add";
  $("f-cancel").hidden = true;
}

/** How the group's requests were served in this isolate: retries, fallbacks, hedges. */
function groupTally(t) {
  const n = (v) => fmt(v ?? 0);
  return el("div", {
    class: "muted tally",
    "data-tally": "",
    text: `retries ${n(t?.retries)} · fallbacks ${n(t?.fallbacks)} · hedged ${n(t?.hedges)} (hedge won ${n(t?.hedge_wins)}) · streams continued ${n(t?.continued)}`,
  });
}

async function refresh() {
  try {
    const [usage, info] = await Promise.all([api("/usage"), api("/v1/model/info")]);
    const byId = new Map(info.data.map((m) => [m.model_info.id, m]));
    const groups = new Map();
    for (const d of usage.deployments) {
      if (!groups.has(d.model_name)) groups.set(d.model_name, []);
      groups.get(d.model_name).push(d);
    }
    // Deployments the config could not use (the others serve): named, with the reason.
    const leftOut = info.left_out || [];
    $("left-out").hidden = leftOut.length === 0;
    $("left-out").replaceChildren(
      el("h3", { text: `Left out of the config (${leftOut.length})` }),
      ...leftOut.map((l) => el("p", { class: "error", text: `${l.model_name || "(no model_name)"}: ${l.reason}` })),
    );
    const root = $("groups");
    root.replaceChildren(
      ...[...groups].map(([name, deps]) =>
        el("div", { class: "card group" }, el("h3", { text: name }), groupTally(usage.groups?.[name]), el("div", { class: "deployments" }, ...deps.map((d) => deploymentCard(d, byId.get(d.id))))),
      ),
    );
    $("totals").textContent = `${fmt(usage.total_requests)} requests · ${fmt(usage.total_failures)} failures · ${fmt(usage.total_tokens)} tokens · $${fmt(usage.total_cost, 4)}`;
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    if (e.status === 401 || e.status === 403) return signOut(e.message);
    $("status").textContent = `refresh failed: ${e.message}`;
  }
}

function signedIn() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  $("app").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("key").value);
  $("key").value = "";
  try {
    await api("/usage");
    signedIn();
  } catch (e) {
    signOut(e.status === 401 || e.status === 403 ? "That is not the master key." : e.message);
  }
});

$("signout").addEventListener("click", () => signOut());

$("health").addEventListener("click", async () => {
  $("health").disabled = true;
  try {
    const r = await api("/health");
    health = new Map();
    for (const e of r.healthy_endpoints) health.set(e.model_id, { ok: true });
    for (const e of r.unhealthy_endpoints) health.set(e.model_id, { ok: false, error: e.error });
    refresh();
  } catch (e) {
    $("status").textContent = `health check failed: ${e.message}`;
  } finally {
    $("health").disabled = false;
  }
});

$("reset").addEventListener("click", async () => {
  await api("/cost/reset", { method: "POST", body: "{}" });
  refresh();
});

$("drop-runtime").addEventListener("click", async () => {
  if (!confirm("Drop every runtime change (deployments added, edited or deleted here)? The config's model list will be in force again.")) return;
  try {
    await api("/model/reset", { method: "POST", body: "{}" });
    refresh();
  } catch (e) {
    $("status").textContent = `could not drop runtime changes: ${e.message}`;
  }
});

$("f-cancel").addEventListener("click", endEdit);

$("add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const params = { model: $("f-model").value.trim() };
  if ($("f-base").value.trim()) params.api_base = $("f-base").value.trim();
  if ($("f-key").value) params.api_key = $("f-key").value;
  if ($("f-weight").value !== "") params.weight = Number($("f-weight").value);
  const id = $("edit-id").value;
  try {
    if (id) await api("/model/update", { method: "POST", body: JSON.stringify({ model_info: { id }, model_name: $("f-group").value.trim(), litellm_params: params }) });
    else await api("/model/new", { method: "POST", body: JSON.stringify({ model_name: $("f-group").value.trim(), litellm_params: params }) });
    $("form-error").textContent = "";
    endEdit();
    refresh();
  } catch (e) {
    $("form-error").textContent = e.message;
  }
});

if (sessionStorage.getItem(KEY)) signedIn();
else signOut();
