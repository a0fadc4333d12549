// The operator console's files (`www/`), served by the Worker's JavaScript before the host is
// called: static text, so it needs no wasm and adds nothing to it. scripts/build-worker.sh
// turns `www/` into the `switchyard-www` module (file name -> text).

const TYPES = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8", svg: "image/svg+xml" };

const HEADERS = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
};

/** The console's answer to `request` from `files`, or null when it is not one of its paths. */
export function makeDashboard(files) {
  return function dashboard(request) {
    if (request.method !== "GET" && request.method !== "HEAD") return null;
    const path = new URL(request.url).pathname;
    let name;
    if (path === "/" || path === "/dashboard" || path === "/dashboard/") name = "index.html";
    else if (path === "/favicon.ico") name = "favicon.svg";
    else if (path.startsWith("/dashboard/")) name = path.slice("/dashboard/".length);
    const text = name && Object.hasOwn(files, name) ? files[name] : undefined;
    if (text === undefined) return null;
    const type = TYPES[name.slice(name.lastIndexOf(".") + 1)] ?? "application/octet-stream";
    return new Response(request.method === "HEAD" ? null : text, { headers: { "content-type": type, ...HEADERS } });
  };
}
