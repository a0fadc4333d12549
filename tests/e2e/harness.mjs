// Runs the built Worker (build/index.js) in workerd through Miniflare, serving real HTTP on
// 127.0.0.1, next to the mock upstream. Tests then talk to it with the official OpenAI SDK.
import { Miniflare } from "miniflare";
import OpenAI from "openai";
import { fileURLToPath } from "node:url";
import path from "node:path";
import fs from "node:fs";
import { startMock } from "../mock-upstream.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The Workers compatibility date: wrangler.toml's, the one source of it. */
export const COMPATIBILITY_DATE = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(fs.readFileSync(path.join(root, "wrangler.toml"), "utf8"))[1];

/** Starts the mock and the Worker with `config(mock)` as ROUTER_CONFIG: YAML or JSON text, or
 *  an object (what a `[vars]` table in wrangler.toml becomes). */
/** The Worker as Miniflare runs it. `shared: false` leaves out the Durable Object binding
 *  (each isolate keeps its own state). */
// SWITCHYARD_ENTRY runs the suite against another build of the Worker (an earlier commit's, to
// see a test fail before its fix).
export function workerOptions(text, { bindings = {}, shared = true, name, entry = process.env.SWITCHYARD_ENTRY ?? "build/index.js" } = {}) {
  return {
    ...(name ? { name } : {}),
    scriptPath: path.join(root, entry),
    modulesRoot: root,
    modules: true,
    modulesRules: [
      { type: "CompiledWasm", include: ["**/*.wasm"] },
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
    ],
    compatibilityDate: COMPATIBILITY_DATE,
    bindings: { ROUTER_CONFIG: text, ...bindings },
    ...(shared ? { durableObjects: { ROUTER_STATE: { className: "RouterShard", useSQLite: true } }, kvNamespaces: ["ROUTER_CACHE"] } : {}),
  };
}

/** `entry`: the Worker module to run, relative to the repository (default: the built Worker). */
export async function startRouter(config, { bindings = {}, shared = true, persist, entry } = {}) {
  const mock = await startMock();
  const text = typeof config === "function" ? config(mock) : config;
  // Secrets may name the mock too (a credentials file whose token_uri is the mock's).
  if (typeof bindings === "function") bindings = bindings(mock);
  let mf;
  let url;
  try {
    mf = new Miniflare({
      ...workerOptions(text, { bindings, shared, entry }),
      ...(persist ? { durableObjectsPersist: persist, kvPersist: persist } : {}),
      host: "127.0.0.1",
      port: 0,
    });
    url = (await mf.ready).toString().replace(/\/$/, "");
  } catch (e) {
    await mock.close(); // or the open mock keeps the test process alive after the failure
    throw e;
  }
  return {
    mock,
    mf,
    url,
    client(apiKey, options = {}) {
      return new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0, timeout: 20_000, ...options });
    },
    async close() {
      await mf.dispose();
      await mock.close();
    },
  };
}
