/** Providers (credentials encrypted at rest, never shown again) and model pricing (catalog + org overrides). */
import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, messageOf } from "../lib/api";
import { orgKey, useOrg } from "../lib/session";
import { useProviders } from "../lib/queries";
import { can } from "../lib/permissions";
import { usdSchema } from "../lib/schemas";
import type { ModelPrice, Page, Provider, ProviderType } from "../lib/types";
import { ConfirmDialog, Dialog } from "../components/dialog";
import { Alert, Badge, Button, Card, DisabledReason, EmptyState, Field, PageHeader, QueryView } from "../components/ui";
import { useToast } from "../components/toast";

function AddProviderDialog({ onClose }: { onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [name, setName] = useState("");
  const [type, setType] = useState<ProviderType>("openai");
  const [baseUrl, setBaseUrl] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [isDefault, setIsDefault] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const add = useMutation({
    mutationFn: () => api<Provider>("POST", `/orgs/${org.id}/providers`, { name: name.trim(), type, ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}), api_key: apiKey, is_default: isDefault }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "providers") }); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  return (
    <Dialog title="Add provider" description="The API key is encrypted at rest and never shown again." onClose={onClose}>
      <form className="stack" onSubmit={(e) => { e.preventDefault(); if (!name.trim() || !apiKey) return setError("Name and API key are required"); if (type === "openai_compatible" && !baseUrl.trim()) return setError("OpenAI-compatible providers need a base URL"); add.mutate(); }} noValidate>
        <div className="form-grid">
          <Field label="Name" hint="Used as prefix: name/model">{(id) => <input id={id} type="text" value={name} placeholder="openai" onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Type">{(id) => (
            <select id={id} value={type} onChange={(e) => setType(e.target.value as ProviderType)}>
              <option value="openai">OpenAI</option><option value="anthropic">Anthropic</option><option value="gemini">Google Gemini</option><option value="openai_compatible">OpenAI-compatible (Groq, Together, vLLM…)</option>
            </select>
          )}</Field>
        </div>
        <Field label="Base URL" hint="Optional for OpenAI and Anthropic.">{(id) => <input id={id} type="url" value={baseUrl} placeholder="https://api.groq.com/openai/v1" onChange={(e) => setBaseUrl(e.target.value)} />}</Field>
        <Field label="API key">{(id) => <input id={id} type="password" autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />}</Field>
        <div className="checkbox"><input id="provider-default" type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.target.checked)} /><label htmlFor="provider-default">Default provider for bare model names</label></div>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" loading={add.isPending}>Add provider</Button></div>
      </form>
    </Dialog>
  );
}

function PriceDialog({ initial, onClose }: { initial?: ModelPrice; onClose: () => void }) {
  const { org } = useOrg();
  const qc = useQueryClient();
  const [model, setModel] = useState(initial?.model ?? "");
  const [input, setInput] = useState(initial?.input_usd ?? "");
  const [output, setOutput] = useState(initial?.output_usd ?? "");
  const [error, setError] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => api("PUT", `/orgs/${org.id}/pricing/${encodeURIComponent(model.trim())}`, { input_usd: input.trim(), output_usd: output.trim() }),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "pricing") }); onClose(); },
    onError: (e) => setError(messageOf(e)),
  });
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    if (!model.trim()) return setError("Model name is required");
    if (!usdSchema.safeParse(input).success || !usdSchema.safeParse(output).success) return setError("Prices are dollars per million tokens, e.g. 2.50");
    save.mutate();
  };
  return (
    <Dialog title={initial ? `Override price of ${initial.model}` : "Price a model"} description="USD per million tokens. Applies to the next request." onClose={onClose}>
      <form className="stack" onSubmit={submit} noValidate>
        <Field label="Model">{(id) => <input id={id} type="text" value={model} disabled={Boolean(initial)} placeholder="groq/llama-3.1-70b" onChange={(e) => setModel(e.target.value)} />}</Field>
        <div className="form-grid">
          <Field label="Input $/M tokens">{(id) => <input id={id} type="text" inputMode="decimal" value={input} onChange={(e) => setInput(e.target.value)} />}</Field>
          <Field label="Output $/M tokens">{(id) => <input id={id} type="text" inputMode="decimal" value={output} onChange={(e) => setOutput(e.target.value)} />}</Field>
        </div>
        {error ? <Alert>{error}</Alert> : null}
        <div className="row" style={{ justifyContent: "flex-end" }}><Button onClick={onClose}>Cancel</Button><Button type="submit" variant="primary" loading={save.isPending}>Save price</Button></div>
      </form>
    </Dialog>
  );
}

export function ProvidersPage() {
  const { org, role } = useOrg();
  const providers = useProviders(org.id);
  const pricing = useQuery({ queryKey: orgKey(org.id, "pricing"), queryFn: () => api<Page<ModelPrice>>("GET", `/orgs/${org.id}/pricing`) });
  const qc = useQueryClient();
  const toast = useToast();
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Provider | null>(null);
  const [pricingModel, setPricingModel] = useState<ModelPrice | "new" | null>(null);
  const [filter, setFilter] = useState("");
  const pcap = can(role, "providers.manage");
  const mcap = can(role, "pricing.manage");
  const resetPrice = useMutation({
    mutationFn: (model: string) => api("DELETE", `/orgs/${org.id}/pricing/${encodeURIComponent(model)}`),
    onSuccess: () => { void qc.invalidateQueries({ queryKey: orgKey(org.id, "pricing") }); toast("Override removed"); },
    onError: (e) => toast(messageOf(e), "error"),
  });
  return (
    <div className="stack">
      <PageHeader title="Providers & pricing" description="Where requests go, and what each model costs." />
      <DisabledReason reason={pcap.allowed ? null : pcap.reason} />
      <Card title="Providers" actions={<Button variant="primary" size="sm" onClick={() => setAdding(true)} disabledReason={pcap.allowed ? null : pcap.reason}>Add provider</Button>} bodyClass="table-wrap">
        <QueryView query={providers} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No providers yet">Add an OpenAI, Anthropic or OpenAI-compatible provider to start proxying requests.</EmptyState>}>
          {(d) => (
            <table>
              <thead><tr><th>Name</th><th>Type</th><th className="hide-sm">Base URL</th><th className="hide-sm">Key</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>{d.data.map((p) => (
                <tr key={p.id}>
                  <td className="cell-title">{p.name} {p.is_default ? <Badge tone="success">default</Badge> : null}</td>
                  <td>{p.type}</td>
                  <td className="hide-sm mono small">{p.base_url}</td>
                  <td className="hide-sm mono small">{p.api_key_hint}</td>
                  <td className="actions"><Button size="sm" variant="ghost" aria-label={`Remove provider ${p.name}`} onClick={() => setRemoving(p)} disabledReason={pcap.allowed ? null : pcap.reason}>Remove</Button></td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </QueryView>
      </Card>
      <Card title="Model pricing" actions={
        <>
          <label className="sr-only" htmlFor="price-filter">Filter models</label>
          <input id="price-filter" type="search" placeholder="Filter models" value={filter} onChange={(e) => setFilter(e.target.value)} style={{ width: 180 }} />
          <Button size="sm" variant="primary" onClick={() => setPricingModel("new")} disabledReason={mcap.allowed ? null : mcap.reason}>Price a model</Button>
        </>
      } bodyClass="table-wrap">
        <QueryView query={pricing} isEmpty={(d) => d.data.length === 0} empty={<EmptyState title="No priced models" />}>
          {(d) => (
            <table>
              <thead><tr><th>Model</th><th>Source</th><th className="num">Input $/M</th><th className="num">Output $/M</th><th><span className="sr-only">Actions</span></th></tr></thead>
              <tbody>{d.data.filter((p) => p.model.toLowerCase().includes(filter.toLowerCase())).slice(0, 100).map((p) => (
                <tr key={p.model}>
                  <td className="mono small">{p.model}</td>
                  <td>{p.source === "override" ? <Badge tone="admin">override</Badge> : <Badge tone="neutral">catalog</Badge>}</td>
                  <td className="num">${p.input_usd}</td>
                  <td className="num">${p.output_usd}</td>
                  <td className="actions"><div className="row" style={{ justifyContent: "flex-end" }}>
                    <Button size="sm" onClick={() => setPricingModel(p)} disabledReason={mcap.allowed ? null : mcap.reason} aria-label={`Override price of ${p.model}`}>Override</Button>
                    {p.source === "override" ? <Button size="sm" variant="ghost" onClick={() => resetPrice.mutate(p.model)} disabledReason={mcap.allowed ? null : mcap.reason} aria-label={`Reset price of ${p.model}`}>Reset</Button> : null}
                  </div></td>
                </tr>
              ))}</tbody>
            </table>
          )}
        </QueryView>
      </Card>
      {adding ? <AddProviderDialog onClose={() => setAdding(false)} /> : null}
      {pricingModel ? <PriceDialog initial={pricingModel === "new" ? undefined : pricingModel} onClose={() => setPricingModel(null)} /> : null}
      {removing ? <ConfirmDialog title={`Remove provider ${removing.name}?`} description="Requests to its models fail until another provider serves them." confirmLabel="Remove provider" onClose={() => setRemoving(null)}
        onConfirm={async () => { await api("DELETE", `/orgs/${org.id}/providers/${removing.id}`); await qc.invalidateQueries({ queryKey: orgKey(org.id, "providers") }); }} /> : null}
    </div>
  );
}
