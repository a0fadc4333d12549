// The Python clients LiteLLM users have: the official `openai` SDK and the `litellm` package
// (tests/python/clients.py, in the venv scripts/setup.sh makes), against the router in workerd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRouter } from "./harness.mjs";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PYTHON = path.join(root, "tests/.venv/bin/python");
const MASTER = "sk-python-master-77";
let r;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: gpt-4o, litellm_params: { model: openai/real-4o, api_base: "${mock.base("main")}" } }
  - { model_name: embedder, litellm_params: { model: openai/text-embedding-3-small, api_base: "${mock.base("emb")}" } }
  - { model_name: ranker, litellm_params: { model: cohere/rerank-v3.5, api_base: "${mock.base("rr")}" } }
router_settings: { model_group_alias: { gpt-4: gpt-4o } }
general_settings: { master_key: ${MASTER} }
`,
  );
});
after(() => r?.close());

test("the openai Python SDK and the litellm package work against the router unchanged", async () => {
  assert.ok(fs.existsSync(PYTHON), "tests/.venv is made by scripts/setup.sh");
  const made = await fetch(`${r.url}/key/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ models: ["gpt-4"] }),
  });
  const { key } = await made.json();
  const { stdout } = await run(PYTHON, [path.join(root, "tests/python/clients.py"), r.url, MASTER, key], {
    env: { ...process.env, LITELLM_LOCAL_MODEL_COST_MAP: "True", LITELLM_TELEMETRY: "False", NO_PROXY: "127.0.0.1,localhost" },
    timeout: 120_000,
  }).catch((e) => {
    throw new Error(`python clients failed:\n${e.stdout}\n${e.stderr}`);
  });
  assert.match(stdout, /python clients: \d+ checks passed/);
  console.log(`# ${stdout.trim()}`);
  const paths = new Set(r.mock.calls.map((c) => `${c.name}${c.path}`));
  for (const p of ["main/v1/chat/completions", "emb/v1/embeddings", "rr/v1/rerank"]) assert.ok(paths.has(p), `${p} reached`);
});
