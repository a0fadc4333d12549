// Providers and endpoints end to end, each against a mock that speaks the provider's own wire
// format: Azure OpenAI and Anthropic chat (streaming too), a context-window fallback from
// Anthropic to OpenAI, and the embeddings, completions, moderations and images endpoints.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import OpenAI, { toFile } from "openai";
import { startRouter } from "./harness.mjs";

let r;
let client;

before(async () => {
  const root = (mock, name) => mock.base(name).replace(/\/v1$/, "");
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: azure-gpt
    litellm_params: { model: azure/my-gpt4o, api_base: "${root(mock, "azure")}", api_key: az-secret-1, api_version: "2024-10-21" }
  - model_name: claude
    litellm_params: { model: anthropic/claude-3-5-sonnet-20240620, api_base: "${root(mock, "anthropic")}", api_key: ant-secret-1 }
  - model_name: gemini-flash
    litellm_params: { model: gemini/gemini-1.5-flash, api_base: "${root(mock, "gemini")}", api_key: g-secret-1 }
  - model_name: bedrock-claude
    litellm_params:
      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0
      api_base: "${root(mock, "bedrock")}"
      aws_access_key_id: AKIDTEST
      aws_secret_access_key: bedrock-test-secret-key
      aws_region_name: us-west-2
  - model_name: bedrock-bad-key
    litellm_params:
      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0
      api_base: "${root(mock, "bedrock")}"
      aws_access_key_id: AKIDTEST
      aws_secret_access_key: wrong-secret
  - model_name: gpt-big
    litellm_params: { model: openai/gpt-4o, api_base: "${mock.base("openai")}" }
  - model_name: cutter
    litellm_params: { model: openai/gpt-4o, api_base: "${mock.base("cutter")}" }
  - model_name: text-embedding-3-small
    litellm_params: { model: openai/text-embedding-3-small, api_base: "${mock.base("openai")}" }
  - model_name: gpt-3.5-turbo-instruct
    litellm_params: { model: openai/gpt-3.5-turbo-instruct, api_base: "${mock.base("openai")}" }
  - model_name: omni-moderation-latest
    litellm_params: { model: openai/omni-moderation-latest, api_base: "${mock.base("openai")}" }
  - model_name: whisper
    litellm_params: { model: openai/whisper-1, api_base: "${mock.base("openai")}" }
  - model_name: tts
    litellm_params: { model: openai/tts-1, api_base: "${mock.base("openai")}" }
  - model_name: dall-e-3
    litellm_params: { model: openai/dall-e-3, api_base: "${mock.base("openai")}" }
router_settings:
  num_retries: 0
  context_window_fallbacks: [{ claude: [gpt-big] }]
  fallbacks: [{ cutter: [claude] }]
`,
  );
  client = r.client("unused");
});
after(async () => r && (await r.close()));
beforeEach(() => r.mock.reset());

const hello = (model, extra = {}) => ({ model, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "hi there" }], ...extra });

test("Azure OpenAI: deployment URL, api-version, api-key header; chat and stream", async () => {
  const res = await client.chat.completions.create(hello("azure-gpt"));
  assert.equal(res.choices[0].message.content, "echo: hi there");
  const call = r.mock.callsTo("azure")[0];
  assert.equal(call.path, "/openai/deployments/my-gpt4o/chat/completions");
  assert.equal(call.headers["api-key"], "az-secret-1");
  assert.equal(call.headers.authorization, undefined);
  const stream = await client.chat.completions.create({ ...hello("azure-gpt"), stream: true });
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
  assert.equal(text, "echo: hi there");
});

test("an OpenAI stream cut mid-answer is finished by Claude from an assistant prefill", async () => {
  r.mock.behave("cutter", { streamCutAfter: 2 }); // the role, then "echo: ", then the cut
  const stream = await client.chat.completions.create({ ...hello("cutter"), stream: true, stream_options: { include_usage: true } });
  let text = "";
  const models = new Set();
  let usage = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? "";
    models.add(c.model);
    usage = c.usage ?? usage;
  }
  assert.equal(text, "echo: hi there");
  assert.deepEqual([...models], ["gpt-4o"], "the model the client saw first");
  const asked = r.mock.callsTo("anthropic")[0].body;
  // Anthropic refuses a prefill ending in whitespace (the mock too): "echo: " goes as "echo:".
  assert.deepEqual(asked.messages.at(-1), { role: "assistant", content: [{ type: "text", text: "echo:" }] });
  assert.ok(usage.prompt_tokens >= 11, `Claude's input tokens are in the sum: ${JSON.stringify(usage)}`);
});

test("Anthropic: Messages API translated both ways", async () => {
  const res = await client.chat.completions.create(hello("claude", { max_tokens: 50 }));
  assert.equal(res.object, "chat.completion");
  assert.equal(res.choices[0].message.content, "echo: hi there");
  assert.equal(res.choices[0].finish_reason, "stop");
  assert.deepEqual(res.usage, { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 });
  const call = r.mock.callsTo("anthropic")[0];
  assert.equal(call.path, "/v1/messages");
  assert.equal(call.headers["x-api-key"], "ant-secret-1");
  assert.equal(call.headers["anthropic-version"], "2023-06-01");
  assert.deepEqual(call.body.system, [{ type: "text", text: "be brief" }]);
  assert.equal(call.body.max_tokens, 50);
  assert.equal(call.body.messages.length, 1);
});

test("Anthropic: streaming events become OpenAI chunks, usage included", async () => {
  const stream = await client.chat.completions.create({ ...hello("claude"), stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish = null;
  let usage = null;
  for await (const c of stream) {
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? "";
      finish = c.choices[0].finish_reason ?? finish;
    }
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, "echo: hi there");
  assert.equal(finish, "stop");
  assert.deepEqual(usage, { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 });
  assert.equal(r.mock.callsTo("anthropic")[0].body.max_tokens, 4096, "the documented default");
});

test("Gemini: generateContent and streamGenerateContent translated both ways", async () => {
  const res = await client.chat.completions.create(hello("gemini-flash"));
  assert.equal(res.choices[0].message.content, "echo: hi there");
  assert.deepEqual(res.usage, { prompt_tokens: 6, completion_tokens: 3, total_tokens: 9 });
  const call = r.mock.callsTo("gemini")[0];
  assert.equal(call.path, "/v1beta/models/gemini-1.5-flash:generateContent");
  assert.equal(call.headers["x-goog-api-key"], "g-secret-1");
  assert.deepEqual(call.body.systemInstruction, { parts: [{ text: "be brief" }] });
  const stream = await client.chat.completions.create({ ...hello("gemini-flash"), stream: true, stream_options: { include_usage: true } });
  let text = "";
  let usage = null;
  for await (const c of stream) {
    if (c.choices.length) text += c.choices[0].delta.content ?? "";
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, "echo: hi there");
  assert.equal(usage.total_tokens, 9);
  assert.equal(r.mock.callsTo("gemini")[1].path, "/v1beta/models/gemini-1.5-flash:streamGenerateContent");
});

test("Bedrock: Converse signed with SigV4 (checked by the mock), and ConverseStream frames", async () => {
  const res = await client.chat.completions.create(hello("bedrock-claude"));
  assert.equal(res.choices[0].message.content, "echo: hi there");
  assert.deepEqual(res.usage, { prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 });
  const call = r.mock.callsTo("bedrock")[0];
  assert.equal(call.path, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  assert.match(call.headers.authorization, /Credential=AKIDTEST\/\d{8}\/us-west-2\/bedrock\/aws4_request/);
  assert.deepEqual(call.body.system, [{ text: "be brief" }]);
  const stream = await client.chat.completions.create({ ...hello("bedrock-claude"), stream: true, stream_options: { include_usage: true } });
  let text = "";
  let usage = null;
  for await (const c of stream) {
    if (c.choices.length) text += c.choices[0].delta.content ?? "";
    if (c.usage) usage = c.usage;
  }
  assert.equal(text, "echo: hi there");
  assert.equal(usage.total_tokens, 11);
  await assert.rejects(client.chat.completions.create(hello("bedrock-bad-key")), (e) => {
    assert.equal(e.status, 502, "a provider's auth failure is not the client's 401");
    assert.match(e.message, /signature/);
    return true;
  });
});

test("a context-window error from Anthropic falls back to an OpenAI group", async () => {
  r.mock.behave("anthropic", {
    status: 400,
    body: { type: "error", error: { type: "invalid_request_error", message: "prompt is too long: 210000 tokens > 200000 maximum" } },
  });
  const { data, response } = await client.chat.completions.create(hello("claude")).withResponse();
  assert.equal(data.choices[0].message.content, "echo: hi there");
  assert.equal(response.headers.get("x-litellm-model-group"), "gpt-big");
  assert.equal(r.mock.callsTo("anthropic").length, 1);
  assert.equal(r.mock.callsTo("openai").length, 1);
});

test("Anthropic errors reach the client OpenAI-shaped", async () => {
  r.mock.behave("anthropic", { status: 429, body: { type: "error", error: { type: "rate_limit_error", message: "slow down" } } });
  await assert.rejects(client.chat.completions.create(hello("claude", { disable_fallbacks: true })), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError);
    assert.equal(e.type, "rate_limit_error");
    assert.match(e.message, /slow down/);
    return true;
  });
});

test("embeddings: a string, a list and token arrays", async () => {
  const one = await client.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
  assert.equal(one.data.length, 1);
  assert.equal(one.data[0].embedding.length, 3);
  const many = await client.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b", "c"] });
  assert.equal(many.data.length, 3);
  const tokens = await client.embeddings.create({ model: "text-embedding-3-small", input: [[1, 2, 3], [4, 5]] });
  assert.equal(tokens.data.length, 2);
  assert.equal(r.mock.callsTo("openai")[0].path, "/v1/embeddings");
  assert.equal(r.mock.callsTo("openai")[0].body.model, "text-embedding-3-small");
  await assert.rejects(client.embeddings.create({ model: "text-embedding-3-small", input: [] }), (e) => e.status === 400 && e.param === "input");
});

test("text completions, moderations and image generation", async () => {
  const c = await client.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "Say this", max_tokens: 5 });
  assert.equal(c.choices[0].text, " completed: Say this");
  const m = await client.moderations.create({ input: "some text" });
  assert.equal(m.results[0].flagged, false);
  assert.equal(r.mock.callsTo("openai").find((x) => x.path === "/v1/moderations").body.model, "omni-moderation-latest");
  const img = await client.images.generate({ model: "dall-e-3", prompt: "a cat" });
  assert.equal(img.data[0].url, "https://images.example/cat.png");
});

test("an endpoint a provider lacks: a clear 400 naming the provider", async () => {
  await assert.rejects(client.embeddings.create({ model: "claude", input: "x" }), (e) => {
    assert.equal(e.status, 400);
    assert.match(e.message, /anthropic/);
    return true;
  });
  assert.equal(r.mock.calls.length, 0);
});

test("audio: a real multipart upload for transcription and translation", async () => {
  const audio = Buffer.concat([Buffer.from("ID3"), Buffer.alloc(64 * 1024, 7)]);
  const t = await client.audio.transcriptions.create({ file: await toFile(audio, "speech.mp3"), model: "whisper" });
  assert.match(t.text, /^transcribed by whisper-1, \d+ bytes$/, "the model field was rewritten for the deployment");
  const call = r.mock.callsTo("openai").at(-1);
  assert.equal(call.path, "/v1/audio/transcriptions");
  assert.match(call.headers["content-type"], /^multipart\/form-data; boundary=/);
  const tr = await client.audio.translations.create({ file: await toFile(audio, "speech.mp3"), model: "whisper" });
  assert.match(tr.text, /^translated by whisper-1/);
  const noFile = await fetch(`${r.url}/v1/audio/transcriptions`, {
    method: "POST",
    headers: { "content-type": "multipart/form-data; boundary=xyz" },
    body: '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n--xyz--\r\n',
  });
  assert.equal(noFile.status, 400);
  assert.equal((await noFile.json()).error.param, "file");
});

test("audio: speech comes back as binary audio with its content type", async () => {
  const res = await client.audio.speech.create({ model: "tts", voice: "alloy", input: "hello" });
  assert.equal(res.headers.get("content-type"), "audio/mpeg");
  const bytes = Buffer.from(await res.arrayBuffer());
  assert.deepEqual([...bytes.subarray(0, 4)], [0x49, 0x44, 0x33, 0x04]);
  assert.match(bytes.subarray(4).toString(), /voice=alloy;input=hello/);
  assert.equal(r.mock.callsTo("openai").at(-1).body.model, "tts-1");
});
