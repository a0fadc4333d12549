// Runtime deployment management: LiteLLM's /model/* admin routes, saved in the Durable Object
// and taken up by every isolate; secrets never shown.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import os from "node:os";
import fs from "node:fs";
import path from "node:path";
import { startMock } from "../mock-upstream.mjs";
import { workerOptions, startRouter } from "./harness.mjs";

const MASTER = "sk-admin-master-5150";
const SECRET = "sk-live-upstream-secret-9d8e7f";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

function client(fetcher, key = MASTER) {
  const call = async (method, path, body) => {
    const res = await fetcher.fetch(`http://router${path}`, {
      method,
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null, id: res.headers.get("x-litellm-model-id") };
  };
  return {
    call,
    chat: (model) => call("POST", "/v1/chat/completions", { model, messages: [{ role: "user", content: "hi" }] }),
  };
}

const config = (mock) => `
model_list:
  - model_name: base
    litellm_params: { model: openai/m, api_base: "${mock.base("base")}", api_key: "${SECRET}" }
    model_info: { id: base-1 }
general_settings: { master_key: "${MASTER}" }
`;

test("admin routes need the master key (model info a key), and no secret is ever shown", async () => {
  const r = await startRouter(config);
  cleanup.push(() => r.close());
  const w = await r.mf.getWorker();
  assert.equal((await client(w, null).call("GET", "/model/info")).status, 401);
  assert.equal((await client(w, "sk-wrong").call("POST", "/model/new", {})).status, 401);
  const info = await client(w).call("GET", "/v1/model/info");
  assert.equal(info.status, 200);
  assert.equal(info.json.data[0].model_info.id, "base-1");
  assert.ok(!info.text.includes(SECRET), info.text);
  assert.ok(info.text.includes("****"));

  const open = await startRouter((mock) => `model_list: [{ model_name: x, litellm_params: { model: openai/m, api_base: "${mock.base("x")}" } }]`);
  cleanup.push(() => open.close());
  const w2 = await open.mf.getWorker();
  assert.equal((await client(w2, null).call("POST", "/model/new", {})).status, 403, "no master key configured: the admin API is off");
  const res = await client(w2, null).call("GET", "/model/info");
  assert.equal(res.status, 200, "an open router shows its models, as LiteLLM does");
  assert.equal(res.json.data[0].model_name, "x");
});

test("add, update and delete take effect for later requests, in every isolate", async () => {
  const mock = await startMock();
  cleanup.push(() => mock.close());
  const text = config(mock);
  const mf = new Miniflare({
    workers: [
      workerOptions(text, { name: "a" }),
      { ...workerOptions(text, { name: "b", shared: false }), durableObjects: { ROUTER_STATE: { className: "RouterShard", scriptName: "a" } } },
    ],
  });
  cleanup.push(() => mf.dispose());
  const a = client(await mf.getWorker("a"));
  const b = client(await mf.getWorker("b"));
  assert.equal((await b.chat("base")).status, 200, "B is up before the change");

  const added = await a.call("POST", "/model/new", {
    model_name: "extra",
    litellm_params: { model: "openai/m", api_base: mock.base("extra-1"), api_key: SECRET },
  });
  assert.equal(added.status, 200, added.text);
  const id = added.json.model_id;
  assert.equal((await a.chat("extra")).id, id, "A serves it at once");
  assert.equal(mock.callsTo("extra-1").at(-1).headers.authorization, `Bearer ${SECRET}`);

  // B takes the change up within its check interval (2 s), after a response.
  await sleep(2_200);
  await b.chat("base");
  await sleep(300);
  const viaB = await b.chat("extra");
  assert.equal(viaB.status, 200, viaB.text);
  assert.equal(viaB.id, id);

  const updated = await a.call("POST", "/model/update", { model_info: { id }, litellm_params: { api_base: mock.base("extra-2") } });
  assert.equal(updated.status, 200, updated.text);
  assert.equal((await a.chat("extra")).id, id, "the id survives the update");
  assert.ok(mock.callsTo("extra-2").length >= 1);

  const info = await a.call("GET", "/model/info");
  assert.ok(!info.text.includes(SECRET), "secrets masked in runtime-added deployments too");
  assert.equal(info.json.data.length, 2);

  const bad = await a.call("POST", "/model/new", { model_name: "broken", litellm_params: { model: "nope/x" } });
  assert.equal(bad.status, 400, "checked like the config file");
  assert.match(bad.json.error.message, /model_list\[2\]\.litellm_params\.model/);

  assert.equal((await a.call("POST", "/model/delete", { id })).status, 200);
  const gone = await a.chat("extra");
  assert.equal(gone.status, 400);
  assert.equal(gone.json.error.code, "model_not_found");
  assert.equal((await a.call("POST", "/model/delete", { id })).status, 400, "already gone");
});

/** A directory for Durable Object storage that outlives one runtime, and a mock. */
async function persisted(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mock = await startMock();
  cleanup.push(() => mock.close());
  return { dir, mock };
}

test("runtime deployments survive a restart of the runtime", async () => {
  const { dir, mock } = await persisted("switchyard-deployments-");
  const start = () => new Miniflare({ ...workerOptions(config(mock)), durableObjectsPersist: dir });
  let mf = start();
  let a = client(await mf.getWorker());
  const added = await a.call("POST", "/model/new", { model_name: "kept", litellm_params: { model: "openai/m", api_base: mock.base("kept") } });
  assert.equal(added.status, 200);
  await mf.dispose();
  mf = start();
  cleanup.push(() => mf.dispose());
  a = client(await mf.getWorker());
  const res = await a.chat("kept");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.id, added.json.model_id);
});

test("a redeploy whose config adds a group keeps runtime changes on top, and they can be dropped", async () => {
  const { dir, mock } = await persisted("switchyard-overlay-");
  const grown = (m) => `${config(m)}
  - model_name: fresh
    litellm_params: { model: openai/m, api_base: "${m.base("fresh")}" }
    model_info: { id: fresh-1 }
`.replace("general_settings: { master_key: \"" + MASTER + "\" }\n", "") + `general_settings: { master_key: "${MASTER}" }\n`;
  const start = (text) => new Miniflare({ ...workerOptions(text), durableObjectsPersist: dir });
  let mf = start(config(mock));
  let a = client(await mf.getWorker());
  const added = await a.call("POST", "/model/new", { model_name: "kept", litellm_params: { model: "openai/m", api_base: mock.base("kept") } });
  assert.equal(added.status, 200, added.text);
  await mf.dispose();
  // The new config adds group `fresh`: it answers, next to the runtime deployment.
  mf = start(grown(mock));
  cleanup.push(() => mf.dispose());
  a = client(await mf.getWorker());
  const fresh = await a.chat("fresh");
  assert.equal(fresh.status, 200, fresh.text);
  assert.equal(fresh.id, "fresh-1");
  assert.equal((await a.chat("kept")).status, 200);
  const info = await a.call("GET", "/model/info");
  const origins = Object.fromEntries(info.json.data.map((d) => [d.model_info.id, d.origin]));
  assert.deepEqual(origins, { "base-1": "config", "fresh-1": "config", [added.json.model_id]: "runtime" });
  const ready = await a.call("GET", "/health/readiness");
  assert.equal(ready.json.deployments, 3);
  // Dropping the overlay: the config's list alone, saved for every isolate.
  const reset = await a.call("POST", "/model/reset", {});
  assert.equal(reset.status, 200, reset.text);
  assert.equal((await a.chat("kept")).status, 400);
  assert.equal((await a.chat("fresh")).status, 200);
});

test("a save that fails answers the admin call with an error, rolls back, and touches no other answer", async () => {
  const r = await startRouter(config, { entry: "tests/e2e/failing-store.mjs" });
  cleanup.push(() => r.close());
  const w = await r.mf.getWorker();
  const a = client(w);
  assert.equal((await a.chat("base")).status, 200);
  await w.fetch("http://router/__test/deployments-store?fail=1", { method: "POST" });
  const failed = await a.call("POST", "/model/new", { model_name: "later", litellm_params: { model: "openai/m", api_base: r.mock.base("later") } });
  assert.equal(failed.status, 500, failed.text);
  assert.match(failed.json.error.message, /deployments object answered 500/);
  // Other requests keep their own answers; the change did not take effect here either.
  for (let i = 0; i < 3; i++) {
    const res = await a.chat("base");
    assert.equal(res.status, 200, res.text);
  }
  assert.equal((await a.chat("later")).status, 400, "rolled back");
  assert.equal((await a.call("GET", "/model/info")).json.data.length, 1);
  // The store is back: the same change goes through and is served.
  await w.fetch("http://router/__test/deployments-store?fail=0", { method: "POST" });
  const ok = await a.call("POST", "/model/new", { model_name: "later", litellm_params: { model: "openai/m", api_base: r.mock.base("later") } });
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await a.chat("later")).status, 200);
});
