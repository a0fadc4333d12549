// A Worker entry for tests: the built Worker, whose `deployments` Durable Object can be made
// to fail its saves on command (`POST /__test/deployments-store?fail=1`, `?fail=0`), as an
// overloaded or unreachable object would. Everything else passes through untouched. Only tests
// load this file.
import Router from "../../build/index.js";
export * from "../../build/index.js";

let failSaves = false;

/** Makes `ns.getByName("deployments")` hand out a stub whose PUTs fail while `failSaves`. The
 *  binding itself stays the runtime's object (the Worker checks its type). */
function patch(ns) {
  if (ns.__switchyardTestPatched) return;
  const getByName = ns.getByName.bind(ns);
  ns.getByName = (name) => {
    const stub = getByName(name);
    if (name !== "deployments") return stub;
    return {
      fetch(req, init) {
        const method = (init?.method ?? req.method ?? "GET").toUpperCase();
        if (failSaves && method === "PUT") return Promise.resolve(new Response("deployments object overloaded (test)", { status: 500 }));
        return stub.fetch(req, init);
      },
    };
  };
  ns.__switchyardTestPatched = true;
}

export default class extends Router {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/__test/deployments-store") {
      failSaves = url.searchParams.get("fail") === "1";
      return new Response(JSON.stringify({ failSaves }));
    }
    patch(this.env.ROUTER_STATE);
    return super.fetch(request);
  }
}
