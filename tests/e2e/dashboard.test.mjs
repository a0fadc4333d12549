// The dashboard in a real browser (Debian Chromium driven by playwright-core) against the Worker
// in workerd: sign in, see the deployments, add one and see it serve, see a cooldown appear after
// failures at the mock, a hostile model name shown as text, a phone-width layout, a screenshot.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startRouter } from "./harness.mjs";

const MASTER = "sk-dashboard-master-1";
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
let r;
let browser;

before(async () => {
  r = await startRouter(
    (mock) => `
model_list:
  - { model_name: alpha, litellm_params: { model: openai/alpha-good, api_base: "${mock.base("good")}", rpm: 600 }, model_info: { id: alpha-good } }
  - { model_name: alpha, litellm_params: { model: openai/alpha-flaky, api_base: "${mock.base("flaky")}" }, model_info: { id: alpha-flaky } }
  - { model_name: typo-entry, litellm_params: { model: nosuch/x } }
general_settings: { master_key: "${MASTER}" }
router_settings: { allowed_fails: 0, cooldown_time: 120, num_retries: 1 }
`,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
});
after(async () => {
  await browser?.close();
  await r?.close();
});

async function chat(model) {
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  return res.status;
}

test("the dashboard: sign in, deployments, add, cooldown, escaping, phone width", async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const dialogs = [];
  page.on("dialog", (d) => {
    dialogs.push(d.message());
    d.dismiss();
  });
  await page.goto(`${r.url}/dashboard`);
  assert.match(await page.title(), /Switchyard/);
  await page.fill("#key", "sk-wrong");
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("#signin-error:has-text('not the master key')");
  await page.fill("#key", MASTER);
  await page.click("#signin button[type=submit]");
  await page.waitForSelector("[data-deployment=alpha-good]");
  assert.equal(await page.locator(".dep").count(), 2);
  assert.ok(!page.url().includes(MASTER), "the key never goes in a URL");
  // The config's unusable entry is named, with why, and the rest serve.
  const leftOut = await page.locator("#left-out").textContent();
  assert.match(leftOut, /Left out of the config \(1\)/);
  assert.match(leftOut, /typo-entry: model_list\[2\]\.litellm_params\.model/);

  // Add a deployment from the form, then see it serve a request.
  await page.fill("#f-group", "added");
  await page.fill("#f-model", "openai/added-model");
  await page.fill("#f-base", r.mock.base("added"));
  await page.click("#f-submit");
  await page.waitForSelector(".group h3:text-is('added')");
  // Each card says where its deployment comes from.
  assert.equal(await page.locator("[data-deployment=alpha-good] .origin").textContent(), "from config");
  assert.equal(await page.locator(".group:has(h3:text-is('added')) .origin").textContent(), "from runtime");
  assert.equal(await chat("added"), 200);
  assert.equal(r.mock.callsTo("added").length, 1);
  const added = page.locator(".group", { has: page.locator("h3:text-is('added')") });
  await added.locator("dd", { hasText: /^1$/ }).first().waitFor({ timeout: 10_000 });

  // Failures injected at the mock: the flaky deployment cools down, and the page says so.
  r.mock.behave("flaky", { status: 500 });
  for (let i = 0; i < 10 && r.mock.callsTo("flaky").length === 0; i++) assert.equal(await chat("alpha"), 200);
  await page.waitForSelector("[data-deployment=alpha-flaky] .badge.cool", { timeout: 10_000 });
  // The group's card counts how its requests were served: the retry off the flaky one shows.
  const tally = page.locator(".group:has(h3:text-is('alpha')) [data-tally]");
  await page.waitForSelector(".group:has(h3:text-is('alpha')) [data-tally]:text-matches('retries [1-9]')", { timeout: 10_000 });
  assert.match(await tally.textContent(), /fallbacks 0 · hedged 0 \(hedge won 0\) · streams continued 0/);

  // A hostile model name is shown as text, never run.
  const hostile = `<img src=x onerror="window.__xss=1;alert(1)">`;
  const res = await fetch(`${r.url}/model/new`, {
    method: "POST",
    headers: { authorization: `Bearer ${MASTER}`, "content-type": "application/json" },
    body: JSON.stringify({ model_name: hostile, litellm_params: { model: "openai/x", api_base: r.mock.base("x") } }),
  });
  assert.equal(res.status, 200);
  await page.waitForSelector(`.group h3:text-is('${hostile}')`, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.equal(await page.locator(".group img").count(), 0);
  assert.deepEqual(dialogs, []);

  // Health check marks the healthy ones.
  await page.click("#health");
  await page.waitForSelector("[data-deployment=alpha-good] .badge.ok", { timeout: 15_000 });

  fs.mkdirSync(path.join(root, "tests/artifacts"), { recursive: true });
  await page.screenshot({ path: path.join(root, "tests/artifacts/dashboard.png"), fullPage: true });

  // Phone width: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(overflow <= 390, `page is ${overflow}px wide on a 390px screen`);
  await page.screenshot({ path: path.join(root, "tests/artifacts/dashboard-phone.png") });
  await page.close();
});
