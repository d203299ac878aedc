/**
 * Local serving of the dashboard: ONE origin for the SPA, `/api/*` and `/invite/*`, like Pages in production.
 *
 * Serves `dashboard/dist` (SPA fallback to index.html) and forwards `/api/*`, `/invite/*` (and `/v1/*`, for local curl) verbatim (method,
 * path, query, headers incl. cookies and Origin, streamed body, status and Set-Cookie/Location back) to the
 * gateway Worker started with `wrangler dev`. In production the Pages Functions in `functions/` do the same
 * through the `API` service binding. The Worker must run with `APP_URL` set to this server's origin (email links
 * and the CSRF Origin check use it).
 *
 *   import { startDashboard } from "./dashboard/dev-server.mjs";
 *   const dash = await startDashboard({ workerUrl: "http://127.0.0.1:8787", port: 5173 });
 *   console.log(dash.url); … await dash.close();
 *
 * CLI: `node dashboard/dev-server.mjs --worker http://127.0.0.1:8787 --port 5173`
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".map": "application/json",
  ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
};
// `/v1` too, so the quickstart `curl` against this origin works locally (deployed, `/v1` is on the Worker's own host).
const FORWARDED = /^\/(api|invite|v1)(\/|$)/;
// Hop-by-hop headers never cross a proxy.
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"]);

function forward(req, res, worker) {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
  headers["x-forwarded-host"] = req.headers.host ?? "";
  headers["x-forwarded-proto"] = "http";
  const upstream = httpRequest(
    { hostname: worker.hostname, port: worker.port, path: req.url, method: req.method, headers: { ...headers, host: worker.host } },
    (up) => {
      const out = {};
      for (const [k, v] of Object.entries(up.headers)) if (!HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(up.statusCode ?? 502, out);
      up.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    if (res.headersSent) return res.destroy(err);
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `Dashboard proxy could not reach the Worker: ${err.message}`, type: "upstream_error", code: "upstream_error", param: null } }));
  });
  req.pipe(upstream);
}

async function serveStatic(req, res, dist) {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  const file = normalize(join(dist, path));
  let target = join(dist, "index.html");
  let immutable = false;
  if (file.startsWith(dist) && path !== "/") {
    const s = await stat(file).catch(() => null);
    if (s?.isFile()) {
      target = file;
      immutable = path.startsWith("/assets/");
    }
  }
  res.writeHead(200, {
    "content-type": TYPES[extname(target)] ?? "application/octet-stream",
    "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
  });
  if (req.method === "HEAD") return res.end();
  createReadStream(target).pipe(res);
}

/** Builds the SPA into `dashboard/dist` with Vite (programmatically; same as `vite build --config dashboard/vite.config.ts`). */
export async function buildDashboard() {
  const { build } = await import("vite");
  await build({ configFile: join(HERE, "vite.config.ts"), logLevel: "warn" });
}

/**
 * Starts the dashboard server. `port` 0 picks a free port. Resolves once listening.
 * `build`: "if-missing" (default) builds the SPA when `dist/index.html` is absent; true always builds; false never.
 * @param {{ workerUrl: string, port?: number, host?: string, distDir?: string, build?: boolean | "if-missing" }} opts
 * @returns {Promise<{ url: string, port: number, close: () => Promise<void>, kill: () => void }>}
 */
export async function startDashboard({ workerUrl, port = 5173, host = "localhost", distDir = join(HERE, "dist"), build = "if-missing" }) {
  const worker = new URL(workerUrl);
  const dist = resolve(distDir);
  const built = await stat(join(dist, "index.html")).then(() => true, () => false);
  if (build === true || (build === "if-missing" && !built)) await buildDashboard();
  await stat(join(dist, "index.html")).catch(() => {
    throw new Error(`No dashboard build in ${dist}: run \`npx vite build --config dashboard/vite.config.ts\` first`);
  });
  const server = createServer((req, res) => {
    if (FORWARDED.test(req.url ?? "")) return forward(req, res, worker);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" });
      return res.end();
    }
    serveStatic(req, res, dist).catch((err) => {
      res.writeHead(500);
      res.end(String(err));
    });
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, ok);
  });
  const actual = server.address().port;
  const close = () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); });
  // `kill` lets callers that manage child processes (scripts/start.mjs) stop it the same way.
  return { url: `http://${host}:${actual}`, port: actual, close, kill: () => void close() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const dash = await startDashboard({ workerUrl: arg("worker", "http://127.0.0.1:8787"), port: Number(arg("port", "5173")) });
  console.log(`Tollgate dashboard on ${dash.url}`);
}
