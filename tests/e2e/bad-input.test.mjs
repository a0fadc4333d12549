// Bad input at the HTTP level: every malformed request gets an OpenAI-shaped 4xx, the upstream
// is never called, and the Worker keeps serving. Also: no route can be made to call a URL or use
// a key the client chose, and admin routes refuse every key but the master key.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startRouter } from "./harness.mjs";
import { startMock } from "../mock-upstream.mjs";

const MASTER = "sk-bad-input-master-8c1d";
const UPSTREAM_KEY = "sk-bad-input-upstream-secret-4e2a";
let r;
let attacker; // a second server standing for any address a client might try to send us to

before(async () => {
  attacker = await startMock();
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: gpt, litellm_params: { model: openai/m, api_base: "${mock.base("gpt")}", api_key: ${UPSTREAM_KEY} }, model_info: { id: gpt-1 } }
general_settings: { master_key: "${MASTER}", max_request_size_mb: 1, request_body_timeout: 1 }
`,
  );
});
after(async () => {
  await r?.close();
  await attacker?.close();
});

async function send(path, { method = "POST", body, headers = {}, key = MASTER } = {}) {
  const res = await fetch(`${r.url}${path}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" || body instanceof Uint8Array || body instanceof ReadableStream ? body : JSON.stringify(body) }),
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

function assertOpenAIError(res, status, what) {
  assert.equal(res.status, status, `${what}: status ${res.status} ${res.text.slice(0, 200)}`);
  assert.ok(res.json && typeof res.json.error === "object", `${what}: not an OpenAI error: ${res.text.slice(0, 200)}`);
  for (const k of ["message", "type", "param", "code"]) assert.ok(k in res.json.error, `${what}: error.${k} missing`);
  assert.equal(typeof res.json.error.message, "string");
  assert.ok(res.json.error.message.length > 0);
}

const ok = { model: "gpt", messages: [{ role: "user", content: "hi" }] };

test("malformed JSON bodies: 400 invalid_json or a named problem", async () => {
  const bodies = ["", "{", "[]", "null", '"text"', "42", '{"model":"gpt",}', '{"model":"gpt","messages":[{"role":"user","content":"hi"}]} trailing', "{'model':'gpt'}", '{"model":"gpt","temperature":NaN}', '{"a":1e999999}'];
  for (const body of bodies) assertOpenAIError(await send("/v1/chat/completions", { body }), 400, JSON.stringify(body));
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

test("invalid UTF-8 and duplicate keys are refused, not guessed at", async () => {
  const text = Buffer.from('{"model":"gpt","messages":[{"role":"user","content":"a\xff\xfeb"}]}', "latin1");
  assertOpenAIError(await send("/v1/chat/completions", { body: new Uint8Array(text) }), 400, "invalid UTF-8");
  for (const body of [
    '{"model":"gpt","model":"other","messages":[{"role":"user","content":"hi"}]}',
    '{"model":"gpt","messages":[{"role":"user","role":"system","content":"hi"}]}',
  ]) {
    const res = await send("/v1/chat/completions", { body });
    assertOpenAIError(res, 400, body);
    assert.match(res.json.error.message, /duplicate key/);
  }
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

test("a wrong type or range for every field of a chat request names the field", async () => {
  const cases = [
    ["model", 5],
    ["model", ""],
    ["messages", "hi"],
    ["messages", []],
    ["messages", [{ role: "alien", content: "x" }]],
    ["messages", [{ content: "no role" }]],
    ["messages", [5]],
    ["temperature", "hot"],
    ["temperature", 3],
    ["top_p", 1.5],
    ["n", 0],
    ["n", -1],
    ["n", 1e9],
    ["n", 1.5],
    ["max_tokens", -5],
    ["max_tokens", 0],
    ["max_tokens", 1e30],
    ["max_tokens", "100"],
    ["max_completion_tokens", -1],
    ["stream", "yes"],
    ["stream_options", 5],
    ["stop", 7],
    ["stop", [1, 2]],
    ["stop", ["a", "b", "c", "d", "e"]],
    ["tools", {}],
    ["tool_choice", 5],
    ["logit_bias", []],
    ["response_format", "json"],
    ["seed", 1.5],
    ["user", 5],
    ["presence_penalty", 3],
    ["frequency_penalty", -3],
    ["logprobs", "yes"],
    ["top_logprobs", 50],
    ["parallel_tool_calls", "yes"],
    ["num_retries", "many"],
    ["fallbacks", "backup"],
  ];
  for (const [field, value] of cases) {
    const res = await send("/v1/chat/completions", { body: { ...ok, [field]: value } });
    const what = `${field}: ${JSON.stringify(value)}`;
    assertOpenAIError(res, 400, what);
    if (field !== "model") assert.ok(String(res.json.error.param ?? "").startsWith(field), `${what}: param ${res.json.error.param}`);
  }
  // the other endpoints check their own fields
  for (const [path, body, param] of [
    ["/v1/embeddings", { model: "gpt", input: 5 }, "input"],
    ["/v1/completions", { model: "gpt", prompt: { a: 1 } }, "prompt"],
    ["/v1/images/generations", { model: "gpt", prompt: "a cat", n: 99 }, "n"],
    ["/v1/moderations", { model: "gpt" }, "input"],
  ]) {
    const res = await send(path, { body });
    assertOpenAIError(res, 400, path);
    assert.equal(res.json.error.param, param, path);
  }
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

test("huge bodies: 413, declared or streamed without a length", async () => {
  const big = JSON.stringify({ ...ok, messages: [{ role: "user", content: "x".repeat(2 * 1024 * 1024) }] });
  assertOpenAIError(await send("/v1/chat/completions", { body: big }), 413, "declared length");
  // Without a length: chunks on a raw socket (the router answers 413 while the client is still
  // sending; fetch would report the closed upload instead of the answer).
  const answer = await new Promise((resolve, reject) => {
    const url = new URL(r.url);
    const socket = net.connect(Number(url.port), url.hostname);
    let text = "";
    let sent = 0;
    const piece = "x".repeat(64 * 1024);
    socket.on("connect", () => {
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`);
      const pump = () => {
        while (sent < 40 && !text) {
          sent++;
          if (!socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`)) return socket.once("drain", pump);
        }
        if (!text) socket.write("0\r\n\r\n");
      };
      pump();
    });
    socket.on("data", (d) => (text += d));
    socket.on("error", () => {}); // the router may close while we still write
    socket.on("close", () => resolve(text));
    setTimeout(() => reject(new Error(`no answer: ${text}`)), 10_000);
  });
  assert.match(answer, /^HTTP\/1\.1 413 /, answer.slice(0, 200));
  assert.match(answer, /"code":"request_too_large"/);
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

/** Sends `head` at once, then `body` one byte at a time, `gapMs` apart, on a raw socket. */
function slowRequest(head, body, gapMs) {
  return new Promise((resolve) => {
    const url = new URL(r.url);
    const socket = net.connect(Number(url.port), url.hostname);
    let answer = "";
    let i = 0;
    let timer;
    const started = Date.now();
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => {
        if (i < body.length) socket.write(body[i++]);
      }, gapMs);
    });
    socket.on("data", (d) => {
      answer += d;
      clearInterval(timer); // answered: stop trickling (more bytes would only draw a reset)
    });
    // The router answers and closes while bytes are still on their way: the reset that
    // follows is expected; what counts is the answer read before it.
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ answer, took: Date.now() - started });
    });
    setTimeout(() => socket.end(), 8000);
  });
}

test("slowloris: a body that trickles in gets a 408 at request_body_timeout", async () => {
  const body = JSON.stringify(ok);
  const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  const { answer, took } = await slowRequest(head, body, 200);
  assert.match(answer, /^HTTP\/1\.1 408 /, answer.slice(0, 200));
  assert.match(answer, /"code":"request_timeout"/);
  assert.ok(took >= 900 && took < 4000, `answered after ${took} ms`);
  const chunked = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  const pieces = [...body].map((ch) => `1\r\n${ch}\r\n`);
  const second = await slowRequest(chunked, pieces, 200);
  assert.match(second.answer, /^HTTP\/1\.1 408 /, second.answer.slice(0, 200));
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

test("unknown endpoints and methods: 404 and 405, OpenAI-shaped", async () => {
  for (const path of ["/v1/nope", "/v2/chat/completions", "/v1/chat/completions/extra", "/../../etc/passwd", "/v1/%00", "/v1/fine_tuning/jobs"]) {
    assertOpenAIError(await send(path, { body: ok }), 404, path);
  }
  for (const [method, path] of [["GET", "/v1/chat/completions"], ["PUT", "/v1/chat/completions"], ["DELETE", "/v1/embeddings"], ["PATCH", "/v1/models"], ["POST", "/v1/models"]]) {
    assertOpenAIError(await send(path, { method, body: method === "GET" ? undefined : ok }), 405, `${method} ${path}`);
  }
  assert.equal(r.mock.calls.length, 0, "the upstream was not called");
});

test("no route calls a URL or uses a key the client chose", async () => {
  const evil = attacker.base("evil");
  const tries = [
    { ...ok, api_base: evil, base_url: evil, api_key: "sk-client-key", custom_llm_provider: "openai" },
    { ...ok, model: `openai/${evil}` },
    { ...ok, model: evil },
    { ...ok, extra_body: { api_base: evil }, metadata: { api_base: evil } },
    { ...ok, litellm_params: { api_base: evil, api_key: "sk-client-key" } },
  ];
  for (const body of tries) {
    await send("/v1/chat/completions", { body, headers: { "x-api-base": evil, "api-base": evil, "x-forwarded-host": "127.0.0.1" } });
  }
  const evilDeployment = { model_name: "evil", litellm_params: { model: "openai/m", api_base: evil } };
  const added = await send("/model/new", { body: evilDeployment, key: "sk-not-the-master" });
  assertOpenAIError(added, 401, "model/new with a wrong key");
  await send("/v1/chat/completions", { body: { ...ok, model: "evil" } });
  assert.equal(attacker.calls.length, 0, "the client-chosen address was never called");
  for (const c of r.mock.calls) {
    assert.equal(c.headers.authorization, `Bearer ${UPSTREAM_KEY}`, "only the configured key is sent upstream");
    for (const k of ["api_base", "base_url", "api_key", "litellm_params", "custom_llm_provider"]) assert.ok(!(k in c.body), `${k} forwarded`);
  }
});

test("every admin route refuses a missing, wrong or non-master key", async () => {
  const routes = [
    ["POST", "/model/new"],
    ["POST", "/model/update"],
    ["POST", "/model/delete"],
    ["GET", "/health"],
    ["POST", "/key/generate"],
    ["GET", "/key/info"],
    ["POST", "/key/update"],
    ["POST", "/key/delete"],
    ["GET", "/usage"],
    ["GET", "/model/cost_map"],
    ["POST", "/cost/reset"],
    ["GET", "/metrics/deployments"],
    ["GET", "/metrics"],
  ];
  const generated = await send("/key/generate", { body: { models: ["gpt"] } });
  assert.equal(generated.status, 200);
  const virtual = generated.json.key;
  // /model/info is not admin: a virtual key sees its own models there (dropin.test.mjs), the
  // rest of the world nothing.
  for (const [method, path] of [...routes, ["GET", "/model/info"], ["GET", "/v1/model/info"]]) {
    const keys = [null, "sk-wrong", `${MASTER}x`, MASTER.slice(0, -1)];
    for (const key of path.includes("model/info") ? keys : [...keys, virtual]) {
      const res = await send(path, { method, key, body: method === "POST" ? {} : undefined });
      assert.ok([401, 403].includes(res.status), `${method} ${path} with ${key}: ${res.status}`);
      assertOpenAIError(res, res.status, `${method} ${path}`);
      assert.ok(!res.text.includes(UPSTREAM_KEY) && !res.text.includes(MASTER));
    }
  }
});

test("after all of that: the upstream was never called by a bad request, and the Worker still serves", async () => {
  const before = r.mock.calls.length;
  for (const body of ["{", '{"model":"gpt","model":"gpt"}', JSON.stringify({ ...ok, n: -1 })]) await send("/v1/chat/completions", { body });
  assert.equal(r.mock.calls.length, before);
  const res = await send("/v1/chat/completions", { body: ok });
  assert.equal(res.status, 200);
  assert.equal(res.json.choices[0].message.content, "echo: hi");
});
