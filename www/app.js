// Switchyard's operator console. No framework, no build step: ES modules served by the Worker.
// This file signs in and out and switches pages; each page refreshes while it is shown.
import { $, KEY, api } from "./lib.js";
import { initOverview, refreshOverview } from "./overview.js";
import { initRequests, refreshRequests } from "./requests.js";
import { initDeployments, refreshDeployments } from "./deployments.js";
import { initKeys, refreshKeys } from "./keys.js";
import { initPlayground, refreshPlayground } from "./playground.js";

const PAGES = {
  overview: { refresh: refreshOverview, every: 10_000 },
  requests: { refresh: refreshRequests, every: 5_000 },
  deployments: { refresh: refreshDeployments, every: 3_000 },
  keys: { refresh: refreshKeys, every: 10_000 },
  playground: { refresh: refreshPlayground, every: 0 },
};
let timer = null;

function current() {
  const name = location.hash.slice(1);
  return PAGES[name] ? name : "overview";
}

async function refresh() {
  const name = current();
  try {
    await PAGES[name].refresh();
    $("status").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  } catch (e) {
    if (e.status === 401 || e.status === 403) return signOut(e.message);
    $("status").textContent = `refresh failed: ${e.message}`;
  }
}

function show() {
  const name = current();
  for (const p of Object.keys(PAGES)) $(`page-${p}`).hidden = p !== name;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === name);
  clearInterval(timer);
  refresh();
  if (PAGES[name].every) timer = setInterval(refresh, PAGES[name].every);
}

function signedIn() {
  $("signin").hidden = true;
  $("tabs").hidden = false;
  $("signout").hidden = false;
  show();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  for (const p of Object.keys(PAGES)) $(`page-${p}`).hidden = true;
  $("tabs").hidden = true;
  $("signout").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $("key").value);
  $("key").value = "";
  try {
    await api("/usage");
    signedIn();
  } catch (e) {
    signOut(e.status === 401 || e.status === 403 ? "That is not the master key." : e.message);
  }
});
$("signout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => sessionStorage.getItem(KEY) && show());

initOverview(refresh);
initRequests(refresh);
initDeployments((id) => {
  $("ov-scope").append(new Option(`deployment ${id}`, `deployment:${id}`));
  $("ov-scope").value = `deployment:${id}`;
  location.hash = "#overview";
});
initKeys();
initPlayground();

if (sessionStorage.getItem(KEY)) signedIn();
else signOut();
