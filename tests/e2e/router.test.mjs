// The router core end to end: retries, fallbacks, cooldowns, context-window fallbacks and the
// LiteLLM response headers, through the official SDK, in workerd.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startRouter } from "./harness.mjs";

let r;
let client;

const ctxError = {
  status: 400,
  body: {
    error: {
      message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
      type: "invalid_request_error",
      param: "messages",
      code: "context_length_exceeded",
    },
  },
};

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: flaky
    litellm_params: { model: openai/m, api_base: "${mock.base("flaky")}" }
    model_info: { id: flaky-1, input_cost_per_token: 0.001, output_cost_per_token: 0.002 }
  - model_name: primary
    litellm_params: { model: openai/m, api_base: "${mock.base("primary")}" }
    model_info: { id: primary-1 }
  - model_name: backup
    litellm_params: { model: openai/m, api_base: "${mock.base("backup")}" }
    model_info: { id: backup-1 }
  - model_name: pair
    litellm_params: { model: openai/m, api_base: "${mock.base("pair-bad")}" }
    model_info: { id: pair-bad }
  - model_name: pair
    litellm_params: { model: openai/m, api_base: "${mock.base("pair-good")}" }
    model_info: { id: pair-good }
  - model_name: hot
    litellm_params: { model: openai/m, api_base: "${mock.base("hot-1")}" }
    model_info: { id: hot-1 }
  - model_name: hot
    litellm_params: { model: openai/m, api_base: "${mock.base("hot-2")}" }
    model_info: { id: hot-2 }
  - model_name: streamy
    litellm_params: { model: openai/m, api_base: "${mock.base("streamy")}" }
    model_info: { id: streamy-1 }
  - model_name: small
    litellm_params: { model: openai/m, api_base: "${mock.base("small")}" }
    model_info: { id: small-1 }
  - model_name: large
    litellm_params: { model: openai/m, api_base: "${mock.base("large")}" }
    model_info: { id: large-1 }
router_settings:
  num_retries: 2
  allowed_fails: 1
  cooldown_time: 60
  retry_policy: { base_delay: 0.05, max_delay: 0.2 }
  fallbacks: [{ primary: [backup] }, { streamy: [backup] }]
  context_window_fallbacks: [{ small: [large] }]
`,
  );
  client = r.client("unused");
});

after(async () => r && (await r.close()));
beforeEach(() => r.mock.reset());

const hello = (model, extra = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra });

test("a 500 is retried and the retry succeeds; headers say so", async () => {
  r.mock.behave("flaky", { status: 500, times: 1 });
  const { data, response } = await client.chat.completions.create(hello("flaky")).withResponse();
  assert.equal(data.choices[0].message.content, "echo: hi");
  assert.equal(r.mock.callsTo("flaky").length, 2);
  assert.equal(response.headers.get("x-litellm-attempted-retries"), "1");
  assert.equal(response.headers.get("x-litellm-attempted-fallbacks"), "0");
  assert.equal(response.headers.get("x-litellm-model-id"), "flaky-1");
  assert.equal(response.headers.get("x-litellm-model-group"), "flaky");
  // mock usage: 9 prompt + 3 completion tokens at 0.001 / 0.002
  assert.ok(Math.abs(Number(response.headers.get("x-litellm-response-cost")) - 0.015) < 1e-9);
});

test("a failing group falls back to its fallback group", async () => {
  r.mock.behave("primary", { status: 503 });
  const { data, response } = await client.chat.completions.create(hello("primary")).withResponse();
  assert.equal(data.object, "chat.completion");
  assert.equal(response.headers.get("x-litellm-model-group"), "backup");
  assert.equal(response.headers.get("x-litellm-model-id"), "backup-1");
  assert.equal(response.headers.get("x-litellm-attempted-fallbacks"), "1");
  // allowed_fails: 1 -> the second failure cools the primary's only deployment (it has a
  // fallback group), so the second retry finds none and the request moves on.
  assert.equal(r.mock.callsTo("primary").length, 2);
  assert.equal(r.mock.callsTo("backup").length, 1);
});

test("a failing deployment cools down and gets no more traffic", async () => {
  r.mock.behave("pair-bad", { status: 500 });
  for (let i = 0; i < 30; i++) {
    const res = await client.chat.completions.create(hello("pair"));
    assert.equal(res.object, "chat.completion", "every request is served");
  }
  const bad = r.mock.callsTo("pair-bad").length;
  // allowed_fails: 1 -> the second failure in the minute cools it for 60 s.
  assert.ok(bad >= 1 && bad <= 2, `the failing deployment got ${bad} calls`);
  assert.equal(r.mock.callsTo("pair-good").length, 30);
});

test("when every deployment is cooling down: 429 with retry-after", async () => {
  r.mock.behave("hot-1", { status: 429, headers: { "retry-after": "0" } });
  r.mock.behave("hot-2", { status: 429, headers: { "retry-after": "0" } });
  await assert.rejects(client.chat.completions.create(hello("hot")), (e) => e.status === 429);
  const before = r.mock.calls.length;
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(hello("hot")),
  });
  assert.equal(res.status, 429);
  const body = await res.json();
  assert.equal(body.error.type, "rate_limit_error");
  assert.equal(body.error.code, "no_deployment_available");
  const ra = Number(res.headers.get("retry-after"));
  assert.ok(ra >= 1 && ra <= 60, `retry-after ${ra}`);
  assert.equal(r.mock.calls.length, before, "no upstream call while all cool down");
});

test("a context-length error goes to the context-window fallback, not retried", async () => {
  r.mock.behave("small", ctxError);
  const { response } = await client.chat.completions.create(hello("small")).withResponse();
  assert.equal(response.headers.get("x-litellm-model-group"), "large");
  assert.equal(r.mock.callsTo("small").length, 1, "no retry on the same group");
  assert.equal(r.mock.callsTo("large").length, 1);
});

test("a stream that breaks before its first byte fails over to the fallback", async () => {
  r.mock.behave("streamy", { streamCutAfter: 0 });
  const { data: stream, response } = await client.chat.completions
    .create({ ...hello("streamy"), stream: true })
    .withResponse();
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
  assert.equal(text, "echo: hi");
  assert.ok(r.mock.callsTo("streamy").length >= 1, "the primary was tried");
  assert.equal(r.mock.callsTo("backup").length, 1);
  assert.equal(response.headers.get("x-litellm-model-group"), "backup");
});

test("client-side fallbacks and num_retries in the body", async () => {
  r.mock.behave("flaky", { status: 500 });
  const res = await client.chat.completions.create(hello("flaky", { fallbacks: ["backup"], num_retries: 0 }));
  assert.equal(res.object, "chat.completion");
  assert.equal(r.mock.callsTo("flaky").length, 1);
  await assert.rejects(
    client.chat.completions.create(hello("flaky", { num_retries: "many" })),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "num_retries",
  );
});
