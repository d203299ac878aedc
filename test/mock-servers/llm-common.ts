/**
 * Shared plumbing of the mock model providers: request recording, `#mock:` directives, and SSE
 * writing that deliberately fragments events across writes (and packs several into one write)
 * so the gateway's parser is exercised the way real networks do it.
 *
 * Directives are read from the raw request body (put them in a message text), e.g. `#mock:fail-500`:
 *   fail-500 | fail-502 | fail-429 | fail-400 | fail-401  error before any output
 *   hang                     never answer (until the client gives up)
 *   slow-first-byte=MS       wait before the response headers
 *   truncate                 stream: cut the connection after some content, without usage
 *   stall                    stream: send some content, then go silent
 *   no-usage                 stream: finish normally but never send usage
 *   slow-chunks=MS           stream: pause between events
 *   chunks=N                 number of content pieces (default 5)
 *   fill                     report output tokens = the request's output cap
 *   cache                    report cache reads/writes (cached_tokens / cache_*_input_tokens)
 *   cut-after-finish         stream: cut the connection right after the finish_reason chunk (before usage)
 *   redirect                 answer 302 to a second URL on this server (`/__mock/redirect-target/<request id>`),
 *                            whose hits are counted (`GET /__mock/redirect-hits/<request id>`)
 *   stream-error             stream: send some content, then the provider's in-stream error event
 *
 * When a request offers function tools and carries no tool result yet, the stand-ins answer with a
 * call to the forced tool (or the first one), arguments generated from its JSON schema.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export type Recorded = { method: string; path: string; headers: Record<string, string | string[] | undefined>; body: any; at: number };

export type Directives = {
  fail: number | null;
  hang: boolean;
  slowFirstByte: number;
  truncate: boolean;
  stall: boolean;
  noUsage: boolean;
  slowChunks: number;
  chunks: number;
  fill: boolean;
  cache: boolean;
  cutAfterFinish: boolean;
  redirect: boolean;
  streamError: boolean;
};

/** Reads `#mock:` directives from the raw body text. */
export function directivesOf(raw: string): Directives {
  const d: Directives = { fail: null, hang: false, slowFirstByte: 0, truncate: false, stall: false, noUsage: false, slowChunks: 0, chunks: 5, fill: false, cache: false, cutAfterFinish: false, redirect: false, streamError: false };
  for (const m of raw.matchAll(/#mock:([a-z0-9-]+)(?:=(\d+))?/g)) {
    const [, name, num] = m;
    const n = num === undefined ? 0 : Number(num);
    if (name!.startsWith("fail-")) d.fail = Number(name!.slice(5));
    else if (name === "hang") d.hang = true;
    else if (name === "slow-first-byte") d.slowFirstByte = n;
    else if (name === "truncate") d.truncate = true;
    else if (name === "stall") d.stall = true;
    else if (name === "no-usage") d.noUsage = true;
    else if (name === "slow-chunks") d.slowChunks = n;
    else if (name === "chunks") d.chunks = n;
    else if (name === "fill") d.fill = true;
    else if (name === "cache") d.cache = true;
    else if (name === "cut-after-finish") d.cutAfterFinish = true;
    else if (name === "redirect") d.redirect = true;
    else if (name === "stream-error") d.streamError = true;
  }
  return d;
}

/** Deterministic content pieces; multi-byte characters so fragmentation cuts through UTF-8 sequences. */
export function contentPieces(n: number): string[] {
  const words = ["Hé", "llo", " wörld", " – ", "你好", " 👋", " ok"];
  return Array.from({ length: n }, (_, i) => words[i % words.length]!);
}

/** Prompt-token count the mocks report: ⌈UTF-8 bytes of the text fields / 4⌉, at least 1. */
export function promptTokensOf(texts: string[]): number {
  const bytes = texts.reduce((s, t) => s + Buffer.byteLength(t, "utf8"), 0);
  return Math.max(1, Math.ceil(bytes / 4));
}

/** Every string found under a JSON value (for prompt token counting). */
export function stringsOf(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) stringsOf(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) stringsOf(x, out);
  return out;
}

/** Request log shared by a mock, queryable by the gateway's `x-tollgate-request-id`. */
export class RequestLog {
  readonly byRequestId = new Map<string, Recorded>();
  count = 0;
  record(req: IncomingMessage, body: any): Recorded {
    const r: Recorded = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, at: Date.now() };
    this.count++;
    const id = req.headers["x-tollgate-request-id"];
    if (typeof id === "string") this.byRequestId.set(id, r);
    if (this.byRequestId.size > 20_000) this.byRequestId.clear();
    return r;
  }
  /** `GET /__mock/requests/:id` → the recorded request, or 404; `GET /__mock/stats` → counts. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? "";
    if (url.startsWith("/__mock/requests/")) {
      const r = this.byRequestId.get(decodeURIComponent(url.slice("/__mock/requests/".length)));
      json(res, r ? 200 : 404, r ?? { error: "not recorded" });
      return true;
    }
    if (url === "/__mock/stats") {
      json(res, 200, { count: this.count });
      return true;
    }
    return false;
  }
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Writes SSE events. Without `slowChunks`, all events are concatenated and written in pieces of
 * 1–37 bytes plus a few large multi-event writes; with it, one event per write and a pause between.
 * `cutAfter` stops (and destroys the socket, or stalls) after that many events.
 */
export async function writeSse(res: ServerResponse, events: string[], opts: { slowChunks: number; cutAfter?: number; stall?: boolean }): Promise<void> {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const upto = opts.cutAfter ?? events.length;
  if (opts.slowChunks > 0) {
    for (let i = 0; i < upto; i++) {
      if (res.destroyed) return;
      res.write(events[i]!);
      await sleep(opts.slowChunks);
    }
  } else {
    const buf = Buffer.from(events.slice(0, upto).join(""), "utf8");
    let off = 0;
    let k = 0;
    while (off < buf.length) {
      const size = k % 5 === 4 ? 400 : 1 + ((k * 7) % 37);
      res.write(buf.subarray(off, off + size));
      off += size;
      k++;
      if (k % 8 === 0) await new Promise((r) => setImmediate(r));
    }
  }
  if (opts.cutAfter !== undefined) {
    if (opts.stall) return; // leave the connection open and silent
    await sleep(5);
    res.socket?.destroy();
    return;
  }
  res.end();
}

export const sseData = (obj: unknown) => `data: ${JSON.stringify(obj)}\n\n`;
export const sseNamed = (event: string, obj: unknown) => `event: ${event}\ndata: ${JSON.stringify(obj)}\n\n`;

/** A function tool as the stand-ins see it, whatever the wire format. */
export type MockTool = { name: string; parameters: unknown };

/**
 * Which tool the stand-in "decides" to call: when the request offers function tools, does not
 * forbid them (`tool_choice: "none"`) and carries no tool result yet, the named tool of a forced
 * choice or else the first one. Otherwise null (answer with text).
 */
export function pickToolCall(tools: MockTool[], forced: string | null, none: boolean, hasToolResult: boolean): MockTool | null {
  if (none || hasToolResult || tools.length === 0) return null;
  return (forced && tools.find((t) => t.name === forced)) || tools[0]!;
}

/** Deterministic arguments that satisfy a JSON schema's shape (strings "Paris", numbers 1, booleans true). */
export function argsFromSchema(schema: any): unknown {
  if (!schema || typeof schema !== "object") return {};
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "string") return "Paris";
  if (type === "number" || type === "integer") return 1;
  if (type === "boolean") return true;
  if (type === "array") return [argsFromSchema(schema.items)];
  if (type === "object" || schema.properties) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema.properties ?? {})) out[k] = argsFromSchema(v);
    return out;
  }
  return null;
}

/** Splits a JSON arguments string into a few pieces, as providers stream them. */
export function argumentPieces(args: string): string[] {
  const n = Math.max(1, Math.min(4, Math.ceil(args.length / 8)));
  const size = Math.ceil(args.length / n);
  return Array.from({ length: n }, (_, i) => args.slice(i * size, (i + 1) * size)).filter((p) => p.length > 0);
}
