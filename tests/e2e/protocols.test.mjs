// Every client protocol in front of every provider, through the clients users run: the official
// openai SDK's Responses API, the Vercel AI SDK's default OpenAI provider (which calls
// /v1/responses), and the official Anthropic SDK's Messages API, each against an OpenAI
// deployment (Responses passed through: the mock serves OpenAI's own /v1/responses), a
// self-hosted OpenAI-compatible one (chat only: Responses translated) and one that speaks
// Anthropic's wire (Messages passed through, Responses translated); with a fallback and a
// stream cut mid-answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, tool, stepCountIs } from "ai";
import { z } from "zod";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-protocols-master";
let r;
let oa;
let ant;

before(async () => {
  const root = (mock, name) => mock.base(name).replace(/\/v1$/, "");
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: gpt-4o-mini
    litellm_params: { model: openai/gpt-4o-mini, api_base: "${mock.base("oa")}", api_key: oa-key }
  - model_name: local
    litellm_params: { model: hosted_vllm/qwen3, api_base: "${mock.base("vllm")}" }
  - model_name: claude
    litellm_params: { model: anthropic/claude-sonnet-4-5, api_base: "${root(mock, "ant")}", api_key: ant-key }
    model_info: { supports_assistant_prefill: true }
  - model_name: flaky
    litellm_params: { model: openai/gpt-4o, api_base: "${mock.base("flaky")}" }
  - model_name: cutter
    litellm_params: { model: openai/gpt-4o, api_base: "${mock.base("cutter")}" }
general_settings: { master_key: ${MASTER} }
router_settings:
  num_retries: 0
  fallbacks: [{ flaky: [claude] }, { cutter: [claude] }]
`,
  );
  r.mock.behave("flaky", { status: 500 });
  r.mock.behave("cutter", { streamCutAfter: 3 });
  oa = new OpenAI({ apiKey: MASTER, baseURL: `${r.url}/v1`, maxRetries: 0 });
  ant = new Anthropic({ apiKey: MASTER, baseURL: r.url, maxRetries: 0 });
});
after(async () => r && (await r.close()));

const WIRES = [
  ["OpenAI: Responses passed through", "gpt-4o-mini", "oa"],
  ["OpenAI-compatible chat, translated", "local", "vllm"],
  ["Anthropic wire", "claude", "ant"],
];
const lastCall = (name) => r.mock.callsTo(name).at(-1);

for (const [wire, model, mockName] of WIRES) {
  test(`openai responses.create, plain and streamed (${wire})`, async () => {
    const res = await oa.responses.create({ model, instructions: "be brief", input: "hello there" });
    assert.equal(res.object, "response");
    assert.equal(res.status, "completed");
    assert.equal(res.output_text, "echo: hello there");
    assert.ok(res.id.startsWith("resp_"));
    assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0, JSON.stringify(res.usage));
    const sent = lastCall(mockName).body;
    if (mockName === "ant") assert.equal(sent.system?.[0]?.text ?? sent.system, "be brief");
    else if (mockName === "oa") assert.equal(sent.instructions, "be brief");
    else assert.deepEqual(sent.messages[0], { role: "system", content: "be brief" });

    // The raw event stream, then the SDK's accumulating helper over the same events.
    const stream = await oa.responses.create({ model, input: "one two three", stream: true });
    const kinds = [];
    let text = "";
    let completed;
    for await (const ev of stream) {
      kinds.push(ev.type);
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") completed = ev.response;
    }
    assert.equal(text, "echo: one two three");
    assert.equal(kinds[0], "response.created");
    assert.equal(kinds.at(-1), "response.completed");
    assert.ok(kinds.includes("response.output_item.done") && kinds.includes("response.content_part.added"), kinds.join());
    assert.equal(completed.output[0].content[0].text, text);
    const helper = oa.responses.stream({ model, input: "four five" });
    const final = await helper.finalResponse();
    assert.equal(final.output[0].content[0].text, "echo: four five");
  });

  test(`openai responses: a tool round trip and previous_response_id (${wire})`, async () => {
    const tools = [{ type: "function", name: "lookup", description: "look it up", parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] }, strict: true }];
    const first = await oa.responses.create({ model, input: "the answer", tools });
    const call = first.output.find((o) => o.type === "function_call");
    assert.ok(call, JSON.stringify(first.output));
    assert.equal(call.name, "lookup");
    assert.deepEqual(JSON.parse(call.arguments), { query: "the answer" });
    const second = await oa.responses.create({
      model,
      previous_response_id: first.id,
      tools,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "42" }],
    });
    assert.equal(second.output_text, "echo: tool said 42");
    assert.equal(second.previous_response_id, first.id);

    // A conversation carried by id: the upstream sees the earlier turns.
    const a = await oa.responses.create({ model, input: "My name is Ann" });
    const b = await oa.responses.create({ model, input: "What is my name?", previous_response_id: a.id });
    assert.equal(b.output_text, "echo: What is my name?");
    if (mockName === "oa") {
      assert.equal(lastCall("oa").body.previous_response_id, a.id, "the provider's own id, continued there");
    } else {
      const history = JSON.stringify(lastCall(mockName).body.messages);
      assert.ok(history.includes("My name is Ann") && history.includes("echo: My name is Ann"), history);
    }

    // Stored: read back, its input items, deleted.
    assert.equal((await oa.responses.retrieve(a.id)).output_text, "echo: My name is Ann");
    const items = await oa.responses.inputItems.list(b.id);
    assert.equal(items.data[0].content[0].text, "What is my name?");
    await oa.responses.delete(a.id);
    await assert.rejects(oa.responses.retrieve(a.id), (e) => e.status === 404);
  });

  test(`openai responses: text.format json_schema (${wire})`, async () => {
    const res = await oa.responses.create({
      model,
      input: "Ann, 31",
      text: { format: { type: "json_schema", name: "person", strict: true, schema: { type: "object", properties: { name: { type: "string" }, age: { type: "number" } }, required: ["name", "age"], additionalProperties: false } } },
    });
    const person = JSON.parse(res.output_text);
    assert.equal(typeof person.name, "string");
    assert.equal(typeof person.age, "number");
    if (mockName === "oa") assert.equal(lastCall("oa").body.text.format.name, "person");
    if (mockName === "vllm") assert.equal(lastCall("vllm").body.response_format.json_schema.name, "person");
  });

  test(`Vercel AI SDK default provider: generateText, streamText, a tool (${wire})`, async () => {
    const provider = createOpenAI({ apiKey: MASTER, baseURL: `${r.url}/v1` });
    const before = r.mock.callsTo(mockName).length;
    const { text } = await generateText({ model: provider(model), prompt: "hi vercel" });
    assert.equal(text, "echo: hi vercel");
    assert.ok(r.mock.callsTo(mockName).length > before, "it went through /v1/responses to the deployment");
    const streamed = streamText({ model: provider(model), prompt: "streamed words" });
    let out = "";
    for await (const t of streamed.textStream) out += t;
    assert.equal(out, "echo: streamed words");
    const withTool = await generateText({
      model: provider(model),
      prompt: "weather in Oslo",
      tools: { lookup: tool({ description: "look it up", inputSchema: z.object({ query: z.string() }), execute: async ({ query }) => `cold (${query})` }) },
      stopWhen: stepCountIs(3),
    });
    assert.equal(withTool.steps[0].toolCalls[0].toolName, "lookup");
    assert.deepEqual(withTool.steps[0].toolCalls[0].input, { query: "weather in Oslo" });
    assert.match(withTool.text, /^echo: tool said .*cold \(weather in Oslo\)/);
  });

  test(`anthropic messages.create, plain, streamed, tools, countTokens (${wire})`, async () => {
    const msg = await ant.messages.create({ model, max_tokens: 64, system: "terse", messages: [{ role: "user", content: "hello claude" }] });
    assert.equal(msg.type, "message");
    assert.equal(msg.content[0].text, "echo: hello claude");
    assert.equal(msg.stop_reason, "end_turn");
    assert.ok(msg.usage.output_tokens > 0);

    const stream = ant.messages.stream({ model, max_tokens: 64, messages: [{ role: "user", content: "stream me" }] });
    let text = "";
    stream.on("text", (t) => (text += t));
    const final = await stream.finalMessage();
    assert.equal(text, "echo: stream me");
    assert.equal(final.content[0].text, text);

    const tools = [{ name: "lookup", description: "look it up", input_schema: { type: "object", properties: { query: { type: "string" } } } }];
    const asked = await ant.messages.create({ model, max_tokens: 64, tools, messages: [{ role: "user", content: "find it" }] });
    assert.equal(asked.stop_reason, "tool_use");
    const use = asked.content.find((b) => b.type === "tool_use");
    assert.deepEqual(use.input, { query: "find it" });
    const answered = await ant.messages.create({
      model,
      max_tokens: 64,
      tools,
      messages: [
        { role: "user", content: "find it" },
        { role: "assistant", content: asked.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "found" }] },
      ],
    });
    assert.equal(answered.content[0].text, "echo: tool said found");

    // A streamed tool call: the SDK assembles the input from input_json_delta events.
    const toolStream = ant.messages.stream({ model, max_tokens: 64, tools, messages: [{ role: "user", content: "stream a call" }] });
    const streamedCall = await toolStream.finalMessage();
    assert.deepEqual(streamedCall.content.find((b) => b.type === "tool_use").input, { query: "stream a call" });

    const count = await ant.messages.countTokens({ model, messages: [{ role: "user", content: "how many tokens is this?" }] });
    assert.ok(count.input_tokens > 0);
  });
}

test("a fallback and a stream cut mid-answer, through each protocol", async () => {
  // flaky answers 500: its fallback (Anthropic's wire) serves.
  const { data, response } = await oa.responses.create({ model: "flaky", input: "fall back" }).withResponse();
  assert.equal(data.output_text, "echo: fall back");
  assert.equal(response.headers.get("x-litellm-attempted-fallbacks"), "1");
  const msg = await ant.messages.create({ model: "flaky", max_tokens: 32, messages: [{ role: "user", content: "fall back too" }] });
  assert.equal(msg.content[0].text, "echo: fall back too");

  // cutter's stream breaks after its third event: Claude finishes it, and neither protocol's
  // client sees the break.
  const stream = await oa.responses.create({ model: "cutter", input: "a long answer to finish", stream: true });
  let text = "";
  let last;
  for await (const ev of stream) {
    if (ev.type === "response.output_text.delta") text += ev.delta;
    last = ev.type;
  }
  assert.equal(text, "echo: a long answer to finish");
  assert.equal(last, "response.completed");
  const astream = ant.messages.stream({ model: "cutter", max_tokens: 64, messages: [{ role: "user", content: "another long answer" }] });
  assert.equal((await astream.finalMessage()).content[0].text, "echo: another long answer");
});

test("a virtual key cannot read, continue or delete another key's responses", async () => {
  const mint = async () => {
    const res = await fetch(`${r.url}/key/generate`, { method: "POST", headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" }, body: "{}" });
    return (await res.json()).key;
  };
  const a = new OpenAI({ apiKey: await mint(), baseURL: `${r.url}/v1`, maxRetries: 0 });
  const b = new OpenAI({ apiKey: await mint(), baseURL: `${r.url}/v1`, maxRetries: 0 });
  const mine = await a.responses.create({ model: "gpt-4o-mini", input: "my secret" });
  assert.equal((await a.responses.retrieve(mine.id)).id, mine.id);
  await assert.rejects(b.responses.retrieve(mine.id), (e) => e.status === 404);
  await assert.rejects(b.responses.inputItems.list(mine.id), (e) => e.status === 404);
  await assert.rejects(b.responses.delete(mine.id), (e) => e.status === 404);
  await assert.rejects(b.responses.create({ model: "gpt-4o-mini", input: "and?", previous_response_id: mine.id }), (e) => e.status === 400);
  const calls = r.mock.callsTo("oa").length;
  await assert.rejects(b.responses.create({ model: "gpt-4o-mini", input: [{ type: "item_reference", id: mine.output[0].id }] }), (e) => e.status === 400, "another key's item, by reference");
  assert.equal(r.mock.callsTo("oa").length, calls, "and OpenAI (which would resolve it) was not asked");
  await assert.rejects(oa.responses.retrieve(mine.id), (e) => e.status === 404, "the master key reads only its own");
  assert.equal((await a.responses.retrieve(mine.id)).output_text, "echo: my secret");
});

test("an Anthropic deployment gets the Messages body as the client wrote it; others get its translation", async () => {
  const body = {
    max_tokens: 64,
    top_k: 5,
    system: [{ type: "text", text: "long shared rules", cache_control: { type: "ephemeral" } }],
    messages: [{ role: "user", content: "cache me" }],
  };
  const viaClaude = await ant.messages.create({ ...body, model: "claude" }, { headers: { "anthropic-beta": "prompt-caching-2024-07-31" } });
  assert.equal(viaClaude.content[0].text, "echo: cache me");
  const call = lastCall("ant");
  assert.deepEqual(call.body.system, body.system);
  assert.equal(call.body.top_k, 5);
  assert.equal(call.body.model, "claude-sonnet-4-5");
  assert.equal(call.headers["anthropic-beta"], "prompt-caching-2024-07-31");
  const viaOpenAI = await ant.messages.create({ ...body, model: "gpt-4o-mini" });
  assert.equal(viaOpenAI.content[0].text, "echo: cache me");
  const sent = lastCall("oa").body; // chat: the Messages API is translated for OpenAI
  assert.deepEqual(sent.messages[0], { role: "system", content: "long shared rules" });
  assert.equal(sent.top_k, undefined);
});

test("a stored response expires after responses_ttl (the Durable Object's table)", async () => {
  const short = await startRouter(
    (mock) => `
model_list:
  - { model_name: gpt-4o-mini, litellm_params: { model: openai/gpt-4o-mini, api_base: "${mock.base("oa")}", api_key: k } }
general_settings: { master_key: ${MASTER}, responses_ttl: 1 }
`,
  );
  try {
    const client = new OpenAI({ apiKey: MASTER, baseURL: `${short.url}/v1`, maxRetries: 0 });
    const res = await client.responses.create({ model: "gpt-4o-mini", input: "short-lived" });
    assert.equal((await client.responses.retrieve(res.id)).id, res.id);
    await new Promise((ok) => setTimeout(ok, 1200));
    await assert.rejects(client.responses.retrieve(res.id), (e) => e.status === 404);
    await assert.rejects(client.responses.create({ model: "gpt-4o-mini", input: "more", previous_response_id: res.id }), (e) => e.status === 400);
  } finally {
    await short.close();
  }
});
