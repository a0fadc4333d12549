// The operator console's data in workerd: the request log and the per-minute history kept in
// the `log` Durable Object (SQLite, so they outlive the runtime), keys listed and managed by
// their token; never a prompt or a key in the log.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import OpenAI from "openai";
import { workerOptions } from "./harness.mjs";
import { startMock } from "../mock-upstream.mjs";

const MASTER = "sk-console-master-7";
const SECRET = "my secret prompt 1234";
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

const config = (mock) => `
model_list:
  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${mock.base("a")}", order: 1 }, model_info: { id: chat-a, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002 } }
  - { model_name: chat, litellm_params: { model: openai/m, api_base: "${mock.base("b")}", order: 2 }, model_info: { id: chat-b } }
router_settings: { num_retries: 1 }
general_settings: { master_key: "${MASTER}" }
`;

async function start(mock, dir) {
  const mf = new Miniflare({ ...workerOptions(config(mock)), durableObjectsPersist: dir, host: "127.0.0.1", port: 0 });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { mf, url };
}

async function call(url, p, body, key = MASTER) {
  const res = await fetch(`${url}${p}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

/** The log once it holds `n` records (it is written after the responses). */
async function logOf(url, query, n) {
  for (let i = 0; i < 100; i++) {
    const r = await call(url, `/request/log${query}`);
    if (r.json?.matched >= n) return r.json;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`the log never held ${n} records for ${query}`);
}

test("the request log, the history and keys by token, across a restart of the runtime", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-console-"));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mock = await startMock();
  cleanup.push(() => mock.close());
  let { mf, url } = await start(mock, dir);
  const first = mf;
  cleanup.push(() => first.dispose().catch(() => {}));

  const gen = await call(url, "/key/generate", { key_alias: "team <b>red</b>", models: ["chat"] });
  assert.equal(gen.status, 200, gen.text);
  const client = new OpenAI({ apiKey: gen.json.key, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });
  // chat-a fails once: the call is retried on chat-b and the log shows both attempts.
  mock.behave("a", { status: 503 });
  const answer = await client.chat.completions.create({ model: "chat", messages: [{ role: "user", content: SECRET }] });
  assert.equal(answer.object, "chat.completion");
  mock.behave("a", null);
  const stream = await client.chat.completions.create({ model: "chat", stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: "stream please" }] });
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? "";
  assert.match(text, /stream please/);
  await assert.rejects(client.chat.completions.create({ model: "other", messages: [{ role: "user", content: "x" }] }));

  const all = await logOf(url, "", 3);
  const [refused, streamed, retried] = all.records;
  assert.equal(refused.key, "team <b>red</b>");
  assert.ok(refused.status >= 400, JSON.stringify(refused));
  assert.equal(streamed.stream, true);
  assert.equal(typeof streamed.ttft_ms, "number");
  assert.ok(streamed.tokens > 0, JSON.stringify(streamed));
  assert.equal(retried.retries, 1);
  assert.equal(retried.deployment, "chat-b");
  const tried = retried.steps.filter((s) => s.kind === "failed" || s.kind === "served").map((s) => `${s.kind} ${s.deployment}`);
  assert.deepEqual(tried, ["failed chat-a", "served chat-b"]);
  const logText = JSON.stringify(all);
  for (const secret of [SECRET, gen.json.key, MASTER]) assert.ok(!logText.includes(secret), `${secret} is in the log`);
  assert.equal((await logOf(url, "?deployment=chat-b&status=2xx", 1)).matched, 1);
  assert.equal((await call(url, `/request/log/${retried.id}`)).json.id, retried.id);
  // Only the master key reads it.
  assert.equal((await call(url, "/request/log", undefined, gen.json.key)).status, 403);

  const keys = await call(url, "/key/list");
  const listed = keys.json.keys.find((k) => k.key_alias === "team <b>red</b>");
  assert.match(listed.token, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(keys.json).includes(gen.json.key));
  assert.ok(listed.spend > 0, JSON.stringify(listed));

  // A new runtime on the same storage: the log and the history are read back from SQLite.
  await mf.dispose();
  ({ mf, url } = await start(mock, dir));
  cleanup.push(() => mf.dispose().catch(() => {}));
  const again = await logOf(url, "", 3);
  assert.deepEqual(again.records.map((r) => r.id), all.records.map((r) => r.id));
  const history = await call(url, "/stats/history?window=1h");
  assert.equal(history.json.points.length, 60);
  assert.equal(history.json.points.reduce((n, p) => n + p.requests, 0), 3);
  // chat-b served the retried call; the stream went to chat-a (order 1).
  const day = await call(url, "/stats/history?window=24h&deployment=chat-b");
  assert.equal(day.json.points.reduce((n, p) => n + p.requests, 0), 1);

  // Past the capacity: the ring keeps the newest 1,000, and so does what a restart reads back.
  const unauthorized = async () => (await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { authorization: "Bearer sk-nope" }, body: "{}" })).status;
  for (let i = 0; i < 21; i++) assert.ok((await Promise.all(Array.from({ length: 50 }, unauthorized))).every((s) => s === 401));
  const full = await logOf(url, "?limit=1000", 1000);
  assert.equal(full.matched, 1000);
  assert.equal(full.records.filter((r) => r.key === "unauthorized").length, 1000, "the oldest three went first");
  await mf.dispose();
  ({ mf, url } = await start(mock, dir));
  cleanup.push(() => mf.dispose().catch(() => {}));
  const reread = await logOf(url, "?limit=1000", 1000);
  assert.equal(reread.matched, 1000);
  assert.equal(new Set(full.records.map((r) => r.id)).size, 1000, "each record has its own id");
  assert.deepEqual(reread.records.map((r) => r.id), full.records.map((r) => r.id));

  // Managed by its token: updated, then revoked.
  const upd = await call(url, "/key/update", { key: listed.token, rpm_limit: 7 });
  assert.equal(upd.json.info.rpm_limit, 7, upd.text);
  assert.equal((await call(url, "/key/delete", { keys: [listed.token] })).json.deleted, 1);
  const revoked = new OpenAI({ apiKey: gen.json.key, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000 });
  await assert.rejects(revoked.chat.completions.create({ model: "chat", messages: [{ role: "user", content: "x" }] }), (e) => e instanceof OpenAI.AuthenticationError);
});
