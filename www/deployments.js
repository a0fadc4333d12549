// Deployments: one card per deployment, titled by its id, with provider, api_base host and
// model; its status from live traffic (the request log's last minutes), cooldowns and the last
// health check together; failures by class and the last error; add, edit and delete with the
// form opening where the user is.
import { $, api, el, fmt, fmtCost, fmtMs, fmtTime, hostOf, post } from "./lib.js";

const LIVE_MS = 5 * 60_000;
// Records read for the live status and the last error: enough for minutes of traffic, small
// enough to fetch every refresh.
const RECENT = 300;
let health = new Map(); // deployment id -> {ok, error, at}
let showHistory = () => {};

/** Per deployment, from the log's recent records: calls, failures, the last error. */
function liveTraffic(records, now) {
  const live = new Map();
  for (const r of records) {
    for (const s of r.steps || []) {
      if (!s.deployment || (s.kind !== "served" && s.kind !== "failed")) continue;
      const d = live.get(s.deployment) || { calls: 0, fails: 0, lastError: null };
      if (now - r.at_ms <= LIVE_MS) {
        d.calls += 1;
        if (s.kind === "failed") d.fails += 1;
      }
      if (s.kind === "failed" && (!d.lastError || d.lastError.at < r.at_ms)) d.lastError = { at: r.at_ms, detail: s.detail };
      live.set(s.deployment, d);
    }
  }
  return live;
}

function status(d, live) {
  if (d.cooldown_remaining_s > 0) return el("span", { class: "badge cool", text: `cooling down ${fmt(d.cooldown_remaining_s, 0)} s` });
  const t = live.get(d.id);
  const h = health.get(d.id);
  if (t?.calls) {
    const rate = t.fails / t.calls;
    if (rate >= 0.5) return el("span", { class: "badge bad", text: `failing ${fmt(100 * rate)} % (last 5 min)` });
    if (rate > 0) return el("span", { class: "badge warn", text: `degraded ${fmt(100 * rate)} % failed` });
    return el("span", { class: "badge ok", text: "serving" });
  }
  if (h) return h.ok ? el("span", { class: "badge ok", text: "healthy (check)" }) : el("span", { class: "badge bad", text: "unhealthy (check)", title: h.error || "" });
  return el("span", { class: "badge unknown", text: "no recent traffic" });
}

function card(d, info, live) {
  const params = info?.litellm_params || {};
  const provider = (params.model || d.model).split("/")[0];
  const errorRate = d.requests ? (100 * d.failures) / d.requests : 0;
  const limit = (used, lim) => (lim ? `${fmt(used)} / ${fmt(lim)}` : fmt(used));
  const byClass = Object.entries(d.failures_by_class || {}).map(([c, n]) => `${c} ${fmt(n)}`).join(", ") || "none";
  const t = live.get(d.id);
  const h = health.get(d.id);
  const stats = el(
    "dl",
    {},
    el("dt", { text: "in flight" }), el("dd", { text: fmt(d.in_flight) }),
    el("dt", { text: "rpm" }), el("dd", { text: limit(d.rpm_used, d.rpm_limit) }),
    el("dt", { text: "tpm" }), el("dd", { text: limit(d.tpm_used, d.tpm_limit) }),
    el("dt", { text: "latency p50 / p95" }), el("dd", { text: `${fmtMs(d.latency_p50_ms)} / ${fmtMs(d.latency_p95_ms)}` }),
    el("dt", { text: "requests" }), el("dd", { text: fmt(d.requests) }),
    el("dt", { text: "error rate" }), el("dd", { text: `${fmt(errorRate, 1)} %` }),
    el("dt", { text: "tokens" }), el("dd", { text: fmt(d.prompt_tokens + d.completion_tokens) }),
    el("dt", { text: "cost" }), el("dd", { text: fmtCost(d.cost) }),
    el("dt", { text: "cooldowns" }), el("dd", { text: fmt(d.cooldowns) }),
  );
  const edit = el("button", { text: "Edit", "data-id": d.id });
  edit.addEventListener("click", () => startEdit(d, info, cardNode));
  const del = el("button", { text: "Delete", "data-id": d.id });
  del.addEventListener("click", async () => {
    if (!confirm(`Delete deployment ${d.id}?`)) return;
    try {
      await post("/model/delete", { id: d.id });
      refreshDeployments();
    } catch (e) {
      $("status").textContent = e.message;
    }
  });
  const hist = el("button", { text: "History" });
  hist.addEventListener("click", () => showHistory(d.id));
  const cardNode = el(
    "div",
    { class: "dep", "data-deployment": d.id },
    el("div", { class: "title" }, el("span", { class: "name", text: d.id }), status(d, live)),
    el("div", { class: "muted", text: `${provider} · ${hostOf(params.api_base) || "provider default"} · ${params.model || d.model}` }),
    el("div", { class: "muted origin", "data-origin": info?.origin || "config", text: `from ${info?.origin || "config"}` }),
    stats,
    el("div", { class: "muted small", "data-failures": "", text: `failures by class: ${byClass}` }),
    el("div", { class: "muted small", "data-last-error": "", text: t?.lastError ? `last error ${fmtTime(t.lastError.at)}: ${t.lastError.detail}` : `no error in the last ${RECENT} requests` }),
    el("div", { class: "muted small", text: h ? `health check ${fmtTime(h.at)}: ${h.ok ? "ok" : `failed: ${h.error || ""}`}` : "health: not checked" }),
    el("div", { class: "actions" }, edit, del, hist),
  );
  return cardNode;
}

/** The form, opened next to `anchor` (a card, or the toolbar for a new deployment). */
function openForm(anchor) {
  const form = $("add");
  anchor.after(form);
  form.hidden = false;
  form.scrollIntoView({ block: "nearest", behavior: "smooth" });
  $("f-group").focus();
}

function startEdit(d, info, anchor) {
  $("add").reset();
  $("edit-id").value = d.id;
  $("f-group").value = d.model_name;
  $("f-model").value = info?.litellm_params?.model || d.model;
  $("f-base").value = info?.litellm_params?.api_base || "";
  $("f-weight").value = info?.litellm_params?.weight ?? "";
  $("form-title").textContent = `Edit ${d.id}`;
  $("f-submit").textContent = "Save";
  openForm(anchor);
}

function endEdit() {
  $("add").reset();
  $("edit-id").value = "";
  $("form-title").textContent = "Add a deployment";
  $("f-submit").textContent = "Add";
  $("add").hidden = true;
}

function groupTally(t) {
  const n = (v) => fmt(v ?? 0);
  return el("div", {
    class: "muted tally",
    "data-tally": "",
    text: `retries ${n(t?.retries)} · fallbacks ${n(t?.fallbacks)} · hedged ${n(t?.hedges)} (hedge won ${n(t?.hedge_wins)}) · streams continued ${n(t?.continued)}`,
  });
}

export async function refreshDeployments() {
  const [usage, info, log] = await Promise.all([api("/usage"), api("/v1/model/info"), api(`/request/log?limit=${RECENT}`)]);
  if (!$("add").hidden && document.activeElement && $("add").contains(document.activeElement)) return; // not while typing
  const byId = new Map(info.data.map((m) => [m.model_info.id, m]));
  const live = liveTraffic(log.records, Date.now());
  const groups = new Map();
  for (const d of usage.deployments) {
    if (!groups.has(d.model_name)) groups.set(d.model_name, []);
    groups.get(d.model_name).push(d);
  }
  const leftOut = info.left_out || [];
  $("left-out").hidden = leftOut.length === 0;
  $("left-out").replaceChildren(
    el("h3", { text: `Left out of the config (${leftOut.length})` }),
    ...leftOut.map((l) => el("p", { class: "error", text: `${l.model_name || "(no model_name)"}: ${l.reason}` })),
  );
  const form = $("add");
  $("page-deployments").append(form); // out of the cards before they are replaced
  $("groups").replaceChildren(
    ...[...groups].map(([name, deps]) =>
      el("div", { class: "card group" }, el("h3", { text: name }), groupTally(usage.groups?.[name]), el("div", { class: "deployments" }, ...deps.map((d) => card(d, byId.get(d.id), live)))),
    ),
  );
  const editing = $("edit-id").value;
  if (!form.hidden) {
    const anchor = editing ? document.querySelector(`[data-deployment="${CSS.escape(editing)}"]`) : $("add-open").parentElement;
    (anchor || $("groups")).after(form);
  }
  $("totals").textContent = `${fmt(usage.total_requests)} requests · ${fmt(usage.total_failures)} failures · ${fmt(usage.total_tokens)} tokens · ${fmtCost(usage.total_cost)}`;
}

export function initDeployments(onHistory) {
  showHistory = onHistory;
  $("health").addEventListener("click", async () => {
    $("health").disabled = true;
    try {
      const r = await api("/health");
      health = new Map();
      const at = Date.now();
      for (const e of r.healthy_endpoints) health.set(e.model_id, { ok: true, at });
      for (const e of r.unhealthy_endpoints) health.set(e.model_id, { ok: false, error: e.error, at });
      await refreshDeployments();
    } catch (e) {
      $("status").textContent = `health check failed: ${e.message}`;
    } finally {
      $("health").disabled = false;
    }
  });
  $("reset").addEventListener("click", async () => {
    if (!confirm("Reset the cost of every deployment to $0? Spend per key is not changed.")) return;
    await post("/cost/reset", {});
    refreshDeployments();
  });
  $("drop-runtime").addEventListener("click", async () => {
    if (!confirm("Drop every runtime change (deployments added, edited or deleted here)? The config's model list will be in force again.")) return;
    try {
      await post("/model/reset", {});
      refreshDeployments();
    } catch (e) {
      $("status").textContent = `could not drop runtime changes: ${e.message}`;
    }
  });
  $("add-open").addEventListener("click", () => {
    endEdit();
    openForm($("add-open").parentElement);
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
      if (id) await post("/model/update", { model_info: { id }, model_name: $("f-group").value.trim(), litellm_params: params });
      else await post("/model/new", { model_name: $("f-group").value.trim(), litellm_params: params });
      $("form-error").textContent = "";
      endEdit();
      refreshDeployments();
    } catch (e) {
      $("form-error").textContent = e.message;
    }
  });
}
