// Load test of the shared state (issue "State at the edge"): throughput and latency of the same
// Worker in local workerd with the router-state Durable Objects on and off, interleaved so the
// machine's drift cancels out; and the cost of a Durable Object round trip (a request that must
// reserve an rpm slot at its shard, against one that does not).
//
//   node bench/state-load.mjs [--seconds 5] [--rounds 3] [--connections 16]
//
// Needs `wrk` (Debian package). Prints a Markdown table.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Miniflare } from "miniflare";
import { startMock } from "../tests/mock-upstream.mjs";
import { workerOptions } from "../tests/e2e/harness.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg("seconds", 5);
const rounds = arg("rounds", 3);
const connections = arg("connections", 16);
const script = new URL("./chat.lua", import.meta.url).pathname;

// Async: the mock upstream lives in this process and must keep serving while wrk runs.
const run = promisify(execFile);

async function wrk(url, conns, secs) {
  const { stdout: out } = await run("wrk", ["-t1", `-c${conns}`, `-d${secs}s`, "--latency", "-s", script, `${url}/v1/chat/completions`], {
    encoding: "utf8",
  });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]);
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return { rps, p50: pct(50), p99: pct(99), non2xx: errors ? Number(errors[1]) : 0 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function serve(config, shared) {
  const mf = new Miniflare({ ...workerOptions(config, { shared }), host: "127.0.0.1", port: 0 });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  await wrk(url, 4, 1); // warm up: compile, first loads
  return { mf, url };
}

const mock = await startMock();
const plain = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${mock.base("b1")}" } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${mock.base("b2")}" } }
`;
const reserving = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${mock.base("b1")}", rpm: 100000000 } }
router_settings: { routing_strategy: usage-based-routing-v2 }
`;
const unreserved = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${mock.base("b1")}" } }
router_settings: { routing_strategy: usage-based-routing-v2 }
`;

const results = { off: [], on: [] };
for (let r = 0; r < rounds; r++) {
  for (const mode of r % 2 ? ["on", "off"] : ["off", "on"]) {
    const s = await serve(plain, mode === "on");
    results[mode].push(await wrk(s.url, connections, seconds));
    await s.mf.dispose();
  }
}
const rtt = { with: [], without: [] };
for (let r = 0; r < rounds; r++) {
  for (const [mode, config] of [["without", unreserved], ["with", reserving]]) {
    const s = await serve(config, true);
    rtt[mode].push(await wrk(s.url, 1, seconds));
    await s.mf.dispose();
  }
}
await mock.close();

const row = (name, xs) =>
  `| ${name} | ${median(xs.map((x) => x.rps)).toFixed(0)} | ${median(xs.map((x) => x.p50)).toFixed(2)} | ${median(xs.map((x) => x.p99)).toFixed(2)} | ${xs.reduce((a, x) => a + x.non2xx, 0)} |`;
const ratio = median(results.on.map((x) => x.rps)) / median(results.off.map((x) => x.rps));
console.log(`\n${new Date().toISOString().slice(0, 10)}, ${rounds} interleaved rounds of ${seconds} s, wrk -c${connections} (and -c1 for the round trip), local workerd via Miniflare\n`);
console.log("| run | req/s | p50 ms | p99 ms | non-2xx |");
console.log("|---|---|---|---|---|");
console.log(row(`state off (isolate memory), ${connections} conns`, results.off));
console.log(row(`state on (Durable Objects), ${connections} conns`, results.on));
console.log(row("1 conn, no reservation", rtt.without));
console.log(row("1 conn, rpm reservation at the shard each request", rtt.with));
console.log(`\nthroughput with state on / off: ${(ratio * 100).toFixed(1)}%`);
const d50 = median(rtt.with.map((x) => x.p50)) - median(rtt.without.map((x) => x.p50));
const d99 = median(rtt.with.map((x) => x.p99)) - median(rtt.without.map((x) => x.p99));
console.log(`Durable Object round trip (added latency): p50 ${d50.toFixed(2)} ms, p99 ${d99.toFixed(2)} ms`);
