// The operator console in a real browser (Debian Chromium driven by playwright-core) against
// the Worker in workerd: sign in; deployments (add, edit where the user is, cooldown, live
// status, last error, health check); charts that keep their history across a reload and in
// another browser; a filtered request log with the attempt trace; a key created, used, its
// spend shown, then revoked; the playground streaming; hostile names shown as text; phone
// width; screenshots for the README.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-dashboard-master-1";
const HOSTILE = `<img src=x onerror="window.__xss=1">`;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOTS_DIR || path.join(root, "tests/artifacts");
let r;
let browser;
/** Script errors and refused content (a Content-Security-Policy violation) on any page. */
const problems = [];
function watch(page) {
  page.on("pageerror", (e) => problems.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && !/status of 4\d\d/.test(m.text()) && problems.push(`${page.url()}: ${m.text()}`));
}

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: alpha, litellm_params: { model: openai/alpha-good, api_base: "${mock.base("good")}", rpm: 600 }, model_info: { id: alpha-good, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002 } }
  - { model_name: alpha, litellm_params: { model: openai/alpha-flaky, api_base: "${mock.base("flaky")}" }, model_info: { id: alpha-flaky } }
  - { model_name: beta, litellm_params: { model: openai/beta, api_base: "${mock.base("beta")}" }, model_info: { id: beta-1, input_cost_per_token: 0.000001, output_cost_per_token: 0.000002 } }
  - { model_name: typo-entry, litellm_params: { model: nosuch/x } }
general_settings: { master_key: "${MASTER}" }
router_settings: { allowed_fails: 0, cooldown_time: 120, num_retries: 1 }
`,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  fs.mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await r?.close();
});

async function chat(model, key = MASTER) {
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  await res.text();
  return res.status;
}

async function signIn(page) {
  watch(page);
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.accept();
  });
  await page.goto(`${r.url}/dashboard`);
  await page.fill("#key", MASTER);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#tabs a.active");
  return dialogs;
}

/** No element wider than a phone's screen. */
async function fitsPhone(page) {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(150);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `${page.url()} is ${width}px wide on a 390px screen`);
  await page.setViewportSize({ width: 1200, height: 900 });
}

test("sign-in, deployments: add, edit where the user is, cooldown and live status, hostile names", async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${r.url}/dashboard`);
  assert.match(await page.title(), /Switchyard/);
  assert.equal(await page.locator("link[rel=icon]").getAttribute("href"), "/dashboard/favicon.svg");
  assert.equal((await fetch(`${r.url}/dashboard/favicon.svg`)).headers.get("content-type"), "image/svg+xml");
  await page.fill("#key", "sk-wrong");
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#signin-error:has-text('not the master key')");
  const dialogs = await signIn(page);
  assert.ok(!page.url().includes(MASTER), "the key never goes in a URL");
  await page.click("a[data-tab=deployments]");
  await page.waitForSelector("[data-deployment=alpha-good]");
  assert.equal(await page.locator(".dep").count(), 3);
  // Titled by the id, with provider, api_base host and model.
  const good = page.locator("[data-deployment=alpha-good]");
  assert.equal(await good.locator(".name").textContent(), "alpha-good");
  assert.match(await good.textContent(), /openai · 127\.0\.0\.1:\d+ · openai\/alpha-good/);
  const leftOut = await page.locator("#left-out").textContent();
  assert.match(leftOut, /Left out of the config \(1\)/);
  assert.match(leftOut, /typo-entry: model_list\[3\]\.litellm_params\.model/);

  // Add a deployment: the form opens below the toolbar, where the button is.
  await page.click("#add-open");
  assert.equal(await page.evaluate(() => document.getElementById("add").previousElementSibling.className), "toolbar");
  await page.fill("#f-group", "added");
  await page.fill("#f-model", "openai/added-model");
  await page.fill("#f-base", r.mock.base("added"));
  await page.click("#f-submit");
  await page.waitForSelector(".group h3:text-is('added')");
  assert.equal(await good.locator(".origin").textContent(), "from config");
  assert.equal(await page.locator(".group:has(h3:text-is('added')) .origin").textContent(), "from runtime");
  assert.equal(await chat("added"), 200);
  const added = page.locator(".group", { has: page.locator("h3:text-is('added')") });
  await added.locator("dd", { hasText: /^1$/ }).first().waitFor({ timeout: 10_000 });

  // Edit opens the form under the card being edited, in view.
  await page.click("[data-deployment=alpha-flaky] button:text-is('Edit')");
  assert.equal(await page.evaluate(() => document.getElementById("add").previousElementSibling.dataset.deployment), "alpha-flaky");
  assert.equal(await page.inputValue("#f-model"), "openai/alpha-flaky");
  assert.ok(await page.locator("#add").isVisible());
  await page.click("#f-cancel");

  // Failures at the mock: the flaky deployment cools down; its status, failures by class and
  // last error say so, from the live traffic.
  r.mock.behave("flaky", { status: 500 });
  for (let i = 0; i < 10 && r.mock.callsTo("flaky").length === 0; i++) assert.equal(await chat("alpha"), 200);
  const flaky = page.locator("[data-deployment=alpha-flaky]");
  await flaky.locator(".badge.cool").waitFor({ timeout: 10_000 });
  await flaky.locator("[data-failures]:has-text('internal_server 1')").waitFor({ timeout: 10_000 });
  await flaky.locator("[data-last-error]:has-text('internal_server 500')").waitFor({ timeout: 10_000 });
  await page.waitForSelector(".group:has(h3:text-is('alpha')) [data-tally]:text-matches('retries [1-9]')", { timeout: 10_000 });
  await good.locator(".badge.ok:has-text('serving')").waitFor({ timeout: 10_000 });

  // Reset cost asks first.
  await page.click("#reset");
  await page.waitForTimeout(100);
  assert.match(dialogs.at(-1) ?? "", /Reset the cost/);

  // A hostile model name is shown as text, never run.
  const res = await fetch(`${r.url}/model/new`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ model_name: HOSTILE, litellm_params: { model: "openai/x", api_base: r.mock.base("x") } }),
  });
  assert.equal(res.status, 200);
  await page.waitForSelector(`.group h3:text-is('${HOSTILE}')`, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator(".group img").count(), 0);

  await page.click("#health");
  await page.waitForSelector("[data-deployment=beta-1] .badge.ok", { timeout: 15_000 });
  await page.screenshot({ path: path.join(SHOTS, "console-deployments.png"), fullPage: true });
  await fitsPhone(page);
  await page.close();
});

/** The history's request count once the log has written what it gathers (a second per batch). */
async function settledHistory() {
  const total = async () => {
    const res = await fetch(`${r.url}/stats/history?window=1h`, { headers: { authorization: `Bearer ${MASTER}` } });
    return (await res.json()).points.reduce((n, p) => n + p.requests, 0);
  };
  let last = -1;
  for (let i = 0; i < 40; i++) {
    const now = await total();
    if (now === last) return now;
    last = now;
    await new Promise((res) => setTimeout(res, 1_200));
  }
  assert.fail("the history never settled");
}

test("overview charts keep their history across a reload and in another browser", async () => {
  for (let i = 0; i < 3; i++) assert.equal(await chat("beta"), 200);
  const settled = await settledHistory();
  assert.ok(settled >= 3);
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await signIn(page);
  await page.waitForSelector("#ch-requests svg path.line");
  const requestsNow = async () =>
    page.evaluate(() => {
      // The last point of the requests line, read back from the chart's tooltip on hover.
      return document.querySelector("#ov-summary").textContent;
    });
  await page.waitForFunction(() => /[1-9]\d* requests/.test(document.querySelector("#ov-summary").textContent));
  const before = await requestsNow();
  const box = await page.locator("#ch-requests svg").boundingBox();
  // Hover shows the values at the pointer: moving left from the newest minute (which may have
  // just begun, empty) to the minutes of the calls.
  let tip = "";
  for (let dx = 14; dx < box.width * 0.5 && !/requests: [1-9]/.test(tip); dx += 4) {
    await page.mouse.move(box.x + box.width - dx, box.y + box.height / 2);
    tip = await page.locator("#ch-requests .tip").textContent();
  }
  assert.match(tip, /^\d\d:\d\drequests: [1-9]\d*errors: \d+/);
  assert.match(await page.locator("#ch-requests svg").textContent(), /\d\d:\d\d/, "time on the x axis");
  assert.match(await page.locator("#ch-cost svg").textContent(), /\$/, "dollars on the cost axis");
  await page.reload();
  await page.waitForFunction((b) => document.querySelector("#ov-summary").textContent === b, before, { timeout: 10_000 });
  // Another browser (a fresh context: no shared storage) sees the same history.
  const other = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const second = await other.newPage();
  await signIn(second);
  await second.waitForFunction((b) => document.querySelector("#ov-summary").textContent === b, before, { timeout: 10_000 });
  // Scoped to one deployment, and a day long.
  await second.selectOption("#ov-window", "24h");
  await second.selectOption("#ov-scope", "deployment:beta-1");
  await second.waitForFunction(() => /^3 requests/.test(document.querySelector("#ov-summary").textContent), null, { timeout: 10_000 });
  assert.ok((await second.locator("#ov-totals tbody tr").count()) >= 3);
  // The flaky deployment's failed call shows in its row although a retry served the request.
  const flakyRow = second.locator("#ov-totals tbody tr", { has: second.locator("td:text-is('alpha-flaky')") });
  assert.equal(await flakyRow.locator("td").nth(4).textContent(), "1");
  assert.equal(await flakyRow.locator("td").nth(2).textContent(), "0", "no request counted for it");
  await second.screenshot({ path: path.join(SHOTS, "console-overview.png"), fullPage: true });
  await fitsPhone(second);
  await second.setViewportSize({ width: 390, height: 844 });
  await second.screenshot({ path: path.join(SHOTS, "console-overview-phone.png"), fullPage: true });
  await other.close();
  await page.close();
});

test("the request log filters and shows the attempt trace", async () => {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  await signIn(page);
  await page.click("a[data-tab=requests]");
  await page.waitForSelector("#log tbody tr");
  await page.selectOption("#lf-group", "beta");
  await page.waitForFunction(() => [...document.querySelectorAll("#log tbody tr")].every((tr) => tr.children[2].textContent === "beta"));
  assert.ok((await page.locator("#log tbody tr").count()) >= 3);
  await page.selectOption("#lf-group", "alpha");
  await page.waitForFunction(() => [...document.querySelectorAll("#log tbody tr")].some((tr) => tr.children[9].textContent !== "0"));
  // The call that was retried off the flaky deployment: its trace names both.
  await page.locator("#log tbody tr", { has: page.locator("td:nth-child(10):text-matches('[1-9]')") }).first().click();
  await page.waitForSelector("#log-detail .trace");
  const trace = await page.locator("#log-detail .trace").textContent();
  assert.match(trace, /failed alpha \/ alpha-flaky — internal_server 500/);
  assert.match(trace, /served alpha \/ alpha-good/);
  await page.selectOption("#lf-group", "");
  await page.selectOption("#lf-status", "4xx");
  assert.equal(await chat("nope"), 400);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("#log tbody tr")];
    return rows.length > 0 && rows.every((tr) => tr.children[4].textContent.startsWith("4"));
  }, null, { timeout: 10_000 });
  await page.screenshot({ path: path.join(SHOTS, "console-requests.png"), fullPage: true });
  await fitsPhone(page);
  await page.close();
});

test("a key created in the console, used, its spend shown, then revoked", async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await signIn(page);
  await page.click("a[data-tab=keys]");
  await page.fill("#k-alias", HOSTILE);
  await page.fill("#k-models", "beta");
  await page.fill("#k-budget", "1");
  await page.click("#k-create");
  const secret = await page.locator("#k-secret-value").textContent();
  assert.match(secret, /^sk-[0-9a-f]{48}$/);
  assert.equal(await chat("beta", secret), 200);
  assert.equal(await chat("alpha", secret), 403);
  const row = page.locator("#keys tbody tr", { has: page.locator(`td:text-is('${HOSTILE}')`) });
  await page.waitForFunction(() => /\$0\.0000\d+ \/ \$1/.test(document.querySelector("#keys tbody").textContent), null, { timeout: 15_000 });
  assert.match(await row.textContent(), /sk-\.\.\.[0-9a-f]{4}/);
  // The spend bar is as long as the spend is of the budget (a few millionths: almost none).
  const bar = await row.locator(".bar").boundingBox();
  const fill = await row.locator(".bar span").boundingBox();
  assert.ok(fill.width < bar.width * 0.05, `bar ${fill.width} of ${bar.width}`);
  assert.ok(!(await page.locator("#keys").textContent()).includes(secret.slice(3)), "the list never shows the secret");
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator("#keys img").count(), 0);
  // Edited in place: the rpm limit.
  await row.locator("button:text-is('Edit')").click();
  await page.fill("#ke-rpm", "7");
  await page.click("#keys tr.editing button[type=submit]");
  await page.waitForFunction(() => [...document.querySelectorAll("#keys tbody tr")].some((tr) => tr.children[3]?.textContent === "7"));
  // The request log names the key by its alias, as text.
  await page.click("a[data-tab=requests]");
  await page.waitForSelector(`#log tbody td:text-is('${HOSTILE}')`);
  await page.click("a[data-tab=keys]");
  await page.screenshot({ path: path.join(SHOTS, "console-keys.png"), fullPage: true });
  // Shown once: after a reload the secret is nowhere on the page.
  await page.reload();
  await row.waitFor();
  assert.ok(!(await page.content()).includes(secret.slice(3)), "the secret is gone after a reload");
  await fitsPhone(page);
  await row.locator("button:text-is('Revoke')").click();
  await row.waitFor({ state: "detached" });
  assert.equal(await chat("beta", secret), 401);
  await page.close();
});

test("the playground streams an answer and shows the routing decision", async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await signIn(page);
  await page.click("a[data-tab=playground]");
  await page.waitForSelector("#pg-model option[value=beta]", { state: "attached" });
  await page.selectOption("#pg-model", "beta");
  await page.fill("#pg-prompt", "streaming from the console");
  const before = r.mock.callsTo("beta").length;
  await page.click("#pg-send");
  await page.waitForSelector("#pg-answer[data-done]", { timeout: 15_000 });
  assert.equal(await page.locator("#pg-answer").textContent(), "echo: streaming from the console");
  assert.equal(r.mock.callsTo("beta").at(-1).body.stream, true);
  assert.equal(r.mock.callsTo("beta").length, before + 1);
  assert.equal(await page.locator("#pg-served").textContent(), "beta-1");
  await page.waitForSelector("#pg-route .trace .served");
  assert.match(await page.locator("#pg-route .candidates").textContent(), /beta-1 · openai\/beta/);
  await page.screenshot({ path: path.join(SHOTS, "console-playground.png"), fullPage: true });
  await fitsPhone(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(SHOTS, "console-playground-phone.png"), fullPage: true });
  await page.close();
});

test("no page had a script error or refused content", () => {
  assert.deepEqual(problems, []);
});
