/**
 * Prompt templates (docs/prompts.md): list, a prompt's immutable versions with their cost, a line diff
 * between two versions, a new version (admin+), moving a label (admin+). Members and viewers read.
 */
import { useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { diffLines } from "diff";
import { api, messageOf, qs } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { can } from "../lib/permissions";
import { formatDateTime } from "../lib/format";
import { Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

type Role = "system" | "developer" | "user" | "assistant";
type VarType = "string" | "number" | "boolean" | "json";
type Message = { role: Role; content: string };
type Variable = { name: string; type: VarType; required: boolean };
type Prompt = { id: string; name: string; description: string; latest_version: number | null; labels: Record<string, number>; created_at: string; updated_at: string };
type Version = { version: number; messages: Message[]; variables: Variable[]; created_by: string; created_at: string };
type PromptDetail = Prompt & { versions: Version[] };
type UsageByPrompt = { groups: Array<{ key: string | null; requests: number; cost_usd: string }> };

const ROLES: Role[] = ["system", "developer", "user", "assistant"];
const TYPES: VarType[] = ["string", "number", "boolean", "json"];
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;

/** The text a version is compared by: each message as `[role]` then its content, then the variables. */
export function versionText(v: Pick<Version, "messages" | "variables">): string {
  const msgs = v.messages.map((m) => `[${m.role}]\n${m.content}`).join("\n\n");
  const vars = v.variables.map((x) => `${x.name}: ${x.type}${x.required ? "" : " (optional)"}`).join("\n");
  return `${msgs}\n\nvariables:\n${vars || "(none)"}\n`;
}

function CreatePromptDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (p: PromptDetail) => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [error, setError] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => api<PromptDetail>("POST", `/orgs/${org.id}/prompts`, { name: name.trim(), description: description.trim() }),
    onSuccess: (p) => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "prompts") }); onCreated(p); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <Dialog title="New prompt" description="Versions are added next; a request uses the prompt by id or name." onClose={onClose}>
      <form className="stack-sm" onSubmit={(e) => { e.preventDefault(); if (!name.trim()) return setError("Enter a name"); create.mutate(); }} noValidate>
        <Field label="Name" hint="Letters, digits, '.', '_' or '-'; unique in the organization.">{(id) => <input id={id} type="text" value={name} placeholder="support-reply" onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Description" hint="Optional.">{(id) => <input id={id} type="text" maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={create.isPending}>Create prompt</Button>
        </div>
      </form>
    </Dialog>
  );
}

function NewVersionDialog({ prompt, onClose }: { prompt: PromptDetail; onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const last = prompt.versions.at(-1);
  const [messages, setMessages] = useState<Message[]>(last?.messages ?? [{ role: "system", content: "" }, { role: "user", content: "" }]);
  const [types, setTypes] = useState<Record<string, Variable>>(Object.fromEntries((last?.variables ?? []).map((v) => [v.name, v])));
  const [error, setError] = useState<string | null>(null);
  // Variables are the placeholders the messages use; each one's type and requiredness is chosen here.
  const names = useMemo(() => [...new Set(messages.flatMap((m) => [...m.content.matchAll(PLACEHOLDER)].map((x) => x[1]!)))], [messages]);
  const variables = names.map((n) => types[n] ?? { name: n, type: "string" as VarType, required: true });
  const save = useMutation({
    mutationFn: () => api<Version & { warnings: string[] }>("POST", `/orgs/${org.id}/prompts/${prompt.id}/versions`, { messages, variables }),
    onSuccess: (v) => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "prompts") }); toast(`Version ${v.version} saved`); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  const setMsg = (i: number, m: Partial<Message>) => setMessages(messages.map((x, j) => (j === i ? { ...x, ...m } : x)));
  return (
    <Dialog title={`New version of ${prompt.name}`} description="Versions never change once saved. Use {{name}} for a variable." onClose={onClose}>
      <form className="stack-sm" onSubmit={(e) => { e.preventDefault(); if (messages.some((m) => !m.content.trim())) return setError("Every message needs content"); save.mutate(); }} noValidate>
        {messages.map((m, i) => (
          <div className="stack-sm" key={i}>
            <div className="row">
              <select aria-label={`Role of message ${i + 1}`} value={m.role} onChange={(e) => setMsg(i, { role: e.target.value as Role })}>
                {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
              </select>
              {messages.length > 1 ? <Button size="sm" variant="ghost" onClick={() => setMessages(messages.filter((_, j) => j !== i))} aria-label={`Remove message ${i + 1}`}>Remove</Button> : null}
            </div>
            <textarea aria-label={`Content of message ${i + 1}`} rows={4} value={m.content} onChange={(e) => setMsg(i, { content: e.target.value })} />
          </div>
        ))}
        <div><Button size="sm" onClick={() => setMessages([...messages, { role: "user", content: "" }])}>Add message</Button></div>
        {variables.length ? (
          <fieldset className="stack-sm" style={{ border: 0, padding: 0, margin: 0 }}>
            <legend className="small"><strong>Variables</strong></legend>
            {variables.map((v) => (
              <div className="row" key={v.name}>
                <code>{v.name}</code>
                <select aria-label={`Type of ${v.name}`} value={v.type} onChange={(e) => setTypes({ ...types, [v.name]: { ...v, type: e.target.value as VarType } })}>
                  {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
                <label className="small"><input type="checkbox" checked={v.required} onChange={(e) => setTypes({ ...types, [v.name]: { ...v, required: e.target.checked } })} /> required</label>
              </div>
            ))}
          </fieldset>
        ) : <p className="muted small">No variables: add {"{{name}}"} to a message to declare one.</p>}
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" loading={save.isPending}>Save version</Button>
        </div>
      </form>
    </Dialog>
  );
}

function VersionDiff({ versions }: { versions: Version[] }) {
  const [from, setFrom] = useState(versions.length > 1 ? versions.at(-2)!.version : versions[0]!.version);
  const [to, setTo] = useState(versions.at(-1)!.version);
  const a = versions.find((v) => v.version === from);
  const b = versions.find((v) => v.version === to);
  const parts = a && b ? diffLines(versionText(a), versionText(b)) : [];
  const pick = (label: string, value: number, set: (n: number) => void) => (
    <label className="small">{label}{" "}
      <select aria-label={`Diff ${label.toLowerCase()}`} value={value} onChange={(e) => set(Number(e.target.value))}>
        {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
      </select>
    </label>
  );
  return (
    <Card title="Compare versions" actions={<div className="row">{pick("From", from, setFrom)}{pick("To", to, setTo)}</div>}>
      <pre className="email-body" role="region" aria-label="Version diff" style={{ margin: 0, whiteSpace: "pre-wrap" }}>
        {parts.map((p, i) => {
          const cls = p.added ? "diff-added" : p.removed ? "diff-removed" : undefined;
          const sign = p.added ? "+ " : p.removed ? "- " : "  ";
          const lines = p.value.replace(/\n$/, "").split("\n");
          return (
            <span key={i} className={cls} data-diff={p.added ? "added" : p.removed ? "removed" : "same"}
              style={p.added ? { background: "rgba(34,197,94,.18)", display: "block" } : p.removed ? { background: "rgba(239,68,68,.18)", display: "block" } : { display: "block" }}>
              {lines.map((l) => `${sign}${l}`).join("\n")}
            </span>
          );
        })}
      </pre>
    </Card>
  );
}

function MoveLabel({ prompt }: { prompt: PromptDetail }) {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "prompts.manage");
  const [label, setLabel] = useState("production");
  const [version, setVersion] = useState(prompt.versions.at(-1)?.version ?? 1);
  const [error, setError] = useState<string | null>(null);
  const move = useMutation({
    mutationFn: () => api<{ version: number; previous_version: number | null }>("PUT", `/orgs/${org.id}/prompts/${prompt.id}/labels/${encodeURIComponent(label.trim())}`, { version }),
    onSuccess: (r) => { setError(null); void qc.invalidateQueries({ queryKey: orgKey(org.id, "prompts") }); toast(`${label} → v${r.version}`); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <Card title="Move a label">
      <form className="row" style={{ flexWrap: "wrap", alignItems: "flex-end" }} onSubmit={(e) => { e.preventDefault(); move.mutate(); }}>
        <Field label="Label">{(id) => <input id={id} list="prompt-labels" type="text" value={label} onChange={(e) => setLabel(e.target.value)} disabled={!cap.allowed} />}</Field>
        <datalist id="prompt-labels">{["production", "staging", ...Object.keys(prompt.labels)].filter((l, i, all) => all.indexOf(l) === i).map((l) => <option key={l} value={l} />)}</datalist>
        <Field label="Version">{(id) => (
          <select id={id} value={version} onChange={(e) => setVersion(Number(e.target.value))} disabled={!cap.allowed}>
            {prompt.versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
          </select>
        )}</Field>
        <Button type="submit" variant="primary" loading={move.isPending} disabledReason={cap.allowed ? null : cap.reason}>Move label</Button>
      </form>
      {error ? <Alert>{error}</Alert> : null}
    </Card>
  );
}

function PromptView({ id, onDeleted }: { id: string; onDeleted: () => void }) {
  const { org, role } = useOrg();
  const qc = useQueryClient();
  const toast = useToast();
  const cap = can(role, "prompts.manage");
  const detail = useQuery({ queryKey: orgKey(org.id, "prompts", id), queryFn: () => api<PromptDetail>("GET", `/orgs/${org.id}/prompts/${id}`) });
  const usage = useQuery({ queryKey: orgKey(org.id, "usage", { group_by: "prompt" }), queryFn: () => api<UsageByPrompt>("GET", `/orgs/${org.id}/usage${qs({ group_by: "prompt" })}`) });
  const [adding, setAdding] = useState(false);
  const remove = useMutation({
    mutationFn: () => api("DELETE", `/orgs/${org.id}/prompts/${id}`),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "prompts") }); toast("Prompt deleted"); onDeleted(); },
    onError: (e) => toast(messageOf(e), "error"),
  });
  const costOf = (v: number) => usage.data?.groups.find((g) => g.key === `${id}@${v}`);
  return (
    <QueryView query={detail}>
      {(p) => {
        const labelsOf = (v: number) => Object.entries(p.labels).filter(([, n]) => n === v).map(([l]) => l);
        return (
          <div className="stack" data-prompt-id={p.id}>
            <Card title={<>{p.name} <code className="small">{p.id}</code></>} actions={
              <div className="row">
                <Button variant="primary" size="sm" onClick={() => setAdding(true)} disabledReason={cap.allowed ? null : cap.reason}>New version</Button>
                <Button variant="ghost" size="sm" loading={remove.isPending} onClick={() => { if (window.confirm(`Delete ${p.name} with all its versions?`)) remove.mutate(); }} disabledReason={cap.allowed ? null : cap.reason}>Delete</Button>
              </div>
            }>
              {p.description ? <p className="muted">{p.description}</p> : null}
              {p.versions.length === 0 ? <EmptyState title="No versions yet">Add the first version to use this prompt.</EmptyState> : (
                <div className="table-wrap">
                  <table aria-label="Versions">
                    <thead><tr><th>Version</th><th>Labels</th><th>Messages</th><th>Variables</th><th className="num">Requests (30 d)</th><th className="num">Cost (30 d)</th><th>Created</th></tr></thead>
                    <tbody>
                      {[...p.versions].reverse().map((v) => (
                        <tr key={v.version} data-version={v.version}>
                          <td>v{v.version}</td>
                          <td>{labelsOf(v.version).map((l) => <Badge key={l} tone="success">{l}</Badge>)}</td>
                          <td className="small">{v.messages.map((m, i) => <div key={i}><strong>{m.role}:</strong> {m.content.length > 120 ? `${m.content.slice(0, 120)}…` : m.content}</div>)}</td>
                          <td className="small">{v.variables.map((x) => `${x.name}: ${x.type}${x.required ? "" : "?"}`).join(", ") || "—"}</td>
                          <td className="num">{costOf(v.version)?.requests ?? 0}</td>
                          <td className="num">${costOf(v.version)?.cost_usd ?? "0.000000"}</td>
                          <td className="small">{formatDateTime(v.created_at)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              )}
            </Card>
            {p.versions.length ? <VersionDiff key={p.versions.length} versions={p.versions} /> : null}
            {p.versions.length ? <MoveLabel key={`l${p.versions.length}`} prompt={p} /> : null}
            {adding ? <NewVersionDialog prompt={p} onClose={() => setAdding(false)} /> : null}
          </div>
        );
      }}
    </QueryView>
  );
}

export function PromptsPage() {
  const { org, role } = useOrg();
  const cap = can(role, "prompts.manage");
  const list = useQuery({ queryKey: orgKey(org.id, "prompts"), queryFn: () => api<{ data: Prompt[] }>("GET", `/orgs/${org.id}/prompts`) });
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  return (
    <div className="stack">
      <PageHeader title="Prompts" description={<>Versioned prompt templates. A request uses one with <code>{`"prompt": {"id": "…", "label": "production", "variables": {…}}`}</code>; see docs/prompts.md.</>}
        actions={<Button variant="primary" onClick={() => setCreating(true)} disabledReason={cap.allowed ? null : cap.reason}>New prompt</Button>} />
      <DisabledReason reason={cap.allowed ? null : cap.reason} />
      <Card bodyClass="">
        <QueryView query={list} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No prompts">Create one to keep your prompts versioned in one place.</EmptyState>}>
          {(d) => (
            <div className="table-wrap">
              <table aria-label="Prompts">
                <thead><tr><th>Name</th><th>Description</th><th>Latest</th><th>Labels</th><th>Updated</th></tr></thead>
                <tbody>
                  {d.data.map((p) => (
                    <tr key={p.id} aria-selected={selected === p.id}>
                      <td><Button size="sm" variant="ghost" onClick={() => setSelected(p.id)} aria-label={`Open prompt ${p.name}`}>{p.name}</Button></td>
                      <td className="small">{p.description || "—"}</td>
                      <td>{p.latest_version ? `v${p.latest_version}` : "—"}</td>
                      <td>{Object.entries(p.labels).map(([l, v]) => <Badge key={l}>{`${l} → v${v}`}</Badge>)}</td>
                      <td className="small">{formatDateTime(p.updated_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </QueryView>
      </Card>
      {selected ? <PromptView key={selected} id={selected} onDeleted={() => setSelected(null)} /> : null}
      {creating ? <CreatePromptDialog onClose={() => setCreating(false)} onCreated={(p) => { setCreating(false); setSelected(p.id); }} /> : null}
    </div>
  );
}
