// The Worker's JavaScript half (src/js/worker.mjs) driven by a scripted host: what it does when
// the wasm module traps, how it streams an answer and stops it when the client goes away, how
// it keeps one timer per task. The real host is covered by every test in tests/e2e.
import test from "node:test";
import assert from "node:assert/strict";
import { makeRunner } from "../../src/js/worker.mjs";
import { Kind } from "../../src/js/wire.mjs";

/** Writes instruction buffers as src/host/wire.rs does. */
class Out {
  constructor() {
    this.parts = [];
  }
  u8(v) {
    this.parts.push(Uint8Array.of(v));
    return this;
  }
  u16(v) {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.parts.push(b);
    return this;
  }
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.parts.push(b);
    return this;
  }
  f64(v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    this.parts.push(b);
    return this;
  }
  bytes(b) {
    this.u32(b.length);
    this.parts.push(b);
    return this;
  }
  text(s) {
    return this.bytes(new TextEncoder().encode(s));
  }
  done() {
    const n = this.parts.reduce((a, p) => a + p.length, 0);
    const all = new Uint8Array(n);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  }
}

/** A host whose answers the test scripts; it records every call. */
function scriptedHost(script) {
  const calls = [];
  const host = {
    calls,
    host_init: (...a) => calls.push(["init", ...a]),
    host_kept_headers: () => "content-type",
    __wbg_reset_state: () => calls.push(["reset"]),
  };
  for (const name of ["start", "done", "streaming", "failed", "timer", "cancel"]) {
    host["host_" + name] = (now, ...args) => {
      calls.push([name, ...args]);
      const answer = script[name]?.(...args);
      if (answer instanceof Error) throw answer;
      return answer ?? new Uint8Array(0);
    };
  }
  return host;
}

const ctx = { waitUntil() {} };
const request = () => new Request("https://router.test/v1/chat/completions", { method: "POST", body: "{}" });

test("a trap answers an OpenAI-shaped 500 and restarts the module; the next request starts it again", async () => {
  let trapNext = true;
  const host = scriptedHost({
    start: () => {
      if (trapNext) {
        trapNext = false;
        return new WebAssembly.RuntimeError("unreachable");
      }
      return new Out().u32(1).u8(Kind.Respond).u32(1).u16(200).text("content-type\napplication/json\n").u8(0).bytes(new TextEncoder().encode('{"ok":true}')).u8(Kind.Ended).u32(1).done();
    },
  });
  const runner = makeRunner(host);
  const first = await runner.fetch(request(), {}, ctx);
  assert.equal(first.status, 500);
  const body = await first.json();
  assert.equal(body.error.code, "internal_error");
  assert.equal(body.error.type, "server_error");
  assert.ok(body.error.message.length > 0);
  assert.ok(host.calls.some((c) => c[0] === "reset"), "the module was restarted");
  const second = await runner.fetch(request(), {}, ctx);
  assert.equal(second.status, 200);
  assert.deepEqual(await second.json(), { ok: true });
  assert.equal(host.calls.filter((c) => c[0] === "init").length, 2, "the new instance got the environment");
});

test("a trap while a request waits answers every request in flight, and stale results are dropped", async () => {
  const pending = [];
  const env = {
    ROUTER_STATE: {
      getByName: () => ({ fetch: () => new Promise((resolve) => pending.push(resolve)) }),
    },
  };
  let task = 0;
  const host = scriptedHost({
    // Each request asks the Durable Object something (op = 100 + task).
    start: () => {
      task++;
      return new Out().u32(task).u8(Kind.Durable).u32(100 + task).text("keys").text("/keys").text("POST").text("{}").done();
    },
    done: () => new WebAssembly.RuntimeError("unreachable"),
  });
  const runner = makeRunner(host);
  const a = runner.fetch(request(), env, ctx);
  const b = runner.fetch(request(), env, ctx);
  pending[0](new Response("{}"));
  const [ra, rb] = await Promise.all([a, b]);
  assert.equal(ra.status, 500);
  assert.equal(rb.status, 500);
  const donesBefore = host.calls.filter((c) => c[0] === "done").length;
  // The second object's answer arrives after the restart: it belongs to the old instance.
  pending[1](new Response("{}"));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(host.calls.filter((c) => c[0] === "done").length, donesBefore);
});

test("a streamed answer is written chunk by chunk, and a client that goes away cancels its task", async () => {
  const STREAM = 7;
  const READ = 60;
  const pending = [];
  const env = { ROUTER_STATE: { getByName: () => ({ fetch: () => new Promise((resolve) => pending.push(resolve)) }) } };
  const host = scriptedHost({
    // The answer streams; its task then waits on an operation (here a Durable Object call).
    start: () =>
      new Out().u32(1).u8(Kind.Respond).u32(1).u16(200).text("content-type\ntext/event-stream\n").u8(1).u32(STREAM).u8(Kind.Ended).u32(1)
        .u8(Kind.Chunk).u32(STREAM).text("data: 1\n\n").u8(Kind.Durable).u32(READ).text("x").text("/x").text("POST").text("").done(),
    // Cancelling the task drops the operation it waits on, as the real host does.
    cancel: () => new Out().u8(Kind.Cancel).u32(READ + 1).done(),
    done: (op) => (op === READ ? new Out().u8(Kind.Chunk).u32(STREAM).text("data: 2\n\n").u8(Kind.Durable).u32(READ + 1).text("x").text("/x").text("POST").text("").done() : undefined),
  });
  const runner = makeRunner(host);
  const res = await runner.fetch(request(), env, ctx);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const reader = res.body.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 1\n\n");
  pending[0](new Response("ok"));
  assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 2\n\n");
  await reader.cancel();
  assert.deepEqual(host.calls.find((c) => c[0] === "cancel"), ["cancel", STREAM]);
  // The operation the cancelled task waited on is answered later: nothing reaches the host.
  const before = host.calls.length;
  pending[1](new Response("late"));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(host.calls.length, before);
});

test("a task has one timer: a later deadline does not re-arm it, an earlier one does", async () => {
  for (const order of [[10, 10_000], [10_000, 10]]) {
    const now = Date.now();
    const host = scriptedHost({
      start: () => new Out().u32(1).u8(Kind.Arm).u32(1).f64(now + order[0]).u8(Kind.Arm).u32(1).f64(now + order[1]).done(),
      timer: () => new Out().u8(Kind.Respond).u32(1).u16(204).text("").u8(0).bytes(new Uint8Array(0)).u8(Kind.Ended).u32(1).done(),
    });
    const runner = makeRunner(host);
    const res = await Promise.race([runner.fetch(request(), {}, ctx), new Promise((r) => setTimeout(() => r(null), 2_000))]);
    assert.ok(res, `the timer fired at the earlier deadline (arms ${order})`);
    assert.equal(res.status, 204);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(host.calls.filter((c) => c[0] === "timer").length, 1, "one timer for the task");
  }
});
