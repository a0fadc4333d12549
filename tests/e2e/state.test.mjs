// Shared state in workerd: two Worker instances (separate isolates) sharing the router-state
// Durable Objects, exact rpm limits under concurrency, least-busy across requests, and state
// that survives a restart of the runtime.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";
import { startMock } from "../mock-upstream.mjs";
import { workerOptions, startRouter } from "./harness.mjs";

const KEY = "sk-state-master-31337";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const body = (model) => JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] });

async function post(fetcher, model, key) {
  const res = await fetcher.fetch("http://router/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body(model),
  });
  return { status: res.status, id: res.headers.get("x-litellm-model-id"), text: await res.text() };
}

/** Waits until at least `margin` ms are left in the current minute (per-minute counters). */
async function awayFromMinuteEnd(margin = 10_000) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < margin) await sleep(left + 200);
}

const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test("two isolates share cooldowns and in-flight counts through the Durable Object", async () => {
  const mock = await startMock();
  cleanup.push(() => mock.close());
  const config = `
model_list:
  - { model_name: pair, litellm_params: { model: openai/m, api_base: "${mock.base("bad")}" }, model_info: { id: bad } }
  - { model_name: pair, litellm_params: { model: openai/m, api_base: "${mock.base("good")}" }, model_info: { id: good } }
  - { model_name: busy, litellm_params: { model: openai/m, api_base: "${mock.base("b1")}" }, model_info: { id: b1 } }
  - { model_name: busy, litellm_params: { model: openai/m, api_base: "${mock.base("b2")}" }, model_info: { id: b2 } }
  - { model_name: other, litellm_params: { model: openai/m, api_base: "${mock.base("other")}" }, model_info: { id: other } }
router_settings: { routing_strategy: least-busy, allowed_fails: 0, cooldown_time: 120, num_retries: 1 }
`;
  const mf = new Miniflare({
    workers: [
      workerOptions(config, { name: "a" }),
      { ...workerOptions(config, { name: "b", shared: false }), durableObjects: { ROUTER_STATE: { className: "RouterShard", scriptName: "a" } } },
    ],
  });
  cleanup.push(() => mf.dispose());
  const a = await mf.getWorker("a");
  const b = await mf.getWorker("b");

  // Both isolates load the shared state once.
  assert.equal((await post(b, "other")).status, 200);
  assert.equal((await post(a, "other")).status, 200);

  // Through A: the failing deployment is cooled down (allowed_fails: 0).
  mock.behave("bad", { status: 500 });
  while (mock.callsTo("bad").length === 0) assert.equal((await post(a, "pair")).status, 200);
  const badCalls = mock.callsTo("bad").length;

  // A reports within 200 ms; B's view is refreshed once it is older than 1 s.
  await sleep(1_300);
  assert.equal((await post(b, "other")).status, 200);
  await sleep(300);
  for (let i = 0; i < 20; i++) {
    const r = await post(b, "pair");
    assert.equal(r.status, 200);
    assert.equal(r.id, "good", "B skips the deployment A cooled down");
  }
  assert.equal(mock.callsTo("bad").length, badCalls);

  // least-busy in B sees a call in flight that A started.
  mock.behave("b1", { delayMs: 4_000, times: 1 });
  mock.behave("b2", { delayMs: 4_000, times: 1 });
  const slow = post(a, "busy");
  await sleep(1_300);
  assert.equal((await post(b, "other")).status, 200);
  await sleep(300);
  const busyFirst = mock.callsTo("b1").length ? "b1" : "b2";
  const r = await post(b, "busy");
  assert.equal(r.status, 200);
  assert.notEqual(r.id, busyFirst, "the deployment busy with A's call is avoided");
  assert.equal((await slow).status, 200);
});

test("an rpm limit holds exactly under 64 concurrent requests", async () => {
  await awayFromMinuteEnd();
  const r = await startRouter(
    (mock) => `
model_list:
  - { model_name: limited, litellm_params: { model: openai/m, api_base: "${mock.base("l1")}", rpm: 10 }, model_info: { id: l1 } }
  - { model_name: limited, litellm_params: { model: openai/m, api_base: "${mock.base("l2")}", rpm: 15 }, model_info: { id: l2 } }
router_settings: { routing_strategy: usage-based-routing-v2, num_retries: 0 }
`,
  );
  cleanup.push(() => r.close());
  const results = await Promise.all(
    Array.from({ length: 64 }, () =>
      fetch(`${r.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body("limited") }).then(
        async (res) => ({ status: res.status, retryAfter: res.headers.get("retry-after"), _: await res.text() }),
      ),
    ),
  );
  const ok = results.filter((x) => x.status === 200).length;
  const limited = results.filter((x) => x.status === 429);
  assert.equal(r.mock.callsTo("l1").length, 10, "l1 got exactly its rpm");
  assert.equal(r.mock.callsTo("l2").length, 15, "l2 got exactly its rpm");
  assert.equal(ok, 25);
  assert.equal(limited.length, 39);
  assert.ok(limited.every((x) => Number(x.retryAfter) >= 1 && Number(x.retryAfter) <= 60));
});

test("state survives a restart of the runtime", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-state-"));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mock = await startMock();
  cleanup.push(() => mock.close());
  const config = `
model_list:
  - { model_name: pair, litellm_params: { model: openai/m, api_base: "${mock.base("bad")}" }, model_info: { id: bad } }
  - { model_name: pair, litellm_params: { model: openai/m, api_base: "${mock.base("good")}" }, model_info: { id: good } }
router_settings: { allowed_fails: 0, cooldown_time: 300, num_retries: 1 }
general_settings: { master_key: ${KEY} }
`;
  const start = () => new Miniflare({ ...workerOptions(config), durableObjectsPersist: dir });
  const usage = async (w) => {
    const res = await w.fetch("http://router/usage", { headers: { authorization: `Bearer ${KEY}` } });
    return Object.fromEntries((await res.json()).deployments.map((d) => [d.id, d]));
  };
  let mf = start();
  let w = await mf.getWorker();
  mock.behave("bad", { status: 500 });
  let served = 0;
  while (mock.callsTo("bad").length === 0) {
    assert.equal((await post(w, "pair", KEY)).status, 200);
    served++;
  }
  await sleep(600); // the batch reaches the shard
  const seen = await usage(w);
  assert.equal(seen.good.successes, served);
  await mf.dispose();

  mf = start();
  cleanup.push(() => mf.dispose());
  w = await mf.getWorker();
  const after = await usage(w);
  assert.equal(after.good.successes, served, "usage outlived the restart");
  assert.equal(after.good.prompt_tokens, seen.good.prompt_tokens);
  assert.ok(Math.abs(after.good.cost - seen.good.cost) < 1e-12);
  assert.equal(after.bad.failures_by_class.internal_server, 1);
  const before = mock.callsTo("bad").length;
  for (let i = 0; i < 20; i++) assert.equal((await post(w, "pair", KEY)).id, "good");
  assert.equal(mock.callsTo("bad").length, before, "the cooldown outlived the restart");
});

test("the Durable Object keeps the latency window the config asks for (max_latency_list_size 30)", async () => {
  const r = await startRouter((mock) => `
model_list:
  - { model_name: lat, litellm_params: { model: openai/m, api_base: "${mock.base("lat")}" }, model_info: { id: lat-1 } }
router_settings: { routing_strategy: latency-based-routing, routing_strategy_args: { max_latency_list_size: 30, ttl: 3600 }, num_retries: 0 }
general_settings: { master_key: "${KEY}" }
`);
  after(() => r.close());
  const w = await r.mf.getWorker();
  // 20 slow calls (60 ms for 3 tokens: 20 ms a token), then 10 fast ones.
  r.mock.behave("lat", { delayMs: 60 });
  for (let i = 0; i < 20; i++) assert.equal((await post(w, "lat", KEY)).status, 200);
  r.mock.behave("lat", {});
  for (let i = 0; i < 10; i++) assert.equal((await post(w, "lat", KEY)).status, 200);
  // Once every outcome is at the shard, its window decides: 30 samples average to ~13 ms a
  // token; a window of 10 (the old default) would keep only the fast ones (< 2 ms).
  // (Read after the batches have gone: before, the isolate's own unsent outcomes would show.)
  await sleep(1_500);
  const res = await w.fetch("http://router/usage", { headers: { authorization: `Bearer ${KEY}` } });
  const latency = (await res.json()).deployments[0].latency_ms;
  assert.ok(latency > 8 && latency < 25, `mean latency ${latency} ms a token`);
});
