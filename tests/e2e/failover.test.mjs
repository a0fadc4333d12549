// The provider faults of ../shared/spec/failover-scenarios.md (failoverbench's sixteen), each a
// streaming chat call with client retries off, against the benchmark's baseline config: a group
// with one faulty deployment, a fallback group, 2 retries, and everything else Switchyard's
// defaults. Each scenario has a primary group of its own, so cooldowns never leak between them.
//
// Time is scaled so the test command stays fast: the benchmark's 30 s request and stream-idle
// timeout is 2 s here (1/15), and the limits scale with it; Retry-After keeps its real 2 s. The
// hedge point is scaled the same way: `hedge_after` is the adaptive default before any first
// token has been measured (10 s), scaled (bench/failover.mjs runs the real defaults). The
// fallback's server continues an assistant prefill (as vLLM's continue_final_message does) and
// its deployment says so (`model_info.supports_assistant_prefill`), so a broken stream is
// finished there from the text relayed; in S14 it refuses the prefill and answers afresh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-failover-master-16";
const TIMEOUT_S = 2; // the benchmark's 30 s, scaled
const SCALE = TIMEOUT_S / 30;
const HEDGE_S = 10 * SCALE; // the unmeasured adaptive hedge point, scaled
const SCENARIOS = ["s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11", "s12", "s13", "s14", "s15", "s16"];
let r;

before(async () => {
  r = await startRouter((mock) => `
model_list:
${SCENARIOS.map((s) => `  - { model_name: ${s}, litellm_params: { model: openai/primary-model, api_base: "${mock.base(s)}", api_key: sk-p } }`).join("\n")}
  - { model_name: fallback, litellm_params: { model: openai/fallback-model, api_base: "${mock.base("fb")}", api_key: sk-f }, model_info: { supports_assistant_prefill: true } }
general_settings: { master_key: ${MASTER} }
router_settings:
  num_retries: 2
  timeout: ${TIMEOUT_S}
  stream_timeout: ${TIMEOUT_S}
  hedge_after: ${HEDGE_S}
  fallbacks: [${SCENARIOS.map((s) => `{ ${s}: [fallback] }`).join(", ")}]
`);
  r.mock.behave("fb", FB_NORMAL);
});
after(() => r?.close());

/** The fallback's server as configured: it continues an assistant prefill. */
const FB_NORMAL = { continuePrefill: true };

/** A 60-word prompt: the mock echoes it, one word a chunk ("echo: w1 w2 ..."). */
const prompt = (id) => Array.from({ length: 59 }, (_, i) => `${id}w${i + 1}`).join(" ");

/** One streaming call as the benchmark makes it; what came back, how, and when. */
async function call(model, { includeUsage = false, content = prompt(model) } = {}) {
  const started = Date.now();
  const primaryBefore = r.mock.callsTo(model).length;
  const fallbackBefore = r.mock.callsTo("fb").length;
  const out = { text: "", chunks: [], usage: null, error: null, models: new Set() };
  try {
    const stream = await r.client(MASTER, { timeout: 200_000 }).chat.completions.create({
      model,
      stream: true,
      messages: [{ role: "user", content }],
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    for await (const chunk of stream) {
      out.chunks.push(chunk);
      if (chunk.model) out.models.add(chunk.model);
      if (chunk.usage) out.usage = chunk.usage;
      out.text += chunk.choices[0]?.delta?.content ?? "";
    }
  } catch (e) {
    out.error = e;
  }
  out.ms = Date.now() - started;
  const primary = r.mock.callsTo(model).slice(primaryBefore);
  out.primaryAt = primary.map((c) => c.at - started);
  out.fallbackCalls = r.mock.callsTo("fb").length - fallbackBefore;
  out.complete = out.error === null && out.text === `echo: ${content}`;
  return out;
}

/** After each scenario the gateway still serves an ordinary call. */
async function stillAlive(model) {
  r.mock.behave(model, null);
  const out = await call(model, { content: "are you alive" });
  assert.ok(out.complete, `after ${model}: ${out.error}`);
}

test("S01 429 with Retry-After: 2, once: waited for and retried on the same model", async () => {
  r.mock.behave("s01", { status: 429, headers: { "retry-after": "2" }, times: 1, body: { error: { message: "Rate limit reached", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" } } });
  const out = await call("s01");
  assert.ok(out.complete, String(out.error));
  assert.ok(out.primaryAt.filter((t) => t < 1500).length <= 2, "at most 2 attempts in the first 1.5 s");
  assert.equal(out.primaryAt.length, 2, "retried on the primary");
  assert.ok(out.primaryAt[1] - out.primaryAt[0] >= 1800, `gap ${out.primaryAt[1] - out.primaryAt[0]} ms`);
  assert.equal(out.fallbackCalls, 0);
  assert.ok(out.ms < 20_000);
  await stillAlive("s01");
});

test("S02 429 without Retry-After, always: few attempts, then the fallback", async () => {
  r.mock.behave("s02", { status: 429 });
  const out = await call("s02");
  assert.ok(out.complete, String(out.error));
  assert.ok(out.primaryAt.filter((t) => t < 3000).length <= 4);
  assert.ok(out.primaryAt.length <= 6, `${out.primaryAt.length} primary attempts`);
  assert.deepEqual([...out.models], ["fallback-model"]);
  await stillAlive("s02");
});

test("S03 500 once: retried on the same model", async () => {
  r.mock.behave("s03", { status: 500, times: 1 });
  const out = await call("s03");
  assert.ok(out.complete, String(out.error));
  assert.equal(out.primaryAt.length, 2);
  assert.equal(out.fallbackCalls, 0);
  assert.deepEqual([...out.models], ["primary-model"]);
  await stillAlive("s03");
});

test("S04 503 always: at most 6 primary attempts, answered by the fallback", async () => {
  r.mock.behave("s04", { status: 503 });
  const out = await call("s04");
  assert.ok(out.complete, String(out.error));
  assert.ok(out.primaryAt.length <= 6);
  assert.ok(out.ms < 40_000 * SCALE * 15, `${out.ms} ms`);
  await stillAlive("s04");
});

test("S05 TCP reset before any byte, once: no hang, answered", async () => {
  r.mock.behave("s05", { reset: true, times: 1 });
  const out = await call("s05");
  assert.ok(out.complete, String(out.error));
  assert.ok(out.ms < 20_000);
  await stillAlive("s05");
});

test("S06 a primary that never answers: one timeout, the silent route not retried", async () => {
  r.mock.behave("s06", { hang: true });
  const out = await call("s06");
  assert.ok(out.complete, String(out.error));
  assert.equal(out.primaryAt.length, 1, "the silent route is not retried");
  assert.ok(out.ms <= 100_000 * SCALE, `${out.ms} ms (limit ${100_000 * SCALE})`);
  assert.deepEqual([...out.models], ["fallback-model"]);
  await stillAlive("s06");
});

test("S07 headers at once, the first token after 20 s: a hedge to the fallback answers well before", async () => {
  r.mock.behave("s07", { firstTokenMs: 20_000 * SCALE });
  const out = await call("s07");
  assert.ok(out.complete, String(out.error));
  assert.ok(out.ms <= 15_000 * SCALE, `${out.ms} ms (limit ${15_000 * SCALE})`);
  assert.ok(out.ms >= HEDGE_S * 1000, `${out.ms} ms: not before the hedge point`);
  assert.deepEqual([...out.models], ["fallback-model"]);
  assert.equal(out.primaryAt.length, 1, "the slow primary is not retried");
  assert.equal(out.fallbackCalls, 1);
  await stillAlive("s07");
});

test("S07 with a slower fallback: the slow primary still wins, no first-token deadline", async () => {
  r.mock.behave("s07", { firstTokenMs: 15_000 * SCALE, times: 1 });
  r.mock.behave("fb", { firstTokenMs: 25_000 * SCALE, times: 1 });
  try {
    const res = await fetch(`${r.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "s07", stream: true, messages: [{ role: "user", content: "slow but sure" }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-switchyard-hedged"), "1");
    assert.equal(res.headers.get("x-litellm-model-group"), "s07", "the primary served");
    const text = await res.text();
    assert.match(text, /slow/);
    assert.match(text, /primary-model/);
    assert.doesNotMatch(text, /fallback-model/);
  } finally {
    r.mock.behave("fb", FB_NORMAL);
  }
  const metrics = await (await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${MASTER}` } })).text();
  const count = (name) => Number(new RegExp(`^${name}\\{model_group="s07"\\} (\\d+)`, "m").exec(metrics)?.[1]);
  assert.equal(count("switchyard_hedges_total"), 2, metrics.split("\n").filter((l) => l.includes("hedge")).join("\n"));
  assert.equal(count("switchyard_hedge_wins_total"), 1);
  await stillAlive("s07");
});

/** A broken stream finished by the fallback: the whole answer, under the model the client saw. */
function finishedElsewhere(out) {
  assert.ok(out.complete, `${out.error} after ${JSON.stringify(out.text.slice(-40))}`);
  assert.deepEqual([...out.models], ["primary-model"], "the same model field throughout");
  assert.equal(new Set(out.chunks.map((c) => c.id)).size, 1, "the same id throughout");
  assert.ok(out.fallbackCalls >= 1);
}

test("S08 a stream cut after 40 of 60 tokens: finished by the fallback from the text relayed", async () => {
  r.mock.behave("s08", { streamCutAfter: 40 });
  const before = r.mock.callsTo("fb").length;
  const out = await call("s08", { includeUsage: true });
  finishedElsewhere(out);
  const asked = r.mock.callsTo("fb").slice(before)[0].body.messages;
  assert.equal(asked.at(-1).role, "assistant", "sent as a prefill");
  assert.ok(prompt("s08").startsWith(asked.at(-1).content.replace(/^echo: /, "")));
  assert.ok(out.usage && out.usage.completion_tokens > 40, `usage of both calls: ${JSON.stringify(out.usage)}`);
  assert.ok(out.ms < 40_000 * SCALE, `${out.ms} ms`);
  await stillAlive("s08");
});

test("S09 a stream silent after 20 tokens, then cut: finished elsewhere after the stream timeout", async () => {
  r.mock.behave("s09", { stallAfter: 20, stallMs: 30_000 * SCALE * 2 });
  const out = await call("s09");
  finishedElsewhere(out);
  assert.ok(out.ms >= TIMEOUT_S * 1000, `${out.ms} ms: the stall waited out`);
  assert.ok(out.ms <= 45_000 * SCALE, `${out.ms} ms (limit ${45_000 * SCALE})`);
  await stillAlive("s09");
});

test("S10 an invalid-JSON event before token 10: never relayed, the answer finished elsewhere", async () => {
  r.mock.behave("s10", { malformedAt: 8 });
  const out = await call("s10");
  finishedElsewhere(out);
  assert.doesNotMatch(out.text, /tru/);
  await stillAlive("s10");
});

test("S14 a stream cut, the fallback refusing a prefill: answered afresh there and joined, never truncated", async () => {
  r.mock.behave("s14", { streamCutAfter: 40 });
  r.mock.behave("fb", { rejectPrefill: true });
  const before = r.mock.callsTo("fb").length;
  try {
    const out = await call("s14");
    finishedElsewhere(out);
    const asked = r.mock.callsTo("fb").slice(before).map((c) => c.body.messages.at(-1).role);
    assert.deepEqual(asked, ["assistant", "user"], "the prefill refused, then asked afresh");
  } finally {
    r.mock.behave("fb", FB_NORMAL);
  }
  await stillAlive("s14");
});

test("S11 a complete stream without data: [DONE] is a success, usage included", async () => {
  r.mock.behave("s11", { noDone: true });
  const out = await call("s11", { includeUsage: true });
  assert.ok(out.complete, String(out.error));
  assert.ok(out.usage && out.usage.completion_tokens > 0, "usage present");
  assert.equal(out.primaryAt.length, 1);
  assert.ok(out.ms <= 8000);
  await stillAlive("s11");
});

test("S12 400 context_length_exceeded: not resent to the same model, the fallback answers", async () => {
  r.mock.behave("s12", { status: 400, body: { error: { message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } } });
  const out = await call("s12");
  assert.ok(out.complete, String(out.error));
  assert.equal(out.primaryAt.length, 1, "the same prompt is not resent to the same model");
  assert.deepEqual([...out.models], ["fallback-model"]);
  await stillAlive("s12");
});

test("S13 400 content_policy_violation: one attempt and a clean error, not routed around", async () => {
  r.mock.behave("s13", { status: 400, body: { error: { message: "Your request was rejected as a result of our safety system.", type: "invalid_request_error", param: null, code: "content_policy_violation" } } });
  const out = await call("s13");
  assert.equal(out.error?.status, 400, String(out.error));
  assert.equal(out.error.code, "content_policy_violation");
  assert.match(out.error.message, /safety system/);
  assert.equal(out.primaryAt.length, 1, "exactly one primary attempt");
  assert.equal(out.fallbackCalls, 0, "the filter is not routed around");
  assert.ok(out.ms < 20_000);
  await stillAlive("s13");
});

test("S15 an outage of the primary: every request answered, the primary used again soon after", async () => {
  const outageMs = 60_000 * SCALE; // 4 s
  const gapMs = 4_000 * SCALE; // ~267 ms between requests
  r.mock.behave("s15", { status: 503 });
  const start = Date.now();
  const results = [];
  let recoveredAt = null;
  for (let i = 0; i < 20; i++) {
    const due = start + i * gapMs;
    if (Date.now() < due) await new Promise((ok) => setTimeout(ok, due - Date.now()));
    if (recoveredAt === null && Date.now() - start >= outageMs) {
      r.mock.behave("s15", null);
      recoveredAt = Date.now();
    }
    results.push(await call("s15", { content: `outage request ${i}` }));
  }
  if (recoveredAt === null) {
    r.mock.behave("s15", null);
    recoveredAt = Date.now();
  }
  for (const [i, out] of results.entries()) assert.ok(out.complete, `request ${i}: ${out.error}`);
  // The first answer the primary gave after it recovered.
  const back = r.mock.callsTo("s15").find((c) => c.at >= recoveredAt);
  const primaryAgain = back ? back.at - recoveredAt : Infinity;
  assert.ok(primaryAgain <= 30_000 * SCALE, `primary used again ${primaryAgain} ms after recovery`);
  await stillAlive("s15");
});

test("S16 503 always: the answer's model names the fallback that served, usage present", async () => {
  r.mock.behave("s16", { status: 503 });
  const out = await call("s16", { includeUsage: true });
  assert.ok(out.complete, String(out.error));
  assert.deepEqual([...out.models], ["fallback-model"]);
  assert.ok(out.primaryAt.length <= 6);
  assert.ok(out.usage && out.usage.total_tokens > 0, "usage present");
  await stillAlive("s16");
});
