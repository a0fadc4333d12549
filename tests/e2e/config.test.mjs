// Where the config comes from: YAML text, JSON text, or a [vars] table (an object binding).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const hello = { model: "m", messages: [{ role: "user", content: "hi" }] };

async function ask(r) {
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(hello),
  });
  return { status: res.status, json: await res.json() };
}

test("a [vars] table (an object binding) is a config", async () => {
  const r = await startRouter((mock) => ({
    model_list: [{ model_name: "m", litellm_params: { model: "openai/x", api_base: mock.base("table") } }],
  }));
  try {
    const { status, json } = await ask(r);
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(r.mock.callsTo("table").length, 1);
  } finally {
    await r.close();
  }
});

test("JSON text config works like YAML", async () => {
  const r = await startRouter((mock) =>
    JSON.stringify({ model_list: [{ model_name: "m", litellm_params: { model: "openai/x", api_base: mock.base("json") } }] }),
  );
  try {
    const { status, json } = await ask(r);
    assert.equal(status, 200);
    assert.equal(json.choices[0].message.content, "echo: hi");
    assert.equal(r.mock.callsTo("json").length, 1);
  } finally {
    await r.close();
  }
});

test("an invalid config answers 500 naming the key path, and the Worker stays up", async () => {
  const r = await startRouter("model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      timeout: soon\n");
  try {
    for (let i = 0; i < 2; i++) {
      const { status, json } = await ask(r);
      assert.equal(status, 500);
      assert.match(json.error.message, /model_list\[0\]\.litellm_params\.timeout/);
    }
    const live = await fetch(`${r.url}/health/liveliness`);
    assert.equal(live.status, 200);
  } finally {
    await r.close();
  }
});

test("a missing os.environ secret is reported by name", async () => {
  const r = await startRouter("model_list:\n  - model_name: m\n    litellm_params:\n      model: openai/x\n      api_key: os.environ/NOT_SET_ANYWHERE\n");
  try {
    const { status, json } = await ask(r);
    assert.equal(status, 500);
    assert.match(json.error.message, /NOT_SET_ANYWHERE/);
  } finally {
    await r.close();
  }
});

test("a name with a control character is refused at load, naming the key", async () => {
  // JSON text: "\r" in a model_name would make every answer of the group unsendable, "\n" in
  // an id would inject a response header.
  for (const [entry, key] of [
    [{ model_name: "m\r", litellm_params: { model: "openai/x" } }, "model_list[0].model_name"],
    [{ model_name: "m", litellm_params: { model: "openai/x" }, model_info: { id: "a\nSet-Cookie: x=1" } }, "model_list[0].model_info.id"],
  ]) {
    const r = await startRouter(JSON.stringify({ model_list: [entry] }));
    try {
      const ready = await fetch(`${r.url}/health/readiness`);
      assert.equal(ready.status, 503);
      const body = await ready.json();
      assert.ok(body.config.includes(`${key}: must not contain control characters`), body.config);
      const { status, json } = await ask(r);
      assert.equal(status, 500);
      assert.match(json.error.message, /control characters/);
    } finally {
      await r.close();
    }
  }
});
