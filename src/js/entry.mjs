// The Worker's module: `fetch` runs through worker.mjs over the host's exports (the wasm
// module wasm-bindgen wraps, aliased `switchyard-host` by scripts/build-worker.sh); the Durable
// Object class is object.mjs over the same exports; the console's files (dashboard.mjs) are
// answered before either.

import { WorkerEntrypoint } from "cloudflare:workers";
import * as host from "switchyard-host";
import { makeRunner } from "./worker.mjs";
import { makeObjectClass } from "./object.mjs";
import { makeDashboard } from "./dashboard.mjs";
import files from "switchyard-www";

const runner = makeRunner(host);
const dashboard = makeDashboard(files);

export default class Switchyard extends WorkerEntrypoint {
  fetch(request) {
    return dashboard(request) ?? runner.fetch(request, this.env, this.ctx);
  }
}

/** The router state's Durable Object (object.mjs; its logic is the host's). */
export const RouterShard = makeObjectClass(host, runner);
