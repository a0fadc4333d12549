// Fault scenarios, each against a mock upstream told to misbehave in one way, through the
// official SDK, in workerd. (500 once, a stream cut mid-answer, a context-length 400 and
// client-side fallbacks have their own tests in router.test.mjs and chat.test.mjs.)
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-faults-master-5150";
let r;
let client;

const deployment = (mock, group, name, extra = "") =>
  `  - { model_name: ${group}, litellm_params: { model: openai/m, api_base: "${mock.base(name)}"${extra} }, model_info: { id: ${name}, input_cost_per_token: 0.001, output_cost_per_token: 0.002 } }`;

before(async () => {
  r = await startRouter((mock) => {
    const dep = (...a) => deployment(mock, ...a);
    return `
model_list:
${dep("sole", "sole")}
${dep("duo", "duo-a", ", order: 1")}
${dep("duo", "duo-b", ", order: 2")}
${dep("tri", "tri-a")}
${dep("tri", "tri-b")}
${dep("tri", "tri-c")}
${dep("silent", "silent-a", ", timeout: 0.6, order: 1")}
${dep("silent", "silent-b", ", timeout: 0.6, order: 2")}
${dep("streams", "streams-a", ", stream_timeout: 0.4, order: 1")}
${dep("streams", "streams-b", ", stream_timeout: 0.4, order: 2")}
${dep("filtered", "filtered")}
${dep("prim", "prim-a")}
${dep("prim", "prim-b")}
${dep("fb", "fb")}
  - { model_name: pricey, litellm_params: { model: openai/m, api_base: "${mock.base("pricey")}" }, model_info: { id: pricey, input_cost_per_token: 1, output_cost_per_token: 1 } }
  - { model_name: cheap, litellm_params: { model: openai/m, api_base: "${mock.base("cheap")}" }, model_info: { id: cheap, input_cost_per_token: 0.00001, output_cost_per_token: 0.00002 } }
general_settings: { master_key: "${MASTER}" }
router_settings:
  num_retries: 3
  allowed_fails: 0
  cooldown_time: 1
  retry_policy: { base_delay: 0.1, max_delay: 2 }
  fallbacks: [{ prim: [fb] }, { pricey: [cheap] }]
`;
  });
  client = r.client(MASTER);
});

after(async () => r && (await r.close()));
beforeEach(async () => {
  r.mock.reset();
  // every test starts with no cooldowns and zeroed usage
  await fetch(`${r.url}/cost/reset`, { method: "POST", headers: { authorization: `Bearer ${MASTER}` } });
  await sleep(1100);
});

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const hello = (model, extra = {}) => ({ model, messages: [{ role: "user", content: "hi" }], ...extra });
const gaps = (calls) => calls.slice(1).map((c, i) => c.at - calls[i].at);
const usage = async () => {
  const res = await fetch(`${r.url}/usage`, { headers: { authorization: `Bearer ${MASTER}` } });
  return Object.fromEntries((await res.json()).deployments.map((d) => [d.id, d]));
};
async function drain(stream) {
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
  return text;
}

test("429 with Retry-After: the router waits that long, then succeeds", async () => {
  r.mock.behave("sole", { status: 429, headers: { "retry-after": "1" }, times: 1 });
  const started = Date.now();
  const res = await client.chat.completions.create(hello("sole"));
  assert.equal(res.choices[0].message.content, "echo: hi");
  const calls = r.mock.callsTo("sole");
  assert.equal(calls.length, 2);
  assert.ok(gaps(calls)[0] >= 950, `retried after ${gaps(calls)[0]} ms, not the 1 s asked`);
  assert.ok(Date.now() - started < 3000);
});

test("persistent 429 without Retry-After: growing jittered backoff, bounded attempts, never hammered", async () => {
  r.mock.behave("sole", { status: 429 });
  await assert.rejects(client.chat.completions.create(hello("sole")), (e) => e.status === 429);
  const calls = r.mock.callsTo("sole");
  assert.equal(calls.length, 4, "one call and num_retries: 3 retries, no more");
  const g = gaps(calls);
  // base 0.1 s doubling (0.1, 0.2, 0.4 s), with jitter: never a tight loop.
  for (const ms of g) assert.ok(ms >= 45, `gaps ${g}`);
  assert.ok(g[2] > g[0], `backoff grows: ${g}`);
  // with a second deployment the same 429 fails over at once and cools the first
  r.mock.behave("duo-a", { status: 429 });
  for (let i = 0; i < 10; i++) {
    const { response } = await client.chat.completions.create(hello("duo")).withResponse();
    assert.equal(response.headers.get("x-litellm-model-id"), "duo-b");
  }
  assert.ok(r.mock.callsTo("duo-a").length <= 1, "a rate-limited deployment is left alone while it cools");
});

test("persistent 503 on one deployment: fails over within the retry budget", async () => {
  r.mock.behave("tri-a", { status: 503 });
  r.mock.behave("tri-b", { status: 503 });
  for (let i = 0; i < 6; i++) {
    const { data, response } = await client.chat.completions.create(hello("tri")).withResponse();
    assert.equal(data.choices[0].message.content, "echo: hi");
    assert.equal(response.headers.get("x-litellm-model-id"), "tri-c");
    assert.ok(Number(response.headers.get("x-litellm-attempted-retries")) <= 3);
  }
  assert.ok(r.mock.callsTo("tri-a").length <= 1 && r.mock.callsTo("tri-b").length <= 1, "cooled after one failure");
});

test("connection reset before headers: retried, on the same sole deployment or another one", async () => {
  r.mock.behave("sole", { reset: true, times: 1 });
  const res = await client.chat.completions.create(hello("sole"));
  assert.equal(res.choices[0].message.content, "echo: hi");
  assert.equal(r.mock.callsTo("sole").length, 2);
  r.mock.behave("duo-a", { reset: true });
  for (let i = 0; i < 4; i++) {
    const { data, response } = await client.chat.completions.create(hello("duo")).withResponse();
    assert.equal(data.choices[0].message.content, "echo: hi");
    assert.equal(response.headers.get("x-litellm-model-id"), "duo-b");
  }
  assert.equal(r.mock.callsTo("duo-a").length, 1, "cooled after the reset");
});

test("no response at all: times out at the deployment timeout and fails over", async () => {
  r.mock.behave("silent-a", { hang: true });
  const started = Date.now();
  const { data, response } = await client.chat.completions.create(hello("silent")).withResponse();
  const took = Date.now() - started;
  assert.equal(data.choices[0].message.content, "echo: hi");
  assert.equal(response.headers.get("x-litellm-model-id"), "silent-b");
  // one silent attempt of 0.6 s, then the other deployment: far below any client's patience
  assert.ok(took >= 550 && took < 1500, `answered after ${took} ms`);
  const again = Date.now();
  await client.chat.completions.create(hello("silent"));
  assert.ok(Date.now() - again < 400, "the silent deployment cooled down");
});

test("slow first token: stream_timeout fails over before the first byte", async () => {
  r.mock.behave("streams-a", { delayMs: 1500 });
  const started = Date.now();
  const { data, response } = await client.chat.completions.create({ ...hello("streams"), stream: true }).withResponse();
  assert.equal(await drain(data), "echo: hi");
  assert.equal(response.headers.get("x-litellm-model-id"), "streams-b");
  const took = Date.now() - started;
  assert.ok(took >= 350 && took < 1200, `first token after ${took} ms`);
});

test("a stream that stalls mid-answer ends with an error after the idle limit", async () => {
  r.mock.behave("streams-a", { stallAfter: 2 });
  r.mock.behave("streams-b", { stallAfter: 2 });
  const started = Date.now();
  const stream = await client.chat.completions.create({ ...hello("streams", { messages: [{ role: "user", content: "a b c d" }] }), stream: true });
  let got = 0;
  await assert.rejects(async () => {
    for await (const _ of stream) got++;
  }, /did not answer within 400 ms/);
  assert.ok(got >= 1, "what came before the stall was delivered");
  const took = Date.now() - started;
  assert.ok(took >= 350 && took < 2000, `stall noticed after ${took} ms`);
});

test("a malformed chunk: before the first event it fails over, later it ends the stream with an error", async () => {
  r.mock.behave("streams-a", { malformedAt: 0 });
  const { data, response } = await client.chat.completions.create({ ...hello("streams"), stream: true }).withResponse();
  assert.equal(await drain(data), "echo: hi");
  assert.equal(response.headers.get("x-litellm-model-id"), "streams-b");
  assert.equal(r.mock.callsTo("streams-a").length, 1);

  r.mock.reset();
  await sleep(1100);
  r.mock.behave("streams-a", { malformedAt: 2 });
  r.mock.behave("streams-b", { malformedAt: 2 });
  const stream = await client.chat.completions.create({ ...hello("streams", { messages: [{ role: "user", content: "a b c d" }] }), stream: true });
  let got = 0;
  await assert.rejects(async () => {
    for await (const _ of stream) got++;
  }, /malformed/i);
  assert.ok(got >= 1);
});

test("a stream that ends without [DONE] is reported as cut, never as complete", async () => {
  r.mock.behave("streams-a", { endWithoutDone: 3 });
  r.mock.behave("streams-b", { endWithoutDone: 3 });
  const stream = await client.chat.completions.create({ ...hello("streams", { messages: [{ role: "user", content: "a b c d" }] }), stream: true });
  await assert.rejects(drain(stream), /before it was complete|DONE/);
});

test("content-filter 400: no retry, no fallback, the reason reaches the client", async () => {
  r.mock.behave("filtered", {
    status: 400,
    body: { error: { message: "The response was filtered due to the prompt triggering content management policy (hate: high).", type: "invalid_request_error", param: "prompt", code: "content_filter" } },
  });
  await assert.rejects(client.chat.completions.create(hello("filtered")), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.code, "content_filter");
    assert.match(e.message, /hate: high/);
    return true;
  });
  assert.equal(r.mock.callsTo("filtered").length, 1);
});

test("primary down, then back: the fallback serves meanwhile, traffic returns after the cooldown", async () => {
  r.mock.behave("prim-a", { status: 503 });
  r.mock.behave("prim-b", { status: 503 });
  // down for 3 s (the scenario's minute, scaled to cooldown_time: 1 s)
  const downUntil = Date.now() + 3000;
  let served = 0;
  while (Date.now() < downUntil) {
    const { data, response } = await client.chat.completions.create(hello("prim")).withResponse();
    assert.equal(data.choices[0].message.content, "echo: hi");
    assert.equal(response.headers.get("x-litellm-model-group"), "fb");
    served++;
    await sleep(30);
  }
  const primCalls = r.mock.callsTo("prim-a").length + r.mock.callsTo("prim-b").length;
  // each deployment is probed at most about once per cooldown: ~2 x (3 s / 1 s + 1)
  assert.ok(served >= 20, `${served} requests served`);
  assert.ok(primCalls <= 12, `the dead primary got ${primCalls} calls for ${served} requests`);
  r.mock.behave("prim-a", null);
  r.mock.behave("prim-b", null);
  await sleep(1200);
  const { response } = await client.chat.completions.create(hello("prim")).withResponse();
  assert.equal(response.headers.get("x-litellm-model-group"), "prim", "traffic returned to the primary");
});

test("fallback accounting: the deployment that answered is billed, failed attempts are not", async () => {
  r.mock.behave("pricey", { status: 500 });
  const { response } = await client.chat.completions.create(hello("pricey")).withResponse();
  assert.equal(response.headers.get("x-litellm-model-id"), "cheap");
  const expected = 9 * 0.00001 + 3 * 0.00002;
  assert.ok(Math.abs(Number(response.headers.get("x-litellm-response-cost")) - expected) < 1e-12);
  await sleep(300);
  const u = await usage();
  assert.equal(u.pricey.cost, 0);
  assert.equal(u.pricey.prompt_tokens + u.pricey.completion_tokens, 0);
  assert.ok(u.pricey.requests >= 1 && u.pricey.successes === 0);
  assert.equal(u.cheap.prompt_tokens, 9);
  assert.equal(u.cheap.completion_tokens, 3);
  assert.ok(Math.abs(u.cheap.cost - expected) < 1e-12);
});
