// The Worker's module: `fetch` runs through worker.mjs over the host's exports (the wasm
// module wasm-bindgen wraps, aliased `switchyard-host` by scripts/build-worker.sh), and the
// Durable Object class is the host's own, made again after the module restarts.

import { WorkerEntrypoint } from "cloudflare:workers";
import * as host from "switchyard-host";
import { makeRunner } from "./worker.mjs";

const runner = makeRunner(host);

export default class Switchyard extends WorkerEntrypoint {
  fetch(request) {
    return runner.fetch(request, this.env, this.ctx);
  }
}

/** The router state's Durable Object (src/state_object.rs). A trap in it restarts the module
 *  like one on the request path; an object made before a restart is made again. */
export class RouterShard {
  constructor(state, env) {
    this.state = state;
    this.env = env;
    this.generation = -1;
  }
  fetch(request) {
    if (this.generation !== runner.generation) {
      this.inner = new host.RouterShard(this.state, this.env);
      this.generation = runner.generation;
    }
    const restartOn = (e) => {
      if (e instanceof WebAssembly.RuntimeError) runner.trap(e);
      throw e;
    };
    try {
      return this.inner.fetch(request).catch(restartOn);
    } catch (e) {
      return restartOn(e);
    }
  }
}
