/**
 * Prompt templates (docs/prompts.md): `{{name}}` placeholders in message content strings, typed
 * declared variables, checks at save time and rendering at request time. Shared by the control
 * plane (`src/routes/prompts.ts`) and the data plane (`src/proxy/prompt.ts`). Pure functions.
 */

/** Types a declared variable may have. */
export const VARIABLE_TYPES = ["string", "number", "boolean", "json"] as const;
export type VariableType = (typeof VARIABLE_TYPES)[number];

/** A declared variable; `required` defaults to true. */
export type PromptVariable = { name: string; type: VariableType; required: boolean };

/** One templated message. */
export type PromptMessage = { role: "system" | "developer" | "user" | "assistant"; content: string };

/** A version as the data plane renders it. */
export type PromptTemplate = { id: string; name: string; version: number; messages: PromptMessage[]; variables: PromptVariable[] };

/** A variable name: a letter or `_`, then letters, digits or `_` (at most 64). */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

// `{{ name }}` with optional inner spaces; anything else between braces is literal text.
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/** Every placeholder name used in the messages, in first-use order. */
export function placeholdersOf(messages: PromptMessage[]): string[] {
  const seen = new Set<string>();
  for (const m of messages) for (const match of m.content.matchAll(PLACEHOLDER)) seen.add(match[1]!);
  return [...seen];
}

/** Save-time check: every placeholder must be declared; declared but unused variables are returned as warnings. */
export function checkTemplate(messages: PromptMessage[], variables: PromptVariable[]): { ok: true; unused: string[] } | { ok: false; undeclared: string[] } {
  const declared = new Set(variables.map((v) => v.name));
  const used = placeholdersOf(messages);
  const undeclared = used.filter((n) => !declared.has(n));
  if (undeclared.length) return { ok: false, undeclared };
  const usedSet = new Set(used);
  return { ok: true, unused: variables.filter((v) => !usedSet.has(v.name)).map((v) => v.name) };
}

/** Why rendering failed; `param` names the offending field for the OpenAI error shape. */
export type RenderError = { message: string; param: string };

function asText(v: PromptVariable, value: unknown): string | null {
  switch (v.type) {
    case "string":
      return typeof value === "string" ? value : null;
    case "number":
      return typeof value === "number" && Number.isFinite(value) ? String(value) : null;
    case "boolean":
      return typeof value === "boolean" ? String(value) : null;
    case "json":
      return value === undefined ? null : JSON.stringify(value);
  }
}

/**
 * Renders a version with the request's variables. Missing required and undeclared variables are
 * refused (all of them named in the message), as is a value of the wrong type. Substitution is one
 * pass, so a value that itself contains `{{x}}` is inserted literally, never expanded.
 */
export function renderTemplate(t: PromptTemplate, vars: Record<string, unknown>): { ok: true; messages: PromptMessage[] } | { ok: false; error: RenderError } {
  const byName = new Map(t.variables.map((v) => [v.name, v]));
  const extra = Object.keys(vars).filter((k) => !byName.has(k));
  if (extra.length) {
    return { ok: false, error: { message: `prompt.variables: ${extra.map((n) => `'${n}'`).join(", ")} ${extra.length === 1 ? "is" : "are"} not declared by prompt '${t.name}' version ${t.version}`, param: `prompt.variables.${extra[0]}` } };
  }
  const missing = t.variables.filter((v) => v.required && !Object.hasOwn(vars, v.name)).map((v) => v.name);
  if (missing.length) {
    return { ok: false, error: { message: `prompt.variables: missing required variable${missing.length === 1 ? "" : "s"} ${missing.map((n) => `'${n}'`).join(", ")} of prompt '${t.name}' version ${t.version}`, param: `prompt.variables.${missing[0]}` } };
  }
  const text = new Map<string, string>();
  for (const v of t.variables) {
    if (!Object.hasOwn(vars, v.name)) {
      text.set(v.name, "");
      continue;
    }
    const s = asText(v, vars[v.name]);
    if (s === null) return { ok: false, error: { message: `prompt.variables.${v.name} must be of type ${v.type}`, param: `prompt.variables.${v.name}` } };
    text.set(v.name, s);
  }
  return { ok: true, messages: t.messages.map((m) => ({ role: m.role, content: m.content.replace(PLACEHOLDER, (all, name: string) => text.get(name) ?? all) })) };
}
