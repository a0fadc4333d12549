// A config with bad deployments still serves the good ones, as LiteLLM does: each bad entry is
// left out with a warning naming it, readiness says `degraded`, /model/info lists them (for the
// master key, not for a tenant); only a config with nothing usable fails every request.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-partial-master-9d2";
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

const call = (r, path, { key = MASTER, body } = {}) =>
  fetch(`${r.url}${path}`, {
    method: body ? "POST" : "GET",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  }).then(async (res) => ({ status: res.status, json: await res.json() }));
const hi = (model) => ({ model, messages: [{ role: "user", content: "hi" }] });

test("one bad deployment is left out; the others serve and readiness says degraded", async () => {
  const r = await startRouter(
    (mock) => `
model_list:
  - { model_name: good, litellm_params: { model: openai/m, api_base: "${mock.base("good")}" } }
  - { model_name: typo, litellm_params: { model: opnai/m, api_base: "${mock.base("typo")}" } }
  - { model_name: unset, litellm_params: { model: openai/m, api_base: "${mock.base("unset")}", api_key: os.environ/NOT_SET_ANYWHERE } }
  - { model_name: wrong-type, litellm_params: { model: openai/m, rpm: "many" } }
general_settings: { master_key: ${MASTER} }
`,
  );
  cleanup.push(() => r.close());
  assert.equal((await call(r, "/v1/chat/completions", { body: hi("good") })).status, 200);
  const missing = await call(r, "/v1/chat/completions", { body: hi("typo") });
  assert.equal(missing.status, 400);
  assert.equal(missing.json.error.code, "model_not_found");
  assert.equal(r.mock.callsTo("typo").length + r.mock.callsTo("unset").length, 0);

  const ready = await call(r, "/health/readiness", { key: null });
  assert.equal(ready.status, 200);
  assert.equal(ready.json.status, "degraded");
  assert.equal(ready.json.left_out, 3);
  assert.equal(ready.json.deployments, 1);

  const info = await call(r, "/model/info");
  assert.deepEqual(info.json.left_out.map((l) => [l.index, l.model_name]), [[1, "typo"], [2, "unset"], [3, "wrong-type"]]);
  assert.match(info.json.left_out[1].reason, /NOT_SET_ANYWHERE/);
  assert.match(info.json.left_out[2].reason, /model_list\[3\]\.litellm_params\.rpm/);
  const key = (await call(r, "/key/generate", { body: { models: ["good"] } })).json.key;
  const tenant = await call(r, "/model/info", { key });
  assert.equal(tenant.json.left_out, undefined, "a tenant is not shown the config's problems");
  assert.equal(tenant.json.data.length, 1);
});

test("a config with nothing usable fails every request, naming each reason", async () => {
  const r = await startRouter(`
model_list:
  - { model_name: a, litellm_params: { model: nosuch/x } }
  - { model_name: b, litellm_params: { model: openai/m, timeout: -1 } }
`);
  cleanup.push(() => r.close());
  const res = await call(r, "/v1/chat/completions", { key: null, body: hi("a") });
  assert.equal(res.status, 500);
  assert.match(res.json.error.message, /no deployment of model_list is usable/);
  assert.match(res.json.error.message, /model_list\[0\].*model_list\[1\]/);
  const ready = await call(r, "/health/readiness", { key: null });
  assert.equal(ready.status, 503);
});
