// Shared helpers of the console. Every string from the server goes on the page through
// textContent or an attribute (never innerHTML), so a model name or a key alias cannot inject
// markup.

export const KEY = "switchyard.masterKey";
export const $ = (id) => document.getElementById(id);

/** An element with attributes (`text` sets its text) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/** A call to the admin API with the master key; throws the API's error message. */
export async function api(path, options = {}) {
  const res = await fetch(path, {
    ...options,
    headers: { authorization: `Bearer ${sessionStorage.getItem(KEY)}`, "content-type": "application/json", ...(options.headers || {}) },
  });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { message: text } };
  }
  if (!res.ok) throw Object.assign(new Error(body?.error?.message || `HTTP ${res.status}`), { status: res.status });
  return body;
}

export function post(path, body) {
  return api(path, { method: "POST", body: JSON.stringify(body ?? {}) });
}

export function fmt(n, digits = 0) {
  return n == null || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Dollars with the precision small amounts need: $0.000123, $1.2346. */
export function fmtCost(c) {
  if (c == null || Number.isNaN(c)) return "–";
  if (c === 0) return "$0";
  if (Math.abs(c) < 0.01) return `$${Number(c.toPrecision(3)).toFixed(Math.min(10, 2 - Math.floor(Math.log10(Math.abs(c)))))}`;
  return `$${fmt(c, 4)}`;
}

export function fmtMs(ms) {
  if (ms == null) return "–";
  return ms >= 1000 ? `${fmt(ms / 1000, 2)} s` : `${fmt(ms, ms < 10 ? 1 : 0)} ms`;
}

export function fmtTime(ms, withDate = false) {
  const d = new Date(ms);
  const t = d.toLocaleTimeString("en-GB", { hour12: false });
  return withDate ? `${d.toLocaleDateString("en-CA")} ${t}` : t;
}

/** Replaces a select's options (keeping the first, "any") and its current choice if still there. */
export function setOptions(select, values, labels = (v) => v) {
  const current = select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...values.map((v) => el("option", { value: v, text: labels(v) })));
  if (values.includes(current)) select.value = current;
}

/** The host of a URL, or the text itself when it is not one. */
export function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url || "";
  }
}
