/**
 * Guardrails (docs/guardrails.md): PII redaction/blocking, blocked patterns and model policy. Admins and
 * owners create and change them; everyone can read them and try text against them.
 */
import { useEffect, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

type Kind = "pii" | "pattern" | "policy";
type Action = "redact" | "block" | "flag";
type Guardrail = {
  id: string; name: string; kind: Kind; action: Action; scope: "org" | "team" | "key"; scope_id: string | null;
  position: number; enabled: boolean; config: Record<string, unknown>;
};
type TestResult = { text: string; blocked: { guardrail_id: string; name: string; reason: string } | null; hits: Array<{ id: string; action: Action }> };

const DETECTORS = [
  ["email", "Email addresses"], ["phone", "Phone numbers"], ["card", "Payment cards (Luhn)"], ["iban", "IBANs"],
  ["ssn", "US SSNs"], ["secret", "API keys and tokens"], ["ip", "IP addresses"],
] as const;

const lines = (s: string) => s.split("\n").map((l) => l.trim()).filter(Boolean);
const list = (s: string) => s.split(",").map((l) => l.trim()).filter(Boolean);

/** The `config` the API expects for the form's state. */
function configOf(kind: Kind, f: FormState): Record<string, unknown> {
  if (kind === "pii") return { detectors: f.detectors };
  if (kind === "pattern") return { patterns: lines(f.patterns).map((p) => ({ pattern: p, regex: f.regex })), case_insensitive: f.caseInsensitive, apply_to: f.onResponses ? ["request", "response"] : ["request"] };
  return {
    allowed_models: list(f.allowed).length ? list(f.allowed) : null, denied_models: list(f.denied).length ? list(f.denied) : null,
    max_tokens: f.maxTokens.trim() ? Number(f.maxTokens) : null, require_user: f.requireUser,
  };
}

type FormState = { detectors: string[]; patterns: string; regex: boolean; caseInsensitive: boolean; onResponses: boolean; allowed: string; denied: string; maxTokens: string; requireUser: boolean };

/** Runs `text` through unsaved settings on the server (nothing is stored) and shows the outcome. */
function TestBox({ kind, action, config }: { kind: Kind; action: Action; config: Record<string, unknown> }) {
  const { org } = useOrg();
  const [text, setText] = useState("Contact me at jane@example.com, card 4111 1111 1111 1111.");
  const [result, setResult] = useState<TestResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const draft = JSON.stringify({ kind, action, config });
  useEffect(() => {
    if (!text) return setResult(null);
    const t = setTimeout(() => {
      api<TestResult>("POST", `/orgs/${org.id}/guardrails/test`, { text, draft: JSON.parse(draft) })
        .then((r) => { setResult(r); setError(null); })
        .catch((e) => { setResult(null); setError(messageOf(e)); });
    }, 250);
    return () => clearTimeout(t);
  }, [text, draft, org.id]);
  return (
    <div className="stack" data-testid="guardrail-test">
      <Field label="Test this text" hint="Runs on the server with these settings; nothing is stored.">{(id) => <textarea id={id} rows={3} value={text} onChange={(e) => setText(e.target.value)} />}</Field>
      {error ? <Alert tone="warning">{error}</Alert> : null}
      {result ? (
        result.blocked
          ? <Alert>Blocked: {result.blocked.reason}</Alert>
          : <div className="stack"><div className="small">{result.hits.length ? `Would ${result.hits[0]!.action}` : "Nothing matched"}</div><pre className="mono small" data-testid="guardrail-test-output" style={{ whiteSpace: "pre-wrap" }}>{result.text}</pre></div>
      ) : null}
    </div>
  );
}

function AddGuardrailDialog({ onClose }: { onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [kind, setKind] = useState<Kind>("pii");
  const [action, setAction] = useState<Action>("redact");
  const [f, setF] = useState<FormState>({ detectors: DETECTORS.map((d) => d[0]), patterns: "", regex: false, caseInsensitive: true, onResponses: false, allowed: "", denied: "", maxTokens: "", requireUser: false });
  const [error, setError] = useState<string | null>(null);
  const set = (patch: Partial<FormState>) => setF((s) => ({ ...s, ...patch }));
  const config = configOf(kind, f);
  const add = useMutation({
    mutationFn: () => api<Guardrail>("POST", `/orgs/${org.id}/guardrails`, { name: name.trim(), kind, action, config }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "guardrails") }); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  const actions: Action[] = kind === "policy" ? ["block", "flag"] : ["redact", "block", "flag"];
  return (
    <Dialog title="Add guardrail" description="Applies to every key of the org from the next request." onClose={onClose}>
      <form className="stack" onSubmit={(e) => { e.preventDefault(); if (!name.trim()) return setError("Name is required"); add.mutate(); }} noValidate>
        <div className="form-grid">
          <Field label="Name">{(id) => <input id={id} type="text" value={name} placeholder="No personal data" onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Kind">{(id) => (
            <select id={id} value={kind} onChange={(e) => { const k = e.target.value as Kind; setKind(k); if (k === "policy" && action === "redact") setAction("block"); }}>
              <option value="pii">PII and secrets</option><option value="pattern">Blocked patterns</option><option value="policy">Model and parameter policy</option>
            </select>
          )}</Field>
          <Field label="Action">{(id) => (
            <select id={id} value={action} onChange={(e) => setAction(e.target.value as Action)}>
              {actions.map((a) => <option key={a} value={a}>{a === "redact" ? "Redact (replace with a placeholder)" : a === "block" ? "Block (403)" : "Flag (allow, record)"}</option>)}
            </select>
          )}</Field>
        </div>
        {kind === "pii" ? (
          <fieldset className="stack"><legend className="small">Detectors</legend>
            {DETECTORS.map(([k, label]) => (
              <div className="checkbox" key={k}><input id={`det-${k}`} type="checkbox" checked={f.detectors.includes(k)} onChange={(e) => set({ detectors: e.target.checked ? [...f.detectors, k] : f.detectors.filter((d) => d !== k) })} /><label htmlFor={`det-${k}`}>{label}</label></div>
            ))}
          </fieldset>
        ) : null}
        {kind === "pattern" ? (
          <>
            <Field label="Patterns" hint="One per line (at most 50, 500 characters each).">{(id) => <textarea id={id} rows={4} value={f.patterns} onChange={(e) => set({ patterns: e.target.value })} />}</Field>
            <div className="checkbox"><input id="pat-regex" type="checkbox" checked={f.regex} onChange={(e) => set({ regex: e.target.checked })} /><label htmlFor="pat-regex">Regular expressions (RE2 syntax)</label></div>
            <div className="checkbox"><input id="pat-ci" type="checkbox" checked={f.caseInsensitive} onChange={(e) => set({ caseInsensitive: e.target.checked })} /><label htmlFor="pat-ci">Ignore case</label></div>
            <div className="checkbox"><input id="pat-resp" type="checkbox" checked={f.onResponses} onChange={(e) => set({ onResponses: e.target.checked })} /><label htmlFor="pat-resp">Also check non-streamed responses</label></div>
          </>
        ) : null}
        {kind === "policy" ? (
          <div className="form-grid">
            <Field label="Allowed models" hint="Comma-separated; a trailing * matches a prefix.">{(id) => <input id={id} type="text" value={f.allowed} onChange={(e) => set({ allowed: e.target.value })} />}</Field>
            <Field label="Denied models">{(id) => <input id={id} type="text" value={f.denied} onChange={(e) => set({ denied: e.target.value })} />}</Field>
            <Field label="Max max_tokens">{(id) => <input id={id} type="text" inputMode="numeric" value={f.maxTokens} onChange={(e) => set({ maxTokens: e.target.value })} />}</Field>
            <div className="checkbox"><input id="pol-user" type="checkbox" checked={f.requireUser} onChange={(e) => set({ requireUser: e.target.checked })} /><label htmlFor="pol-user">Require an end-user id</label></div>
          </div>
        ) : null}
        {kind !== "policy" ? <TestBox kind={kind} action={action} config={config} /> : null}
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" loading={add.isPending}>Add guardrail</Button></div>
      </form>
    </Dialog>
  );
}

function summary(g: Guardrail): string {
  if (g.kind === "pii") return ((g.config.detectors as string[] | undefined) ?? []).join(", ");
  if (g.kind === "pattern") return `${(g.config.patterns as unknown[] | undefined)?.length ?? 0} pattern(s)${(g.config.apply_to as string[] | undefined)?.includes("response") ? ", responses too" : ""}`;
  return "model / parameter policy";
}

export function GuardrailsPage() {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "guardrails.manage");
  const query = useQuery({ queryKey: orgKey(org.id, "guardrails"), queryFn: () => api<{ data: Guardrail[] }>("GET", `/orgs/${org.id}/guardrails`) });
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Guardrail | null>(null);
  const toggle = useMutation({
    mutationFn: (g: Guardrail) => api("PATCH", `/orgs/${org.id}/guardrails/${g.id}`, { enabled: !g.enabled }),
    onSuccess: () => void qc.invalidateQueries({ queryKey: orgKey(org.id, "guardrails") }),
    onError: (e) => toast(messageOf(e), "error"),
  });
  const reason = cap.allowed ? null : cap.reason;
  return (
    <div className="stack">
      <PageHeader title="Guardrails" description="Stop secrets and personal data from leaving, and block what policy forbids. Evaluated in order on every request." />
      <DisabledReason reason={reason} />
      <Card title="Guardrails" actions={<Button variant="primary" size="sm" onClick={() => setAdding(true)} disabledReason={reason}>Add guardrail</Button>} bodyClass="table-wrap">
        <QueryView query={query} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No guardrails yet">Add one to redact or block PII, secrets or forbidden patterns.</EmptyState>}>
          {(d) => (
            <table>
              <thead><tr><th>Name</th><th>Kind</th><th>Action</th><th className="hide-sm">Scope</th><th>Status</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>{d.data.map((g) => (
                <tr key={g.id}>
                  <td className="cell-title">{g.name}<div className="small">{summary(g)}</div></td>
                  <td>{g.kind}</td>
                  <td>{g.action}</td>
                  <td className="hide-sm">{g.scope}{g.scope_id ? <span className="mono small"> {g.scope_id}</span> : null}</td>
                  <td>{g.enabled ? <Badge tone="success">enabled</Badge> : <Badge tone="neutral">disabled</Badge>}</td>
                  <td className="actions"><div className="row" style={{ justifyContent: "flex-end" }}>
                    <Button size="sm" onClick={() => toggle.mutate(g)} disabledReason={reason} aria-label={`${g.enabled ? "Disable" : "Enable"} guardrail ${g.name}`}>{g.enabled ? "Disable" : "Enable"}</Button>
                    <Button size="sm" variant="ghost" onClick={() => setRemoving(g)} disabledReason={reason} aria-label={`Delete guardrail ${g.name}`}>Delete</Button>
                  </div></td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </QueryView>
      </Card>
      {adding ? <AddGuardrailDialog onClose={() => setAdding(false)} /> : null}
      {removing ? <ConfirmDialog title={`Delete guardrail ${removing.name}?`} description="Requests are no longer checked by it." confirmLabel="Delete guardrail" onClose={() => setRemoving(null)}
        onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/guardrails/${removing.id}`); await qc.invalidateQueries({ queryKey: orgKey(org.id, "guardrails") }); }} /> : null}
    </div>
  );
}
