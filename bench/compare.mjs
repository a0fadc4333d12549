// Side-by-side on this machine, against one mock upstream (OpenAI chat, JSON and SSE) in its own
// Node process, interleaved so the machine's drift cancels out:
//   direct          the mock itself (the floor)
//   bare JS Worker  only forwards the body with fetch, in workerd via Miniflare (the platform's
//                   limit: no router in that runtime can beat it)
//   Switchyard      in workerd via Miniflare serving HTTP (not through wrangler dev's proxy)
//   LiteLLM proxy   bench/.venv (scripts/bench-setup.sh), same two deployments, simple-shuffle,
//                   retries on
//   Portkey         bench/gateways, loadbalance over the same two deployments
// For 1, 16 and 64 connections (wrk): requests/s, latency p50/p99 and what each adds over
// direct, CPU time per request of the gateway's processes (from /proc). Then, sequentially:
// time to first token of streams (and to the last chunk), the time to answer when a group's
// first deployment is dead (the very first request, and the median of the next ones), idle and
// loaded RSS, startup time (spawn to first answer), and the wasm size.
//
//   node bench/compare.mjs [--seconds 5] [--rounds 2] [--chunks 20] [--only name,name]
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { Miniflare } from "miniflare";
import { workerOptions, COMPATIBILITY_DATE } from "../tests/e2e/harness.mjs";

const run = promisify(execFile);
const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? process.argv[i + 1] : d;
};
const seconds = Number(arg("seconds", 5));
const rounds = Number(arg("rounds", 2));
const chunks = Number(arg("chunks", 20));
const only = arg("only", "")
  .split(",")
  .filter(Boolean);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-bench-"));

const MOCK_PORT = 19411;
// Both routers check a master key (LiteLLM refuses to start without one); Portkey has none.
const MASTER = "sk-bench-master-key-0123456789abcdef";
const AUTH = { authorization: `Bearer ${MASTER}` };
const DEAD = "http://127.0.0.1:9/v1"; // nothing listens: connection refused at once
const mock = spawn(process.execPath, [path.join(root, "tests/mock-upstream.mjs"), "--port", String(MOCK_PORT)], { stdio: "ignore" });
await sleep(500);
const base = (name) => `http://127.0.0.1:${MOCK_PORT}/${name}/v1`;
const CHAT = JSON.stringify({ model: "bench", messages: [{ role: "user", content: "hello" }] });
const words = Array.from({ length: chunks - 3 }, (_, i) => `w${i}`).join(" "); // + role, finish, usage-less end
const STREAM = JSON.stringify({ model: "bench", stream: true, messages: [{ role: "user", content: words }] });
const FALLBACK = JSON.stringify({ model: "fb", messages: [{ role: "user", content: "hello" }] });

// ---- processes ------------------------------------------------------------------------------

function children(pid) {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i]));
  return all;
}
function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      total += Number(f[11]) + Number(f[12]); // utime + stime, 100 ticks/s
    } catch {}
  }
  return total;
}
function rssMb(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]);
    } catch {}
  }
  return kb / 1024;
}
async function workerdPidsNewerThan(known) {
  try {
    const { stdout } = await run("pgrep", ["-f", "workerd serve"]);
    return stdout.trim().split("\n").filter(Boolean).map(Number).filter((p) => !known.has(p));
  } catch {
    return [];
  }
}
const seenWorkerd = new Set();

async function untilAnswered(url, headers, body, ms = 120_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await post(url, headers, body);
      if (r.status === 200) return;
    } catch {}
    await sleep(50);
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

// ---- targets --------------------------------------------------------------------------------

const BARE = `export default {
  async fetch(req, env) {
    const body = await req.arrayBuffer();
    return fetch(env.UPSTREAM + "/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
  },
};`;
// The same, but reading the upstream's answer whole and answering with a new Response (with
// the cost of checking it: JSON.parse), as any router that validates the answer and reports
// its cost in headers must (streams pass through untouched). Not run by default:
// `--only "bare JS Worker,bare JS Worker reading the answer,Switchyard"` measures what reading
// the answer alone costs.
const BARE_READING = `export default {
  async fetch(req, env) {
    const body = await req.arrayBuffer();
    const r = await fetch(env.UPSTREAM + "/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
    if ((r.headers.get("content-type") || "").startsWith("text/event-stream")) return r; // streams pass through
    const text = await r.text();
    const usage = JSON.parse(text).usage;
    return new Response(text, { status: r.status, headers: { "content-type": "application/json", "x-tokens": String(usage?.total_tokens ?? 0) } });
  },
};`;
// A JavaScript Worker that re-frames every event of a stream (parses each SSE event's JSON and
// writes it again), as a router written in JavaScript that inspects streams must: the floor for
// a router that reads every event, where the bare Worker only passes bytes on.
const REFRAMING = `export default {
  async fetch(req, env) {
    const body = await req.arrayBuffer();
    const r = await fetch(env.UPSTREAM + "/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
    if (!(r.headers.get("content-type") || "").startsWith("text/event-stream")) return new Response(await r.text(), { status: r.status, headers: { "content-type": "application/json" } });
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    let buf = "";
    const frame = (c, ev) => {
      const data = ev.startsWith("data: ") ? ev.slice(6) : ev;
      c.enqueue(enc.encode(data === "[DONE]" ? "data: [DONE]\\n\\n" : "data: " + JSON.stringify(JSON.parse(data)) + "\\n\\n"));
    };
    const t = new TransformStream({
      transform(chunk, c) {
        buf += dec.decode(chunk, { stream: true });
        let i;
        while ((i = buf.indexOf("\\n\\n")) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (ev.trim()) frame(c, ev.trim());
        }
      },
      flush(c) {
        if (buf.trim()) frame(c, buf.trim());
      },
    });
    return new Response(r.body.pipeThrough(t), { status: 200, headers: { "content-type": "text/event-stream" } });
  },
};`;
const SWITCHYARD = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s1")}" } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s2")}" } }
  - { model_name: fb, litellm_params: { model: openai/m, api_base: "${DEAD}", order: 1 } }
  - { model_name: fb, litellm_params: { model: openai/m, api_base: "${base("s3")}", order: 2 } }
router_settings: { routing_strategy: simple-shuffle, num_retries: 2 }
general_settings: { master_key: ${MASTER}, request_log: ${process.env.BENCH_LOG === "1"} }
`;
const LITELLM = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("l1")}", api_key: sk-bench } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("l2")}", api_key: sk-bench } }
  - { model_name: fb, litellm_params: { model: openai/m, api_base: "${DEAD}", api_key: sk-bench, order: 1 } }
  - { model_name: fb, litellm_params: { model: openai/m, api_base: "${base("l3")}", api_key: sk-bench, order: 2 } }
router_settings: { routing_strategy: simple-shuffle, num_retries: 2 }
litellm_settings: { telemetry: false, set_verbose: false }
`;
const portkeyConfig = (mode, targets) =>
  JSON.stringify({ strategy: { mode }, targets: targets.map((h) => ({ provider: "openai", api_key: "sk-bench", custom_host: h })) });

async function miniflare(options) {
  const t0 = performance.now();
  const mf = new Miniflare({ ...options, host: "127.0.0.1", port: 0 });
  const url = (await mf.ready).toString().replace(/\/$/, "") + "/v1/chat/completions";
  await untilAnswered(url, options.bindings?.ROUTER_CONFIG ? AUTH : {}, CHAT);
  const startupMs = performance.now() - t0;
  const pids = await workerdPidsNewerThan(seenWorkerd);
  pids.forEach((p) => seenWorkerd.add(p));
  const all = () => pids.flatMap(tree);
  return { url, headers: options.bindings?.ROUTER_CONFIG ? AUTH : {}, pids: all, startupMs, close: () => mf.dispose() };
}

async function spawned(cmd, args, env, url, headers) {
  const t0 = performance.now();
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  try {
    await untilAnswered(url, headers, CHAT);
  } catch (e) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    throw new Error(`${e.message}\n${stderr}`);
  }
  return {
    url,
    headers,
    pids: () => tree(child.pid),
    startupMs: performance.now() - t0,
    close: async () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await sleep(300);
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    },
  };
}

const targets = {
  direct: async () => ({ url: `${base("d")}/chat/completions`, headers: {}, fallbackUrl: null, close: async () => {} }),
  "bare JS Worker": () =>
    miniflare({ modules: true, script: BARE, compatibilityDate: COMPATIBILITY_DATE, bindings: { UPSTREAM: base("j") } }),
  "bare JS Worker reading the answer": () =>
    miniflare({ modules: true, script: BARE_READING, compatibilityDate: COMPATIBILITY_DATE, bindings: { UPSTREAM: base("j") } }),
  "JS re-framing Worker": () =>
    miniflare({ modules: true, script: REFRAMING, compatibilityDate: COMPATIBILITY_DATE, bindings: { UPSTREAM: base("r") } }),
  Switchyard: async () => {
    const t = await miniflare(workerOptions(SWITCHYARD, { shared: process.env.BENCH_SHARED !== "0" }));
    return { ...t, fallback: { url: t.url, headers: AUTH, body: FALLBACK } };
  },
  "LiteLLM proxy": async () => {
    const port = 19421;
    const cfg = path.join(work, "litellm.yaml");
    fs.writeFileSync(cfg, LITELLM);
    const bin = path.join(root, "bench/.venv/bin/litellm");
    if (!fs.existsSync(bin)) return null;
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const env = { LITELLM_MASTER_KEY: MASTER, LITELLM_LOCAL_MODEL_COST_MAP: "True", LITELLM_LOG: "ERROR", LITELLM_TELEMETRY: "False", NO_DOCS: "True" };
    const t = await spawned(bin, ["--config", cfg, "--host", "127.0.0.1", "--port", String(port), "--num_workers", "1"], env, url, AUTH);
    return { ...t, fallback: { url, headers: AUTH, body: FALLBACK } };
  },
  Portkey: async () => {
    const port = 19431;
    const script = path.join(root, "bench/gateways/node_modules/@portkey-ai/gateway/build/start-server.js");
    if (!fs.existsSync(script)) return null;
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    const headers = { "x-portkey-config": portkeyConfig("loadbalance", [base("p1"), base("p2")]) };
    const t = await spawned(process.execPath, [script, `--port=${port}`, "--headless"], {}, url, headers);
    return { ...t, fallback: { url, headers: { "x-portkey-config": portkeyConfig("fallback", [DEAD, base("p3")]) }, body: CHAT } };
  },
};

// ---- measurements -----------------------------------------------------------------------------

function post(url, headers, body, onFirstByte) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, agent: keepAlive }, (res) => {
      let first = null;
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => {
        if (first === null && d.includes('"choices"')) first = performance.now() - t0;
        text += d;
      });
      res.on("end", () => resolve({ status: res.statusCode, first, total: performance.now() - t0, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

function lua(headers, body) {
  const file = path.join(work, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  const lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"'];
  for (const [k, v] of Object.entries(headers)) lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  lines.push(`wrk.body = ${JSON.stringify(body)}`);
  fs.writeFileSync(file, lines.join("\n"));
  return file;
}

async function wrk(t, conns, secs = seconds) {
  const { stdout } = await run("wrk", ["-t1", `-c${conns}`, `-d${secs}s`, "--latency", "-s", t.script, t.url]);
  const ms = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), p50: ms(50), p99: ms(99), requests, non2xx };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function streams(t, n = 40) {
  const ttft = [];
  const total = [];
  for (let i = 0; i < n; i++) {
    const r = await post(t.url, t.headers, STREAM);
    if (r.status !== 200 || !r.text.includes("[DONE]")) throw new Error(`stream failed: ${r.status} ${r.text.slice(0, 200)}`);
    ttft.push(r.first);
    total.push(r.total);
  }
  return { ttft: median(ttft), total: median(total) };
}

/** CPU of the target's processes per stream, over `n` streams one after another. */
async function cpuPerStream(t, n = 40) {
  if (!t.pids) return NaN;
  const pids = t.pids();
  const before = cpuTicks(pids);
  for (let i = 0; i < n; i++) await post(t.url, t.headers, STREAM);
  return ((cpuTicks(pids) - before) * 10) / n;
}

/** CPU per request with every target up at once, in short sequential batches that rotate
 *  through the targets (`batches` rounds of `size` requests each), so each target's figure
 *  is taken across the same stretch of the machine's drift. */
async function cpuRotating(names, batches = 12, size = 150) {
  const ticks = Object.fromEntries(names.map((n) => [n, 0]));
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(b + k) % names.length];
      const t = live[name];
      const pids = t.pids();
      const before = cpuTicks(pids);
      for (let i = 0; i < size; i++) await post(t.url, t.headers, CHAT);
      ticks[name] += cpuTicks(pids) - before;
    }
  }
  return Object.fromEntries(names.map((n) => [n, (ticks[n] * 10) / (batches * size)]));
}

async function fallback(t, n = 20) {
  if (!t.fallback) return null;
  const { url, headers, body } = t.fallback;
  const first = await post(url, headers, body);
  const later = [];
  for (let i = 0; i < n; i++) later.push((await post(url, headers, body)).total);
  return { ok: first.status === 200, first: first.total, later: median(later) };
}

// ---- the run --------------------------------------------------------------------------------

const optIn = ["bare JS Worker reading the answer"];
const workers = () => Object.keys(live).filter((n) => live[n].pids && n !== "LiteLLM proxy" && n !== "Portkey");
const names = Object.keys(targets).filter((n) => (only.length ? only.includes(n) : !optIn.includes(n)) || n === "direct");
const live = {};
const info = {};
for (const name of names) {
  process.stderr.write(`starting ${name}... `);
  const t = await targets[name]();
  if (!t) {
    process.stderr.write("not installed (bash scripts/bench-setup.sh), skipped\n");
    continue;
  }
  t.script = lua(t.headers, CHAT);
  live[name] = t;
  info[name] = { startupMs: t.startupMs, idleRss: t.pids ? rssMb(t.pids()) : NaN, loadedRss: NaN };
  process.stderr.write(`${t.startupMs ? `${Math.round(t.startupMs)} ms` : "ok"}\n`);
}

const results = {};
for (let r = 0; r < rounds; r++) {
  for (const conns of [1, 16, 64]) {
    const order = Object.keys(live);
    if (r % 2) order.reverse();
    for (const name of order) {
      const t = live[name];
      await wrk(t, Math.min(conns, 4), 1).catch(() => {}); // warm up
      const pids = t.pids ? t.pids() : [];
      const before = cpuTicks(pids);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pids))), 200);
      const res = await wrk(t, conns);
      clearInterval(sampler);
      res.cpuMsPerRequest = t.pids ? ((cpuTicks(pids) - before) * 10) / res.requests : NaN;
      if (conns === 64 && t.pids) info[name].loadedRss = Math.max(info[name].loadedRss || 0, peak);
      ((results[name] ||= {})[conns] ||= []).push(res);
      process.stderr.write(`round ${r + 1} ${name} ${conns} conns: ${res.rps.toFixed(0)} req/s${res.non2xx ? ` (${res.non2xx} non-2xx!)` : ""}\n`);
    }
  }
}
const rotating = await cpuRotating(workers());
for (const name of Object.keys(live)) {
  info[name].streamCpu = await cpuPerStream(live[name]).catch(() => NaN);
}
for (const name of Object.keys(live)) {
  info[name].streams = await streams(live[name]).catch((e) => ({ error: e.message }));
  info[name].fallback = await fallback(live[name]).catch((e) => ({ error: e.message }));
}
for (const t of Object.values(live)) await t.close();
mock.kill();

const m = (name, conns, k) => median(results[name][conns].map((x) => x[k]));
const f = (x, d = 2) => (x === undefined || x === null || Number.isNaN(x) ? "–" : x.toFixed(d));
const wasm = path.join(root, "build/index_bg.wasm");
const cpuModel = /model name\s*:\s*(.*)/.exec(fs.readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
console.log(`\n${new Date().toISOString().slice(0, 10)} · ${os.cpus().length} shared cores (${cpuModel}) · ${rounds} interleaved rounds of ${seconds} s · wrk -t1 · mock upstream in its own Node process\n`);
console.log("| target | conns | req/s | p50 ms | p99 ms | p50 added over direct | CPU ms/request |");
console.log("|---|---|---|---|---|---|---|");
for (const conns of [1, 16, 64]) {
  for (const name of Object.keys(live)) {
    console.log(
      `| ${name} | ${conns} | ${m(name, conns, "rps").toFixed(0)} | ${f(m(name, conns, "p50"))} | ${f(m(name, conns, "p99"))} | ${name === "direct" ? "–" : f(m(name, conns, "p50") - m("direct", conns, "p50"))} | ${f(m(name, conns, "cpuMsPerRequest"), 3)} |`,
    );
  }
}
console.log(`\nStreams (${chunks} chunks, 2 ms apart), fallback (the group's first deployment refuses connections), memory and startup:\n`);
console.log("| target | stream TTFT ms | TTFT added | stream end ms | fallback: first request ms | fallback: later requests ms | RSS idle MB | RSS loaded MB | startup ms |");
console.log("|---|---|---|---|---|---|---|---|---|");
const d = info.direct?.streams?.ttft;
for (const name of Object.keys(live)) {
  const i = info[name];
  const s = i.streams ?? {};
  const fb = i.fallback;
  console.log(
    `| ${name} | ${s.error ? "failed" : f(s.ttft)} | ${name === "direct" || s.error ? "–" : f(s.ttft - d)} | ${f(s.total)} | ${fb ? (fb.error ? "failed" : fb.ok ? f(fb.first) : "error") : "–"} | ${fb && !fb.error ? f(fb.later) : "–"} | ${f(i.idleRss, 0)} | ${f(i.loadedRss, 0)} | ${f(i.startupMs, 0)} |`,
  );
  if (s.error || fb?.error) console.error(`${name}: ${s.error ?? ""} ${fb?.error ?? ""}`);
}
console.log(`\nCPU with every target up at once, rotating sequential batches (${12 * 150} requests each), and per stream (${chunks} chunks):\n`);
console.log("| target | CPU ms/request | CPU ms/stream |");
console.log("|---|---|---|");
for (const name of workers()) console.log(`| ${name} | ${f(rotating[name], 3)} | ${f(info[name].streamCpu, 2)} |`);
if (rotating.Switchyard && rotating["bare JS Worker"]) {
  const bare = "bare JS Worker";
  console.log(`\nSwitchyard / bare Worker: CPU per request ${(rotating.Switchyard / rotating[bare]).toFixed(2)}x (target <= 1.25x), CPU per stream ${(info.Switchyard.streamCpu / info[bare].streamCpu).toFixed(2)}x (target <= 1.6x), TTFT ${f(info.Switchyard.streams.ttft - info[bare].streams.ttft)} ms over the bare Worker's (target <= 0.3)`);
}
if (fs.existsSync(wasm)) {
  const raw = fs.readFileSync(wasm);
  console.log(`\nwasm: ${(raw.length / 1024).toFixed(0)} KiB raw, ${(zlib.gzipSync(raw).length / 1024).toFixed(0)} KiB gzip`);
}
const ratio = (other, c) => m("Switchyard", c, "rps") / m(other, c, "rps");
for (const other of ["bare JS Worker", "Portkey", "LiteLLM proxy"].filter((n) => results[n] && results.Switchyard)) {
  console.log(`Switchyard / ${other} throughput: ${[1, 16, 64].map((c) => `${c} conns ${ratio(other, c).toFixed(2)}x`).join(", ")}`);
}
if (results.Switchyard && results["bare JS Worker"]) {
  console.log(`Switchyard / bare Worker p50: ${[1, 16, 64].map((c) => `${c} conns ${(m("Switchyard", c, "p50") / m("bare JS Worker", c, "p50")).toFixed(2)}x`).join(", ")}`);
}
fs.rmSync(work, { recursive: true, force: true });
