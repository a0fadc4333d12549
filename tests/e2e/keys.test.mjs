// Virtual keys in workerd, kept in the `keys` Durable Object: generated with the master key,
// used with the official SDK, held to their models, rpm limit and budget; never admin.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-keys-master-0042";
let r;
before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: cheap, litellm_params: { model: openai/m, api_base: "${mock.base("cheap")}" }, model_info: { input_cost_per_token: 0.01, output_cost_per_token: 0.01 } }
  - { model_name: premium, litellm_params: { model: openai/m, api_base: "${mock.base("premium")}" } }
general_settings: { master_key: "${MASTER}" }
`,
  );
});
after(async () => r && (await r.close()));

async function admin(path, body) {
  const res = await fetch(`${r.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const hi = (model) => ({ model, messages: [{ role: "user", content: "hi" }] });

test("a virtual key: models, rpm limit, budget, no admin, deletion", async () => {
  const gen = await admin("/key/generate", { models: ["cheap"], rpm_limit: 3, max_budget: 0.5, key_alias: "ci", duration: "1h" });
  assert.equal(gen.status, 200);
  const key = gen.json.key;
  assert.match(key, /^sk-[0-9a-f]{48}$/);
  const client = r.client(key);
  assert.equal((await client.chat.completions.create(hi("cheap"))).object, "chat.completion");
  await assert.rejects(client.chat.completions.create(hi("premium")), (e) => e instanceof OpenAI.PermissionDeniedError);
  assert.equal(r.mock.callsTo("premium").length, 0);
  // 9 + 3 tokens at 0.01 = 0.12 a call: the budget of 0.5 allows a few, the rpm limit 3.
  await client.chat.completions.create(hi("cheap"));
  await client.chat.completions.create(hi("cheap"));
  await assert.rejects(client.chat.completions.create(hi("cheap")), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.ok(Number(e.headers.get("retry-after")) >= 1);
    return true;
  });
  assert.equal(r.mock.callsTo("cheap").length, 3, "refused calls never reach the upstream");
  const info = await admin(`/key/info?key=${key}`);
  assert.equal(info.json.info.key_alias, "ci");
  assert.ok(Math.abs(info.json.info.spend - 0.36) < 1e-9, `spend ${info.json.info.spend}`);
  assert.ok(!JSON.stringify(info.json).includes(key), "the key is shown once, at generation");

  const usage = await fetch(`${r.url}/usage`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(usage.status, 403, "a virtual key is not the master key");

  await admin("/key/update", { key, rpm_limit: 100, max_budget: 0.4 });
  await client.chat.completions.create(hi("cheap"));
  await new Promise((res) => setTimeout(res, 100)); // spend is charged after the response
  await assert.rejects(client.chat.completions.create(hi("cheap")), (e) => e.status === 400 && e.code === "budget_exceeded");

  const del = await admin("/key/delete", { keys: [key] });
  assert.equal(del.json.deleted, 1);
  await assert.rejects(client.chat.completions.create(hi("cheap")), (e) => e instanceof OpenAI.AuthenticationError);
});
