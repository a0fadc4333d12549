// The JSPI trial: what one await costs in workerd three ways a wasm core can wait on JavaScript
// (bench/jspi/src/lib.rs): a Rust future per await (wasm-bindgen-futures, the Worker's old
// entry), JSPI (`WebAssembly.Suspending` / `promising`, wasm-bindgen's `jspi` export), and the
// operation table's way (JavaScript awaits, then one synchronous call). A plain JavaScript loop
// is the floor. CPU is the workerd process's own time from /proc, in rotating batches.
//
//   node bench/jspi.mjs [--n 20000] [--batches 6]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";
import { COMPATIBILITY_DATE } from "../tests/e2e/harness.mjs";

const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg("n", 20000);
const BATCHES = arg("batches", 6);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
execFileSync("bash", [path.join(root, "bench/jspi/build.sh")], { stdio: "inherit" });

const out = path.join(root, "bench/jspi/out");
const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(out, "index.js"),
  modulesRoot: out,
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: COMPATIBILITY_DATE,
});
const url = (await mf.ready).toString();
const pids = execFileSync("pgrep", ["-f", "workerd serve"]).toString().trim().split("\n").map(Number);
const ticks = () =>
  pids.reduce((t, pid) => {
    try {
      const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      return t + Number(f[11]) + Number(f[12]);
    } catch {
      return t;
    }
  }, 0);

const modes = ["js", "table", "jspi", "futures"];
const expected = String(((N * (N - 1)) / 2) >>> 0);
const run = async (mode) => {
  const r = await fetch(`${url}?mode=${mode}&n=${N}`);
  const text = await r.text();
  if (r.status !== 200 || text !== expected) throw new Error(`${mode}: ${r.status} ${text} (want ${expected})`);
};
for (const m of modes) await run(m); // warm up and check each answers the same sum
const cpu = Object.fromEntries(modes.map((m) => [m, 0]));
for (let b = 0; b < BATCHES; b++) {
  for (let k = 0; k < modes.length; k++) {
    const mode = modes[(b + k) % modes.length];
    const before = ticks();
    for (let i = 0; i < 5; i++) await run(mode);
    cpu[mode] += ticks() - before;
  }
}
await mf.dispose();
const per = (m) => (cpu[m] * 10 * 1e6) / (BATCHES * 5 * N); // ns per await
console.log(`JSPI trial: ${BATCHES * 5} requests of ${N} awaits per way, rotating batches\n`);
console.log("| way | ns of CPU per await | over the JavaScript loop |");
console.log("|---|---|---|");
for (const m of modes) console.log(`| ${m} | ${per(m).toFixed(0)} | ${m === "js" ? "–" : (per(m) - per("js")).toFixed(0)} |`);
