#!/usr/bin/env node
// The npm registry reachable here lacks the macOS/Windows builds of recent workerd versions, so npm
// leaves those optional platform packages out of package-lock.json and `npm ci` then rejects the lock.
// This adds the missing entries as a lock made against the full registry has them (optional, tagged with
// their os/cpu, so npm skips them on other platforms without fetching). Run after changing dependencies.
import { readFileSync, writeFileSync } from "node:fs";

const PLATFORMS = { "darwin-64": ["darwin", "x64"], "darwin-arm64": ["darwin", "arm64"], "linux-64": ["linux", "x64"], "linux-arm64": ["linux", "arm64"], "windows-64": ["win32", "x64"] };
const lock = JSON.parse(readFileSync("package-lock.json", "utf8"));
let added = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const m = /^@cloudflare\/workerd-(.+)$/.exec(dep);
    if (!m || !PLATFORMS[m[1]]) continue;
    const target = `${path.slice(0, path.lastIndexOf("node_modules/"))}node_modules/${dep}`.replace(/^\/+/, "");
    const top = `node_modules/${dep}`;
    if (lock.packages[target] || lock.packages[top]) continue;
    const [os, cpu] = PLATFORMS[m[1]];
    lock.packages[top] = { version, cpu: [cpu], dev: entry.dev, license: "Apache-2.0", optional: true, os: [os], engines: { node: ">=16" } };
    added++;
  }
}
writeFileSync("package-lock.json", JSON.stringify(lock, null, 2) + "\n");
console.log(`complete-lockfile: added ${added} platform entr${added === 1 ? "y" : "ies"}`);
