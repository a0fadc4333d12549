// The Durable Object class (src/js/object.mjs) over a scripted host and an in-memory storage:
// what it reads before calling the host, what it saves before answering, and how it reads what
// earlier versions saved.
import test from "node:test";
import assert from "node:assert/strict";
import { makeObjectClass, storedText } from "../../src/js/object.mjs";

function storage(initial = {}) {
  const data = new Map(Object.entries(initial));
  const log = [];
  return {
    log,
    data,
    async get(k) {
      log.push(["get", k]);
      return data.get(k);
    },
    async put(k, v) {
      log.push(["put", k]);
      data.set(k, v);
    },
    sql: { exec: (q, ...p) => ({ toArray: () => [{ q, p }] }) },
  };
}

test("values earlier versions saved as objects (maps, big integers) are read as JSON", () => {
  const old = { version: 3n, overlay: { added: new Map([["d1", { model_name: "m" }]]) } };
  assert.deepEqual(JSON.parse(storedText(old)), { version: 3, overlay: { added: { d1: { model_name: "m" } } } });
  assert.equal(storedText('{"a":1}'), '{"a":1}');
  assert.equal(storedText(undefined), undefined);
});

test("the object saves what the host returns before it answers, and reads the shard once", async () => {
  const calls = [];
  const host = {
    host_object_open: () => 1,
    // Saves "é€" (two UTF-16 units, five UTF-8 bytes) and answers {"ok":true}.
    host_object: (now, id, path, method, body, stored, sql) => {
      calls.push({ path, stored, rows: JSON.parse(sql("SELECT 1", "[]")) });
      return path === "/keys" ? `200\n-1\n{"ok":true}` : `200\n2\né€{"ok":true}`;
    },
  };
  const Shard = makeObjectClass(host, { generation: 0, trap() {} });
  const s = storage({ shard: "saved-shard" });
  const object = new Shard({ storage: s }, {});
  const post = (path) => object.fetch(new Request("https://router-state" + path, { method: "POST", body: "{}" }));
  const first = await post("/exchange");
  assert.deepEqual(await first.json(), { ok: true });
  assert.equal(s.data.get("shard"), "é€", "saved by UTF-16 length");
  assert.deepEqual(s.log, [["get", "shard"], ["put", "shard"]]);
  assert.equal(calls[0].stored, "saved-shard");
  await post("/exchange");
  assert.equal(calls[1].stored, undefined, "the shard is read from storage once per instance");
  await post("/keys");
  assert.deepEqual(s.log.slice(-1), [["get", "keys"]], "a read-only answer saves nothing");
  assert.deepEqual(calls[0].rows, [{ q: "SELECT 1", p: [] }]);
});

test("a trap in the object's host call answers 500 and restarts the module", async () => {
  let trapped = null;
  const host = {
    host_object_open: () => 1,
    host_object: () => {
      throw new WebAssembly.RuntimeError("unreachable");
    },
  };
  const Shard = makeObjectClass(host, { generation: 0, trap: (e) => (trapped = e) });
  const object = new Shard({ storage: storage() }, {});
  const res = await object.fetch(new Request("https://router-state/keys", { method: "POST", body: "{}" }));
  assert.equal(res.status, 500);
  assert.ok(trapped instanceof WebAssembly.RuntimeError);
});
