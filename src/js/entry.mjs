// The Worker's module: `fetch` runs through worker.mjs over the host's exports (the wasm
// module wasm-bindgen wraps, aliased `switchyard-host` by scripts/build-worker.sh); the Durable
// Object class is object.mjs over the same exports.

import { WorkerEntrypoint } from "cloudflare:workers";
import * as host from "switchyard-host";
import { makeRunner } from "./worker.mjs";
import { makeObjectClass } from "./object.mjs";

const runner = makeRunner(host);

export default class Switchyard extends WorkerEntrypoint {
  fetch(request) {
    return runner.fetch(request, this.env, this.ctx);
  }
}

/** The router state's Durable Object (object.mjs; its logic is the host's). */
export const RouterShard = makeObjectClass(host, runner);
