/**
 * Starts the real gateway Worker with `wrangler dev --local` on a fresh, private persistence dir (migrations
 * applied first), for the browser tests. Resolves once `/api/health` answers.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const ROOT = new URL("../../../", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const run = promisify(execFile);
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" };

/** A free loopback port (closed again, so the caller can bind it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Dev secrets from `.dev.vars.example` (never real secrets) as an env file. */
async function writeEnvFile(dir: string): Promise<string> {
  const example = await readFile(join(ROOT, ".dev.vars.example"), "utf8");
  const lines = example.split("\n").filter((l) => /^[A-Z_]+=/.test(l));
  const file = join(dir, "e2e.env");
  await writeFile(file, `${lines.join("\n")}\n`);
  return file;
}

export type WorkerHandle = { url: string; state: string; stop: () => Promise<void>; logs: () => string };

/**
 * Runs SQL against the running e2e Worker's local D1 (`wrangler d1 execute --local` on its persistence dir),
 * for state a browser test cannot wait for in real time (e.g. an endpoint failing since 4 days ago).
 */
export async function execLocalD1(state: string, sql: string): Promise<void> {
  await run(process.execPath, [WRANGLER, "d1", "execute", "tollgate", "--local", "--env", "dev", "--persist-to", state, "--command", sql], { cwd: ROOT, env });
}

/** `vars` adds or overrides wrangler vars (e.g. `{ ORG_MODE: "single" }`). */
export async function startWorker(opts: { appUrl: string; vars?: Record<string, string> }): Promise<WorkerHandle> {
  const state = await mkdtemp(join(tmpdir(), "tollgate-e2e-"));
  const envFile = await writeEnvFile(state);
  const node = process.execPath;
  await run(node, [WRANGLER, "d1", "migrations", "apply", "tollgate", "--local", "--env", "dev", "--persist-to", state], { cwd: ROOT, env });
  const port = await freePort();
  let logs = "";
  const child: ChildProcess = spawn(
    node,
    [
      WRANGLER, "dev", "--local", "--env", "dev", "--port", String(port), "--ip", "127.0.0.1", "--persist-to", state, "--env-file", envFile,
      "--inspector-port", String(await freePort()), "--show-interactive-dev-session=false",
      "--var", `APP_URL:${opts.appUrl}`, "--var", "DASHBOARD_ACCEPT_REDIRECT:true", "--var", "ENVIRONMENT:development",
      ...Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  child.stdout!.on("data", (d) => (logs += d));
  child.stderr!.on("data", (d) => (logs += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${logs.slice(-3000)}`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not become ready:\n${logs.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return {
    url,
    state,
    logs: () => logs,
    stop: async () => {
      // The whole process group: wrangler plus its workerd child.
      try {
        if (child.pid) process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      await new Promise((r) => setTimeout(r, 300));
      await rm(state, { recursive: true, force: true });
    },
  };
}
