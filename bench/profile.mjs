// Where the Worker's CPU goes: runs Switchyard (or, with --bare, the bare forwarding Worker) in
// workerd via Miniflare with the V8 inspector on, loads it with wrk at 16 connections (CONNS=n
// to change) and prints the sampled CPU profile: time by category, self time per function, then
// inclusive time. For Rust names (and unminified JavaScript), build with PROFILE=1 first:
//
//   PROFILE=1 bash scripts/build-worker.sh
//   node bench/profile.mjs [--bare] [--noshared]
//
// The raw profile is written to /tmp/*.cpuprofile (Chrome DevTools opens it).
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import { COMPATIBILITY_DATE, workerOptions } from "../tests/e2e/harness.mjs";
const run = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mock = spawn(process.execPath, [new URL("../tests/mock-upstream.mjs", import.meta.url).pathname, "--port", "19411"], { stdio: "ignore" });
await sleep(400);
const base = (n) => `http://127.0.0.1:19411/${n}/v1`;
const CONFIG = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s1")}" } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s2")}" } }
router_settings: { routing_strategy: simple-shuffle, num_retries: 2 }
general_settings: { request_log: false }
`;
const bare = process.argv.includes("--bare");
const opts = bare ? { modules: true, script: `export default { async fetch(req, env) { const body = await req.arrayBuffer(); return fetch("${base("j")}/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body }); } };`, compatibilityDate: COMPATIBILITY_DATE } : workerOptions(CONFIG, { shared: !process.argv.includes("--noshared") });
const mf = new Miniflare({ ...opts, host: "127.0.0.1", port: 0, inspectorPort: 9229 });
const url = (await mf.ready).toString().replace(/\/$/, "") + "/v1/chat/completions";
const list = await (await fetch("http://127.0.0.1:9229/json")).json();
console.log(list.map((t) => t.title || t.id));
const target = list.find((t) => /core:user/.test(t.title ?? ""));
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.on("open", r));
let id = 0;
const pending = new Map();
ws.on("message", (m) => { const d = JSON.parse(m); if (d.id && pending.has(d.id)) { pending.get(d.id)(d); pending.delete(d.id); } });
const send = (method, params = {}) => new Promise((r) => { const i = ++id; pending.set(i, r); ws.send(JSON.stringify({ id: i, method, params })); });
fs.writeFileSync("/tmp/chat.lua", `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '{"model":"bench","messages":[{"role":"user","content":"hello"}]}'\n`);
await run("wrk", ["-t1", "-c4", "-d2s", "-s", "/tmp/chat.lua", url]);
await send("Profiler.enable");
await send("Profiler.setSamplingInterval", { interval: 50 });
await send("Profiler.start");
const { stdout } = await run("wrk", ["-t1", `-c${process.env.CONNS || 16}`, "-d6s", "-s", "/tmp/chat.lua", url]);
console.log(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[0]);
const { result } = await send("Profiler.stop");
const p = result.profile;
fs.writeFileSync(bare ? "/tmp/bare.cpuprofile" : "/tmp/switchyard.cpuprofile", JSON.stringify(p));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const counts = new Map();
for (const s of p.samples) counts.set(s, (counts.get(s) || 0) + 1);
let total = 0;
for (const [nid, c] of counts) {
  const n = byId.get(nid);
  const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) || 0) + c);
  total += c;
}
// By category: the wasm, its JavaScript glue (index.js), the runtime's built-ins, V8's own.
const category = new Map();
for (const [nid, c] of counts) {
  const f = byId.get(nid).callFrame;
  const k = f.url.includes("wasm") ? "wasm" : f.url.endsWith("index.js") ? "JS glue (index.js)" : f.url ? "other JS" : ["(idle)", "(program)", "(garbage collector)"].includes(f.functionName) ? f.functionName : "runtime built-ins";
  category.set(k, (category.get(k) || 0) + c);
}
for (const [k, c] of [...category].sort((a, b) => b[1] - a[1])) console.log(((c / total) * 100).toFixed(1).padStart(5), `[${k}]`);
const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 45);
for (const [k, c] of top) console.log(((c / total) * 100).toFixed(1).padStart(5), k);
// inclusive for wasm-function names and JS glue
const parent = new Map();
for (const n of p.nodes) for (const c of n.children || []) parent.set(c, n.id);
const incl = new Map();
for (const [nid, c] of counts) {
  const seen = new Set();
  let cur = nid;
  while (cur) { const n = byId.get(cur); const key = n.callFrame.functionName || "(anon)"; if (!seen.has(key)) { incl.set(key, (incl.get(key) || 0) + c); seen.add(key); } cur = parent.get(cur); }
}
console.log("--- inclusive");
for (const [k, c] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 60)) console.log(((c / total) * 100).toFixed(1).padStart(5), k);
ws.close(); await mf.dispose(); mock.kill();
