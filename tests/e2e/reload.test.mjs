// Config hot reload: the config in KV (CONFIG_KV / router_config) is taken on an isolate's first
// request and again when it changes, without a redeploy; an invalid one is refused.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { startMock } from "../mock-upstream.mjs";
import { workerOptions } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

test("a config stored in KV is used, and a change to it takes effect without a redeploy", async () => {
  const mock = await startMock();
  cleanup.push(() => mock.close());
  const group = (name) => `model_list: [{ model_name: ${name}, litellm_params: { model: openai/m, api_base: "${mock.base(name)}" } }]`;
  const base = workerOptions(group("from-var"), { bindings: { CONFIG_RELOAD_SECONDS: "1" } });
  const mf = new Miniflare({ ...base, kvNamespaces: [...(base.kvNamespaces || []), "CONFIG_KV"] });
  cleanup.push(() => mf.dispose());
  const kv = await mf.getKVNamespace("CONFIG_KV");
  await kv.put("router_config", group("from-kv"));
  const w = await mf.getWorker();
  const chat = async (model) => {
    const res = await w.fetch("http://router/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    });
    return { status: res.status, body: await res.json() };
  };
  assert.equal((await chat("from-kv")).status, 200, "the KV config wins at start");
  assert.equal((await chat("from-var")).status, 400);

  await kv.put("router_config", group("changed"));
  await sleep(1_100);
  await chat("from-kv"); // a response after the check interval triggers the check
  await sleep(300);
  assert.equal((await chat("changed")).status, 200, "the change took effect");
  assert.equal(mock.callsTo("changed").length, 1);

  await kv.put("router_config", "model_list: [{ model_name: broken, litellm_params: { model: nope/x } }]");
  await sleep(1_100);
  await chat("changed");
  await sleep(300);
  const still = await chat("changed");
  assert.equal(still.status, 200, "an invalid config is refused; the running one stays");
});

test("a reload keeps the virtual keys of an isolate without the Durable Object (a new config is not a new book)", async () => {
  const mock = await startMock();
  cleanup.push(() => mock.close());
  const config = (name) => `general_settings: { master_key: sk-master }
model_list: [{ model_name: ${name}, litellm_params: { model: openai/m, api_base: "${mock.base(name)}" } }]`;
  const base = workerOptions(config("first"), { shared: false, bindings: { CONFIG_RELOAD_SECONDS: "1" } });
  const mf = new Miniflare({ ...base, kvNamespaces: [...(base.kvNamespaces || []), "CONFIG_KV"] });
  cleanup.push(() => mf.dispose());
  const kv = await mf.getKVNamespace("CONFIG_KV");
  await kv.put("router_config", config("first"));
  const w = await mf.getWorker();
  const call = async (key, path, body) => {
    const res = await w.fetch(`http://router${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const made = await call("sk-master", "/key/generate", {});
  assert.equal(made.status, 200);
  const key = made.body.key;
  const chat = (model) => call(key, "/v1/chat/completions", { model, messages: [{ role: "user", content: "hi" }] });
  assert.equal((await chat("first")).status, 200);

  await kv.put("router_config", config("second"));
  await sleep(1_100);
  await chat("first"); // a response after the check interval triggers the check
  await sleep(300);
  const after = await chat("second");
  assert.equal(after.status, 200, `the key still opens the reloaded router: ${JSON.stringify(after.body)}`);
  assert.equal(mock.callsTo("second").length, 1);
});
