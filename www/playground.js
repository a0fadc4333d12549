// Playground: a chat prompt to a model group, streamed, with the routing decision next to the
// answer: the group's deployments (the candidates), the one that served, every attempt.
import { $, api, el, fmtCost, hostOf } from "./lib.js";
import { traceList } from "./requests.js";

let controller = null;

async function candidates(group) {
  const info = await api("/v1/model/info");
  return info.data.filter((m) => m.model_name === group);
}

/** The SSE events of a streamed answer, as they arrive. */
async function* events(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let at;
    while ((at = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at).replace(/^\r?\n\r?\n/, "");
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (data && data !== "[DONE]") yield JSON.parse(data);
    }
  }
}

async function route(headers, group) {
  const box = $("pg-route");
  const id = headers.get("x-litellm-call-id");
  const h = (k) => headers.get(k) ?? "–";
  const summary = el(
    "dl",
    { class: "wide" },
    el("dt", { text: "served by" }), el("dd", { id: "pg-served", text: h("x-litellm-model-id") }),
    el("dt", { text: "group" }), el("dd", { text: h("x-litellm-model-group") }),
    el("dt", { text: "api base" }), el("dd", { text: h("x-litellm-model-api-base") }),
    el("dt", { text: "retries / fallbacks" }), el("dd", { text: `${h("x-litellm-attempted-retries")} / ${h("x-litellm-attempted-fallbacks")}` }),
    el("dt", { text: "cost" }), el("dd", { text: headers.get("x-litellm-response-cost") ? fmtCost(Number(headers.get("x-litellm-response-cost"))) : "at the end of the stream" }),
    el("dt", { text: "call id" }), el("dd", { text: id ?? "–" }),
  );
  const cands = await candidates(group).catch(() => []);
  const list = el("ul", { class: "candidates" }, ...cands.map((m) => el("li", { class: m.model_info.id === headers.get("x-litellm-model-id") ? "chosen" : "", text: `${m.model_info.id} · ${m.litellm_params.model} · ${hostOf(m.litellm_params.api_base) || "provider default"}` })));
  box.replaceChildren(summary, el("h3", { text: "Candidates" }), list, el("h3", { text: "Attempts" }), el("p", { class: "muted", id: "pg-trace", text: "waiting for the log…" }));
  if (!id) return;
  for (let i = 0; i < 40; i++) {
    try {
      const rec = await api(`/request/log/${encodeURIComponent(id)}`);
      $("pg-trace").replaceWith(traceList(rec.steps));
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function send(ev) {
  ev.preventDefault();
  const group = $("pg-model").value;
  const messages = [];
  if ($("pg-system").value.trim()) messages.push({ role: "system", content: $("pg-system").value });
  messages.push({ role: "user", content: $("pg-prompt").value });
  const stream = $("pg-stream").checked;
  $("pg-answer").textContent = "";
  $("pg-error").textContent = "";
  $("pg-send").disabled = true;
  $("pg-stop").disabled = false;
  controller = new AbortController();
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      signal: controller.signal,
      headers: { authorization: `Bearer ${sessionStorage.getItem("switchyard.masterKey")}`, "content-type": "application/json" },
      body: JSON.stringify({ model: group, messages, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(`${res.status}: ${body?.error?.message || res.statusText}`);
    }
    const routed = route(res.headers, group);
    if (stream) {
      for await (const ev of events(res)) {
        if (ev.error) throw new Error(ev.error.message);
        $("pg-answer").textContent += ev.choices?.[0]?.delta?.content ?? "";
      }
    } else {
      const body = await res.json();
      $("pg-answer").textContent = body.choices?.[0]?.message?.content ?? "";
    }
    $("pg-answer").dataset.done = "1";
    await routed;
  } catch (e) {
    $("pg-error").textContent = e.name === "AbortError" ? "stopped" : e.message;
  } finally {
    $("pg-send").disabled = false;
    $("pg-stop").disabled = true;
  }
}

export async function refreshPlayground() {
  const select = $("pg-model");
  if (select.options.length) return;
  const models = await api("/v1/models");
  select.replaceChildren(...models.data.map((m) => el("option", { value: m.id, text: m.id })));
}

export function initPlayground() {
  $("pg").addEventListener("submit", send);
  $("pg-stop").addEventListener("click", () => controller?.abort());
}
