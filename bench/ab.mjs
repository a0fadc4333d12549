// A/B of two builds of the Worker in one run (needs wrk: scripts/bench-setup.sh installs it): alternates them under the same wrk load and
// reports each one's requests/s and workerd CPU per request (medians), so a change's effect is
// measured against its own drift. Used to decide whether an optimisation stays.
//
//   node bench/ab.mjs <dir-with-build-A> <dir-with-build-B> [--rounds 6] [--seconds 4] [--conns 16]
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { COMPATIBILITY_DATE } from "../tests/e2e/harness.mjs";

const run = promisify(execFile);
const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const [dirA, dirB] = process.argv.slice(2, 4);
const rounds = arg("rounds", 6);
const seconds = arg("seconds", 4);
const conns = arg("conns", 16);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mock = spawn(process.execPath, [new URL("../tests/mock-upstream.mjs", import.meta.url).pathname, "--port", "19411"], { stdio: "ignore" });
await sleep(400);
const base = (n) => `http://127.0.0.1:19411/${n}/v1`;
const config = `
model_list:
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s1")}" } }
  - { model_name: bench, litellm_params: { model: openai/m, api_base: "${base("s2")}" } }
router_settings: { routing_strategy: simple-shuffle, num_retries: 2 }
general_settings: { request_log: false }
`;
const lua = path.join(os.tmpdir(), "ab.lua");
fs.writeFileSync(lua, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = '{"model":"bench","messages":[{"role":"user","content":"hello"}]}'\n`);
const ticks = (pids) =>
  pids.reduce((n, p) => {
    try {
      const f = fs.readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ");
      return n + Number(f[11]) + Number(f[12]);
    } catch {
      return n;
    }
  }, 0);
const res = { A: [], B: [] };
for (let r = 0; r < rounds; r++) {
  for (const [name, dir] of r % 2 ? [["B", dirB], ["A", dirA]] : [["A", dirA], ["B", dirB]]) {
    const mf = new Miniflare({
      scriptPath: path.join(dir, "build/index.js"),
      modulesRoot: dir,
      modules: true,
      modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
      compatibilityDate: COMPATIBILITY_DATE,
      bindings: { ROUTER_CONFIG: config },
      durableObjects: { ROUTER_STATE: { className: "RouterShard", useSQLite: true } },
      kvNamespaces: ["ROUTER_CACHE"],
      host: "127.0.0.1",
      port: 0,
    });
    const url = (await mf.ready).toString().replace(/\/$/, "") + "/v1/chat/completions";
    await run("wrk", ["-t1", "-c4", "-d1s", "-s", lua, url]);
    const { stdout: pg } = await run("pgrep", ["-f", "workerd serve"]);
    const pids = pg.trim().split("\n").map(Number);
    const before = ticks(pids);
    const { stdout } = await run("wrk", ["-t1", `-c${conns}`, `-d${seconds}s`, "-s", lua, url]);
    const requests = Number(/(\d+) requests in/.exec(stdout)[1]);
    res[name].push({ rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]), cpu: ((ticks(pids) - before) * 10) / requests });
    await mf.dispose();
  }
}
mock.kill();
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const k of ["A", "B"]) {
  console.log(`${k}: ${med(res[k].map((x) => x.rps)).toFixed(0)} req/s, ${med(res[k].map((x) => x.cpu)).toFixed(3)} ms CPU/request  (rps ${res[k].map((x) => x.rps.toFixed(0)).join(" ")})`);
}
