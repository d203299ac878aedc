/**
 * Stand-in for Anthropic's Messages API (`POST /v1/messages`), streamed and not, with the real
 * envelope, event sequence and usage semantics: `input_tokens` excludes cache reads/writes, and
 * `message_delta.usage.output_tokens` is CUMULATIVE. Requires `x-api-key` and `anthropic-version`
 * like the real API. Steered by `#mock:` directives (llm-common.ts); requests are recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { argsFromSchema, argumentPieces, contentPieces, directivesOf, pickToolCall, json, promptTokensOf, readBody, RequestLog, sleep, sseNamed, stringsOf, writeSse } from "./llm-common";
import type { MockServer } from "./types";

const errType: Record<number, string> = { 400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error", 500: "api_error", 502: "api_error", 529: "overloaded_error" };
const anthropicError = (status: number, message: string) => ({ type: "error", error: { type: errType[status] ?? "api_error", message } });

async function handle(req: IncomingMessage, res: ServerResponse, log: RequestLog): Promise<void> {
  if (log.serve(req, res)) return;
  const raw = await readBody(req);
  let body: any = null;
  try {
    body = raw ? JSON.parse(raw) : null;
  } catch {
    /* recorded as null */
  }
  log.record(req, body);
  if (req.method !== "POST" || (req.url ?? "").split("?")[0] !== "/v1/messages") return json(res, 404, anthropicError(404, "Not found"));
  if (!req.headers["x-api-key"] || req.headers["x-api-key"] === "bad-key") return json(res, 401, anthropicError(401, "invalid x-api-key"));
  if (!req.headers["anthropic-version"]) return json(res, 400, anthropicError(400, "anthropic-version: header is required"));
  if (!body || typeof body.max_tokens !== "number") return json(res, 400, anthropicError(400, "max_tokens: Field required"));

  const d = directivesOf(raw);
  if (d.hang) return;
  if (d.slowFirstByte) await sleep(d.slowFirstByte);
  if (d.fail) return json(res, d.fail, anthropicError(d.fail, `mock failure ${d.fail}`), d.fail === 429 ? { "retry-after": "7" } : {});

  const input = promptTokensOf(stringsOf([body.system, body.messages]));
  const cacheWrite = d.cache ? 2048 : 0;
  const cacheRead = d.cache ? 4096 : 0;
  const pieces = contentPieces(d.chunks);
  const out = d.fill ? body.max_tokens : pieces.length;
  const usage = { input_tokens: input, cache_creation_input_tokens: cacheWrite, cache_read_input_tokens: cacheRead, output_tokens: out };
  const message = (content: object[], stop: string | null, u: object) => ({ id: "msg_mock01", type: "message", role: "assistant", model: body.model, content, stop_reason: stop, stop_sequence: null, usage: u });
  // Like Claude, a tool call comes after a short text block.
  const call = toolCallOf(body);
  const callArgs = call ? JSON.stringify(argsFromSchema(call.parameters)) : "";
  const stopReason = call ? "tool_use" : "end_turn";

  if (!body.stream) {
    const content: object[] = [{ type: "text", text: pieces.join("") }];
    if (call) content.push({ type: "tool_use", id: "toolu_mock01", name: call.name, input: JSON.parse(callArgs) });
    return json(res, 200, message(content, stopReason, usage), { "request-id": "req_anthropic_mock" });
  }

  const events = [
    sseNamed("message_start", { type: "message_start", message: message([], null, { ...usage, output_tokens: 1 }) }),
    sseNamed("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
    sseNamed("ping", { type: "ping" }),
    ...pieces.map((p) => sseNamed("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: p } })),
    sseNamed("content_block_stop", { type: "content_block_stop", index: 0 }),
  ];
  if (call) {
    events.push(
      sseNamed("content_block_start", { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_mock01", name: call.name, input: {} } }),
      ...argumentPieces(callArgs).map((p) => sseNamed("content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: p } })),
      sseNamed("content_block_stop", { type: "content_block_stop", index: 1 }),
    );
  }
  if (d.streamError) {
    events.push(sseNamed("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
    return writeSse(res, events, { slowChunks: d.slowChunks });
  }
  // Cumulative output_tokens: an intermediate delta then the final one (clients must not add them up).
  if (!d.noUsage) {
    events.push(sseNamed("message_delta", { type: "message_delta", delta: { stop_reason: null, stop_sequence: null }, usage: { output_tokens: Math.max(1, out - 1) } }));
    events.push(sseNamed("message_delta", { type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: out } }));
  }
  events.push(sseNamed("message_stop", { type: "message_stop" }));
  const cut = d.truncate || d.stall ? 3 + Math.ceil(pieces.length / 2) : undefined;
  await writeSse(res, events, { slowChunks: d.slowChunks, cutAfter: cut, stall: d.stall });
}

/** The tool the stand-in calls: `tools[].input_schema`; `tool_choice` `{type:"tool",name}` / `{type:"none"}`; results are `tool_result` blocks. */
function toolCallOf(body: any) {
  const tools = (Array.isArray(body.tools) ? body.tools : []).filter((t: any) => t?.name && (!t.type || t.type === "custom")).map((t: any) => ({ name: t.name, parameters: t.input_schema }));
  const tc = body.tool_choice;
  const hasResult = (Array.isArray(body.messages) ? body.messages : []).some((m: any) => Array.isArray(m?.content) && m.content.some((b: any) => b?.type === "tool_result"));
  return pickToolCall(tools, tc?.type === "tool" ? tc.name : null, tc?.type === "none", hasResult);
}

/** Starts the mock on a random loopback port. */
export async function startAnthropicMock(name = "anthropic", port = 0): Promise<MockServer & { log: RequestLog }> {
  const log = new RequestLog();
  const server = createServer((req, res) => {
    handle(req, res, log).catch((e) => {
      if (!res.headersSent) json(res, 500, anthropicError(500, String(e)));
      else res.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  const addr = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${addr.port}`,
    log,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
