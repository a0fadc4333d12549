// The admin reporting routes: health checks, readiness, usage and cost, reset, deployment
// metrics, and /metrics read by a real Prometheus text-format parser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import parsePrometheus from "parse-prometheus-text-format";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-admin-reporting-77";
let r;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: good, litellm_params: { model: openai/m, api_base: "${mock.base("good")}", api_key: sk-upstream-good-secret }, model_info: { id: good-1, input_cost_per_token: 0.001, output_cost_per_token: 0.002 } }
  - { model_name: "tricky\\"name", litellm_params: { model: openai/m, api_base: "${mock.base("bad")}" }, model_info: { id: bad-1 } }
general_settings: { master_key: "${MASTER}" }
router_settings: { num_retries: 0 }
`,
  );
});
after(async () => r && (await r.close()));

const get = async (path, key = MASTER, method = "GET") => {
  const res = await fetch(`${r.url}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  return { status: res.status, text, type: res.headers.get("content-type") };
};

test("health, readiness, usage, cost map, reset and /metrics", async () => {
  const client = r.client(MASTER);
  for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: "good", messages: [{ role: "user", content: "hi" }] });
  r.mock.behave("bad", { status: 500 });
  await assert.rejects(client.chat.completions.create({ model: 'tricky"name', messages: [{ role: "user", content: "hi" }] }));

  const ready = await get("/health/readiness", null);
  assert.equal(ready.status, 200);
  assert.equal(JSON.parse(ready.text).state_reachable, true);
  assert.equal(JSON.parse(ready.text).state, "durable objects");
  const health = JSON.parse((await get("/health")).text);
  assert.equal(health.healthy_count, 1);
  assert.equal(health.unhealthy_count, 1);
  assert.equal(health.unhealthy_endpoints[0].model_id, "bad-1");
  const one = JSON.parse((await get("/health?model=good")).text);
  assert.equal(one.healthy_count + one.unhealthy_count, 1);

  const usage = JSON.parse((await get("/usage")).text);
  const good = usage.deployments.find((d) => d.id === "good-1");
  assert.equal(good.requests, 3);
  assert.ok(Math.abs(good.cost - 3 * (9 * 0.001 + 3 * 0.002)) < 1e-9);
  const costMap = JSON.parse((await get("/model/cost_map")).text);
  assert.equal(costMap["good-1"].source, "model_info");

  const metrics = await get("/metrics");
  assert.match(metrics.type, /^text\/plain; version=0.0.4/);
  const families = parsePrometheus(metrics.text);
  const byName = Object.fromEntries(families.map((f) => [f.name, f]));
  for (const name of ["switchyard_requests_total", "switchyard_failures_total", "switchyard_tokens_total", "switchyard_cost_usd_total", "switchyard_in_flight", "switchyard_retries_total", "switchyard_fallbacks_total", "switchyard_cooldowns_total", "switchyard_call_duration_seconds"]) {
    assert.ok(byName[name], `${name} present`);
  }
  const requests = byName.switchyard_requests_total.metrics.find((m) => m.labels.deployment === "good-1");
  assert.equal(Number(requests.value), 3);
  const tricky = byName.switchyard_failures_total.metrics.find((m) => m.labels.deployment === "bad-1");
  assert.equal(tricky.labels.model_group, 'tricky"name', "label escaping survives a real parser");
  assert.equal(tricky.labels.class, "internal_server");

  assert.equal(byName.switchyard_call_duration_seconds.type, "HISTOGRAM");
  // (this parser keeps no labels on histograms: the per-deployment lines are checked as text)
  assert.match(metrics.text, /switchyard_call_duration_seconds_count\{model_group="good",deployment="good-1"\} 3\n/);
  assert.match(metrics.text, /switchyard_call_duration_seconds_bucket\{model_group="good",deployment="good-1",le="\+Inf"\} 3\n/);
  assert.equal(Number(byName.switchyard_retries_total.metrics.find((m) => m.labels.model_group === "good").value), 0);
  const printed = JSON.parse((await get("/metrics/deployments")).text);
  assert.match(printed.text, /good-1 \[good\] requests=3/);
  assert.equal((await get("/cost/reset", MASTER, "POST")).status, 200);
  const after = JSON.parse((await get("/usage")).text);
  assert.equal(after.total_cost, 0);

  for (const path of ["/usage", "/metrics", "/health", "/model/cost_map"]) {
    assert.equal((await get(path, null)).status, 401, path);
    assert.equal((await get(path, "sk-not-master")).status, 401, path);
  }
  const all = [metrics.text, JSON.stringify(usage), JSON.stringify(health), JSON.stringify(costMap), printed.text].join("\n");
  assert.ok(!all.includes("sk-upstream-good-secret"), "no secret in any report");
});
