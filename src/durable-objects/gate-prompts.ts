/**
 * The gate's hot copy of the org's prompt templates (docs/prompts.md): each prompt's name and labels,
 * and every immutable version, written from D1 rows by {@link applyPrompts} and read by the
 * `resolvePrompt` RPC, so rendering a prompt on the data plane never touches D1.
 */
import type { PromptSourceRow } from "../db/gate-source";
import type { PromptMessage, PromptTemplate, PromptVariable } from "../lib/prompt-template";
import type { PromptRef } from "./gate-protocol";

/** Replaces every prompt of the hot copy (call inside `transactionSync`). */
export function applyPrompts(sql: SqlStorage, rows: PromptSourceRow[]): void {
  sql.exec("DELETE FROM prompts");
  sql.exec("DELETE FROM prompt_versions");
  const seen = new Set<string>();
  for (const r of rows) {
    if (!seen.has(r.id)) {
      seen.add(r.id);
      sql.exec("INSERT INTO prompts (id, name, labels) VALUES (?, ?, ?)", r.id, r.name, r.labels || "{}");
    }
    if (r.version !== null && r.version !== undefined) {
      sql.exec("INSERT INTO prompt_versions (prompt_id, version, messages, variables) VALUES (?, ?, ?, ?)", r.id, Number(r.version), r.messages ?? "[]", r.variables ?? "[]");
    }
  }
}

/** What a reference resolved to: the version, or which part of the reference named nothing. */
export type PromptLookup = { ok: true; template: PromptTemplate } | { ok: false; missing: "prompt" | "version" | "label" };

/** Looks a reference up by prompt id, else by name; a label is followed to its version. */
export function readPromptTemplate(sql: SqlStorage, ref: PromptRef): PromptLookup {
  const p = sql.exec<{ id: string; name: string; labels: string }>("SELECT id, name, labels FROM prompts WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1", ref.id, ref.id, ref.id).toArray()[0];
  if (!p) return { ok: false, missing: "prompt" };
  let version: number;
  if (ref.version !== undefined) version = ref.version;
  else {
    const labels = JSON.parse(p.labels) as Record<string, number>;
    const v = Object.hasOwn(labels, ref.label) ? labels[ref.label] : undefined;
    if (v === undefined) return { ok: false, missing: "label" };
    version = v;
  }
  const v = sql.exec<{ messages: string; variables: string }>("SELECT messages, variables FROM prompt_versions WHERE prompt_id = ? AND version = ?", p.id, version).toArray()[0];
  if (!v) return { ok: false, missing: "version" };
  return { ok: true, template: { id: p.id, name: p.name, version, messages: JSON.parse(v.messages) as PromptMessage[], variables: JSON.parse(v.variables) as PromptVariable[] } };
}
