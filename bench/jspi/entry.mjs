// The JSPI trial's Worker (bench/jspi.mjs runs it): /?mode=futures|jspi|table|js&n=N does N
// awaits of Promise.resolve(i) the chosen way and answers with their sum.
import * as m from "./wb/jspi_trial.js";

export default {
  async fetch(req) {
    const u = new URL(req.url);
    const n = Number(u.searchParams.get("n"));
    const mode = u.searchParams.get("mode");
    let sum = 0;
    if (mode === "futures") sum = await m.futures_loop(n);
    else if (mode === "jspi") sum = await m.jspi_loop(n);
    else if (mode === "table") for (let i = 0; i < n; i++) sum = m.step(sum, await Promise.resolve(i));
    else for (let i = 0; i < n; i++) sum = (sum + (await Promise.resolve(i))) >>> 0;
    return new Response(String(sum));
  },
};
