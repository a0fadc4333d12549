// The router state's Durable Object class. Its logic is the host's (src/state_object.rs): the
// class reads the request and the value kept under the path's storage key, calls the host
// synchronously (SQLite, synchronous too, through a function it passes), saves what the host
// returns and answers. `makeObjectClass(host, runner)` takes the host's exports, so tests can
// drive it with a scripted host (tests/js/object.test.mjs).

/** The storage key a path keeps its value under (as `storage_key` in src/state_object.rs). */
function storageKey(path) {
  if (path === "/responses" || path === "/log") return null;
  if (path === "/keys" || path === "/deployments") return path.slice(1);
  return "shard";
}

/** A saved value as text. Earlier versions saved JavaScript objects (maps as `Map`, large
 *  integers as `BigInt`); this version saves JSON text. */
export function storedText(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  return JSON.stringify(v, (_, x) => (x instanceof Map ? Object.fromEntries(x) : typeof x === "bigint" ? Number(x) : x));
}

/** The router state's Durable Object: the class here, its logic in the host
 *  (src/state_object.rs), called synchronously between the storage reads and writes. */
export function makeObjectClass(host, runner) {
  return class RouterShard {
    constructor(ctx, env) {
      this.storage = ctx.storage;
      this.env = env;
      this.generation = -1;
      this.sql = (query, params) => JSON.stringify(this.storage.sql.exec(query, ...JSON.parse(params)).toArray());
    }

    async fetch(request) {
      const path = new URL(request.url).pathname;
      const method = request.method;
      const body = method === "GET" || method === "HEAD" ? "" : await request.text();
      if (this.generation !== runner.generation) {
        // A new instance of the module (or the first request): the host's memory of this object
        // starts again, and the shard is read from storage once more.
        this.id = host.host_object_open();
        this.generation = runner.generation;
        this.shardRead = false;
      }
      const key = storageKey(path);
      let stored;
      if (key && (key !== "shard" || !this.shardRead)) {
        stored = storedText(await this.storage.get(key));
        if (key === "shard") this.shardRead = true;
      }
      let answer;
      try {
        answer = host.host_object(Date.now(), this.id, path, method, body, stored, this.sql);
      } catch (e) {
        runner.trap(e);
        return new Response("the router state's object failed; it has been restarted", { status: 500 });
      }
      const first = answer.indexOf("\n");
      const second = answer.indexOf("\n", first + 1);
      const status = Number(answer.slice(0, first));
      const length = Number(answer.slice(first + 1, second));
      let rest = answer.slice(second + 1);
      if (length >= 0) {
        await this.storage.put(key, rest.slice(0, length));
        rest = rest.slice(length);
      }
      return new Response(rest, { status, headers: { "content-type": status === 200 || status === 409 ? "application/json" : "text/plain" } });
    }
  };
}
