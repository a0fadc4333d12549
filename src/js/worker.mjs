// The Worker's JavaScript half: it does all the waiting. A request starts a task in the host
// (the wasm module's synchronous exports, src/exports.rs); the host answers with instructions
// (wire.mjs) — fetch this, read that body chunk, ask that Durable Object, arm this task's timer,
// answer the client — and each result goes back in through one synchronous call, whose answer
// is the next instructions. No promise crosses into wasm and no Rust future waits on one.
//
// `makeRunner(host)` takes the host's exports, so tests can drive this file with a scripted
// host (tests/js/worker.test.mjs); entry.mjs gives it the real one.

import { Kind, Reader } from "./wire.mjs";

const EMPTY = new Uint8Array(0);

/** What a client sees when the host trapped: an OpenAI-shaped 500. */
export function trapResponse() {
  const body = {
    error: {
      message: "The router failed while handling this request and has been restarted; retry it.",
      type: "server_error",
      param: null,
      code: "internal_error",
    },
  };
  return new Response(JSON.stringify(body), { status: 500, headers: { "content-type": "application/json" } });
}

/** `name\nvalue\n...` as the pairs `fetch` and `Response` take (cheaper than `Headers.append`
 *  per header, each a call into the runtime). */
function headersFrom(text) {
  const pairs = [];
  const p = text.split("\n");
  for (let i = 0; i + 1 < p.length; i += 2) pairs.push([p[i], p[i + 1]]);
  return pairs;
}

function headersText(h) {
  let s = "";
  for (const [k, v] of h) s += k + "\n" + v + "\n";
  return s;
}

function message(e) {
  return (e && e.message) || String(e);
}

/** The environment as the host takes it: string variables and secrets as JSON, the config as
 *  text, which bindings exist (bits as in exports.rs). */
function environment(env) {
  const vars = {};
  for (const k of Object.keys(env)) if (typeof env[k] === "string") vars[k] = env[k];
  const c = env.ROUTER_CONFIG;
  const config = typeof c === "string" ? c : c && typeof c === "object" ? JSON.stringify(c) : undefined;
  const flags = (env.ROUTER_STATE ? 1 : 0) | (env.ROUTER_CACHE ? 2 : 0) | (env.CONFIG_KV ? 4 : 0);
  return [JSON.stringify(vars), config, flags];
}

export function makeRunner(host) {
  // Everything below belongs to one instance of the module; a trap starts a new generation.
  let generation = 0;
  let initialized = false;
  let kept = null;
  let env = null;
  let lastCtx = null;
  /** Request tasks: task -> { resolve, ctx, request, answered } */
  const requests = new Map();
  /** Operations in flight: op -> a record their callbacks check is still theirs. */
  const live = new Map();
  /** Upstream bodies being read: fetch op -> { controller, reader } */
  const bodies = new Map();
  /** Streamed answers: task -> { controller } */
  const streams = new Map();
  /** Background tasks: task -> resolve of the promise given to waitUntil */
  const background = new Map();
  /** Each task's one timer: task -> { id, at } */
  const timers = new Map();

  function ensureInit(e) {
    env = e;
    if (initialized) return;
    const [vars, config, flags] = environment(e);
    host.host_init(vars, config, flags);
    kept = host.host_kept_headers().split("\n");
    initialized = true;
  }

  /** Calls a host export; a throw is a trap: everything in flight answers and the module starts
   *  again. */
  function call(fn, ...args) {
    let buf;
    try {
      buf = fn(Date.now(), ...args);
    } catch (e) {
      trap(e);
      return;
    }
    apply(buf);
  }

  function trap(e) {
    console.error("switchyard: the host trapped; restarting it:", e);
    generation++;
    initialized = false;
    try {
      host.__wbg_reset_state();
    } catch (again) {
      console.error("switchyard: restarting the host failed:", again);
    }
    for (const r of requests.values()) if (!r.answered) r.resolve(trapResponse());
    for (const s of streams.values()) {
      try {
        s.controller.error(new Error("the router restarted"));
      } catch {}
    }
    for (const resolve of background.values()) resolve();
    for (const t of timers.values()) clearTimeout(t.id);
    for (const b of bodies.values()) b.controller?.abort();
    requests.clear();
    live.clear();
    bodies.clear();
    streams.clear();
    background.clear();
    timers.clear();
  }

  /** Registers op as in flight; `settle(fn, ...args)` later calls the host only if the op is
   *  still this one (not cancelled, not from before a trap). */
  function track(op, record = {}) {
    live.set(op, record);
    return (fn, ...args) => {
      if (live.get(op) !== record) return;
      live.delete(op);
      call(fn, op, ...args);
    };
  }

  function doFetch(op, stream, url, method, headers, body) {
    const controller = new AbortController();
    const record = { controller };
    const settle = track(op, record);
    let init;
    try {
      init = { method, headers: headersFrom(headers), body: body.length ? body : undefined, signal: controller.signal };
    } catch (e) {
      return settle(host.host_failed, message(e));
    }
    fetch(url, init).then(
      async (res) => {
        if (live.get(op) !== record) return;
        let h = "";
        for (const name of kept) {
          const v = res.headers.get(name);
          if (v !== null) h += name + "\n" + v + "\n";
        }
        if (stream && res.ok && res.body) {
          bodies.set(op, { controller, reader: res.body.getReader() });
          settle(host.host_streaming, res.status, h);
        } else {
          let bytes;
          try {
            bytes = new Uint8Array(await res.arrayBuffer());
          } catch (e) {
            return settle(host.host_failed, message(e));
          }
          settle(host.host_done, res.status, h, bytes);
        }
      },
      (e) => settle(host.host_failed, message(e)),
    );
  }

  function doRead(op, handle) {
    const settle = track(op);
    const b = bodies.get(handle);
    if (!b) return settle(host.host_failed, "the body is no longer open");
    b.reader.read().then(
      ({ done, value }) => {
        if (done) {
          bodies.delete(handle);
          settle(host.host_done, 0, "", EMPTY);
        } else {
          settle(host.host_done, 1, "", value instanceof Uint8Array ? value : new Uint8Array(value));
        }
      },
      (e) => {
        bodies.delete(handle);
        settle(host.host_failed, message(e));
      },
    );
  }

  function abort(handle) {
    const b = bodies.get(handle);
    if (b) {
      bodies.delete(handle);
      b.controller.abort();
      b.reader.cancel().catch(() => {});
    }
    const r = live.get(handle);
    if (r?.controller) {
      live.delete(handle);
      r.controller.abort();
    }
  }

  function cancelOp(op) {
    const r = live.get(op);
    if (!r) return;
    live.delete(op);
    r.controller?.abort();
    r.reader?.cancel().catch(() => {});
  }

  function doDurable(op, name, path, method, body) {
    const settle = track(op);
    let answer;
    try {
      const stub = env.ROUTER_STATE.getByName(name);
      answer = stub.fetch("https://router-state" + path, { method, body: method === "GET" ? undefined : body });
    } catch (e) {
      return settle(host.host_failed, message(e));
    }
    Promise.resolve(answer)
      .then(async (res) => settle(host.host_done, res.status, "", new Uint8Array(await res.arrayBuffer())))
      .catch((e) => settle(host.host_failed, message(e)));
  }

  function doKvGet(op, binding, key) {
    const settle = track(op);
    let got;
    try {
      got = env[binding].get(key, "arrayBuffer");
    } catch (e) {
      return settle(host.host_failed, message(e));
    }
    Promise.resolve(got).then(
      (v) => (v === null ? settle(host.host_done, 0, "", EMPTY) : settle(host.host_done, 1, "", new Uint8Array(v))),
      (e) => settle(host.host_failed, message(e)),
    );
  }

  function doKvPut(op, binding, key, value, ttl) {
    const settle = track(op);
    let put;
    try {
      put = env[binding].put(key, value.slice(), { expirationTtl: ttl });
    } catch (e) {
      return settle(host.host_failed, message(e));
    }
    Promise.resolve(put).then(
      () => settle(host.host_done, 1, "", EMPTY),
      (e) => settle(host.host_failed, message(e)),
    );
  }

  /** RS256 over `data` with a PKCS#8 key, by WebCrypto. */
  function doSign(op, key, data) {
    const settle = track(op);
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    crypto.subtle
      .importKey("pkcs8", key.slice(), algorithm, false, ["sign"])
      .then((k) => crypto.subtle.sign(algorithm, k, data.slice()))
      .then(
        (sig) => settle(host.host_done, 1, "", new Uint8Array(sig)),
        (e) => settle(host.host_failed, message(e)),
      );
  }

  /** The client's body, at most `limit` bytes (413 past it). A body of declared length (the
   *  host refused it already if that is over the limit) is read whole; one without is read
   *  chunk by chunk, so it stops at the limit. */
  function doBody(op, task, limit) {
    const request = requests.get(task)?.request;
    const stream = request?.body;
    if (!stream) {
      const settle = track(op);
      return settle(host.host_done, 200, "", EMPTY);
    }
    if (request.headers.has("content-length")) {
      const settle = track(op);
      return request.arrayBuffer().then(
        (b) => settle(host.host_done, b.byteLength > limit ? 413 : 200, "", b.byteLength > limit ? EMPTY : new Uint8Array(b)),
        (e) => settle(host.host_failed, message(e)),
      );
    }
    const reader = stream.getReader();
    const record = { reader };
    const settle = track(op, record);
    const parts = [];
    let total = 0;
    const next = () =>
      reader.read().then(({ done, value }) => {
        if (live.get(op) !== record) return;
        if (done) {
          const all = new Uint8Array(total);
          let at = 0;
          for (const p of parts) {
            all.set(p, at);
            at += p.length;
          }
          return settle(host.host_done, 200, "", all);
        }
        total += value.length;
        if (total > limit) {
          reader.cancel().catch(() => {});
          return settle(host.host_done, 413, "", EMPTY);
        }
        parts.push(value);
        return next();
      }, (e) => settle(host.host_failed, message(e)));
    next();
  }

  function respond(task, status, headers, streamed, body, streamTask) {
    const r = requests.get(task);
    if (!r || r.answered) return;
    r.answered = true;
    let res;
    try {
      if (!streamed) {
        res = new Response(body.length ? body : null, { status, headers: headersFrom(headers) });
      } else {
        const s = { controller: null };
        streams.set(streamTask, s);
        const gen = generation;
        const readable = new ReadableStream({
          start(c) {
            s.controller = c;
          },
          cancel() {
            if (gen !== generation || !streams.has(streamTask)) return;
            streams.delete(streamTask);
            call(host.host_cancel, streamTask);
          },
        });
        res = new Response(readable, { status, headers: headersFrom(headers) });
      }
    } catch (e) {
      console.error("switchyard: could not build the response:", e);
      res = trapResponse();
    }
    r.resolve(res);
  }

  function arm(task, at) {
    const t = timers.get(task);
    if (t && t.at <= at) return;
    if (t) clearTimeout(t.id);
    const gen = generation;
    const id = setTimeout(() => {
      if (gen !== generation || timers.get(task)?.id !== id) return;
      timers.delete(task);
      call(host.host_timer, task);
    }, Math.max(0, at - Date.now()));
    timers.set(task, { id, at });
  }

  function ended(task) {
    const t = timers.get(task);
    if (t) {
      clearTimeout(t.id);
      timers.delete(task);
    }
    const s = streams.get(task);
    if (s) {
      streams.delete(task);
      try {
        s.controller.close();
      } catch {}
    }
    const resolve = background.get(task);
    if (resolve) {
      background.delete(task);
      resolve();
    }
    const r = requests.get(task);
    if (r) {
      requests.delete(task);
      // A task ends having answered; if it did not, the client must not wait forever.
      if (!r.answered) r.resolve(trapResponse());
    }
  }

  function apply(buf) {
    const r = new Reader(buf);
    const gen = generation;
    while (r.more() && gen === generation) {
      const kind = r.u8();
      switch (kind) {
        case Kind.Fetch: {
          const op = r.u32();
          r.u32(); // task
          const stream = r.u8() === 1;
          doFetch(op, stream, r.text(), r.text(), r.text(), r.bytes());
          break;
        }
        case Kind.Arm: {
          const task = r.u32();
          arm(task, r.f64());
          break;
        }
        case Kind.Read: {
          const op = r.u32();
          doRead(op, r.u32());
          break;
        }
        case Kind.Abort:
          abort(r.u32());
          break;
        case Kind.Cancel:
          cancelOp(r.u32());
          break;
        case Kind.Durable: {
          const op = r.u32();
          doDurable(op, r.text(), r.text(), r.text(), r.text());
          break;
        }
        case Kind.KvGet: {
          const op = r.u32();
          doKvGet(op, r.text(), r.text());
          break;
        }
        case Kind.KvPut: {
          const op = r.u32();
          const binding = r.text();
          const key = r.text();
          const value = r.bytes();
          doKvPut(op, binding, key, value, r.u32());
          break;
        }
        case Kind.Body: {
          const op = r.u32();
          const task = r.u32();
          doBody(op, task, r.u32());
          break;
        }
        case Kind.Respond: {
          const task = r.u32();
          const status = r.u16();
          const headers = r.text();
          if (r.u8() === 0) respond(task, status, headers, false, r.bytes(), 0);
          else respond(task, status, headers, true, EMPTY, r.u32());
          break;
        }
        case Kind.Chunk: {
          const s = streams.get(r.u32());
          const bytes = r.bytes();
          if (s) s.controller.enqueue(bytes);
          break;
        }
        case Kind.Spawned: {
          const task = r.u32();
          const ctx = requests.get(r.u32())?.ctx ?? lastCtx;
          const done = new Promise((resolve) => background.set(task, resolve));
          ctx?.waitUntil(done);
          break;
        }
        case Kind.Sign: {
          const op = r.u32();
          const key = r.bytes();
          doSign(op, key, r.bytes());
          break;
        }
        case Kind.Ended:
          ended(r.u32());
          break;
        case Kind.Log: {
          const level = r.u8();
          const text = r.text();
          if (level === 2) console.error(text);
          else if (level === 1) console.warn(text);
          else console.log(text);
          break;
        }
        default:
          // The two sides disagree on the layout: nothing further can be read safely.
          return trap(new Error(`unknown instruction ${kind}`));
      }
    }
  }

  return {
    get generation() {
      return generation;
    },
    trap,
    /** The Worker's `fetch`. */
    fetch(request, e, ctx) {
      lastCtx = ctx;
      return new Promise((resolve) => {
        let buf;
        try {
          ensureInit(e);
          const head = request.method + "\n" + request.url + "\n" + headersText(request.headers);
          buf = host.host_start(Date.now(), head);
        } catch (err) {
          trap(err);
          return resolve(trapResponse());
        }
        const task = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true);
        requests.set(task, { resolve, ctx, request, answered: false });
        apply(buf.subarray(4));
      });
    },
  };
}
