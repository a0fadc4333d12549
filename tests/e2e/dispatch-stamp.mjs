// A Worker entry for tests: the built Worker, with the runtime's `fetch` wrapped so every
// upstream call carries the moment the router handed it to the runtime (`x-test-dispatched-at`,
// the isolate's Date.now()). The mock upstream only sees when a call *arrives*, which on this
// loaded machine can be hundreds of ms later; the soak's cooldown check needs the dispatch.
// Only tests load this file; the product never sends the header.
export { default } from "../../build/index.js";
export * from "../../build/index.js";

const runtimeFetch = globalThis.fetch;
globalThis.fetch = function stampedFetch(input, init = {}) {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  headers.set("x-test-dispatched-at", String(Date.now()));
  return runtimeFetch(input, { ...init, headers });
};
