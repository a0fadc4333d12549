// Gemini on Vertex AI, as a LiteLLM user configures it (`vertex_ai/...` with vertex_project,
// vertex_location and vertex_credentials from a secret), in workerd. The mock plays Google's
// token endpoint and checks each JWT as Google does (RS256 signature with the account's public
// key, audience, lifetime, scope), so a token only comes back for a correctly signed assertion;
// its Vertex route answers only to a token it issued.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-vertex-master-7";
const SA = JSON.parse(fs.readFileSync(new URL("../fixtures/google-service-account.json", import.meta.url), "utf8"));
let r;

/** The service account, its token endpoint the mock's. */
const account = (mock, extra = {}) => JSON.stringify({ ...SA, token_uri: `${mock.url}/google/token`, ...extra });
const vertexBase = (mock, name, model) =>
  `${mock.url}/${name}/v1/projects/switchyard-test/locations/us-central1/publishers/google/models/${model}`;

before(async () => {
  // A key Google never heard of: the mock refuses what it signs.
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const stranger = privateKey.export({ type: "pkcs8", format: "pem" });
  r = await startRouter(
    (mock) => `
model_list:
  - model_name: gem
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: "${vertexBase(mock, "vx", "gemini-2.0-flash")}"
      vertex_project: switchyard-test
      vertex_location: us-central1
      vertex_credentials: os.environ/VERTEX_SA
  - model_name: user-creds
    litellm_params:
      model: vertex_ai/gemini-2.5-pro
      api_base: "${vertexBase(mock, "vx-user", "gemini-2.5-pro")}"
      vertex_project: switchyard-test
      vertex_credentials: os.environ/VERTEX_USER
  - model_name: forged
    litellm_params:
      model: vertex_ai/gemini-2.0-flash
      api_base: "${vertexBase(mock, "vx-forged", "gemini-2.0-flash")}"
      vertex_credentials: os.environ/VERTEX_FORGED
      num_retries: 0
  - model_name: safe
    litellm_params: { model: openai/gpt-4o-mini, api_base: "${mock.base("safe")}", api_key: sk-safe }
  - model_name: from-a-file
    litellm_params: { model: vertex_ai/gemini-2.0-flash, vertex_credentials: /home/me/sa.json }
general_settings: { master_key: ${MASTER} }
router_settings:
  num_retries: 0
  fallbacks: [{ forged: [safe] }]
`,
    {
      bindings: (mock) => ({
        VERTEX_SA: account(mock),
        VERTEX_FORGED: account(mock, { private_key: stranger, client_email: "intruder@evil.iam.gserviceaccount.com" }),
        VERTEX_USER: JSON.stringify({
          type: "authorized_user",
          client_id: "32555940559.apps.googleusercontent.com",
          client_secret: "mock-client-secret",
          refresh_token: "1//mock-refresh-token",
          token_uri: `${mock.url}/google/token`,
        }),
      }),
    },
  );
});
after(() => r?.close());

const tokenCalls = () => r.mock.callsTo("google").filter((c) => c.path === "/token");

test("a service account's signed JWT is exchanged once and its token serves chat and streams", async () => {
  const client = r.client(MASTER);
  const before = tokenCalls().length;
  for (let i = 0; i < 3; i++) {
    const out = await client.chat.completions.create({ model: "gem", messages: [{ role: "user", content: `hello ${i}` }] });
    assert.equal(out.choices[0].message.content, `echo: hello ${i}`);
    assert.equal(out.usage.total_tokens, 9);
  }
  const stream = await client.chat.completions.create({ model: "gem", stream: true, messages: [{ role: "user", content: "stream me" }] });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.equal(text, "echo: stream me");
  assert.equal(tokenCalls().length - before, 1, "one exchange for four calls");
  const calls = r.mock.callsTo("vx");
  assert.equal(calls.length, 4);
  const issued = r.mock.google.issued;
  for (const c of calls) assert.ok(issued.includes(c.headers.authorization.replace(/^Bearer /, "")), "a token the endpoint issued");
  assert.ok(calls.every((c) => !c.headers["x-goog-api-key"]));
  assert.match(calls.at(-1).path, /:streamGenerateContent$/);
  // The body is Gemini's.
  assert.deepEqual(calls[0].body.contents, [{ role: "user", parts: [{ text: "hello 0" }] }]);
});

test("an authorized_user credentials file trades its refresh token", async () => {
  const out = await r.client(MASTER).chat.completions.create({ model: "user-creds", messages: [{ role: "user", content: "as a user" }] });
  assert.equal(out.choices[0].message.content, "echo: as a user");
  const form = new URLSearchParams(tokenCalls().at(-1).body.unparsable);
  assert.equal(form.get("grant_type"), "refresh_token");
  assert.equal(form.get("refresh_token"), "1//mock-refresh-token");
});

test("credentials Google refuses say why, and fail over", async () => {
  // Asked for without fallbacks, the refusal is the router's credentials failing: a 502 naming
  // the token endpoint and Google's reason, and never the key.
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "forged", messages: [{ role: "user", content: "x" }], fallbacks: [] }),
  });
  const body = await res.json();
  assert.equal(res.status, 502, JSON.stringify(body));
  assert.equal(body.error.code, "upstream_authentication_error");
  assert.match(body.error.message, /Invalid JWT Signature\./);
  assert.match(body.error.message, /\/google\/token/);
  assert.doesNotMatch(JSON.stringify(body), /PRIVATE KEY/);
  // With the config's fallbacks (the deployment now cooling down), the fallback answers.
  const out = await r.client(MASTER).chat.completions.create({ model: "forged", messages: [{ role: "user", content: "who am i" }] });
  assert.equal(out.choices[0].message.content, "echo: who am i");
  assert.equal(r.mock.callsTo("vx-forged").length, 0, "no call without a token");
});

test("a deployment whose credentials are a file path is left out, named, and the rest serve", async () => {
  const ready = await (await fetch(`${r.url}/health/readiness`)).json();
  assert.equal(ready.status, "degraded");
  const info = await (await fetch(`${r.url}/model/info`, { headers: { authorization: `Bearer ${MASTER}` } })).json();
  const left = JSON.stringify(info.left_out ?? info);
  assert.match(left, /from-a-file/);
  assert.match(left, /file path cannot be read at the edge/);
});
