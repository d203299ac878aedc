#!/usr/bin/env node
/**
 * Guardrail evaluation cost on a typical chat request (docs/guardrails.md), run by `npm run bench`
 * (and alone: `node bench/guardrails.mjs`). Bundles src/guardrails/evaluate.ts with esbuild and times
 * `evaluateRequest` in Node (the same V8 as workerd) over a ~1 KB chat body (system prompt and three turns) with three guardrails: PII
 * redaction with every detector, 10 blocked patterns (literals and RE2), and a model/parameter policy.
 * Prints and returns p50/p99 in milliseconds; the target is p50 < 0.1 ms.
 */
import { join, dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { mkdirSync } from "node:fs";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(resolve(here, ".."), "dist", "bench");

/** Runs the micro-benchmark; resolves to `{ p50_ms, p99_ms, samples }`. */
export async function benchGuardrails(samples = Number(process.env.BENCH_GUARDRAIL_SAMPLES ?? 20_000)) {
  mkdirSync(out, { recursive: true });
  const file = join(out, "guardrails-evaluate.mjs");
  await build({ entryPoints: [join(here, "..", "src", "guardrails", "evaluate.ts")], bundle: true, format: "esm", platform: "neutral", outfile: file, logLevel: "error" });
  const { evaluateRequest } = await import(pathToFileURL(file).href);
  const guardrails = [
    { id: "grd_pii", name: "pii", kind: "pii", action: "redact", config: { detectors: ["email", "phone", "card", "iban", "ssn", "secret", "ip"] } },
    {
      id: "grd_pat", name: "patterns", kind: "pattern", action: "block",
      config: {
        case_insensitive: true, apply_to: ["request"],
        patterns: [
          ...["project falcon", "internal only", "do not distribute", "confidential", "password:"].map((p) => ({ pattern: p, regex: false })),
          ...["\\bacct-\\d{6,10}\\b", "(?:drop|truncate)\\s+table", "BEGIN [A-Z ]*PRIVATE KEY", "\\bssn\\s*[:=]", "token=[A-Za-z0-9]{16,}"].map((p) => ({ pattern: p, regex: true })),
        ],
      },
    },
    { id: "grd_pol", name: "policy", kind: "policy", action: "block", config: { allowed_models: ["gpt-4o*"], denied_models: null, max_tokens: 4096, require_user: false } },
  ];
  const body = () => ({
    model: "gpt-4o-mini",
    max_tokens: 512,
    messages: [
      { role: "system", content: "You are a helpful support assistant for an online store. Answer briefly, cite order numbers, and never reveal internal notes. ".repeat(3) },
      { role: "user", content: "Hi, my order 20240115-7781 has not arrived. I ordered it on the 3rd and tracking stopped at the depot two days ago. Can you check? You can reach me at jane.doe@example.com or +1 415 555 2671." },
      { role: "assistant", content: "Thanks Jane. I can see order 20240115-7781 left our warehouse on the 4th. The carrier reports a delay at the regional depot; it should move within 48 hours. Would you like a refund or a reship if it does not?" },
      { role: "user", content: "A reship please. Also, can you update the card on file? The new one ends in 4242 and expires 09/28. Thanks for the quick answer, and please keep me posted about the delay." },
    ],
  });
  const facts = { models: ["gpt-4o-mini", "openai/gpt-4o-mini"], maxTokens: 512, customerId: "cust_1" };
  for (let i = 0; i < 2_000; i++) evaluateRequest(guardrails, body(), facts); // warm up (JIT, compiled-pattern cache)
  const bodies = Array.from({ length: samples }, body);
  const times = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = process.hrtime.bigint();
    evaluateRequest(guardrails, bodies[i], facts);
    times[i] = Number(process.hrtime.bigint() - t) / 1e6;
  }
  times.sort();
  const pct = (p) => times[Math.min(samples - 1, Math.ceil((p / 100) * samples) - 1)];
  const r = (x) => Math.round(x * 10_000) / 10_000;
  return { p50_ms: r(pct(50)), p99_ms: r(pct(99)), samples, bytes: JSON.stringify(body()).length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const res = await benchGuardrails();
  console.log(JSON.stringify({ guardrail_evaluation: res, target_p50_ms: 0.1 }, null, 2));
}
