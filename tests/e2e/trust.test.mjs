// Trust under hostile tenants and sloppy upstreams (issue 11), in workerd with the official SDK:
// streams from servers that write JSON their own way, clients that hang up, slots that must
// free at once, virtual keys that try to reach what they may not, to starve others or to read
// others' answers, secrets that must never be shown, names that try to inject headers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import OpenAI from "openai";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-trust-master-6b1d";
const ECHO_KEY = "sk-upstream-echo-secret-5d1c";
const BASIC_PASSWORD = "pa55-trust-9e2f";
let r;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${mock.base("chat1")}" }, model_info: { id: chat-1 } }
  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${mock.base("chat2")}" }, model_info: { id: chat-2 } }
  - { model_name: shared, litellm_params: { model: openai/m, api_base: "${mock.base("sh1")}", timeout: 30 }, model_info: { id: sh-1 } }
  - { model_name: shared, litellm_params: { model: openai/m, api_base: "${mock.base("sh2")}", timeout: 30 }, model_info: { id: sh-2 } }
  - { model_name: solo, litellm_params: { model: openai/m, api_base: "${mock.base("solo")}", max_parallel_requests: 1 }, model_info: { id: solo-1, input_cost_per_token: 0.001, output_cost_per_token: 0.001 } }
  - { model_name: cheap, litellm_params: { model: openai/m, api_base: "${mock.base("cheap")}" }, model_info: { id: cheap-1, input_cost_per_token: 0.01, output_cost_per_token: 0.01, max_input_tokens: 50 } }
  - { model_name: metered, litellm_params: { model: openai/m, api_base: "${mock.base("metered")}" }, model_info: { id: metered-1, input_cost_per_token: 0.01, output_cost_per_token: 0.01 } }
  - { model_name: private, litellm_params: { model: openai/m, api_base: "${mock.base("private")}" }, model_info: { id: private-1 } }
  - { model_name: echo, litellm_params: { model: openai/m, api_base: "${mock.base("echo")}", api_key: "${ECHO_KEY}" }, model_info: { id: echo-1 } }
  - { model_name: "openai/*", litellm_params: { model: "openai/*", api_base: "${mock.base("wild")}" }, model_info: { id: wild-1 } }
  - { model_name: creds, litellm_params: { model: openai/m, api_base: "http://user:${BASIC_PASSWORD}@127.0.0.1:${mock.port}/creds/v1" }, model_info: { id: creds-1 } }
router_settings:
  num_retries: 0
  allowed_fails: 1
  cooldown_time: 30
  enable_pre_call_checks: true
  fallbacks: [{ cheap: [private] }]
general_settings: { master_key: "${MASTER}" }
`,
    // The router's own provider keys: a client must not get them used by naming a model.
    { bindings: { OPENAI_API_KEY: "sk-router-own-openai-3a7c", GROQ_API_KEY: "gsk-router-own-groq-81e0" } },
  );
});
after(async () => r && (await r.close()));

const hi = (model, content = "hi", extra = {}) => ({ model, messages: [{ role: "user", content }], ...extra });

async function api(path, { key = MASTER, body, method } = {}) {
  const res = await fetch(`${r.url}${path}`, {
    method: method ?? (body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function usageOf(id) {
  const u = await api("/usage");
  return u.json.deployments.find((d) => d.id === id);
}

async function newKey(fields) {
  const g = await api("/key/generate", { body: fields });
  assert.equal(g.status, 200, g.text);
  return g.json.key;
}

/** Polls `check` until it returns true (the shared state is reported in batches). */
async function eventually(check, what, ms = 4000) {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) assert.fail(`never: ${what}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

// ---- 1, 2: streams as other servers write them ----

for (const json of ["compact", "spaced"]) {
  test(`a stream in ${json} JSON: usage counted, the usage chunk only for clients that ask`, async () => {
    r.mock.behave("chat1", { json });
    r.mock.behave("chat2", { json });
    const before = (await usageOf("chat-1")).completion_tokens + (await usageOf("chat-2")).completion_tokens;
    const raw = await fetch(`${r.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
      body: JSON.stringify(hi("chat", "one two three", { stream: true })),
    });
    const text = await raw.text();
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), text);
    // Not asked for: no usage-only chunk (the OpenAI SDK would index choices[0] of it).
    for (const line of text.split("\n").filter((l) => l.startsWith("data: {"))) {
      assert.ok(JSON.parse(line.slice(6)).choices.length > 0, `usage chunk relayed: ${line}`);
    }
    // Asked for: the SDK gets it and every chunk before it has a choice.
    const stream = await r.client(MASTER).chat.completions.create({ ...hi("chat", "four five"), stream: true, stream_options: { include_usage: true } });
    let usage;
    let content = "";
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      else content += c.choices[0].delta.content ?? "";
    }
    assert.equal(content, "echo: four five");
    assert.equal(usage.completion_tokens, 3);
    await eventually(async () => {
      const now = (await usageOf("chat-1")).completion_tokens + (await usageOf("chat-2")).completion_tokens;
      return now - before === 4 + 3; // "echo: one two three" is 4 words, "echo: four five" 3
    }, "streamed tokens counted in /usage");
    r.mock.reset();
  });

  test(`a finished stream that closes without [DONE] (${json} JSON) is complete, not an error`, async () => {
    r.mock.behave("chat1", { json, noDone: true });
    r.mock.behave("chat2", { json, noDone: true });
    const failures = async () => (await usageOf("chat-1")).failures + (await usageOf("chat-2")).failures;
    const cooldowns = async () => (await usageOf("chat-1")).cooldowns + (await usageOf("chat-2")).cooldowns;
    const [failedBefore, cooledBefore] = [await failures(), await cooldowns()];
    const stream = await r.client(MASTER).chat.completions.create({ ...hi("chat", "no done marker"), stream: true, stream_options: { include_usage: true } });
    let content = "";
    let usage;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      else content += c.choices[0].delta.content ?? "";
    }
    assert.equal(content, "echo: no done marker");
    assert.equal(usage.completion_tokens, 4);
    assert.equal(await failures(), failedBefore, "a complete stream counted as a failure");
    assert.equal(await cooldowns(), cooledBefore, "a deployment cooled down for a complete stream");
    // Cut before its finish on both deployments (the other one is asked to finish it, and is
    // cut too): still an error. Both are cooled for the rest of the file.
    r.mock.behave("chat1", { json, endWithoutDone: 3 });
    r.mock.behave("chat2", { json, endWithoutDone: 3 });
    const cut = await r.client(MASTER).chat.completions.create({ ...hi("chat", "a b c d e f"), stream: true });
    await assert.rejects(async () => {
      for await (const _ of cut);
    }, /stream/i);
    r.mock.reset();
  });
}

// ---- 3, 4: slots ----

test("a client that hangs up mid-stream frees its slot and is charged what it was sent", async () => {
  const key = await newKey({ models: ["solo"] });
  // 40 words, 150 ms apart: 6 s to the end, if nobody hangs up.
  r.mock.behave("solo", { chunkGapMs: 150 });
  const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
  const ctl = new AbortController();
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(hi("solo", words, { stream: true })),
    signal: ctl.signal,
  });
  const reader = res.body.getReader();
  let got = "";
  while (!got.includes("w1 ")) got += new TextDecoder().decode((await reader.read()).value);
  const hungUp = Date.now();
  ctl.abort();
  // The upstream call is aborted and the slot freed within a second, not at the stream's end.
  await eventually(async () => (await usageOf("solo-1")).in_flight === 0, "the slot is released", 1500);
  await eventually(async () => r.mock.abandoned.solo === 1, "the upstream call is aborted", 1500);
  assert.ok(Date.now() - hungUp < 3000);
  const u = await usageOf("solo-1");
  assert.equal(u.failures, 0, "a client hanging up is not the deployment's failure");
  assert.ok(u.prompt_tokens + u.completion_tokens > 0, "the relayed part is counted");
  // The key is charged what was relayed (estimated: no usage chunk came).
  await eventually(async () => (await api(`/key/info?key=${key}`)).json.info.spend > 0, "the key is charged");
  // With max_parallel_requests 1, the next call gets the slot.
  r.mock.reset();
  const next = await r.client(key).chat.completions.create(hi("solo"));
  assert.equal(next.choices[0].message.content, "echo: hi");
});

test("max_parallel_requests: 1 frees the slot as each call ends (20 sequential calls)", async () => {
  const client = r.client(MASTER);
  for (let i = 0; i < 20; i++) {
    const a = await client.chat.completions.create(hi("solo", `seq ${i}`));
    assert.equal(a.choices[0].message.content, `echo: seq ${i}`);
  }
});

// ---- 5-9: virtual keys ----

test("a key's model allowlist holds for body fallbacks, context-window fallbacks and provider names", async () => {
  const key = await newKey({ models: ["cheap"] });
  const client = r.client(key);
  r.mock.behave("cheap", { status: 500 });
  await assert.rejects(client.chat.completions.create(hi("cheap", "x", { fallbacks: ["private"] })), (e) => {
    assert.ok(e.status >= 500, `${e.status}`);
    assert.match(e.message, /not tried because this API key may not use them: private/);
    return true;
  });
  await assert.rejects(client.chat.completions.create(hi("cheap", "x", { fallbacks: ["openai/gpt-4o", "private-1"] })));
  // A prompt over cheap's 50-token window.
  await assert.rejects(client.chat.completions.create(hi("cheap", "long ".repeat(200), { context_window_fallbacks: ["private"] })));
  assert.equal(r.mock.callsTo("private").length, 0, "private was never reached");
  assert.equal(r.mock.callsTo("wild").length, 0, "openai/gpt-4o (the wildcard) was never reached");
  // By deployment id: the id of a group the key may not use is refused.
  await assert.rejects(client.chat.completions.create(hi("private-1")), (e) => e.status === 403);
  assert.equal(r.mock.callsTo("private").length, 0);
  // The master key gets the fallback.
  const ok = await r.client(MASTER).chat.completions.create(hi("cheap", "x"));
  assert.equal(ok.choices[0].message.content, "echo: x");
  assert.equal(r.mock.callsTo("private").length, 1);
  r.mock.reset();
});

test("a tenant's tiny timeout never cools a deployment down for others; client controls are capped", async () => {
  const key = await newKey({});
  const client = r.client(key);
  r.mock.behave("sh1", { delayMs: 50 });
  r.mock.behave("sh2", { delayMs: 50 });
  for (let i = 0; i < 8; i++) {
    await assert.rejects(client.chat.completions.create(hi("shared", `t${i}`, { timeout: 0.001 })), (e) => e.status === 504 || e.status === 408);
  }
  for (const id of ["sh-1", "sh-2"]) {
    const u = await usageOf(id);
    assert.equal(u.cooldowns, 0, `${id} was cooled by a client's deadline`);
    assert.equal(u.cooldown_remaining_s, 0);
  }
  r.mock.reset();
  // Others are served at once, on both deployments.
  const other = r.client(MASTER);
  const seen = new Set();
  for (let i = 0; i < 10; i++) {
    await other.chat.completions.create(hi("shared", `o${i}`));
  }
  for (const c of r.mock.calls.filter((c) => c.name.startsWith("sh"))) seen.add(c.name);
  assert.deepEqual([...seen].sort(), ["sh1", "sh2"]);
  // (An absurd cache ttl is a 400: cache.test.mjs, where caching is on.)
});

test("a deployment called by its id obeys max_parallel_requests and cooldowns", async () => {
  r.mock.behave("solo", { delayMs: 400 });
  const client = r.client(MASTER);
  const results = await Promise.allSettled([0, 1, 2, 3].map((i) => client.chat.completions.create(hi("solo-1", `id${i}`))));
  const ok = results.filter((x) => x.status === "fulfilled").length;
  assert.equal(ok, 1, JSON.stringify(results.map((x) => x.status === "fulfilled" ? "ok" : x.reason.status)));
  for (const x of results.filter((x) => x.status === "rejected")) assert.equal(x.reason.status, 429);
  assert.equal(r.mock.callsTo("solo").length, 1);
  r.mock.reset();
});

test("a budget holds under 20 parallel calls: overshoot is at most one call", async () => {
  const client = async (key) => r.client(key);
  // Fresh key, budget under one call's cost (9+3 tokens at 0.01 = 0.12).
  const k1 = await newKey({ models: ["metered"], max_budget: 0.05 });
  const c1 = await client(k1);
  const a = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c1.chat.completions.create(hi("metered", `b${i}`, { max_tokens: 3 }))));
  assert.equal(a.filter((x) => x.status === "fulfilled").length, 1, JSON.stringify(a.map((x) => x.reason?.message)));
  // A key one call below its budget.
  const k2 = await newKey({ models: ["metered"], max_budget: 0.46 });
  const c2 = await client(k2);
  for (let i = 0; i < 3; i++) await c2.chat.completions.create(hi("metered", `s${i}`, { max_tokens: 3 }));
  const b = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c2.chat.completions.create(hi("metered", `p${i}`, { max_tokens: 3 }))));
  const admitted = b.filter((x) => x.status === "fulfilled").length;
  assert.ok(admitted <= 1, `${admitted} admitted`);
  const spend = (await api(`/key/info?key=${k2}`)).json.info.spend;
  assert.ok(spend <= 0.46 + 0.12 + 1e-9, `spend ${spend}`);
  for (const x of b.filter((x) => x.status === "rejected")) assert.match(x.reason.message, /budget/i);
  // tpm: each call holds its expected tokens (prompt ~7 + max_tokens 3) while it runs, so 20
  // parallel calls against a tpm_limit of 25 admit 3 (0, 10, 20 held), not 20.
  const k3 = await newKey({ models: ["metered"], tpm_limit: 25 });
  const c3 = await client(k3);
  const t = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c3.chat.completions.create(hi("metered", `t${i}`, { max_tokens: 3 }))));
  const tpmAdmitted = t.filter((x) => x.status === "fulfilled").length;
  assert.ok(tpmAdmitted >= 1 && tpmAdmitted <= 3, `${tpmAdmitted} admitted under tpm 25`);
  for (const x of t.filter((x) => x.status === "rejected")) assert.equal(x.reason.status, 429);
  // rpm: exact at the keys object.
  const k4 = await newKey({ models: ["metered"], rpm_limit: 5 });
  const c4 = await client(k4);
  const q = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c4.chat.completions.create(hi("metered", `q${i}`))));
  assert.equal(q.filter((x) => x.status === "fulfilled").length, 5);
});

// ---- 10, 11: what is never shown, what cannot be injected ----

test("credentials in api_base are never shown; an upstream echoing the key is scrubbed", async () => {
  const health = await api("/health?model=creds");
  assert.ok(!health.text.includes(BASIC_PASSWORD), health.text);
  assert.match(health.text, /127\.0\.0\.1/);
  const info = await api("/model/info");
  assert.ok(!info.text.includes(BASIC_PASSWORD), "model info");
  const served = await api("/v1/chat/completions", { body: hi("creds") });
  assert.ok(!served.text.includes(BASIC_PASSWORD));
  for (const [, v] of served.headers) assert.ok(!v.includes(BASIC_PASSWORD), `header ${v}`);
  r.mock.behave("echo", { echoKey: true });
  const echoed = await api("/v1/chat/completions", { body: hi("echo") });
  assert.equal(echoed.status, 502);
  assert.equal(r.mock.callsTo("echo").length, 1);
  assert.ok(!echoed.text.includes(ECHO_KEY), echoed.text);
  assert.match(echoed.text, /\[redacted\]/);
  r.mock.reset();
});

test("a key alias or model list with a line break is refused, the key unchanged", async () => {
  const key = await newKey({ key_alias: "fine" });
  const bad = await api("/key/generate", { body: { key_alias: "a\r\nSet-Cookie: x=1" } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error.message, /key_alias.*control characters/);
  const upd = await api("/key/update", { body: { key, key_alias: "ok", models: ["x\ny"] } });
  assert.equal(upd.status, 400);
  assert.equal((await api(`/key/info?key=${key}`)).json.info.key_alias, "fine", "all or nothing");
});

test("a name with a line break is refused at /model/new, naming the key", async () => {
  for (const bad of ["evil\nSet-Cookie: a=b", "evil\rname"]) {
    const res = await api("/model/new", { body: { model_name: bad, litellm_params: { model: "openai/m", api_base: r.mock.base("chat1") } } });
    assert.equal(res.status, 400, res.text);
    assert.match(res.json.error.message, /model_name: must not contain control characters/);
  }
  const id = await api("/model/new", { body: { model_name: "fine", litellm_params: { model: "openai/m", api_base: r.mock.base("chat1") }, model_info: { id: "x\ny" } } });
  assert.equal(id.status, 400);
  // Nothing was added: the router still answers normally, with no injected header (`chat` was
  // cooled by the cut streams above).
  const res = await api("/v1/chat/completions", { body: hi("private") });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("set-cookie"), null);
});

// ---- 12: unbounded state from client-chosen names; auth before the body ----

test("provider models by name: only a wildcard deployment serves them, in one state object", async () => {
  const stamp = Date.now();
  const groq = Array.from({ length: 5 }, (_, i) => `groq/random-${i}-${stamp}`);
  for (const n of groq) {
    const res = await api("/v1/chat/completions", { body: hi(n) });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error.code, "model_not_found");
  }
  const wild = Array.from({ length: 5 }, (_, i) => `openai/random-${i}-${stamp}`);
  for (const n of wild) {
    const res = await api("/v1/chat/completions", { body: hi(n) });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get("x-litellm-model-id"), "wild-1");
  }
  // Sent to the wildcard's own api_base, the model substituted; never with the router's key.
  const sent = r.mock.callsTo("wild").map((c) => c.body.model);
  assert.deepEqual(sent, wild.map((n) => n.slice("openai/".length)));
  for (const c of r.mock.calls) assert.ok(!String(c.headers.authorization).includes("router-own"), "the router's own key was used");
  const metrics = await api("/metrics");
  for (const n of [...groq, ...wild]) assert.ok(!metrics.text.includes(n), `metrics series for ${n}`);
  const usage = await api("/usage");
  assert.equal(usage.json.deployments.length, 11, "no state per name");
  assert.equal(usage.json.deployments.find((d) => d.id === "wild-1").requests, 5);
  // A key limited to the wildcard group may call its names, not others.
  const key = await newKey({ models: ["openai/*"] });
  assert.equal((await r.client(key).chat.completions.create(hi("openai/anything"))).object, "chat.completion");
  await assert.rejects(r.client(key).chat.completions.create(hi("chat")), (e) => e.status === 403);
  r.mock.reset();
});

test("a keyless upload gets its 401 before its body is read", async () => {
  const started = Date.now();
  const status = await new Promise((resolve, reject) => {
    const req = http.request(`${r.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "content-length": String(5 * 1024 * 1024) } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", reject);
    req.write("{"); // and nothing more: a 1 byte/s client
  });
  assert.equal(status, 401);
  assert.ok(Date.now() - started < 3000, `${Date.now() - started} ms`);
});
