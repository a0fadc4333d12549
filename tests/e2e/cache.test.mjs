// The response cache in Workers KV: hits, ttl, per-request controls, caching groups, and a
// streaming request answered from a cached completion.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let r;
let client;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: gpt-4, litellm_params: { model: openai/gpt-4, api_base: "${mock.base("openai")}" } }
  - { model_name: gpt-4-azure, litellm_params: { model: openai/gpt-4, api_base: "${mock.base("azure")}" } }
  - { model_name: other, litellm_params: { model: openai/x, api_base: "${mock.base("other")}" } }
router_settings:
  cache_responses: true
  cache_kwargs: { ttl: 600, namespace: e2e }
  caching_groups: [[gpt-4, gpt-4-azure]]
`,
  );
  client = r.client("unused");
});
after(async () => r && (await r.close()));
beforeEach(() => r.mock.reset());

const ask = (model, content, extra = {}) =>
  client.chat.completions.create({ model, messages: [{ role: "user", content }], ...extra }).withResponse();

test("an identical request is answered from the cache, not upstream", async () => {
  const first = await ask("gpt-4", "what is 2+2?");
  assert.equal(first.response.headers.get("x-switchyard-cache"), "miss");
  await sleep(150); // the write happens after the response
  const second = await ask("gpt-4", "what is 2+2?");
  assert.equal(second.response.headers.get("x-switchyard-cache"), "hit");
  assert.equal(second.response.headers.get("x-litellm-cache-key"), first.response.headers.get("x-litellm-cache-key"));
  assert.deepEqual(second.data.choices, first.data.choices);
  assert.equal(r.mock.calls.length, 1, "the cached answer was not sent upstream");
  const different = await ask("gpt-4", "what is 3+3?");
  assert.equal(different.response.headers.get("x-switchyard-cache"), "miss");
});

test("a streaming request is served from a cached completion", async () => {
  await ask("other", "stream me");
  await sleep(150);
  const stream = await client.chat.completions.create({
    model: "other",
    messages: [{ role: "user", content: "stream me" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  for await (const c of stream) {
    if (c.choices.length) text += c.choices[0].delta.content ?? "";
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, "echo: stream me");
  assert.ok(usage && usage.prompt_tokens > 0);
  assert.equal(r.mock.calls.length, 1);
});

test("ttl, no-cache, no-store and s-maxage per request", async () => {
  await ask("other", "short", { cache: { ttl: 1 } });
  await sleep(150);
  assert.equal((await ask("other", "short")).response.headers.get("x-switchyard-cache"), "hit");
  await sleep(1_100);
  assert.equal((await ask("other", "short")).response.headers.get("x-switchyard-cache"), "miss", "past its ttl");

  await ask("other", "fresh");
  await sleep(150);
  const bypass = await ask("other", "fresh", { cache: { "no-cache": true } });
  assert.equal(bypass.response.headers.get("x-switchyard-cache"), "miss");
  await sleep(300);
  const aged = await ask("other", "fresh", { cache: { "s-maxage": 0.1 } });
  assert.equal(aged.response.headers.get("x-switchyard-cache"), "miss", "older than s-maxage");

  await ask("other", "secret", { cache: { "no-store": true } });
  await sleep(150);
  assert.equal((await ask("other", "secret")).response.headers.get("x-switchyard-cache"), "miss");
});

test("caching groups share answers", async () => {
  await ask("gpt-4", "shared question");
  await sleep(150);
  const viaAzure = await ask("gpt-4-azure", "shared question");
  assert.equal(viaAzure.response.headers.get("x-switchyard-cache"), "hit");
  assert.equal(r.mock.callsTo("azure").length, 0);
});

test("a client ttl above router_settings.max_cache_ttl is a 400, not a storage error", async () => {
  for (const ttl of [1e300, 8 * 24 * 3600]) {
    await assert.rejects(ask("other", `ttl ${ttl}`, { cache: { ttl } }), (e) => {
      assert.equal(e.status, 400);
      assert.match(e.message, /ttl must be at most 604800 seconds/);
      return true;
    });
  }
  assert.equal(r.mock.calls.length, 0);
});

const KEYED_MASTER = "sk-cache-master-7c2a";
const keyedConfig = (scope) => (mock) => `
model_list:
  - { model_name: m, litellm_params: { model: openai/m, api_base: "${mock.base("m")}" } }
router_settings:
  cache_responses: true
  cache_kwargs: { namespace: keyed${scope ? `, scope: ${scope}` : ""} }
general_settings: { master_key: "${KEYED_MASTER}" }
`;

async function twoKeys(router) {
  const gen = async () => {
    const res = await fetch(`${router.url}/key/generate`, { method: "POST", headers: { authorization: `Bearer ${KEYED_MASTER}` }, body: "{}" });
    return (await res.json()).key;
  };
  return [await gen(), await gen()];
}

test("answers are cached per virtual key: another key neither reads them nor learns the prompt", async () => {
  const keyed = await startRouter(keyedConfig());
  try {
    const [a, b] = await twoKeys(keyed);
    const asA = keyed.client(a);
    const asB = keyed.client(b);
    const body = { model: "m", messages: [{ role: "user", content: "my private question" }] };
    await asA.chat.completions.create(body);
    await sleep(150);
    const again = await asA.chat.completions.create(body).withResponse();
    assert.equal(again.response.headers.get("x-switchyard-cache"), "hit", "the same key hits");
    const other = await asB.chat.completions.create(body).withResponse();
    assert.equal(other.response.headers.get("x-switchyard-cache"), "miss", "another key misses");
    assert.notEqual(other.response.headers.get("x-litellm-cache-key"), again.response.headers.get("x-litellm-cache-key"));
    assert.equal(keyed.mock.callsTo("m").length, 2, "B's call went upstream (and is charged)");
  } finally {
    await keyed.close();
  }
});

test("cache_kwargs.scope: shared opts into one cache for every caller", async () => {
  const shared = await startRouter(keyedConfig("shared"));
  try {
    const [a, b] = await twoKeys(shared);
    const body = { model: "m", messages: [{ role: "user", content: "a common question" }] };
    await shared.client(a).chat.completions.create(body);
    await sleep(150);
    const other = await shared.client(b).chat.completions.create(body).withResponse();
    assert.equal(other.response.headers.get("x-switchyard-cache"), "hit");
    assert.equal(shared.mock.callsTo("m").length, 1);
  } finally {
    await shared.close();
  }
});

test("embeddings are cached too (the same input, one upstream call)", async () => {
  const first = await client.embeddings.create({ model: "gpt-4", input: "cache me", encoding_format: "float" }).withResponse();
  assert.equal(first.response.headers.get("x-switchyard-cache"), "miss");
  await sleep(150);
  const second = await client.embeddings.create({ model: "gpt-4", input: "cache me", encoding_format: "float" }).withResponse();
  assert.equal(second.response.headers.get("x-switchyard-cache"), "hit");
  assert.deepEqual(second.data.data[0].embedding, first.data.data[0].embedding);
  assert.equal(r.mock.calls.length, 1);
});

test("cache_params.supported_call_types: only the call types listed are cached", async () => {
  const only = await startRouter(
    (mock) => `
model_list:
  - { model_name: m, litellm_params: { model: openai/x, api_base: "${mock.base("only")}" } }
litellm_settings:
  cache: true
  cache_params: { supported_call_types: ["aembedding"] }
`,
  );
  try {
    const c = only.client("unused");
    for (let i = 0; i < 2; i++) {
      await c.chat.completions.create({ model: "m", messages: [{ role: "user", content: "same" }] });
      await c.embeddings.create({ model: "m", input: "same", encoding_format: "float" });
      await sleep(150);
    }
    const paths = only.mock.calls.map((x) => x.path);
    assert.equal(paths.filter((p) => p === "/v1/chat/completions").length, 2, "chat is not a listed call type");
    assert.equal(paths.filter((p) => p === "/v1/embeddings").length, 1, "embeddings are");
  } finally {
    await only.close();
  }
});
