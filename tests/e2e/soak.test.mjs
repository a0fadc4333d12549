// Reliability soak: two model groups, four deployments, two of which fail half their calls with
// a seeded mix of 429 (with retry-after), 500, 503, silence, resets and streams cut mid-answer.
// SOAK_REQUESTS requests (1,000 here; the benchmark runs 10,000) at 32 concurrent, half of them
// streams, through the official SDK. Checked: every request succeeds (a stream cut after it began
// is finished by its group's steady deployment, which answers afresh and is joined after the text
// already relayed), none is lost or answered twice, usage and cost totals equal the mock
// upstream's own count, and a cooling deployment gets no call while it cools.
//   SOAK_REQUESTS=10000 SOAK_MIX=429,500,reset node --test tests/e2e/soak.test.mjs
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRouter } from "./harness.mjs";

const TOTAL = Number(process.env.SOAK_REQUESTS || 1000);
const CONCURRENCY = 32;
const MASTER = "sk-soak-master-2718";
const PRICE_IN = 0.000003;
const PRICE_OUT = 0.000011;
const DEPLOYMENTS = ["alpha-flaky", "alpha-steady", "beta-flaky", "beta-steady"];
let r;

// The call timeout (1.5 s) ends the calls the mock leaves hanging; it stays well above a busy
// machine's transit time, or an answer the mock completed would time out on its way and be asked
// for again (a duplicate the check below counts).
before(async () => {
  r = await startRouter((mock) => {
    const dep = (name) =>
      `  - { model_name: ${name.split("-")[0]}, litellm_params: { model: openai/m, api_base: "${mock.base(name)}", timeout: 1.5, stream_timeout: 1.5 }, model_info: { id: ${name}, input_cost_per_token: ${PRICE_IN}, output_cost_per_token: ${PRICE_OUT} } }`;
    return `
model_list:
${DEPLOYMENTS.map(dep).join("\n")}
general_settings: { master_key: "${MASTER}", request_log: false }
router_settings:
  num_retries: 3
  allowed_fails: 1
  cooldown_time: 0.5
  retry_policy: { base_delay: 0.02, max_delay: 0.2 }
`;
  }, { entry: "tests/e2e/dispatch-stamp.mjs" }); // stamps each call's dispatch time
  const mix = process.env.SOAK_MIX ? process.env.SOAK_MIX.split(",") : undefined;
  r.mock.behave("alpha-flaky", { chaos: { rate: 0.5, seed: 11, mix } });
  r.mock.behave("beta-flaky", { chaos: { rate: 0.5, seed: 23, mix } });
});
after(async () => r && (await r.close()));

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const usage = async () => {
  const res = await fetch(`${r.url}/usage`, { headers: { authorization: `Bearer ${MASTER}` } });
  assert.equal(res.status, 200);
  return (await res.json()).deployments;
};

test(`soak: ${TOTAL} requests at ${CONCURRENCY} concurrent against two half-broken deployments`, async () => {
  const client = r.client(MASTER, { timeout: 30_000 });
  const outcomes = new Array(TOTAL);

  // Watch the cooldowns the router reports while the load runs.
  const cooling = []; // { id, from, until } in wall-clock ms
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const asked = Date.now();
      const deployments = await usage();
      const answered = Date.now();
      for (const d of deployments) {
        // Cooling from when the answer arrived (at the latest) until `asked` + what remained
        // (at the earliest).
        if (d.cooldown_remaining_s > 0) cooling.push({ id: d.id, from: answered, until: asked + d.cooldown_remaining_s * 1000 });
      }
      await sleep(20);
    }
  })();

  let next = 0;
  async function worker() {
    while (next < TOTAL) {
      const i = next++;
      const prompt = `soak-${i}`;
      const model = i % 2 ? "alpha" : "beta";
      const stream = i % 4 >= 2;
      const body = { model, messages: [{ role: "user", content: prompt }] };
      try {
        if (stream) {
          const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
          let text = "";
          let finished = false;
          for await (const c of s) {
            text += c.choices[0]?.delta?.content ?? "";
            if (c.choices[0]?.finish_reason) finished = true;
          }
          outcomes[i] = { ok: text === `echo: ${prompt}` && finished, prompt, stream, text };
        } else {
          const res = await client.chat.completions.create(body);
          outcomes[i] = { ok: res.choices[0].message.content === `echo: ${prompt}`, prompt, stream };
        }
      } catch (e) {
        outcomes[i] = { ok: false, prompt, stream, error: String(e.message) };
      }
    }
  }
  const { monitorEventLoopDelay } = await import("node:perf_hooks");
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const started = Date.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const took = Date.now() - started;
  watching = false;
  await watcher;
  lag.disable();

  const failed = outcomes.filter((o) => !o.ok);
  const cuts = Object.values(r.mock.faults).reduce((n, f) => n + (f.cut || 0), 0);
  const faultCount = Object.values(r.mock.faults).reduce((n, f) => n + Object.values(f).reduce((a, b) => a + b, 0), 0);
  console.log(`# soak: ${TOTAL} requests in ${took} ms, ${faultCount} faults played ${JSON.stringify(r.mock.faults)}, ${failed.length} requests failed, ${cooling.length} cooldown readings, event-loop lag ≤ ${Math.round(lag.max / 1e6)} ms`);

  // Every request came back, once, with its own answer or an error.
  assert.equal(outcomes.filter(Boolean).length, TOTAL, "no request lost");
  // (faults follow time more than requests: a failing deployment is left alone while it cools)
  // A fast run plays fewer (each fault cools its deployment for 0.5 s): 18 seen in a 2.3 s run.
  assert.ok(faultCount >= 10, `the chaos really played (${faultCount} faults)`);
  // Nothing fails: a stream cut after it began is finished by the group's steady deployment
  // (the whole answer, checked above against the prompt), one continuation per cut.
  for (const o of failed) assert.fail(`${o.prompt} (${o.stream ? "stream" : "call"}) failed: ${o.error ?? o.text}`);
  assert.ok(cuts > 0, "streams were cut");
  const metrics = await (await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${MASTER}` } })).text();
  const continued = [...metrics.matchAll(/^switchyard_stream_continuations_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(continued, cuts, "each cut stream continued once");
  for (const o of outcomes) {
    assert.equal(r.mock.answeredFor(o.prompt), o.ok ? 1 : 0, `${o.prompt} answered upstream ${r.mock.answeredFor(o.prompt)} times`);
  }

  // Usage and cost: the router's totals are the upstream's own count, plus, for each stream the
  // upstream cut (it sent no usage), an estimate of what was relayed before the cut: its prompt
  // ("soak-NNNN": at most 9 tokens estimated) and the content sent (2 events: at most 4).
  await sleep(400); // the last stream endings are recorded
  const byId = Object.fromEntries((await usage()).map((d) => [d.id, d]));
  let tokensIn = 0;
  let tokensOut = 0;
  for (const id of DEPLOYMENTS) {
    const served = r.mock.served[id] ?? { prompt_tokens: 0, completion_tokens: 0 };
    const cutHere = r.mock.faults[id]?.cut ?? 0;
    const extraIn = byId[id].prompt_tokens - served.prompt_tokens;
    const extraOut = byId[id].completion_tokens - served.completion_tokens;
    assert.ok(extraIn >= 0 && extraIn <= 9 * cutHere, `${id} prompt tokens ${byId[id].prompt_tokens} vs ${served.prompt_tokens} counted upstream, ${cutHere} cuts`);
    assert.ok(extraOut >= 0 && extraOut <= 4 * cutHere, `${id} completion tokens ${byId[id].completion_tokens} vs ${served.completion_tokens}, ${cutHere} cuts`);
    if (cutHere === 0) assert.equal(extraIn + extraOut, 0, `${id}: nothing cut, the upstream's count exactly`);
    else assert.ok(extraIn > 0, `${id}: its ${cutHere} cut streams are charged`);
    tokensIn += byId[id].prompt_tokens;
    tokensOut += byId[id].completion_tokens;
  }
  const cost = Object.values(byId).reduce((n, d) => n + d.cost, 0);
  const expected = tokensIn * PRICE_IN + tokensOut * PRICE_OUT;
  assert.ok(Math.abs(cost - expected) < 1e-9 * Math.max(1, expected), `cost ${cost} vs ${expected}`);

  // No call was sent to a deployment while the router reported it cooling. A poll asked at
  // `asked` and answered at `answered` that saw R ms of cooldown left proves the deployment was
  // cooling throughout [answered, asked + R] (this process's late clock readings only shrink
  // that span). What counts is when the router handed a call to the runtime (stamped in the
  // isolate by dispatch-stamp.mjs), not when it reached the mock: on this loaded machine a call
  // sent just before a cooldown began can arrive well inside it (the spread is printed below).
  // (With the cooldown check removed from routing, this finds calls in the windows in every run.)
  const dispatched = (c) => Number(c.headers["x-test-dispatched-at"]);
  const calls = DEPLOYMENTS.flatMap((id) => r.mock.callsTo(id));
  assert.ok(calls.every((c) => dispatched(c) > 0), "every call carries its dispatch time");
  const transit = calls.map((c) => c.at - dispatched(c)).sort((a, b) => a - b);
  const pct = (p) => transit[Math.min(transit.length - 1, Math.floor(transit.length * p))];
  const arrivedWhileCooling = cooling.reduce((n, w) => n + r.mock.callsTo(w.id).filter((c) => c.at > w.from && c.at < w.until).length, 0);
  console.log(`# dispatch to arrival at the mock: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${pct(1)} ms; ${arrivedWhileCooling} calls arrived inside a cooling window`);
  assert.ok(cooling.length > 0, "cooldowns happened");
  for (const w of cooling) {
    const during = r.mock.callsTo(w.id).filter((c) => dispatched(c) > w.from && dispatched(c) < w.until);
    const near = r.mock.callsTo(w.id).filter((c) => dispatched(c) > w.from - 1000 && dispatched(c) < w.until + 200).map((c) => dispatched(c) - w.from);
    assert.equal(during.length, 0, `${w.id} was sent ${during.length} calls while cooling (0..${w.until - w.from} ms; calls sent at ${near})`);
  }
  for (const id of ["alpha-steady", "beta-steady"]) assert.ok(!cooling.some((w) => w.id === id), `${id} never cooled`);
});
