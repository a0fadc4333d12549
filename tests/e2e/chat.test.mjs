// The spine, end to end: OpenAI SDK -> Switchyard in workerd -> mock provider on 127.0.0.1.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-test-master-3f9a";
const UPSTREAM_KEY = "sk-upstream-secret-77c1";

let r;
let client;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/mock-small
      api_base: ${mock.base("primary")}
      api_key: os.environ/MOCK_KEY
  - model_name: weighted
    litellm_params:
      model: openai/heavy-model
      api_base: ${mock.base("heavy")}
      weight: 9
  - model_name: weighted
    litellm_params:
      model: openai/light-model
      api_base: ${mock.base("light")}
      weight: 1
  - model_name: broken
    litellm_params:
      model: openai/x
      api_base: ${mock.base("broken")}
  - model_name: down
    litellm_params:
      model: openai/x
      api_base: http://127.0.0.1:9/v1
  - model_name: slow
    litellm_params:
      model: openai/x
      api_base: ${mock.base("slow")}
      timeout: 0.5
general_settings:
  master_key: os.environ/MASTER_KEY
  max_request_size_mb: 0.05
  cors_allowed_origins: ["https://app.example"]
`,
    { bindings: { MOCK_KEY: UPSTREAM_KEY, MASTER_KEY: MASTER } },
  );
  client = r.client(MASTER);
});

after(async () => r && (await r.close()));
beforeEach(() => r.mock.reset());

const hello = (model, content = "hi there") => ({ model, messages: [{ role: "user", content }] });

async function post(path, body, headers = {}) {
  const res = await fetch(`${r.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: await res.json().catch(() => null) };
}

function assertOpenAIError(json) {
  assert.ok(json && typeof json.error === "object", `not an OpenAI error: ${JSON.stringify(json)}`);
  for (const k of ["message", "type", "param", "code"]) assert.ok(k in json.error, `error.${k} missing`);
}

test("non-streaming chat completion through the SDK", async () => {
  const { data, response } = await client.chat.completions.create(hello("gpt-4o-mini")).withResponse();
  assert.equal(data.choices[0].message.content, "echo: hi there");
  assert.equal(data.object, "chat.completion");
  assert.equal(response.headers.get("x-litellm-model-group"), "gpt-4o-mini");
  assert.match(response.headers.get("x-litellm-model-id"), /^[0-9a-f]{16}$/);
  const calls = r.mock.callsTo("primary");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`, "deployment key from os.environ/MOCK_KEY");
  assert.equal(calls[0].body.model, "mock-small", "provider prefix stripped");
});

test("streaming chat completion arrives chunk by chunk, usage included", async () => {
  const stream = await client.chat.completions.create({
    ...hello("gpt-4o-mini", "one two three four"),
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let chunks = 0;
  let usage = null;
  for await (const c of stream) {
    chunks++;
    if (c.choices.length) text += c.choices[0].delta.content ?? "";
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, "echo: one two three four");
  assert.ok(chunks >= 6, `expected several chunks, got ${chunks}`);
  assert.ok(usage && usage.completion_tokens > 0, "usage chunk relayed");
  assert.equal(r.mock.callsTo("primary")[0].body.stream_options.include_usage, true);
});

test("stream is relayed as it is produced, not buffered whole", async () => {
  r.mock.behave("primary", { chunkGapMs: 150 });
  const started = Date.now();
  const stream = await client.chat.completions.create({ ...hello("gpt-4o-mini", "a b c d e f"), stream: true });
  const arrivals = [];
  for await (const c of stream) arrivals.push(Date.now() - started);
  // 9 events 150 ms apart: buffering would deliver them all at once at the end.
  assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 600, `chunks arrived together: ${arrivals}`);
});

test("a stream cut mid-answer ends with an error, never as a success", async () => {
  r.mock.behave("primary", { streamCutAfter: 3 });
  const stream = await client.chat.completions.create({ ...hello("gpt-4o-mini", "a b c d e f"), stream: true });
  let got = 0;
  await assert.rejects(async () => {
    for await (const _ of stream) got++;
  }, /stream/i);
  assert.ok(got >= 1, "the first chunks were delivered");
});

test("wrong or missing key: 401, upstream never called", async () => {
  await assert.rejects(r.client("sk-wrong").chat.completions.create(hello("gpt-4o-mini")), (e) => {
    assert.ok(e instanceof OpenAI.AuthenticationError);
    assert.equal(e.status, 401);
    return true;
  });
  const res = await post("/v1/chat/completions", hello("gpt-4o-mini"), { authorization: "" });
  assert.equal(res.status, 401);
  assertOpenAIError(res.json);
  assert.equal(res.headers.get("x-should-retry"), "false");
  assert.equal(r.mock.calls.length, 0);
});

test("invalid JSON and wrong types: 400 naming the field", async () => {
  let res = await post("/v1/chat/completions", "{not json");
  assert.equal(res.status, 400);
  assertOpenAIError(res.json);
  res = await post("/v1/chat/completions", { model: "gpt-4o-mini", messages: "hi" });
  assert.equal(res.status, 400);
  assert.equal(res.json.error.param, "messages");
  res = await post("/v1/chat/completions", { ...hello("gpt-4o-mini"), temperature: "hot" });
  assert.equal(res.json.error.param, "temperature");
  assert.equal(r.mock.calls.length, 0);
});

test("unknown model: 400 model_not_found, nothing secret in the message", async () => {
  await assert.rejects(client.chat.completions.create(hello("gpt-9")), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, "model_not_found");
    assert.ok(!e.message.includes(UPSTREAM_KEY) && !e.message.includes("127.0.0.1"));
    return true;
  });
});

test("upstream 500 is passed through with its status and body", async () => {
  r.mock.behave("broken", {
    status: 500,
    body: { error: { message: "the mock is on fire", type: "server_error", param: null, code: "fire" } },
  });
  await assert.rejects(client.chat.completions.create(hello("broken")), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError);
    assert.equal(e.status, 500);
    assert.equal(e.code, "fire");
    assert.match(e.message, /on fire/);
    return true;
  });
});

test("upstream down: 502; upstream silent: 504 after the deployment timeout", async () => {
  const down = await post("/v1/chat/completions", hello("down"));
  assert.equal(down.status, 502);
  assertOpenAIError(down.json);
  r.mock.behave("slow", { hang: true });
  const started = Date.now();
  const slow = await post("/v1/chat/completions", hello("slow"));
  const took = Date.now() - started;
  assert.equal(slow.status, 504);
  assertOpenAIError(slow.json);
  assert.ok(took >= 450 && took < 5000, `timed out after ${took} ms`);
});

test("client-supplied api_base / base_url / api_key are ignored", async () => {
  const res = await post("/v1/chat/completions", {
    ...hello("gpt-4o-mini"),
    api_base: "http://127.0.0.1:1/evil",
    base_url: "http://127.0.0.1:1/evil",
    api_key: "sk-client-chosen",
  });
  assert.equal(res.status, 200);
  const calls = r.mock.callsTo("primary");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  for (const k of ["api_base", "base_url", "api_key"]) assert.ok(!(k in calls[0].body), `${k} forwarded`);
});

test("weights steer simple-shuffle (9:1)", async () => {
  const n = 200;
  for (let i = 0; i < n; i += 20) {
    await Promise.all(Array.from({ length: 20 }, () => client.chat.completions.create(hello("weighted"))));
  }
  const heavy = r.mock.callsTo("heavy").length;
  const light = r.mock.callsTo("light").length;
  assert.equal(heavy + light, n);
  // Expected 180:20. Ignoring weights would give about 100:100; both bounds are > 5 sigma away.
  assert.ok(heavy >= 150, `heavy got ${heavy} of ${n}`);
  assert.ok(light >= 3, `light got ${light} of ${n}`);
});

test("GET /v1/models lists the model groups", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ["gpt-4o-mini", "weighted", "broken", "down", "slow"]);
});

test("body over max_request_size_mb: 413", async () => {
  const res = await post("/v1/chat/completions", hello("gpt-4o-mini", "x".repeat(60 * 1024)));
  assert.equal(res.status, 413);
  assertOpenAIError(res.json);
  assert.equal(r.mock.calls.length, 0);
});

test("CORS: preflight answered for allowed origins only", async () => {
  const pre = (origin) =>
    fetch(`${r.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
  const ok = await pre("https://app.example");
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("access-control-allow-origin"), "https://app.example");
  const no = await pre("https://evil.example");
  assert.equal(no.headers.get("access-control-allow-origin"), null);
});

test("unknown route 404 and wrong method 405, OpenAI-shaped", async () => {
  let res = await post("/v1/nothing-here", {});
  assert.equal(res.status, 404);
  assertOpenAIError(res.json);
  res = await fetch(`${r.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${MASTER}` } });
  assert.equal(res.status, 405);
  assertOpenAIError(await res.json());
});
