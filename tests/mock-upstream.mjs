// A mock OpenAI-compatible provider on 127.0.0.1, for tests and the local demo. It speaks
// OpenAI's real wire format (chat completions, JSON and SSE; the Responses API with its stored
// responses and named events), Anthropic's, Gemini's and Bedrock's, and can misbehave on
// command. Offered tools, it calls one (arguments filled from the tool's schema); asked for a
// JSON schema, it answers JSON that fits.
//
// Each deployment gets its own path prefix, so one server plays many providers:
//   api_base: http://127.0.0.1:PORT/<name>/v1
// and `/<name>/...` calls follow the behaviour set for <name> (default: answer normally).
//
// Control (used by tests; not part of any provider's API):
//   mock.behave(name, behaviour)   behaviour: {status, body, headers} | {hang: true}
//                                  | {reset: true} | {streamCutAfter: n} | {stallAfter: n}
//                                  | {delayMs: n} | {chunkGapMs: n} | {usage: {...}}
//                                  | {malformedAt: n} (a chunk that is not JSON) | {endWithoutDone: n}
//                                  | {noDone: true}: every chunk, then a clean close without [DONE]
//                                  | {firstTokenMs: n}: headers at once, the first event n ms later
//                                  | {stallAfter: n, stallMs: m}: silent after n events, cut m ms later
//                                  | {rejectPrefill: true}: a 400 for a request ending with an
//                                    assistant message (a model that takes no prefill)
//                                  | {continuePrefill: true}: a request ending with an assistant
//                                    message gets the rest of the answer after it (as Anthropic
//                                    does, and vLLM with continue_final_message); without it
//                                    the mock answers afresh, as OpenAI does
//                                  | {json: "spaced"}: JSON as Python's json.dumps writes it
//                                  | {echoKey: true}: a 401 whose message repeats the key sent
//                                  | {rerank: "voyage"}: /v1/rerank answers in Voyage's shape
//                                  | {chaos: {rate, seed}}: that share of calls fails, with a
//                                    seeded mix of 429 (retry-after), 500, 503, silence (hang),
//                                    reset before headers and (streams) a cut mid-answer
//                                  with `times: n`: only for the next n calls, then normal
//   mock.calls                     every request received: {name, path, headers, body, at}
//   mock.served                    per name: answers completed and the tokens they reported
//   mock.answeredFor(prompt)       completed answers to that prompt (to find lost or doubled ones)
//   mock.faults                    per name: how many of each chaos fault were played
//   mock.abandoned                 per name: streams whose connection closed before their end
//   mock.google                    Google's OAuth token endpoint at /<name>/token: `keys` (the
//                                  service-account public keys it trusts, PEM; the fixture's by
//                                  default), `users` (refresh tokens it honours), `issued` (the
//                                  access tokens it gave), `expiresIn` (seconds, default 3599)
//
// JSON is written compactly, or with spaces after `:` and `,` (Python's json.dumps, LiteLLM's
// fake endpoint, many OpenAI-compatible servers) for every call when MOCK_JSON=spaced is set
// or `spaced: true` is passed to startMock: the test command runs the stream tests both ways.
//
// CLI: node tests/mock-upstream.mjs [--port 9911]
import http from "node:http";
import crypto from "node:crypto";
import zlib from "node:zlib";
import fs from "node:fs";

const FIXTURE_GOOGLE_KEY = fs.readFileSync(new URL("./fixtures/google-service-account.pub.pem", import.meta.url), "utf8");

/** JSON with a space after every `:` and `,`, as Python's json.dumps writes it. */
export function spacedJson(v) {
  if (Array.isArray(v)) return "[" + v.map(spacedJson).join(", ") + "]";
  if (v && typeof v === "object") {
    return "{" + Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${spacedJson(x)}`).join(", ") + "}";
  }
  return JSON.stringify(v) ?? "null";
}

export function completion(model, content, usage = { prompt_tokens: 9, completion_tokens: 3 }) {
  return {
    id: "chatcmpl-mock",
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: "assistant", content }, logprobs: null, finish_reason: "stop" }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

function chunk(model, delta, finish = null) {
  return {
    id: "chatcmpl-mock",
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

/** The answer the mock gives: "echo: <last user message>", split into words for streams; after
 * a tool's result, "echo: tool said <result>". */
function answerFor(body) {
  const final = body.messages?.at(-1);
  if (final?.role === "tool") return `echo: tool said ${textOf(final.content)}`;
  const last = [...(body.messages || [])].reverse().find((m) => m.role === "user");
  const text = typeof last?.content === "string" ? last.content : "hello";
  return `echo: ${text}`;
}

/** Like a model offered tools: the tool it calls (the one `tool_choice` names, else the first)
 * when the conversation ends with the user's turn, with arguments that fit the tool's schema,
 * their strings that turn's text (`{"query": <text>}` for a tool without properties). */
function toolCallFor(tools, choice, lastTurn, userText) {
  if (!tools?.length || choice === "none" || choice?.type === "none" || lastTurn !== "user") return null;
  const name = choice?.function?.name ?? choice?.name ?? tools[0].function?.name ?? tools[0].name;
  const picked = tools.find((t) => (t.function?.name ?? t.name) === name) ?? tools[0];
  const schema = picked.function?.parameters ?? picked.input_schema ?? picked.parameters;
  const args = schema?.properties && Object.keys(schema.properties).length ? sampleFor(schema, userText) : { query: userText };
  return { name, arguments: JSON.stringify(args) };
}

/** A value that fits a (small) JSON schema, its strings saying `text`. */
function sampleFor(schema, text) {
  switch (schema?.type) {
    case "object":
      return Object.fromEntries(Object.entries(schema.properties || {}).map(([k, v]) => [k, sampleFor(v, text)]));
    case "array":
      return [sampleFor(schema.items, text)];
    case "number":
    case "integer":
      return 1;
    case "boolean":
      return true;
    default:
      return text;
  }
}

/** The text of a message's content: a string, or its text blocks. */
function textOf(content) {
  return typeof content === "string" ? content : (content || []).filter((p) => p.type === "text").map((p) => p.text).join("");
}

/** What a model that continues an assistant prefill answers: the rest of `full` after the
 * prefill (the last message, when it is the assistant's and begins `full`), else `full`. */
function afterPrefill(full, messages) {
  const last = messages?.at(-1);
  if (last?.role !== "assistant") return full;
  const prefill = textOf(last.content);
  return full.startsWith(prefill) ? full.slice(prefill.length) : full;
}

/** A small seeded generator (mulberry32), so a chaos run can be replayed. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHAOS_FAULTS = ["429", "500", "503", "hang", "reset", "cut"];

export async function startMock({ port = 0, host = "127.0.0.1", spaced = process.env.MOCK_JSON === "spaced" } = {}) {
  const behaviours = new Map();
  const calls = [];
  const served = {};
  const faults = {};
  const abandoned = {};
  const rngs = new Map();
  const pendingCuts = new Set(); // names owed a cut (see chaosFor)
  const answered = new Map(); // the last user message of each completed answer -> how often
  const tally = (name, usage, body) => {
    const key = answerFor(body);
    answered.set(key, (answered.get(key) || 0) + 1);
    const s = (served[name] ??= { answers: 0, prompt_tokens: 0, completion_tokens: 0 });
    s.answers += 1;
    s.prompt_tokens += usage.prompt_tokens;
    s.completion_tokens += usage.completion_tokens;
  };
  const sockets = new Set();
  const google = { keys: [FIXTURE_GOOGLE_KEY], users: ["1//mock-refresh-token"], issued: [], expiresIn: 3599 };

  const server = http.createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (req, res) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (d) => (raw += d));
    req.on("end", () => handle(req, res, raw));
  });
  server.on("connection", (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  function handle(req, res, raw) {
    const url = new URL(req.url, "http://mock");
    const [, name, ...rest] = url.pathname.split("/");
    const path = "/" + rest.join("/");
    let body = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      body = { unparsable: raw };
    }
    calls.push({ name, path, method: req.method, headers: req.headers, body, at: Date.now() });
    let b = behaviours.get(name) || {};
    if (b.chaos) b = chaosFor(name, b.chaos, body);
    if (b.times !== undefined) {
      if (b.times <= 0) {
        behaviours.delete(name);
        b = {};
      } else {
        b.times -= 1;
      }
    }
    if (b.delayMs) {
      const delayed = { ...b, delayMs: 0 };
      return void setTimeout(() => respond(req, res, name, path, body, delayed, raw), b.delayMs);
    }
    respond(req, res, name, path, body, b, raw);
  }

  /** One chaos draw: a fault (counted in `faults`) or a normal answer. */
  function chaosFor(name, { rate = 0.5, seed = 1, mix = CHAOS_FAULTS }, body) {
    if (body.stream && pendingCuts.delete(name)) return play(name, "cut");
    if (!rngs.has(name)) rngs.set(name, seeded(seed + name.length * 7919));
    const rng = rngs.get(name);
    if (rng() >= rate) return {};
    let fault = mix[Math.floor(rng() * mix.length)];
    // A cut drawn for a call that does not stream is played as a reset, and the cut is kept for
    // the next stream: which calls stream depends on timing, so without this a run could see no
    // cut at all though its draws hold several.
    if (fault === "cut" && !body.stream) {
      pendingCuts.add(name);
      fault = "reset";
    }
    return play(name, fault);
  }

  function play(name, fault) {
    const f = (faults[name] ??= {});
    f[fault] = (f[fault] || 0) + 1;
    switch (fault) {
      case "429":
        return { status: 429, headers: { "retry-after": "1" }, body: { error: { message: "Rate limit reached (mock)", type: "rate_limit_error", param: null, code: "rate_limit_exceeded" } } };
      case "500":
        return { status: 500 };
      case "503":
        return { status: 503 };
      case "hang":
        return { hang: true };
      case "reset":
        return { reset: true };
      default:
        return { streamCutAfter: 2 };
    }
  }

  function respond(req, res, name, path, body, b, raw) {
    if (b.hang) return; // never answer
    if (b.echoKey) {
      res.writeHead(401, { "content-type": "application/json" });
      const sent = (req.headers.authorization || "").replace(/^Bearer /, "");
      return res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${sent}.`, type: "invalid_request_error", param: null, code: "invalid_api_key" } }));
    }
    if (b.reset) return req.socket.destroy();
    if (b.status) {
      res.writeHead(b.status, { "content-type": "application/json", ...(b.headers || {}) });
      return res.end(JSON.stringify(b.body ?? { error: { message: `mock ${name} failed`, type: "server_error", param: null, code: null } }));
    }
    if (path === "/token" && req.method === "POST") return googleToken(req, res, name, raw);
    const vertex = /^\/v1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/([^:]+):(generateContent|streamGenerateContent)$/.exec(path);
    if (vertex) {
      const bearer = (req.headers.authorization || "").replace(/^Bearer /, "");
      if (!google.issued.includes(bearer)) {
        res.writeHead(401, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { code: 401, message: "Request had invalid authentication credentials. Expected OAuth 2 access token.", status: "UNAUTHENTICATED" } }));
      }
      return geminiAnswer(res, vertex[1], vertex[2] === "streamGenerateContent", body);
    }
    if (path === "/v1/messages") return anthropic(req, res, body, b);
    const bed = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(path);
    if (bed) return bedrock(req, res, name, decodeURIComponent(bed[1]), bed[2] === "converse-stream", body, raw);
    const gem = /^\/v1beta\/models\/([^:]+):(generateContent|streamGenerateContent)$/.exec(path);
    if (gem) return gemini(req, res, gem[1], gem[2] === "streamGenerateContent", body, b);
    const azure = /^\/openai\/deployments\/([^/]+)(\/.*)$/.exec(path);
    if (azure) {
      const version = new URL(req.url, "http://mock").searchParams.get("api-version");
      if (!version) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { code: "404", message: "Resource not found (no api-version)" } }));
      }
      return openai(req, res, azure[2] === "/chat/completions" ? "/v1/chat/completions" : `/v1${azure[2]}`, { ...body, model: azure[1] }, b, name);
    }
    return openai(req, res, path, body, b, name);
  }

  function openai(req, res, path, body, b, name) {
    if (path === "/v1/audio/transcriptions" || path === "/v1/audio/translations") {
      const raw = body.unparsable || "";
      const model = /name="model"\r\n\r\n([^\r]*)/.exec(raw)?.[1];
      const hasFile = /filename="/.test(raw);
      if (!model || !hasFile) {
        res.writeHead(400, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "mock: model and file required", type: "invalid_request_error", param: null, code: null } }));
      }
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ text: `${path.endsWith("translations") ? "translated" : "transcribed"} by ${model}, ${raw.length} bytes` }));
    }
    if (path === "/v1/audio/speech") {
      res.writeHead(200, { "content-type": "audio/mpeg" });
      res.write(Buffer.from([0x49, 0x44, 0x33, 0x04]));
      setTimeout(() => res.end(Buffer.from(`voice=${body.voice};input=${body.input}`)), 5);
      return;
    }
    if (path === "/v1/embeddings") {
      const inputs = Array.isArray(body.input) && typeof body.input[0] !== "number" ? body.input : [body.input];
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        object: "list",
        data: inputs.map((_, index) => ({
          object: "embedding",
          index,
          // The SDKs ask for base64 (little-endian float32) unless told otherwise.
          embedding: body.encoding_format === "base64" ? Buffer.from(new Float32Array([0.1, 0.2, 0.3]).buffer).toString("base64") : [0.1, 0.2, 0.3],
        })),
        model: body.model,
        usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
      }));
    }
    if (path === "/v1/completions") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        id: "cmpl-mock", object: "text_completion", created: 1, model: body.model,
        choices: [{ index: 0, text: ` completed: ${body.prompt}`, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
      }));
    }
    if (path === "/v1/rerank" || path === "/v2/rerank") {
      // Cohere's shape (Jina and Together copy it), or Voyage's with `{rerank: "voyage"}`.
      const docs = body.documents || [];
      const n = Math.min(body.top_n ?? body.top_k ?? docs.length, docs.length);
      const ranked = docs.map((d, index) => ({ index, relevance_score: Number((0.9 - index * 0.1).toFixed(2)) })).slice(0, n);
      res.writeHead(200, { "content-type": "application/json" });
      if (b.rerank === "voyage") {
        return res.end(JSON.stringify({ object: "list", data: ranked, model: body.model, usage: { total_tokens: 7 } }));
      }
      return res.end(JSON.stringify({ id: "rr-mock", results: ranked, meta: { api_version: { version: "2" }, billed_units: { search_units: 1 } } }));
    }
    if (path === "/v1/moderations") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ id: "modr-mock", model: body.model, results: [{ flagged: false, categories: {}, category_scores: {} }] }));
    }
    if (path === "/v1/images/generations") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ created: 1, data: [{ url: "https://images.example/cat.png", revised_prompt: body.prompt }] }));
    }
    if (path === "/v1/models" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ object: "list", data: [{ id: "mock-model", object: "model", created: 0, owned_by: "mock" }] }));
    }
    if (path === "/v1/responses" && req.method === "POST") return responsesApi(res, body, b, name);
    if (path !== "/v1/chat/completions" || req.method !== "POST") {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: `mock: no route ${req.method} ${path}`, type: "invalid_request_error", param: null, code: null } }));
    }
    return chat(req, res, body, b, name);
  }

  function chat(req, res, body, b, name) {
    const model = body.model || "mock-model";
    if (b.rejectPrefill && body.messages?.at(-1)?.role === "assistant") {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { message: "This model does not support assistant message prefill. The conversation must end with a user message.", type: "invalid_request_error", param: "messages", code: null } }));
    }
    let text = b.continuePrefill ? afterPrefill(answerFor(body), body.messages) : answerFor(body);
    const wire = (b.json ?? (spaced ? "spaced" : "compact")) === "spaced" ? spacedJson : JSON.stringify;
    const user = [...(body.messages || [])].reverse().find((m) => m.role === "user");
    const call = toolCallFor(body.tools, body.tool_choice, body.messages?.at(-1)?.role, textOf(user?.content));
    if (body.response_format?.type === "json_schema") text = JSON.stringify(sampleFor(body.response_format.json_schema?.schema, text));
    if (call) return toolCall(res, body, model, call, wire, name);
    if (!body.stream) {
      const answer = completion(model, text, b.usage);
      res.writeHead(200, { "content-type": "application/json", "x-request-id": `req-${calls.length}` });
      res.end(wire(answer));
      return tally(name, answer.usage, body);
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.flushHeaders();
    const words = text.split(/(?<= )/);
    const events = [chunk(model, { role: "assistant", content: "" })];
    for (const w of words) events.push(chunk(model, { content: w }));
    events.push(chunk(model, {}, "stop"));
    if (body.stream_options?.include_usage) {
      events.push({ ...chunk(model, {}), choices: [], usage: { prompt_tokens: 9, completion_tokens: words.length, total_tokens: 9 + words.length } });
    }
    let i = 0;
    const gap = b.chunkGapMs ?? 2;
    let closed = false;
    res.on("close", () => {
      closed = true;
      if (!res.writableEnded) abandoned[name] = (abandoned[name] || 0) + 1;
    });
    const next = () => {
      if (closed) return;
      if (b.streamCutAfter !== undefined && i === b.streamCutAfter) return req.socket.destroy();
      if (b.stallAfter !== undefined && i === b.stallAfter) {
        // Stop sending, keep the connection open (and cut it after stallMs, when set).
        if (b.stallMs !== undefined) setTimeout(() => req.socket.destroy(), b.stallMs);
        return;
      }
      if (b.endWithoutDone !== undefined && i === b.endWithoutDone) return res.end(); // clean end, incomplete
      if (b.malformedAt !== undefined && i === b.malformedAt) {
        res.write(`data: {"id":"chatcmpl-mock","choices":[{"delta":{"content":"tru\n\n`);
        b = { ...b, malformedAt: undefined };
        return setTimeout(next, gap);
      }
      if (i < events.length) {
        const ev = events[i++];
        res.write(`data: ${wire(ev)}\n\n`);
        if (ev.usage) tally(name, ev.usage, body);
        setTimeout(next, gap);
      } else {
        if (!body.stream_options?.include_usage) tally(name, { prompt_tokens: 0, completion_tokens: 0 }, body);
        res.end(b.noDone ? undefined : "data: [DONE]\n\n");
      }
    };
    if (b.firstTokenMs) setTimeout(next, b.firstTokenMs);
    else next();
  }

  // OpenAI's Responses API as OpenAI serves it: its input items, `previous_response_id` and
  // `item_reference` against the responses it stored, function tools, `text.format`, and its
  // named event stream (no [DONE]).
  const storedResponses = new Map(); // id -> { items (input and output, in order) }
  function responsesApi(res, body, b, name) {
    const wire = (b.json ?? (spaced ? "spaced" : "compact")) === "spaced" ? spacedJson : JSON.stringify;
    const fail = (status, message, param = null) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message, type: "invalid_request_error", param, code: null } }));
    };
    const prev = body.previous_response_id ? storedResponses.get(body.previous_response_id) : { items: [] };
    if (!prev) return fail(400, `Previous response with id '${body.previous_response_id}' not found.`, "previous_response_id");
    const known = new Map([...storedResponses.values()].flatMap((r) => r.items).filter((i) => i.id).map((i) => [i.id, i]));
    let input = typeof body.input === "string" ? [{ type: "message", role: "user", content: body.input }] : body.input || [];
    for (const item of input) if (item.type === "item_reference" && !known.has(item.id)) return fail(404, `Item with id '${item.id}' not found.`, "input");
    input = input.map((i) => (i.type === "item_reference" ? known.get(i.id) : i));
    const items = [...prev.items, ...input];
    const text = (c) => (typeof c === "string" ? c : (c || []).map((p) => p.text ?? "").join(""));
    const last = items.at(-1);
    const userTurn = [...items].reverse().find((i) => (i.type ?? "message") === "message" && i.role === "user");
    const id = `resp_mock${calls.length}`;
    const tools = (body.tools || []).filter((t) => t.type === "function");
    const call = last?.type === "function_call_output" ? null : toolCallFor(tools, body.tool_choice, (last?.type ?? "message") === "message" ? last.role : last?.type, text(userTurn?.content));
    let answer = last?.type === "function_call_output" ? `echo: tool said ${text(last.output)}` : `echo: ${text(userTurn?.content)}`;
    if (body.text?.format?.type === "json_schema") answer = JSON.stringify(sampleFor(body.text.format.schema, answer));
    const output = call
      ? [{ type: "function_call", id: `fc_${id}`, call_id: `call_${id}`, name: call.name, arguments: call.arguments, status: "completed" }]
      : [{ type: "message", id: `msg_${id}`, status: "completed", role: "assistant", content: [{ type: "output_text", text: answer, annotations: [] }] }];
    const usage = { input_tokens: 10, input_tokens_details: { cached_tokens: 0 }, output_tokens: answer.split(" ").length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 10 + answer.split(" ").length };
    const response = { id, object: "response", created_at: Math.floor(Date.now() / 1000), status: "completed", model: body.model, output, usage, previous_response_id: body.previous_response_id ?? null, store: body.store ?? true, error: null, incomplete_details: null };
    if (body.store !== false) storedResponses.set(id, { items: [...items, ...output] });
    tally(name, { prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens }, { messages: [{ role: "user", content: text(userTurn?.content) }] });
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(wire(response));
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    let seq = 0;
    const ev = (type, data) => `event: ${type}\ndata: ${wire({ type, sequence_number: seq++, ...data })}\n\n`;
    const out = [ev("response.created", { response: { ...response, status: "in_progress", output: [], usage: null } })];
    const item = output[0];
    if (call) {
      out.push(ev("response.output_item.added", { output_index: 0, item: { ...item, arguments: "", status: "in_progress" } }));
      out.push(ev("response.function_call_arguments.delta", { item_id: item.id, output_index: 0, delta: item.arguments }));
      out.push(ev("response.function_call_arguments.done", { item_id: item.id, output_index: 0, arguments: item.arguments }));
    } else {
      out.push(ev("response.output_item.added", { output_index: 0, item: { ...item, status: "in_progress", content: [] } }));
      out.push(ev("response.content_part.added", { item_id: item.id, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } }));
      for (const w of answer.split(/(?<= )/)) out.push(ev("response.output_text.delta", { item_id: item.id, output_index: 0, content_index: 0, delta: w }));
      out.push(ev("response.output_text.done", { item_id: item.id, output_index: 0, content_index: 0, text: answer }));
      out.push(ev("response.content_part.done", { item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] }));
    }
    out.push(ev("response.output_item.done", { output_index: 0, item }));
    out.push(ev("response.completed", { response }));
    res.end(out.join(""));
  }

  /** An OpenAI chat answer that calls a tool, whole or streamed (the arguments in two parts). */
  function toolCall(res, body, model, call, wire, name) {
    const id = `call_mock_${calls.length}`;
    const usage = { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 };
    if (!body.stream) {
      const answer = completion(model, null, usage);
      answer.choices[0].message.tool_calls = [{ id, type: "function", function: call }];
      answer.choices[0].finish_reason = "tool_calls";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(wire(answer));
      return tally(name, usage, body);
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const half = Math.floor(call.arguments.length / 2);
    const events = [
      chunk(model, { role: "assistant", content: null, tool_calls: [{ index: 0, id, type: "function", function: { name: call.name, arguments: "" } }] }),
      chunk(model, { tool_calls: [{ index: 0, function: { arguments: call.arguments.slice(0, half) } }] }),
      chunk(model, { tool_calls: [{ index: 0, function: { arguments: call.arguments.slice(half) } }] }),
      chunk(model, {}, "tool_calls"),
    ];
    if (body.stream_options?.include_usage) events.push({ ...chunk(model, {}), choices: [], usage });
    res.end(events.map((e) => `data: ${wire(e)}\n\n`).join("") + "data: [DONE]\n\n");
    tally(name, usage, body);
  }

  // Amazon Bedrock Converse: checks the SigV4 signature with its own implementation (the
  // secret is BEDROCK_TEST_SECRET below), answers JSON or AWS event-stream frames.
  const BEDROCK_TEST_SECRET = "bedrock-test-secret-key";
  function sigv4Valid(req, rawBody) {
    const auth = req.headers.authorization || "";
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return false;
    const [, , date, region, service, signed, signature] = m;
    const hmac = (k, d) => crypto.createHmac("sha256", k).update(d).digest();
    const sha = (d) => crypto.createHash("sha256").update(d).digest("hex");
    const url = new URL(req.url, "http://x");
    const canonicalPath = url.pathname.split("/").map((seg) => encodeURIComponent(seg).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())).join("/");
    const headers = signed.split(";").map((h) => `${h}:${String(req.headers[h]).trim()}\n`).join("");
    const canonical = ["POST", canonicalPath, url.search.slice(1), headers, signed, sha(rawBody)].join("\n");
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", req.headers["x-amz-date"], scope, sha(canonical)].join("\n");
    let key = hmac(`AWS4${BEDROCK_TEST_SECRET}`, date);
    for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
    return hmac(key, toSign).toString("hex") === signature;
  }
  function frame(eventType, payload) {
    const headers = Buffer.concat(
      [[":event-type", eventType], [":content-type", "application/json"], [":message-type", "event"]].map(([k, v]) => {
        const kb = Buffer.from(k), vb = Buffer.from(v);
        const len = Buffer.alloc(2); len.writeUInt16BE(vb.length);
        return Buffer.concat([Buffer.from([kb.length]), kb, Buffer.from([7]), len, vb]);
      }),
    );
    const body = Buffer.from(JSON.stringify(payload));
    const total = 12 + headers.length + body.length + 4;
    const prelude = Buffer.alloc(8); prelude.writeUInt32BE(total, 0); prelude.writeUInt32BE(headers.length, 4);
    const preludeCrc = Buffer.alloc(4); preludeCrc.writeUInt32BE(zlib.crc32(prelude));
    const msg = Buffer.concat([prelude, preludeCrc, headers, body]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(zlib.crc32(msg));
    return Buffer.concat([msg, crc]);
  }
  function bedrock(req, res, name, model, stream, body, rawBody) {
    if (!sigv4Valid(req, rawBody)) {
      res.writeHead(403, { "content-type": "application/json" });
      return res.end(JSON.stringify({ message: "The request signature we calculated does not match the signature you provided." }));
    }
    const last = [...(body.messages || [])].reverse().find((m) => m.role === "user");
    const text = `echo: ${(last?.content || []).map((c) => c.text || "").join(" ")}`;
    const usage = { inputTokens: 8, outputTokens: 3, totalTokens: 11 };
    if (!stream) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ output: { message: { role: "assistant", content: [{ text }] } }, stopReason: "end_turn", usage, metrics: { latencyMs: 5 } }));
    }
    res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" });
    const frames = [
      frame("messageStart", { role: "assistant" }),
      ...text.split(/(?<= )/).map((t) => frame("contentBlockDelta", { contentBlockIndex: 0, delta: { text: t } })),
      frame("contentBlockStop", { contentBlockIndex: 0 }),
      frame("messageStop", { stopReason: "end_turn" }),
      frame("metadata", { usage, metrics: { latencyMs: 5 } }),
    ];
    // Split frames across writes, as a network would.
    const all = Buffer.concat(frames);
    res.write(all.subarray(0, 30));
    setTimeout(() => res.end(all.subarray(30)), 5);
  }

  // Google's OAuth 2.0 token endpoint: a service account's RS256 JWT (RFC 7523), checked as
  // Google checks it (signature, audience, lifetime, scope), or an authorized user's refresh
  // token; answers an access token the Vertex route then accepts.
  function googleToken(req, res, name, raw) {
    const form = new URLSearchParams(raw);
    const refuse = (error, error_description) => {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error, error_description }));
    };
    const grant = form.get("grant_type");
    if (grant === "refresh_token") {
      if (!google.users.includes(form.get("refresh_token")) || !form.get("client_secret")) return refuse("invalid_grant", "Bad Request");
    } else if (grant === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      const parts = (form.get("assertion") || "").split(".");
      if (parts.length !== 3) return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.");
      let header, claims;
      try {
        header = JSON.parse(Buffer.from(parts[0], "base64url"));
        claims = JSON.parse(Buffer.from(parts[1], "base64url"));
      } catch {
        return refuse("invalid_grant", "Invalid JWT: not JSON");
      }
      const signed = google.keys.some((key) => crypto.verify("sha256", Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], "base64url")));
      if (header.alg !== "RS256" || !signed) return refuse("invalid_grant", "Invalid JWT Signature.");
      const now = Date.now() / 1000;
      const here = `http://${req.headers.host}/${name}/token`;
      if (claims.aud !== here) return refuse("invalid_grant", `Invalid JWT: audience ${claims.aud} is not ${here}`);
      if (!(claims.exp - claims.iat <= 3600 && Math.abs(claims.iat - now) < 300 && claims.exp > now)) return refuse("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.");
      if (!String(claims.scope || "").split(" ").includes("https://www.googleapis.com/auth/cloud-platform") || !claims.iss) return refuse("invalid_scope", "Invalid OAuth scope or ID token audience provided.");
    } else {
      return refuse("unsupported_grant_type", "Invalid grant_type: " + grant);
    }
    const token = `ya29.mock-${google.issued.length + 1}-${crypto.randomBytes(6).toString("hex")}`;
    google.issued.push(token);
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify({ access_token: token, expires_in: google.expiresIn, token_type: "Bearer" }));
  }

  // Google AI Studio's Gemini API: x-goog-api-key, contents/parts, SSE of partial responses.
  function gemini(req, res, model, stream, body) {
    if (!req.headers["x-goog-api-key"]) {
      res.writeHead(403, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: { code: 403, message: "missing API key", status: "PERMISSION_DENIED" } }));
    }
    geminiAnswer(res, model, stream, body);
  }

  // Gemini's answer, the same on AI Studio and on Vertex AI.
  function geminiAnswer(res, model, stream, body) {
    const last = [...(body.contents || [])].reverse().find((c) => c.role === "user");
    const text = `echo: ${(last?.parts || []).map((p) => p.text || "").join(" ")}`;
    const usageMetadata = { promptTokenCount: 6, candidatesTokenCount: 3, totalTokenCount: 9 };
    if (!stream) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
        usageMetadata, modelVersion: model,
      }));
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const pieces = text.split(/(?<= )/);
    pieces.forEach((t, i) => {
      const last = i === pieces.length - 1;
      const chunk = { candidates: [{ content: { role: "model", parts: [{ text: t }] }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }], modelVersion: model, ...(last ? { usageMetadata } : {}) };
      res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
    });
    res.end();
  }

  // Anthropic's Messages API: x-api-key, anthropic-version, its body, its SSE events.
  function anthropic(req, res, body, b) {
    if (!req.headers["x-api-key"] || !req.headers["anthropic-version"]) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ type: "error", error: { type: "authentication_error", message: "missing x-api-key" } }));
    }
    if (!body.max_tokens) {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end(JSON.stringify({ type: "error", error: { type: "invalid_request_error", message: "max_tokens: Field required" } }));
    }
    const last = [...(body.messages || [])].reverse().find((m) => m.role === "user");
    const parts = Array.isArray(last?.content) ? last.content : [];
    const prefill = body.messages?.at(-1)?.role === "assistant" ? textOf(body.messages.at(-1).content) : "";
    if (/\s$/.test(prefill)) {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end(JSON.stringify({ type: "error", error: { type: "invalid_request_error", message: "messages: final assistant content cannot end with trailing whitespace" } }));
    }
    // A trailing assistant message is a prefill: the answer goes on after it. After a tool's
    // result the answer says what the tool said; offered tools, the mock calls one.
    const result = parts.find((p) => p.type === "tool_result");
    const userText = typeof last?.content === "string" ? last.content : parts.filter((p) => p.type === "text").map((p) => p.text).join(" ");
    const text = result
      ? `echo: tool said ${typeof result.content === "string" ? result.content : textOf(result.content)}`
      : afterPrefill(`echo: ${userText}`, body.messages);
    const call = result ? null : toolCallFor(body.tools, body.tool_choice, body.messages?.at(-1)?.role, userText);
    const block = call ? { type: "tool_use", id: `toolu_mock_${calls.length}`, name: call.name, input: JSON.parse(call.arguments) } : { type: "text", text };
    const stop = call ? "tool_use" : "end_turn";
    const usage = { input_tokens: 11, output_tokens: 4 };
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({
        id: "msg_mock", type: "message", role: "assistant", model: body.model,
        content: [block], stop_reason: stop, stop_sequence: null, usage,
      }));
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const deltas = call
      ? [call.arguments.slice(0, 5), call.arguments.slice(5)].map((j) => ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: j } }))
      : text.split(/(?<= )/).map((t) => ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: t } }));
    const events = [
      ev("message_start", { message: { id: "msg_mock", type: "message", role: "assistant", model: body.model, content: [], usage: { input_tokens: 11, output_tokens: 1 } } }),
      ev("content_block_start", { index: 0, content_block: call ? { ...block, input: {} } : { type: "text", text: "" } }),
      ev("ping", {}),
      ...deltas,
      ev("content_block_stop", { index: 0 }),
      ev("message_delta", { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 4 } }),
      ev("message_stop", {}),
    ];
    let i = 0;
    const next = () => {
      if (i < events.length) {
        res.write(events[i++]);
        setTimeout(next, 2);
      } else res.end();
    };
    next();
  }

  await new Promise((resolve) => server.listen(port, host, resolve));
  const actual = server.address().port;
  return {
    port: actual,
    spaced,
    url: `http://${host}:${actual}`,
    base: (name) => `http://${host}:${actual}/${name}/v1`,
    calls,
    behave(name, behaviour) {
      if (behaviour) behaviours.set(name, behaviour);
      else behaviours.delete(name);
    },
    served,
    faults,
    abandoned,
    google,
    /** How many completed answers the mock gave for this prompt ("echo: <prompt>"). */
    answeredFor: (prompt) => answered.get(`echo: ${prompt}`) || 0,
    reset() {
      behaviours.clear();
      calls.length = 0;
      rngs.clear();
      answered.clear();
      storedResponses.clear();
      for (const o of [served, faults, abandoned]) for (const k of Object.keys(o)) delete o[k];
      google.issued.length = 0;
    },
    callsTo(name) {
      return calls.filter((c) => c.name === name);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : 9911;
  const mock = await startMock({ port });
  console.log(`mock upstream listening on ${mock.url} (api_base: ${mock.base("<name>")})`);
}
