// A LiteLLM user's config and clients, unchanged: model_group_alias (both spellings), a
// deployment's own num_retries, LiteLLM's control headers, the model endpoints the SDKs call
// (models.list / models.retrieve, filtered per key; /model/info), Azure-style deployment paths
// (the AzureOpenAI client) and the provider's x-request-id (the SDKs' `_request_id`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI, { AzureOpenAI } from "openai";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-dropin-master-5c1e";
let r;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: gpt-4o
    litellm_params: { model: openai/real-4o, api_base: "${mock.base("main")}", num_retries: 0 }
    model_info: { id: main-1 }
  - model_name: embedder
    litellm_params: { model: openai/text-embedding-3-small, api_base: "${mock.base("emb")}" }
    model_info: { id: emb-1 }
  - model_name: retried
    litellm_params: { model: openai/x, api_base: "${mock.base("retried")}" }
router_settings:
  num_retries: 2
  model_group_alias:
    gpt-4: gpt-4o
    internal-name: { model: embedder, hidden: true }
general_settings: { master_key: ${MASTER} }
`,
  );
});
after(() => r?.close());

const keyFor = async (models) => {
  const res = await fetch(`${r.url}/key/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ models }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).key;
};
const hi = [{ role: "user", content: "hi" }];

test("an alias serves its group; the SDK's models.list and models.retrieve see what the key may use", async () => {
  const admin = r.client(MASTER);
  const answer = await admin.chat.completions.create({ model: "gpt-4", messages: hi }).withResponse();
  assert.equal(answer.response.headers.get("x-litellm-model-group"), "gpt-4o");
  assert.equal(r.mock.calls.at(-1).body.model, "real-4o");
  const all = (await admin.models.list()).data.map((m) => m.id);
  assert.deepEqual(all, ["gpt-4o", "embedder", "retried", "gpt-4"], "a hidden alias is not listed");
  assert.equal((await admin.models.retrieve("gpt-4")).id, "gpt-4");

  const key = await keyFor(["gpt-4"]);
  const tenant = r.client(key);
  assert.deepEqual((await tenant.models.list()).data.map((m) => m.id), ["gpt-4"], "the name it was given, not the group's");
  const groupKey = await keyFor(["gpt-4o"]);
  assert.deepEqual((await r.client(groupKey).models.list()).data.map((m) => m.id), ["gpt-4o", "gpt-4"], "a group's key sees its alias");
  await assert.rejects(tenant.models.retrieve("embedder"), (e) => e.status === 404 && e.code === "model_not_found");
  const served = await tenant.chat.completions.create({ model: "gpt-4", messages: hi });
  assert.equal(served.object, "chat.completion");
  await assert.rejects(tenant.embeddings.create({ model: "internal-name", input: "x" }), (e) => e.status === 403);
  const info = await fetch(`${r.url}/model/info`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(info.status, 200);
  assert.deepEqual((await info.json()).data.map((d) => d.model_name), ["gpt-4o"], "the alias's deployments");
  const one = await fetch(`${r.url}/model/info?litellm_model_id=emb-1`, { headers: { authorization: `Bearer ${MASTER}` } });
  assert.deepEqual((await one.json()).data.map((d) => d.model_info.id), ["emb-1"]);
});

test("a deployment's num_retries and the x-litellm-num-retries header decide the retries", async () => {
  const admin = r.client(MASTER);
  r.mock.behave("main", { status: 500, times: 3 });
  let before = r.mock.callsTo("main").length;
  await assert.rejects(admin.chat.completions.create({ model: "gpt-4o", messages: hi }), (e) => e.status === 500);
  assert.equal(r.mock.callsTo("main").length - before, 1, "num_retries: 0 on the deployment");
  r.mock.behave("main", {});

  r.mock.behave("retried", { status: 500, times: 5 });
  before = r.mock.callsTo("retried").length;
  await assert.rejects(admin.chat.completions.create({ model: "retried", messages: hi }), (e) => e.status === 500);
  assert.equal(r.mock.callsTo("retried").length - before, 3, "the router's two retries");
  before = r.mock.callsTo("retried").length;
  await assert.rejects(
    admin.chat.completions.create({ model: "retried", messages: hi }, { headers: { "x-litellm-num-retries": "0" } }),
    (e) => e.status === 500,
  );
  assert.equal(r.mock.callsTo("retried").length - before, 1, "the header asked for none");
  r.mock.behave("retried", {});
  await assert.rejects(
    admin.chat.completions.create({ model: "retried", messages: hi }, { headers: { "x-litellm-timeout": "later" } }),
    (e) => e.status === 400 && e.param === "x-litellm-timeout",
  );
});

test("the AzureOpenAI client reaches a group through /openai/deployments/{name}, and _request_id is the provider's", async () => {
  const azure = new AzureOpenAI({ apiKey: MASTER, endpoint: r.url, apiVersion: "2024-10-21", deployment: "gpt-4", maxRetries: 0 });
  const chat = await azure.chat.completions.create({ model: "ignored-by-azure", messages: hi });
  assert.equal(chat.object, "chat.completion");
  const last = r.mock.calls.at(-1);
  assert.equal(last.name, "main");
  assert.equal(last.body.model, "real-4o");
  assert.match(chat._request_id, /^req-\d+$/, "the mock's x-request-id");

  const emb = new AzureOpenAI({ apiKey: MASTER, endpoint: r.url, apiVersion: "2024-10-21", deployment: "embedder", maxRetries: 0 });
  const vectors = await emb.embeddings.create({ model: "x", input: "hello", encoding_format: "float" });
  assert.deepEqual(vectors.data[0].embedding, [0.1, 0.2, 0.3]);
  assert.equal(r.mock.calls.at(-1).name, "emb");
});

test("a key with models [\"*\"] may call every model; a pattern, the models it matches", async () => {
  const all = r.client(await keyFor(["*"]));
  assert.equal((await all.chat.completions.create({ model: "gpt-4o", messages: hi })).object, "chat.completion");
  assert.equal((await all.embeddings.create({ model: "embedder", input: "x", encoding_format: "float" })).data.length, 1);
  assert.deepEqual((await all.models.list()).data.map((m) => m.id), ["gpt-4o", "embedder", "retried", "gpt-4"]);
  const gpt = r.client(await keyFor(["gpt-*"]));
  assert.equal((await gpt.chat.completions.create({ model: "gpt-4", messages: hi })).object, "chat.completion");
  await assert.rejects(gpt.embeddings.create({ model: "embedder", input: "x" }), (e) => e.status === 403);
  assert.deepEqual((await gpt.models.list()).data.map((m) => m.id), ["gpt-4o", "gpt-4"]);
});
