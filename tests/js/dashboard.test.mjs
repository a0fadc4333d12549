// The console's files as the Worker's JavaScript serves them (src/js/dashboard.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { makeDashboard } from "../../src/js/dashboard.mjs";

const dashboard = makeDashboard({ "index.html": "<!doctype html>", "app.js": "export {}", "favicon.svg": "<svg/>", "style.css": "body{}" });
const get = (path, method = "GET") => dashboard(new Request(`http://w.test${path}`, { method }));

test("the console's pages, scripts and icon, with a strict content security policy", async () => {
  for (const [path, type, body] of [
    ["/", "text/html", "<!doctype html>"],
    ["/dashboard", "text/html", "<!doctype html>"],
    ["/dashboard/app.js", "text/javascript", "export {}"],
    ["/dashboard/style.css", "text/css", "body{}"],
    ["/favicon.ico", "image/svg+xml", "<svg/>"],
  ]) {
    const res = get(path);
    assert.ok(res, path);
    assert.ok(res.headers.get("content-type").startsWith(type), path);
    assert.match(res.headers.get("content-security-policy"), /script-src 'self'/);
    assert.equal(await res.text(), body);
  }
  assert.equal(await get("/dashboard/app.js", "HEAD").text(), "");
});

test("anything else goes to the router", () => {
  for (const path of ["/v1/chat/completions", "/dashboard/nope.js", "/dashboard/../secret", "/dashboard/constructor", "/health"]) {
    assert.equal(get(path), null, path);
  }
  assert.equal(get("/dashboard/app.js", "POST"), null);
});
