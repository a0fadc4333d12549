// The request log: the last 1,000 model calls (refused ones too), filtered on the server by
// group, deployment, status and key; a row opens its attempt trace.
import { $, api, el, fmt, fmtCost, fmtMs, fmtTime, setOptions } from "./lib.js";

const seen = { group: new Set(), deployment: new Set(), key: new Set() };

function query() {
  const q = new URLSearchParams();
  for (const [k, id] of [["group", "lf-group"], ["deployment", "lf-deployment"], ["status", "lf-status"], ["key", "lf-key"]]) {
    if ($(id).value) q.set(k, $(id).value);
  }
  q.set("limit", "200");
  return q.toString();
}

function flags(r) {
  return [r.stream && "stream", r.hedged && "hedged", r.continued > 0 && `continued ${r.continued}`, r.cache && `cache ${r.cache}`, r.client_closed && "client left"].filter(Boolean).join(" · ");
}

const STEP_TEXT = {
  served: "served",
  failed: "failed",
  skipped: "left out",
  hedged: "hedge sent",
  waited: "waited",
  fallback_skipped: "fallback not tried",
};

/** The attempt trace: one line per step. */
export function traceList(steps) {
  if (!steps?.length) return el("p", { class: "muted", text: "No deployment was called (refused before routing, or served from the cache)." });
  return el(
    "ol",
    { class: "trace" },
    ...steps.map((s) =>
      el(
        "li",
        { class: `step ${s.kind}`, "data-kind": s.kind },
        el("span", { class: "kind", text: STEP_TEXT[s.kind] || s.kind }),
        el("span", { text: ` ${s.group}${s.deployment ? ` / ${s.deployment}` : ""}` }),
        s.detail ? el("span", { class: "muted", text: ` — ${s.detail}` }) : null,
        s.ms != null ? el("span", { class: "muted", text: ` (${fmtMs(s.ms)})` }) : null,
      ),
    ),
  );
}

async function open(id) {
  const box = $("log-detail");
  try {
    const r = await api(`/request/log/${encodeURIComponent(id)}`);
    const dl = el("dl", { class: "wide" });
    for (const [k, v] of [
      ["time", fmtTime(r.at_ms, true)], ["call id", r.id], ["key", r.key], ["path", `${r.method} ${r.path}`], ["group", r.group], ["deployment", r.deployment],
      ["status", r.status], ["latency", fmtMs(r.latency_ms)], ["time to first token", fmtMs(r.ttft_ms)],
      ["tokens", r.prompt_tokens != null ? `${fmt(r.tokens)} (${fmt(r.prompt_tokens)} in, ${fmt(r.completion_tokens)} out)` : fmt(r.tokens)],
      ["cost", fmtCost(r.cost)], ["retries / fallbacks", `${r.retries} / ${r.fallbacks}`], ["flags", flags(r) || "–"],
      ["error", r.error_class ? `${r.error_class}: ${r.error ?? ""}` : "–"],
    ]) dl.append(el("dt", { text: k }), el("dd", { text: v == null ? "–" : String(v) }));
    box.replaceChildren(el("h3", { text: "Request" }), dl, el("h3", { text: "Attempts" }), traceList(r.steps));
    box.hidden = false;
    box.scrollIntoView({ block: "nearest", behavior: "smooth" });
  } catch (e) {
    box.replaceChildren(el("p", { class: "error", text: e.message }));
    box.hidden = false;
  }
}

export async function refreshRequests() {
  const { records, matched } = await api(`/request/log?${query()}`);
  for (const r of records) {
    if (r.group) seen.group.add(r.group);
    if (r.deployment) seen.deployment.add(r.deployment);
    seen.key.add(r.key);
  }
  setOptions($("lf-group"), [...seen.group].sort());
  setOptions($("lf-deployment"), [...seen.deployment].sort());
  setOptions($("lf-key"), [...seen.key].sort());
  $("log-count").textContent = `${fmt(matched)} matching (showing ${records.length})`;
  $("log").tBodies[0].replaceChildren(
    ...records.map((r) => {
      const row = el(
        "tr",
        { class: r.status >= 400 ? "bad" : "", "data-id": r.id, tabindex: "0" },
        el("td", { text: fmtTime(r.at_ms) }),
        el("td", { text: r.key }),
        el("td", { text: r.group || "–" }),
        el("td", { text: r.deployment || "–" }),
        el("td", { class: "num", text: String(r.status) }),
        el("td", { class: "num", text: fmtMs(r.latency_ms) }),
        el("td", { class: "num", text: fmtMs(r.ttft_ms) }),
        el("td", { class: "num", text: fmt(r.tokens) }),
        el("td", { class: "num", text: fmtCost(r.cost) }),
        el("td", { class: "num", text: String(r.retries) }),
        el("td", { class: "num", text: String(r.fallbacks) }),
        el("td", { text: flags(r) }),
        el("td", { class: "err-text", text: r.error_class ? `${r.error_class}${r.error ? `: ${r.error}` : ""}` : "" }),
      );
      row.addEventListener("click", () => open(r.id));
      row.addEventListener("keydown", (ev) => ev.key === "Enter" && open(r.id));
      return row;
    }),
  );
}

export function initRequests(refresh) {
  for (const id of ["lf-group", "lf-deployment", "lf-status", "lf-key"]) $(id).addEventListener("change", refresh);
  $("log-filter").addEventListener("submit", (ev) => ev.preventDefault());
}
