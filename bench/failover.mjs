// The failover benchmark at full scale (not part of the test command; figures in the README):
//   1. failoverbench's sixteen faults (../shared/spec/failover-scenarios.md) against its
//      baseline config: 30 s timeouts, 2 retries, a fallback group, every other setting
//      Switchyard's default (the hedge point adaptive). Wall time per scenario and its outcome.
//   2. Time to first token when the primary's first token comes after 20 s: hedging off,
//      adaptive before any measurement, adaptive after the primary answered fast, and an
//      explicit `hedge_after`.
//   3. CPU of a continued stream: the workerd process's CPU per stream for streams that run
//      to the end, and for streams cut after 40 of 60 tokens and finished by the fallback.
// Switchyard runs in workerd through Miniflare serving HTTP (never through wrangler dev's proxy),
// the mock provider in this process.
//
//   node bench/failover.mjs [--only scenarios,ttft,cpu] [--streams 200]
import fs from "node:fs";
import { startRouter } from "../tests/e2e/harness.mjs";

const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const only = arg("only", "scenarios,ttft,cpu").split(",");
const STREAMS = Number(arg("streams", 200));
const MASTER = "sk-failover-bench-master";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function config(mock, names, { hedge = "", prefill = true } = {}) {
  return `
model_list:
${names.map((s) => `  - { model_name: ${s}, litellm_params: { model: openai/primary-model, api_base: "${mock.base(s)}", api_key: sk-p } }`).join("\n")}
  - { model_name: fallback, litellm_params: { model: openai/fallback-model, api_base: "${mock.base("fb")}", api_key: sk-f }${prefill ? ", model_info: { supports_assistant_prefill: true }" : ""} }
general_settings: { master_key: ${MASTER}, request_log: false }
router_settings:
  num_retries: 2
  timeout: 30
  stream_timeout: 30
${hedge}
  fallbacks: [${names.map((s) => `{ ${s}: [fallback] }`).join(", ")}]
`;
}

/** One streaming call; the time to the first content and to the end, and the text. */
async function stream(url, model, content) {
  const started = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content }] }),
  });
  if (res.status !== 200) {
    const body = await res.json().catch(() => ({}));
    return { ttft: null, ms: performance.now() - started, text: "", error: `HTTP ${res.status}: ${body.error?.message}`, complete: false };
  }
  let ttft = null;
  let text = "";
  let error = null;
  const decoder = new TextDecoder();
  let buf = "";
  for await (const part of res.body) {
    buf += decoder.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, i).replace(/^data: /, "");
      buf = buf.slice(i + 2);
      if (line === "[DONE]" || !line.startsWith("{")) continue;
      const v = JSON.parse(line);
      if (v.error) error = v.error.message;
      const c = v.choices?.[0]?.delta?.content;
      if (c) {
        ttft ??= performance.now() - started;
        text += c;
      }
    }
  }
  return { ttft, ms: performance.now() - started, text, error, complete: !error && text === `echo: ${content}` };
}

const prompt = (id) => Array.from({ length: 59 }, (_, i) => `${id}w${i + 1}`).join(" ");
const fmt = (ms) => (ms === null ? "-" : ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`);

// ---- 1. the sixteen scenarios ------------------------------------------------------------------

const FAULTS = {
  s01: { status: 429, headers: { "retry-after": "2" }, times: 1 },
  s02: { status: 429 },
  s03: { status: 500, times: 1 },
  s04: { status: 503 },
  s05: { reset: true, times: 1 },
  s06: { hang: true },
  s07: { firstTokenMs: 20_000 },
  s08: { streamCutAfter: 40 },
  s09: { stallAfter: 20, stallMs: 30_000 },
  s10: { malformedAt: 8 },
  s11: { noDone: true },
  s12: { status: 400, body: { error: { message: "This model's maximum context length is 8192 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } } },
  s13: { status: 400, body: { error: { message: "Your request was rejected as a result of our safety system.", type: "invalid_request_error", param: null, code: "content_policy_violation" } } },
  s14: { streamCutAfter: 40 },
  s16: { status: 503 },
};

async function scenarios() {
  const names = [...Object.keys(FAULTS), "s15"].sort();
  const r = await startRouter((mock) => config(mock, names));
  const rows = [];
  try {
    r.mock.behave("fb", { continuePrefill: true });
    for (const [id, fault] of Object.entries(FAULTS)) {
      r.mock.behave(id, fault);
      if (id === "s14") r.mock.behave("fb", { rejectPrefill: true });
      const out = await stream(r.url, id, prompt(id));
      r.mock.behave("fb", { continuePrefill: true });
      r.mock.behave(id, null);
      const outcome = id === "s13" ? (out.error && /safety/.test(out.error) ? "clean error" : "ROUTED AROUND") : out.complete ? "complete" : `FAILED: ${out.error}`;
      rows.push([id.toUpperCase(), fmt(out.ms), fmt(out.ttft), outcome]);
      console.log(rows.at(-1).join("  "));
    }
    // S15: 503 for 60 s, then healthy; 20 requests 4 s apart.
    r.mock.behave("s15", { status: 503 });
    const start = Date.now();
    let slowest = 0;
    let answered = 0;
    let recovered = null;
    let backAfter = null;
    for (let i = 0; i < 20; i++) {
      const due = start + i * 4000;
      if (Date.now() < due) await sleep(due - Date.now());
      if (!recovered && Date.now() - start >= 60_000) {
        r.mock.behave("s15", null);
        recovered = Date.now();
      }
      const before = r.mock.callsTo("s15").length;
      const out = await stream(r.url, "s15", `outage request ${i}`);
      slowest = Math.max(slowest, out.ms);
      answered += out.complete ? 1 : 0;
      const primaryServed = r.mock.callsTo("s15").slice(before).length > 0 && recovered;
      if (primaryServed && backAfter === null) backAfter = Date.now() - recovered;
    }
    rows.push(["S15", `slowest of 20: ${fmt(slowest)}`, "-", `${answered}/20 answered; primary again ${fmt(backAfter)} after recovery`]);
    console.log(rows.at(-1).join("  "));
  } finally {
    await r.close();
  }
  return rows;
}

// ---- 2. time to first token with hedging on and off -----------------------------------------------

async function ttft() {
  const cases = [
    ["hedging off (`hedge_after: false`)", "  hedge_after: false", false],
    ["adaptive, before any measurement (10 s)", "", false],
    ["adaptive, primary measured fast (p95 x 2, floor 2 s)", "", true],
    ["`hedge_after: 1`", "  hedge_after: 1", false],
  ];
  const rows = [];
  for (const [label, hedge, warm] of cases) {
    const r = await startRouter((mock) => config(mock, ["slow"], { hedge }));
    try {
      if (warm) {
        r.mock.behave("slow", { firstTokenMs: 150 });
        for (let i = 0; i < 10; i++) await stream(r.url, "slow", `warm ${i}`);
      }
      r.mock.behave("slow", { firstTokenMs: 20_000 });
      const out = await stream(r.url, "slow", "a slow first token");
      rows.push([label, fmt(out.ttft), fmt(out.ms), out.complete ? "complete" : out.error]);
      console.log(rows.at(-1).join("  "));
    } finally {
      await r.close();
    }
  }
  return rows;
}

// ---- 3. CPU of a continued stream ------------------------------------------------------------------

function workerdPids() {
  const all = [process.pid];
  for (let i = 0; i < all.length; i++) {
    try {
      all.push(...fs.readFileSync(`/proc/${all[i]}/task/${all[i]}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
    } catch {}
  }
  return all.filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/comm`, "utf8").trim() === "workerd";
    } catch {
      return false;
    }
  });
}
function cpuMs(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks * 10; // 100 ticks a second
}

async function cpu() {
  // One router: `p` falls back to a deployment that takes a prefill, `q` to one that does not
  // (answered afresh and joined). Batches interleaved, so the machine's drift cancels out.
  const r = await startRouter((mock) => `
model_list:
  - { model_name: p, litellm_params: { model: openai/primary-model, api_base: "${mock.base("p")}", api_key: sk-p } }
  - { model_name: q, litellm_params: { model: openai/primary-model, api_base: "${mock.base("q")}", api_key: sk-p } }
  - { model_name: fb, litellm_params: { model: openai/fallback-model, api_base: "${mock.base("fb")}", api_key: sk-f }, model_info: { supports_assistant_prefill: true } }
  - { model_name: fb2, litellm_params: { model: openai/fallback-model, api_base: "${mock.base("fb2")}", api_key: sk-f } }
general_settings: { master_key: ${MASTER}, request_log: false }
router_settings: { num_retries: 2, timeout: 30, stream_timeout: 30, fallbacks: [{ p: [fb] }, { q: [fb2] }] }
`);
  const cases = [
    ["60-token stream, unbroken", "p", null],
    ["cut after 40, continued with a prefill", "p", { streamCutAfter: 40 }],
    ["cut after 40, answered afresh and joined", "q", { streamCutAfter: 40 }],
  ];
  const totals = cases.map(() => ({ cpu: 0, wall: 0, n: 0, complete: 0 }));
  try {
    r.mock.behave("fb", { continuePrefill: true });
    const pids = workerdPids();
    for (let i = 0; i < 20; i++) await stream(r.url, "p", prompt(`warm${i}`));
    const ROUNDS = 4;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [k, [, group, fault]] of cases.entries()) {
        r.mock.behave(group, fault);
        const before = cpuMs(pids);
        const t0 = performance.now();
        for (let i = 0; i < STREAMS / ROUNDS; i++) {
          totals[k].complete += (await stream(r.url, group, prompt(`c${round}-${i}`))).complete ? 1 : 0;
          totals[k].n += 1;
        }
        totals[k].cpu += cpuMs(pids) - before;
        totals[k].wall += performance.now() - t0;
      }
    }
  } finally {
    await r.close();
  }
  const base = totals[0].cpu / totals[0].n;
  return cases.map(([label], k) => {
    const t = totals[k];
    const per = t.cpu / t.n;
    return [label, `${per.toFixed(2)} ms${k ? ` (${per >= base ? "+" : ""}${(per - base).toFixed(2)})` : ""}`, fmt(t.wall / t.n), `${t.complete}/${t.n} complete`];
  });
}

const table = (head, rows) => [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
const out = [];
if (only.includes("scenarios")) out.push(table(["scenario", "wall time", "first token", "outcome"], await scenarios()));
if (only.includes("ttft")) out.push(table(["primary's first token after 20 s", "time to first token", "whole call", "outcome"], await ttft()));
if (only.includes("cpu")) out.push(table([`${STREAMS} sequential streams each, 4 interleaved rounds`, "workerd CPU per stream", "wall per stream", "outcome"], await cpu()));
console.log(`\n${out.join("\n\n")}`);
process.exit(0);
