// Overview: requests, errors, latency, time to first token, tokens and cost over the last hour
// or day, for everything, a group or a deployment, from the per-minute buckets the `log`
// Durable Object keeps (the same history in every browser and after a reload).
import { $, api, el, fmt, fmtCost, fmtMs } from "./lib.js";
import { lineChart } from "./chart.js";

function scopeQuery() {
  const [kind, name] = ($("ov-scope").value || ":").split(/:(.*)/s);
  if (kind === "group") return `&group=${encodeURIComponent(name)}`;
  if (kind === "deployment") return `&deployment=${encodeURIComponent(name)}`;
  return "";
}

function scopes(totals) {
  const select = $("ov-scope");
  const current = select.value;
  const groups = [...new Set(totals.map((t) => t.group).filter(Boolean))].sort();
  const deployments = [...new Set(totals.map((t) => t.deployment).filter(Boolean))].sort();
  select.replaceChildren(
    el("option", { value: "", text: "every group" }),
    ...groups.map((g) => el("option", { value: `group:${g}`, text: `group ${g}` })),
    ...deployments.map((d) => el("option", { value: `deployment:${d}`, text: `deployment ${d}` })),
  );
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

export async function refreshOverview() {
  const h = await api(`/stats/history?window=${$("ov-window").value}${scopeQuery()}`);
  const times = h.points.map((p) => p.t);
  const col = (k) => h.points.map((p) => p[k]);
  lineChart($("ch-requests"), {
    times,
    series: [
      { name: "requests", values: col("requests") },
      { name: "errors", values: col("errors"), cls: "err" },
      { name: "refused", values: col("rejected"), cls: "warn" },
      { name: "failed calls", values: col("failed_attempts"), cls: "alt" },
    ],
    format: (v) => fmt(v),
  });
  lineChart($("ch-latency"), { times, series: [{ name: "p50", values: col("p50_ms") }, { name: "p95", values: col("p95_ms"), cls: "alt" }], format: fmtMs });
  lineChart($("ch-ttft"), { times, series: [{ name: "p50", values: col("ttft_p50_ms") }, { name: "p95", values: col("ttft_p95_ms"), cls: "alt" }], format: fmtMs });
  lineChart($("ch-tokens"), { times, series: [{ name: "tokens", values: col("tokens") }], format: (v) => fmt(v) });
  lineChart($("ch-cost"), { times, series: [{ name: "cost", values: col("cost") }], format: fmtCost });
  scopes(h.totals);
  const sum = (k) => h.points.reduce((n, p) => n + (p[k] || 0), 0);
  $("ov-summary").textContent = `${fmt(sum("requests"))} requests · ${fmt(sum("errors"))} errors · ${fmt(sum("tokens"))} tokens · ${fmtCost(sum("cost"))}`;
  $("ov-totals").tBodies[0].replaceChildren(
    ...h.totals.map((t) =>
      el(
        "tr",
        {},
        el("td", { text: t.group || "–" }),
        el("td", { text: t.deployment || "refused before routing" }),
        el("td", { class: "num", text: fmt(t.requests) }),
        el("td", { class: "num", text: fmt(t.errors) }),
        el("td", { class: "num", text: fmt(t.failed_attempts) }),
        el("td", { class: "num", text: fmt(t.p50_ms) }),
        el("td", { class: "num", text: fmt(t.p95_ms) }),
        el("td", { class: "num", text: fmt(t.tokens) }),
        el("td", { class: "num", text: fmtCost(t.cost) }),
      ),
    ),
  );
}

export function initOverview(refresh) {
  $("ov-window").addEventListener("change", refresh);
  $("ov-scope").addEventListener("change", refresh);
}
