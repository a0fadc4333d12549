// Virtual keys: create (the secret shown once), list, edit models / rpm / tpm / budget /
// expiry in place, revoke; spend against budget per key. Keys are named by their token (the
// key's hash), so none needs its secret after it was shown.
import { $, api, el, fmt, fmtCost, fmtTime, post } from "./lib.js";

/** The key fields of a form whose inputs are `<prefix>-alias`, ...; an edit always sends its
 *  models (an empty list: every model). */
function fields(prefix, editing = false) {
  const v = (id) => $(`${prefix}-${id}`).value.trim();
  const out = {};
  if (v("alias")) out.key_alias = v("alias");
  const models = v("models").split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length || editing) out.models = models;
  for (const [k, id] of [["rpm_limit", "rpm"], ["tpm_limit", "tpm"]]) if (v(id) !== "") out[k] = Number(v(id));
  if (v("budget") !== "") out.max_budget = Number(v("budget"));
  if (v("duration")) out.duration = v("duration");
  return out;
}

function spendCell(k) {
  if (k.max_budget == null) return el("td", { class: "num", text: `${fmtCost(k.spend)} (no budget)` });
  const pct = k.max_budget > 0 ? Math.min(100, (100 * k.spend) / k.max_budget) : 100;
  // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
  const fill = el("span", { "data-pct": pct.toFixed(1) });
  fill.style.width = `${pct.toFixed(1)}%`;
  const bar = el("div", { class: "bar" }, fill);
  return el("td", { class: "num" }, el("div", { text: `${fmtCost(k.spend)} / ${fmtCost(k.max_budget)}` }), bar);
}

function editRow(k, row) {
  document.querySelector("#keys tr.editing")?.remove();
  const input = (id, value, attrs = {}) => el("input", { id: `ke-${id}`, value: value ?? "", ...attrs });
  const form = el(
    "form",
    { class: "grid-form" },
    el("label", { text: "Alias" }, input("alias", k.key_alias)),
    el("label", { text: "Models" }, input("models", (k.models || []).join(", "))),
    el("label", { text: "rpm" }, input("rpm", k.rpm_limit, { type: "number", min: "0" })),
    el("label", { text: "tpm" }, input("tpm", k.tpm_limit, { type: "number", min: "0" })),
    el("label", { text: "Budget" }, input("budget", k.max_budget, { type: "number", min: "0", step: "any" })),
    el("label", { text: "Expires after (from now)" }, input("duration", "", { placeholder: "30d" })),
    el("div", { class: "row" }, el("button", { type: "submit", text: "Save" }), el("button", { type: "button", class: "cancel", text: "Cancel" })),
    el("p", { class: "error" }),
  );
  const tr = el("tr", { class: "editing" }, el("td", { colspan: "8" }, form));
  form.querySelector(".cancel").addEventListener("click", () => tr.remove());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await post("/key/update", { key: k.token, ...fields("ke", true) });
      tr.remove();
      refreshKeys();
    } catch (e) {
      form.querySelector(".error").textContent = e.message;
    }
  });
  row.after(tr);
  tr.querySelector("input").focus();
}

export async function refreshKeys() {
  if (document.querySelector("#keys tr.editing")) return; // not while one is being edited
  const { keys } = await api("/key/list");
  $("keys").tBodies[0].replaceChildren(
    ...keys.map((k) => {
      const edit = el("button", { text: "Edit" });
      const revoke = el("button", { text: "Revoke" });
      const row = el(
        "tr",
        { "data-token": k.token },
        el("td", { text: k.key_alias || "–" }),
        el("td", { class: "mono", text: k.key_name }),
        el("td", { text: k.models?.length ? k.models.join(", ") : "all" }),
        el("td", { class: "num", text: fmt(k.rpm_limit) }),
        el("td", { class: "num", text: fmt(k.tpm_limit) }),
        spendCell(k),
        el("td", { text: k.expires ? fmtTime(k.expires * 1000, true) : "never" }),
        el("td", { class: "actions" }, edit, revoke),
      );
      edit.addEventListener("click", () => editRow(k, row));
      revoke.addEventListener("click", async () => {
        if (!confirm(`Revoke the key ${k.key_alias || k.key_name}? Requests made with it will be refused.`)) return;
        await post("/key/delete", { keys: [k.token] });
        refreshKeys();
      });
      return row;
    }),
  );
  if (!keys.length) $("keys").tBodies[0].append(el("tr", {}, el("td", { colspan: "8", class: "muted", text: "No keys yet." })));
}

export function initKeys() {
  $("key-new").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("k-error").textContent = "";
    try {
      const made = await post("/key/generate", fields("k"));
      const box = $("k-secret");
      const copy = el("button", { type: "button", text: "Copy" });
      copy.addEventListener("click", () => navigator.clipboard?.writeText(made.key));
      box.replaceChildren(el("p", { text: "The new key, shown only now:" }), el("code", { id: "k-secret-value", text: made.key }), copy);
      box.hidden = false;
      $("key-new").querySelectorAll("input").forEach((i) => (i.value = ""));
      refreshKeys();
    } catch (e) {
      $("k-error").textContent = e.message;
    }
  });
}
