/**
 * Deterministic fuzzing of the data plane: ≥ 500 malformed bodies and headers across every endpoint,
 * including JSON nested hundreds of thousands of levels deep (it must not overflow any stack), huge
 * strings and numeric edge cases (1e400, -0, 2^53 + 1, …).
 * Every one gets a 4xx in the right error shape (OpenAI's, or Anthropic's on /v1/messages), never
 * reaches the provider, and changes nothing in D1 or in the org's gate.
 */
import { describe, expect, it } from "vitest";
import { mintVirtualKey } from "../src/lib/virtual-key";
import { newId } from "../src/lib/ids";
import { snapshotTable } from "./factories";
import { createBudgetRow } from "./factories/gate";
import { createGatewayOrg, flushGate, gateCounters, upstreamRecord, v1, waitForSettled } from "./factories/gateway";

/** mulberry32: a tiny seeded PRNG so every run generates the same cases. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Case = { name: string; path: string; body: string | Uint8Array; headers: Record<string, string>; auth: "good" | "none" | string };

const VALID: Record<string, Record<string, unknown>> = {
  "/chat/completions": { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 10 },
  "/completions": { model: "gpt-4o-mini", prompt: "hi", max_tokens: 10 },
  "/embeddings": { model: "text-embedding-3-small", input: "hi" },
  "/responses": { model: "gpt-4o-mini", input: "hi", max_output_tokens: 10 },
  "/messages": { model: "anthropic/claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "hi" }] },
};

/** Field-level corruptions: [path into the body, bad value]. */
const BAD_VALUES: unknown[] = [null, 0, -1, 1.5, "", "x".repeat(300), true, [], {}, [1, "a"], { nested: { deep: [null] } }, -1e308, "NaN"];
const FIELD_TARGETS: Record<string, string[]> = {
  "/chat/completions": ["model", "messages", "messages.0.role", "messages.0.content", "max_tokens", "max_completion_tokens", "temperature", "n", "stream", "stream_options", "user", "metadata.tags"],
  "/completions": ["model", "prompt", "max_tokens", "best_of", "stream"],
  "/embeddings": ["model", "input", "dimensions", "encoding_format"],
  "/responses": ["model", "input", "max_output_tokens", "instructions", "stream", "metadata.tags"],
  "/messages": ["model", "max_tokens", "messages", "messages.0.role", "messages.0.content", "system", "stream", "metadata.tags"],
};

/** Values that are actually valid for a field (skipped, so every case really is malformed). */
const isStr = (v: unknown) => typeof v === "string";
const isPlainObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
const VALID_FOR: Record<string, (v: unknown) => boolean> = {
  stream: (v) => v === true || v === null,
  max_tokens: (v) => v === null,
  max_completion_tokens: (v) => v === null,
  max_output_tokens: (v) => v === null,
  n: (v) => v === null,
  best_of: (v) => v === null,
  temperature: (v) => v === 0 || v === 1.5 || v === null,
  stream_options: (v) => v === null || isPlainObj(v),
  instructions: (v) => v === null || isStr(v),
  "metadata.tags": (v) => v === null || (isPlainObj(v) && Object.keys(v as object).length === 0),
  "messages.0.content": (v) => v === null || isStr(v) || (Array.isArray(v) && v.length === 0),
  prompt: (v) => isStr(v) || (Array.isArray(v) && v.length === 0),
  input: (v) => isStr(v) && v !== "",
  system: (v) => isStr(v) || (Array.isArray(v) && v.length === 0),
  user: (v) => isStr(v) && (v as string).length <= 256,
};
const EMPTY_OK_INPUT = new Set(["/responses"]);
function validFor(path: string, field: string, v: unknown): boolean {
  if (field === "input" && path === "/embeddings") return isStr(v);
  if (field === "input" && EMPTY_OK_INPUT.has(path)) return isStr(v) || (Array.isArray(v) && v.length === 0);
  return VALID_FOR[field]?.(v) ?? false;
}

function setPath(obj: any, path: string, value: unknown) {
  const parts = path.split(".");
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] ??= {};
  o[parts.at(-1)!] = value;
}

function generateCases(): Case[] {
  const rand = rng(20261122);
  const cases: Case[] = [];
  const json = (path: string, body: unknown, extra: Partial<Case> = {}): Case => ({ name: "", path, body: typeof body === "string" ? body : JSON.stringify(body), headers: {}, auth: "good", ...extra });
  for (const [path, fields] of Object.entries(FIELD_TARGETS)) {
    for (const field of fields) {
      for (const v of BAD_VALUES) {
        if (validFor(path, field, v)) continue;
        if (rand() < 0.1) continue; // a deterministic sample keeps the run short
        const body = structuredClone(VALID[path]!);
        setPath(body, field, v);
        cases.push({ ...json(path, body), name: `${path} ${field}=${JSON.stringify(v)?.slice(0, 30)}` });
      }
    }
    // structural garbage
    const raw = ["", "{", "}", "[]", "null", "42", '"str"', "{\"model\":", "{'model':'x'}", JSON.stringify(VALID[path]).slice(0, -3), "\u0000\u0001", "true"];
    for (const r of raw) cases.push({ ...json(path, r), name: `${path} raw ${JSON.stringify(r).slice(0, 20)}` });
    const { model: _m, ...noModel } = VALID[path]!;
    cases.push({ ...json(path, noModel), name: `${path} no model` });
    cases.push({ ...json(path, VALID[path], { headers: { "content-type": "text/plain" } }), name: `${path} text/plain` });
    cases.push({ name: `${path} invalid utf-8`, path, body: new Uint8Array([0x7b, 0x22, 0x6d, 0xff, 0xfe, 0x22, 0x7d]), headers: {}, auth: "good" });
    // headers
    cases.push({ ...json(path, VALID[path], { auth: "none" }), name: `${path} no key` });
    for (const bad of ["Basic abc", "Bearer", "Bearer sk-tg-short", "Bearer sk-live-123", `Bearer ${mintVirtualKey(newId("org"), newId("key")).slice(0, -1)}x`]) {
      cases.push({ ...json(path, VALID[path], { auth: bad }), name: `${path} auth ${bad.slice(0, 16)}` });
    }
    cases.push({ ...json(path, VALID[path], { auth: `Bearer ${mintVirtualKey(newId("org"), newId("key"))}` }), name: `${path} unknown org key` });
    cases.push({ ...json(path, VALID[path], { headers: { "x-tollgate-tags": "team=search,broken" } }), name: `${path} bad tags header` });
    cases.push({ ...json(path, VALID[path], { headers: { "x-tollgate-tags": "a=" + "x".repeat(100) } }), name: `${path} long tag` });
    cases.push({ ...json(path, VALID[path], { headers: { "x-tollgate-trace-id": "has spaces in it" } }), name: `${path} bad trace id` });
    cases.push({ ...json(path, VALID[path], { headers: { "x-tollgate-timeout-ms": "soon" } }), name: `${path} bad timeout` });
    cases.push({ ...json(path, VALID[path], { headers: { "x-tollgate-customer": "c".repeat(300) } }), name: `${path} long customer` });
    cases.push({ ...json(path, { ...VALID[path], model: "gpt-4o-mini-not-priced-anywhere" }), name: `${path} unpriced model` });
    cases.push({ ...json(path, { ...VALID[path], metadata: { tags: { "bad key!": "v" } } }), name: `${path} bad tag name` });
  }
  cases.push(...hostileCases());
  // oversize bodies (limit 4 MiB)
  cases.push({ name: "oversize chat", path: "/chat/completions", body: JSON.stringify({ ...VALID["/chat/completions"], messages: [{ role: "user", content: "x".repeat(4_300_000) }] }), headers: {}, auth: "good" });
  cases.push({ name: "oversize messages", path: "/messages", body: JSON.stringify({ ...VALID["/messages"], messages: [{ role: "user", content: "x".repeat(4_300_000) }] }), headers: {}, auth: "good" });
  return cases.map((c, i) => ({ ...c, name: `#${i} ${c.name}` }));
}

/** Nested arrays `[[[…]]]` `depth` levels deep (2 bytes a level), as JSON text. */
const deepArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
/** Nested objects `{"a":{"a":…1}}` `depth` levels deep, as JSON text. */
const deepObjects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);

/** Where a nested value can sit in an otherwise valid body of each endpoint (fields zod lets through). */
const NEST_SITES: Record<string, Array<(nested: string) => string>> = {
  "/chat/completions": [
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${n}}}]}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"response_format":${n}}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi","extra":${n}}]}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"hi","x":${n}}]}]}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"metadata":{"deep":${n}}}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"unknown_field":${n}}`,
    (n) => `{"model":"gpt-4o-mini","messages":[{"role":"user","content":${n}}]}`,
  ],
  "/completions": [
    (n) => `{"model":"gpt-4o-mini","prompt":"hi","logit_bias":${n}}`,
    (n) => `{"model":"gpt-4o-mini","prompt":${n}}`,
  ],
  "/embeddings": [
    (n) => `{"model":"text-embedding-3-small","input":"hi","extra":${n}}`,
    (n) => `{"model":"text-embedding-3-small","input":${n}}`,
  ],
  "/responses": [
    (n) => `{"model":"gpt-4o-mini","input":"hi","text":${n}}`,
    (n) => `{"model":"gpt-4o-mini","input":[{"role":"user","content":${n}}]}`,
    (n) => `{"model":"gpt-4o-mini","input":"hi","tools":[{"type":"function","name":"f","parameters":${n}}]}`,
    (n) => `{"model":"gpt-4o-mini","input":"hi","reasoning":${n}}`,
  ],
  "/messages": [
    (n) => `{"model":"anthropic/claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"t","input_schema":${n}}]}`,
    (n) => `{"model":"anthropic/claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"hi","x":${n}}]}]}`,
    (n) => `{"model":"anthropic/claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"system":[{"type":"text","text":"s","x":${n}}]}`,
    (n) => `{"model":"anthropic/claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"thinking":${n}}`,
  ],
};

/** Numeric edge cases as raw JSON (JSON.stringify cannot write 1e400): [field, literal]. */
const NUMERIC_EDGES: Record<string, Array<[string, string]>> = {
  "/chat/completions": [["max_tokens", "1e400"], ["max_tokens", "-1e400"], ["max_tokens", "1e-400"], ["max_tokens", "-0"], ["max_tokens", "9007199254740993"], ["max_tokens", "10000001"], ["max_tokens", "0.5"], ["max_completion_tokens", "1e400"], ["temperature", "1e400"], ["temperature", "2.0000000001"], ["top_p", "-1e-300"], ["n", "1e400"], ["n", "129"], ["n", "0"]],
  "/completions": [["max_tokens", "1e400"], ["max_tokens", "-0"], ["best_of", "21"], ["best_of", "1e400"], ["n", "-0"]],
  "/embeddings": [["dimensions", "0"], ["dimensions", "1e400"], ["dimensions", "1.5"]],
  "/responses": [["max_output_tokens", "1e400"], ["max_output_tokens", "-0"], ["max_output_tokens", "9007199254740993"], ["temperature", "-1e400"]],
  "/messages": [["max_tokens", "1e400"], ["max_tokens", "-0"], ["max_tokens", "0"], ["max_tokens", "1.0e-7"]],
};

/** Deep nesting, huge strings and numeric edges: every one must be a 4xx, never a 5xx. */
function hostileCases(): Case[] {
  const out: Case[] = [];
  const raw = (path: string, body: string, name: string, headers: Record<string, string> = {}): Case => ({ name: `${path} ${name}`, path, body, headers, auth: "good" });
  const huge = deepArrays(200_000); // ~400 KB: the body that used to overflow the estimator's stack
  const hugeObj = deepObjects(100_000); // ~600 KB
  const justOver = deepArrays(129);
  for (const [path, sites] of Object.entries(NEST_SITES)) {
    sites.forEach((site, i) => {
      out.push(raw(path, site(huge), `nested arrays 200k deep @site${i}`));
      out.push(raw(path, site(hugeObj), `nested objects 100k deep @site${i}`));
      out.push(raw(path, site(justOver), `nested 129 deep @site${i}`));
    });
    out.push(raw(path, huge, "the body itself 200k-deep arrays"));
    out.push(raw(path, hugeObj, "the body itself 100k-deep objects"));
    for (const [field, lit] of NUMERIC_EDGES[path]!) {
      const body = JSON.stringify({ ...VALID[path], [field]: "__N__" }).replace('"__N__"', lit);
      out.push(raw(path, body, `${field}=${lit}`));
    }
    // huge strings where the schema bounds them, and strings that are valid JSON but not a model we price
    const big = "x".repeat(3_000_000);
    out.push(raw(path, JSON.stringify({ ...VALID[path], model: big }), "3 MB model name"));
    out.push(raw(path, JSON.stringify({ ...VALID[path], model: "\ud800" }).replace("\\ud800", "\ud800"), "lone surrogate model"));
    out.push(raw(path, JSON.stringify({ ...VALID[path], metadata: { tags: { team: big } } }), "3 MB tag value"));
    if (path !== "/messages" && path !== "/embeddings") out.push(raw(path, JSON.stringify({ ...VALID[path], user: big }), "3 MB user"));
    for (const t of ["1e400", "0", "-0", "9".repeat(400), "1.5", "5ms"]) out.push(raw(path, JSON.stringify(VALID[path]), `timeout header ${t.slice(0, 10)}`, { "x-tollgate-timeout-ms": t }));
    if (path === "/responses") out.push(raw(path, JSON.stringify({ ...VALID[path], background: true }), "background: true"));
  }
  return out;
}

describe("malformed data-plane requests", () => {
  it("≥ 500 generated cases (deep nesting, huge strings, numeric edges included): each a 4xx in the error shape; nothing forwarded, nothing changed", async () => {
    const { org, owner, key } = await createGatewayOrg();
    await createBudgetRow(org, owner, { scope: "org", limitMicros: 10_000_000, rpm: 100_000 });
    const cases = generateCases();
    expect(cases.length).toBeGreaterThanOrEqual(500);
    expect(cases.filter((c) => c.name.includes(" deep")).length).toBeGreaterThanOrEqual(50);
    const before = { counters: await gateCounters(org.id), events: await snapshotTable("cost_events", org.id), keys: await snapshotTable("api_keys", org.id), budgets: await snapshotTable("budgets", org.id) };

    const failures: string[] = [];
    for (const c of cases) {
      const headers: Record<string, string> = { "content-type": "application/json", ...c.headers };
      if (c.path === "/messages") headers["anthropic-version"] = "2023-06-01";
      const auth = c.auth === "good" ? `Bearer ${key.key}` : c.auth === "none" ? null : c.auth;
      if (auth) headers.authorization = auth;
      const res = await v1(null, c.path, c.body as string, headers);
      const text = await res.text();
      let body: any = null;
      try {
        body = JSON.parse(text);
      } catch {
        /* checked below */
      }
      const err = c.path === "/messages" ? (body?.type === "error" ? body.error : null) : body?.error;
      const ok = res.status >= 400 && res.status < 500 && err && typeof err.message === "string" && typeof err.code === "string" && "param" in err && typeof err.request_id === "string";
      if (!ok) failures.push(`${c.name} → ${res.status} ${text.slice(0, 160)}`);
      if (await upstreamRecord(c.path === "/messages" ? "anthropic" : "openai", res.headers.get("x-request-id") ?? "none")) failures.push(`${c.name} reached the provider`);
    }
    expect(failures).toEqual([]);

    await waitForSettled(org.id);
    await flushGate(org.id);
    const after = await gateCounters(org.id);
    expect(after.counters).toEqual(before.counters.counters);
    expect(after.reservations).toBe(0);
    expect(after.outbox).toEqual(before.counters.outbox);
    expect(await snapshotTable("cost_events", org.id)).toEqual(before.events);
    expect(await snapshotTable("api_keys", org.id)).toEqual(before.keys);
    expect(await snapshotTable("budgets", org.id)).toEqual(before.budgets);
  }, 240_000);
});
