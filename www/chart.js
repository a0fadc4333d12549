// A small SVG line chart: labelled axes with units, one line per series, and the values at the
// pointer on hover. No library: the console is served by the Worker itself.

const NS = "http://www.w3.org/2000/svg";
const W = 560;
const H = 190;
const PAD = { left: 80, right: 12, top: 10, bottom: 26 };

function svgEl(tag, attrs = {}) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  return n;
}

/** Round steps for an axis up to `max`. */
function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

/**
 * Draws into `box`: `times` (epoch ms per point), `series` [{name, values, cls}], `format`
 * for values (with the unit).
 */
export function lineChart(box, { times, series, format }) {
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" });
  const all = series.flatMap((s) => s.values.filter((v) => v != null));
  const yt = ticks(Math.max(0, ...all));
  const yMax = yt[yt.length - 1] || 1;
  const n = times.length;
  const x = (i) => PAD.left + (n <= 1 ? 0 : (i / (n - 1)) * (W - PAD.left - PAD.right));
  const y = (v) => H - PAD.bottom - (v / yMax) * (H - PAD.top - PAD.bottom);
  for (const v of yt) {
    svg.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: "grid" }));
    const label = svgEl("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = format(v);
    svg.append(label);
  }
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) {
    const label = svgEl("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": "middle" });
    const d = new Date(times[i]);
    label.textContent = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    svg.append(label);
  }
  for (const s of series) {
    // A gap where a step has no value (no latency without requests).
    let d = "";
    s.values.forEach((v, i) => {
      if (v == null) return;
      d += `${d && s.values[i - 1] != null ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    svg.append(svgEl("path", { d, class: `line ${s.cls || ""}` }));
    // A value with no neighbour draws no line: a dot shows it.
    s.values.forEach((v, i) => {
      if (v != null && s.values[i - 1] == null && s.values[i + 1] == null) {
        svg.append(svgEl("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3, class: `dot ${s.cls || ""}` }));
      }
    });
  }
  const cursor = svgEl("line", { y1: PAD.top, y2: H - PAD.bottom, class: "cursor", visibility: "hidden" });
  svg.append(cursor);
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.hidden = true;
  svg.addEventListener("mousemove", (ev) => {
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * W;
    const i = Math.max(0, Math.min(n - 1, Math.round(((px - PAD.left) / (W - PAD.left - PAD.right)) * (n - 1))));
    cursor.setAttribute("x1", x(i));
    cursor.setAttribute("x2", x(i));
    cursor.setAttribute("visibility", "visible");
    const when = new Date(times[i]).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    tip.replaceChildren(`${when}`, ...series.map((s) => {
      const row = document.createElement("div");
      row.className = s.cls || "";
      row.textContent = `${s.name}: ${s.values[i] == null ? "–" : format(s.values[i])}`;
      return row;
    }));
    tip.hidden = false;
    tip.style.left = `${Math.min(r.width - 150, Math.max(0, (x(i) / W) * r.width + 8))}px`;
  });
  svg.addEventListener("mouseleave", () => {
    cursor.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  for (const s of series) {
    const item = document.createElement("span");
    item.className = `key ${s.cls || ""}`;
    item.textContent = s.name;
    legend.append(item);
  }
  box.replaceChildren(svg, tip, legend);
}
