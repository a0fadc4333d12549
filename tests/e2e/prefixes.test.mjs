// The provider prefixes LiteLLM users write, each pointed at the mock: the right path (Ollama's
// OpenAI API under /v1 of its root), the provider's model name, its auth header (Azure AI's
// api-key too), only the endpoints the provider serves, and /v1/rerank in Cohere's shape
// whatever the provider's own (Voyage's translated).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-prefixes-master-41";
let r;

const PREFIXES = [
  "groq", "mistral", "deepseek", "together_ai", "fireworks_ai", "openrouter", "xai", "perplexity",
  "cerebras", "deepinfra", "nvidia_nim", "sambanova", "nebius", "novita", "siliconflow", "moonshot",
  "dashscope", "volcengine", "huggingface", "hosted_vllm", "openai_like", "lm_studio", "llamafile",
  "codestral", "databricks", "azure_ai", "cohere",
];

before(async () => {
  r = await startRouter((mock) => {
    const root = (name) => mock.base(name).replace(/\/v1$/, "");
    const chatGroups = PREFIXES.map(
      (p) => `  - { model_name: ${p}-chat, litellm_params: { model: ${p}/their-model, api_base: "${mock.base(p)}", api_key: key-${p} } }`,
    );
    return `
model_list:
${chatGroups.join("\n")}
  - { model_name: local, litellm_params: { model: ollama/llama3, api_base: "${root("ollama")}" } }
  - { model_name: local-chat, litellm_params: { model: ollama_chat/llama3, api_base: "${root("ollama-chat")}" } }
  - { model_name: ranker, litellm_params: { model: cohere/rerank-v3.5, api_base: "${mock.base("cohere-rr")}", api_key: co-key } }
  - { model_name: voyage-ranker, litellm_params: { model: voyage/rerank-2, api_base: "${mock.base("voyage")}", api_key: vo-key } }
  - { model_name: voyage-ranker, litellm_params: { model: jina_ai/jina-reranker-v2, api_base: "${mock.base("jina")}", api_key: ji-key } }
  - { model_name: voyage-embed, litellm_params: { model: voyage/voyage-3, api_base: "${mock.base("voyage-emb")}" } }
  - { model_name: old-style, litellm_params: { model: text-completion-openai/gpt-3.5-turbo-instruct, api_base: "${mock.base("instruct")}" } }
general_settings: { master_key: ${MASTER} }
router_settings: { num_retries: 0 }
`;
  });
  r.mock.behave("voyage", { rerank: "voyage" });
});
after(() => r?.close());

const post = async (path, body) => {
  const res = await fetch(`${r.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
};

test("every OpenAI-compatible prefix reaches its server with its model name and key", async () => {
  const client = r.client(MASTER);
  for (const p of PREFIXES) {
    const out = await client.chat.completions.create({ model: `${p}-chat`, messages: [{ role: "user", content: "hi" }] });
    assert.equal(out.object, "chat.completion", p);
    const call = r.mock.callsTo(p).at(-1);
    assert.equal(call.path, "/v1/chat/completions", p);
    assert.equal(call.body.model, "their-model", p);
    assert.equal(call.headers.authorization, `Bearer key-${p}`, p);
    assert.equal(call.headers["api-key"], p === "azure_ai" ? `key-${p}` : undefined, `${p}: api-key header`);
  }
  for (const [group, name] of [["local", "ollama"], ["local-chat", "ollama-chat"]]) {
    await client.chat.completions.create({ model: group, messages: [{ role: "user", content: "hi" }] });
    const call = r.mock.callsTo(name).at(-1);
    assert.equal(call.path, "/v1/chat/completions", `${name}: /v1 under the server's root`);
    assert.equal(call.body.model, "llama3");
    assert.equal(call.headers.authorization, undefined, "no key configured, none sent");
  }
  const text = await client.completions.create({ model: "old-style", prompt: "say" });
  assert.equal(text.object, "text_completion");
  assert.equal(r.mock.callsTo("instruct").at(-1).path, "/v1/completions");
  // A chat request to a completions-only model becomes a completion, and comes back as chat.
  const chat = await client.chat.completions.create({ model: "old-style", messages: [{ role: "user", content: "say hi" }] });
  assert.equal(chat.object, "chat.completion");
  assert.equal(chat.choices[0].message.content, " completed: say hi");
  const sent = r.mock.callsTo("instruct").at(-1);
  assert.equal(sent.path, "/v1/completions");
  assert.equal(sent.body.prompt, "say hi");
  assert.equal(sent.body.messages, undefined);
});

test("/v1/rerank answers in Cohere's shape from Cohere, Jina and Voyage", async () => {
  const docs = ["alpha", { text: "beta" }, "gamma"];
  const cohere = await post("/v1/rerank", { model: "ranker", query: "q", documents: docs, top_n: 2 });
  assert.equal(cohere.status, 200, JSON.stringify(cohere.json));
  assert.deepEqual(cohere.json.results.map((x) => x.index), [0, 1]);
  const sent = r.mock.callsTo("cohere-rr").at(-1);
  assert.equal(sent.path, "/v1/rerank");
  assert.equal(sent.body.model, "rerank-v3.5");
  assert.equal(sent.body.top_n, 2);

  // The group holds Voyage and Jina: whichever serves, the client gets Cohere's shape.
  const seen = new Set();
  for (let i = 0; i < 12 && seen.size < 2; i++) {
    const out = await post("/rerank", { model: "voyage-ranker", query: "q", documents: docs, top_n: 1 });
    assert.equal(out.status, 200, JSON.stringify(out.json));
    assert.deepEqual(out.json.results.map((x) => [x.index, x.relevance_score]), [[0, 0.9]]);
    seen.add(r.mock.calls.at(-1).name);
  }
  assert.deepEqual([...seen].sort(), ["jina", "voyage"]);
  const voyage = r.mock.callsTo("voyage").at(-1);
  assert.equal(voyage.body.top_k, 1, "Voyage's name for top_n");
  assert.deepEqual(voyage.body.documents, ["alpha", "beta", "gamma"]);

  const bad = await post("/v1/rerank", { model: "ranker", query: "q", documents: [] });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.param, "documents");
});

test("a provider is sent only what it serves", async () => {
  const client = r.client(MASTER);
  const emb = await client.embeddings.create({ model: "voyage-embed", input: "x", encoding_format: "float" });
  assert.equal(emb.data.length, 1);
  const before = r.mock.callsTo("voyage-emb").length;
  await assert.rejects(client.chat.completions.create({ model: "voyage-embed", messages: [{ role: "user", content: "hi" }] }), (e) => e.status >= 400 && e.status < 500);
  assert.equal(r.mock.callsTo("voyage-emb").length, before, "Voyage serves no chat: never called for one");
  const rr = await post("/v1/rerank", { model: "groq-chat", query: "q", documents: ["a"] });
  assert.ok(rr.status >= 400 && rr.status < 500, `groq has no rerank: ${rr.status}`);
});
