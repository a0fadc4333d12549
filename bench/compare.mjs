// Side-by-side on this machine, interleaved so drift cancels out: the mock upstream directly
// (the floor), a bare JavaScript Worker that only forwards the body with fetch (the platform's
// limit in this runtime), and Switchyard, both in workerd via Miniflare serving HTTP. For 1, 16
// and 64 connections: requests/s, latency p50/p99 and what each adds over direct, and the CPU
// time of the workerd process per request (from /proc).
//
//   node bench/compare.mjs [--seconds 5] [--rounds 2]
//
// LiteLLM proxy and Portkey are not in this harness yet.
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import { Miniflare } from "miniflare";
import { workerOptions, COMPATIBILITY_DATE } from "../tests/e2e/harness.mjs";

const run = promisify(execFile);
const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const seconds = arg("seconds", 5);
const rounds = arg("rounds", 2);
const script = new URL("./chat.lua", import.meta.url).pathname;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const MOCK_PORT = 19411;
const mock = spawn(process.execPath, ["tests/mock-upstream.mjs", "--port", String(MOCK_PORT)], { stdio: "ignore" });
await sleep(500);
const base = (name) => `http://127.0.0.1:${MOCK_PORT}/${name}/v1`;

function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      total += Number(f[11]) + Number(f[12]); // utime + stime
    } catch {}
  }
  return total;
}

async function workerdPids() {
  try {
    const { stdout } = await run("pgrep", ["-f", "workerd"]);
    return stdout.trim().split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function wrk(url, conns) {
  const { stdout } = await run("wrk", ["-t1", `-c${conns}`, `-d${seconds}s`, "--latency", "-s", script, url]);
  const ms = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), p50: ms(50), p99: ms(99), requests };
}

const BARE = `export default {
  async fetch(req, env) {
    const body = await req.arrayBuffer();
    return fetch(env.UPSTREAM + "/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body });
  },
};`;
const CONFIG = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s1")}" } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s2")}" } }
router_settings: { routing_strategy: simple-shuffle, num_retries: 2 }
`;

const targets = {
  direct: async () => ({ url: `${base("d")}/chat/completions`, close: async () => {} }),
  "bare JS Worker": async () => {
    const mf = new Miniflare({ modules: true, script: BARE, compatibilityDate: COMPATIBILITY_DATE, bindings: { UPSTREAM: base("j") }, host: "127.0.0.1", port: 0 });
    const url = (await mf.ready).toString().replace(/\/$/, "");
    return { url: `${url}/v1/chat/completions`, close: () => mf.dispose(), cpu: true };
  },
  Switchyard: async () => {
    const mf = new Miniflare({ ...workerOptions(CONFIG, { shared: process.env.BENCH_SHARED !== "0" }), host: "127.0.0.1", port: 0 });
    const url = (await mf.ready).toString().replace(/\/$/, "");
    return { url: `${url}/v1/chat/completions`, close: () => mf.dispose(), cpu: true };
  },
};

const results = {};
for (let r = 0; r < rounds; r++) {
  for (const conns of [1, 16, 64]) {
    const order = Object.keys(targets);
    if (r % 2) order.reverse();
    for (const name of order) {
      const t = await targets[name]();
      await wrk(t.url, 4).catch(() => {}); // warm up
      const pids = t.cpu ? await workerdPids() : [];
      const before = cpuTicks(pids);
      const res = await wrk(t.url, conns);
      const ticks = cpuTicks(pids) - before;
      res.cpuMsPerRequest = t.cpu ? (ticks * 10) / res.requests : NaN; // 100 ticks/s
      ((results[name] ||= {})[conns] ||= []).push(res);
      await t.close();
    }
  }
}
mock.kill();

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = (name, conns, k) => median(results[name][conns].map((x) => x[k]));
console.log(`\n${new Date().toISOString().slice(0, 10)} · ${rounds} interleaved rounds of ${seconds} s · 2 shared cores · wrk -t1 · mock upstream in its own Node process\n`);
console.log("| target | conns | req/s | p50 ms | p99 ms | p50 added over direct | CPU ms/request (workerd) |");
console.log("|---|---|---|---|---|---|---|");
for (const conns of [1, 16, 64]) {
  for (const name of Object.keys(targets)) {
    const cpu = m(name, conns, "cpuMsPerRequest");
    console.log(
      `| ${name} | ${conns} | ${m(name, conns, "rps").toFixed(0)} | ${m(name, conns, "p50").toFixed(2)} | ${m(name, conns, "p99").toFixed(2)} | ${name === "direct" ? "–" : (m(name, conns, "p50") - m("direct", conns, "p50")).toFixed(2)} | ${Number.isNaN(cpu) ? "–" : cpu.toFixed(3)} |`,
    );
  }
}
const ratio = (c) => m("Switchyard", c, "rps") / m("bare JS Worker", c, "rps");
console.log(`\nSwitchyard / bare Worker throughput: 1 conn ${(ratio(1) * 100).toFixed(0)}%, 16 conns ${(ratio(16) * 100).toFixed(0)}%, 64 conns ${(ratio(64) * 100).toFixed(0)}%`);
