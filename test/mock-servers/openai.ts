/**
 * Stand-in for OpenAI (and any OpenAI-compatible provider): chat completions, legacy completions,
 * embeddings and the Responses API, streamed and not, with the real wire formats and usage
 * semantics (wire-formats.md). Behaviour is steered per request by `#mock:` directives in the body
 * (see llm-common.ts); every request is recorded under the gateway's `x-tollgate-request-id`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { argsFromSchema, argumentPieces, contentPieces, directivesOf, pickToolCall, json, promptTokensOf, readBody, RequestLog, sleep, sseData, sseNamed, stringsOf, writeSse, type Directives } from "./llm-common";
import type { MockServer } from "./types";

const EMBEDDING = [0.0023064255, -0.009327292, 0.015797347];

/** Output tokens the mock reports: one per content piece, or the request's cap with `fill`. */
function outputTokens(d: Directives, cap: number | undefined): number {
  return d.fill && cap ? cap : d.chunks;
}

function errorFor(status: number) {
  const messages: Record<number, [string, string]> = {
    400: ["Invalid value for 'temperature'", "invalid_request_error"],
    401: ["Incorrect API key provided: sk-proj-****abcd", "invalid_request_error"],
    429: ["Rate limit reached for requests", "requests"],
    500: ["The server had an error while processing your request", "server_error"],
    502: ["Bad gateway", "server_error"],
  };
  const [message, type] = messages[status] ?? ["error", "server_error"];
  return { error: { message, type, param: status === 400 ? "temperature" : null, code: null } };
}

/** Hits on `/__mock/redirect-target/<id>`: a gateway that followed a `#mock:redirect` would land there. */
const redirectHits = new Map<string, number>();

async function handle(req: IncomingMessage, res: ServerResponse, log: RequestLog): Promise<void> {
  if (log.serve(req, res)) return;
  const url = req.url ?? "";
  if (url.startsWith("/__mock/redirect-target/")) {
    const id = decodeURIComponent(url.slice("/__mock/redirect-target/".length));
    redirectHits.set(id, (redirectHits.get(id) ?? 0) + 1);
    return json(res, 200, { id: "chatcmpl-redirected", object: "chat.completion", choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
  }
  if (url.startsWith("/__mock/redirect-hits/")) return json(res, 200, { hits: redirectHits.get(decodeURIComponent(url.slice("/__mock/redirect-hits/".length))) ?? 0 });
  const raw = await readBody(req);
  let body: any = null;
  try {
    body = raw ? JSON.parse(raw) : null;
  } catch {
    /* recorded as null */
  }
  log.record(req, body);
  const path = (req.url ?? "").split("?")[0];
  if (req.method === "GET" && path === "/v1/models") return json(res, 200, { object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 0, owned_by: "openai" }] });
  if (req.method !== "POST" || !body) return json(res, 400, { error: { message: "bad request", type: "invalid_request_error", param: null, code: null } });
  if (req.headers.authorization === "Bearer bad-key") return json(res, 401, errorFor(401));

  const d = directivesOf(raw);
  // A base URL of `<mock>/fail-<status>/v1` always fails with that status, `<mock>/hang/v1` never
  // answers (a provider that is down for every request, e.g. the first target of a fallback chain).
  const down = /^\/(?:fail-(\d{3})|(hang))\//.exec(path ?? "");
  if (down?.[1]) d.fail = Number(down[1]);
  if (down?.[2]) d.hang = true;
  if (d.hang) return; // never answer
  if (d.slowFirstByte) await sleep(d.slowFirstByte);
  if (d.fail) return json(res, d.fail, errorFor(d.fail), d.fail === 429 ? { "retry-after": "7" } : {});
  if (d.redirect) {
    const id = String(req.headers["x-tollgate-request-id"] ?? "none");
    res.writeHead(302, { location: `http://${req.headers.host}/__mock/redirect-target/${encodeURIComponent(id)}`, "content-length": "0" });
    return void res.end();
  }

  const model = body.model;
  const prompt = promptTokensOf(stringsOf(path === "/v1/responses" ? [body.input, body.instructions] : path === "/v1/completions" ? body.prompt : path === "/v1/embeddings" ? body.input : body.messages));
  const cached = d.cache ? Math.min(prompt, 3) : 0;
  const created = Math.floor(Date.now() / 1000);

  if (path === "/v1/embeddings") {
    const inputs = Array.isArray(body.input) && typeof body.input[0] !== "number" ? body.input : [body.input];
    return json(res, 200, {
      object: "list",
      data: inputs.map((_: unknown, index: number) => ({ object: "embedding", index, embedding: body.encoding_format === "base64" ? Buffer.from(new Float32Array(EMBEDDING).buffer).toString("base64") : EMBEDDING })),
      model,
      usage: { prompt_tokens: prompt, total_tokens: prompt },
    });
  }

  if (path === "/v1/responses") return responses(res, body, d, prompt, cached, created);

  const isChat = path === "/v1/chat/completions";
  if (!isChat && path !== "/v1/completions") return json(res, 404, { error: { message: `Unknown path ${path}`, type: "invalid_request_error", param: null, code: "unknown_url" } });
  const cap = isChat ? (body.max_completion_tokens ?? body.max_tokens) : (body.max_tokens ?? 16);
  const out = outputTokens(d, cap);
  const usage = {
    prompt_tokens: prompt,
    completion_tokens: out,
    total_tokens: prompt + out,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  const pieces = contentPieces(d.chunks);
  const id = isChat ? "chatcmpl-mock" : "cmpl-mock";
  const call = isChat ? chatToolCall(body) : null;
  if (!body.stream) {
    const text = pieces.join("");
    if (call) {
      const message = { role: "assistant", content: null, refusal: null, tool_calls: [{ id: "call_mock1", type: "function", function: call }] };
      return json(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: "tool_calls" }], usage, system_fingerprint: "fp_mock" });
    }
    return json(res, 200, isChat
      ? { id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: "stop" }], usage, system_fingerprint: "fp_mock" }
      : { id, object: "text_completion", created, model, choices: [{ text, index: 0, logprobs: null, finish_reason: "stop" }], usage });
  }
  const withUsage = body.stream_options?.include_usage === true && !d.noUsage;
  const u = body.stream_options?.include_usage === true ? { usage: null } : {};
  const chunk = (choice: object) => (isChat ? { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_mock", choices: [choice], ...u } : { id, object: "text_completion", created, model, choices: [choice], ...u });
  const events: string[] = [];
  if (call) {
    events.push(sseData(chunk({ index: 0, delta: { role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_mock1", type: "function", function: { name: call.name, arguments: "" } }], refusal: null }, logprobs: null, finish_reason: null })));
    for (const p of argumentPieces(call.arguments)) events.push(sseData(chunk({ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: p } }] }, logprobs: null, finish_reason: null })));
    events.push(sseData(chunk({ index: 0, delta: {}, logprobs: null, finish_reason: "tool_calls" })));
  } else {
    if (isChat) events.push(sseData(chunk({ index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null })));
    for (const p of pieces) events.push(sseData(chunk(isChat ? { index: 0, delta: { content: p }, logprobs: null, finish_reason: null } : { text: p, index: 0, logprobs: null, finish_reason: null })));
    events.push(sseData(chunk(isChat ? { index: 0, delta: {}, logprobs: null, finish_reason: "stop" } : { text: "", index: 0, logprobs: null, finish_reason: "stop" })));
  }
  if (withUsage) events.push(sseData(isChat ? { id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_mock", choices: [], usage } : { id, object: "text_completion", created, model, choices: [], usage }));
  events.push("data: [DONE]\n\n");
  // cut-after-finish: role chunk, every piece, the finish_reason chunk, then the connection drops.
  const cut = d.cutAfterFinish ? (isChat ? 2 : 1) + pieces.length : d.truncate || d.stall ? Math.min(events.length - 2, 1 + Math.ceil(pieces.length / 2)) : undefined;
  await writeSse(res, events, { slowChunks: d.slowChunks, cutAfter: cut, stall: d.stall });
}

/** The tool call a chat request gets (see pickToolCall), as `{name, arguments}`. */
function chatToolCall(body: any): { name: string; arguments: string } | null {
  const tools = (Array.isArray(body.tools) ? body.tools : []).filter((t: any) => t?.type === "function" && t.function?.name).map((t: any) => ({ name: t.function.name, parameters: t.function.parameters }));
  const tc = body.tool_choice;
  const hasResult = Array.isArray(body.messages) && body.messages.some((m: any) => m?.role === "tool" || m?.role === "function");
  const t = pickToolCall(tools, typeof tc === "object" && tc ? (tc.function?.name ?? null) : null, tc === "none", hasResult);
  return t ? { name: t.name, arguments: JSON.stringify(argsFromSchema(t.parameters)) } : null;
}

/** The tool call a Responses request gets: function tools are flat (`{type, name, parameters}`); results are `function_call_output` items. */
function responsesToolCall(body: any): { name: string; arguments: string } | null {
  const tools = (Array.isArray(body.tools) ? body.tools : []).filter((t: any) => t?.type === "function" && t.name).map((t: any) => ({ name: t.name, parameters: t.parameters }));
  const tc = body.tool_choice;
  const hasResult = Array.isArray(body.input) && body.input.some((i: any) => i?.type === "function_call_output");
  const t = pickToolCall(tools, typeof tc === "object" && tc ? (tc.name ?? null) : null, tc === "none", hasResult);
  return t ? { name: t.name, arguments: JSON.stringify(argsFromSchema(t.parameters)) } : null;
}

/**
 * Responses API, with the fields real responses carry (and SDKs validate): every output item has an
 * `id` and `status`, `output_text` parts have `annotations`, function calls have `call_id`; streamed
 * events carry `sequence_number`, `item_id` and `output_index`.
 */
async function responses(res: ServerResponse, body: any, d: Directives, prompt: number, cached: number, created: number): Promise<void> {
  const out = outputTokens(d, body.max_output_tokens);
  const pieces = contentPieces(d.chunks);
  const text = pieces.join("");
  const call = responsesToolCall(body);
  const usage = { input_tokens: prompt, input_tokens_details: { cached_tokens: cached }, output_tokens: out, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + out };
  const msg = (status: string, t: string | null) => ({ id: "msg_mock", type: "message", status, role: "assistant", content: t === null ? [] : [{ type: "output_text", text: t, annotations: [], logprobs: [] }] });
  const fc = (status: string, args: string) => ({ id: "fc_mock", type: "function_call", status, call_id: "call_mock1", name: call?.name ?? "", arguments: args });
  const finalItem = () => (call ? fc("completed", call.arguments) : msg("completed", text));
  const response = (status: string, withOutput: boolean) => ({
    id: "resp_mock", object: "response", created_at: created, status, model: body.model, output: withOutput ? [finalItem()] : [],
    usage: status === "completed" ? usage : null, error: null, incomplete_details: null, instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null, parallel_tool_calls: true, tool_choice: body.tool_choice ?? "auto", tools: body.tools ?? [], temperature: 1, top_p: 1, metadata: {},
  });
  if (!body.stream) return json(res, 200, response("completed", true));
  let seq = 0;
  const ev = (type: string, payload: object) => sseNamed(type, { type, sequence_number: seq++, ...payload });
  const events = [ev("response.created", { response: response("in_progress", false) }), ev("response.in_progress", { response: response("in_progress", false) })];
  if (call) {
    const argPieces = argumentPieces(call.arguments);
    events.push(
      ev("response.output_item.added", { output_index: 0, item: fc("in_progress", "") }),
      ...argPieces.map((p) => ev("response.function_call_arguments.delta", { item_id: "fc_mock", output_index: 0, delta: p })),
      ev("response.function_call_arguments.done", { item_id: "fc_mock", output_index: 0, arguments: call.arguments }),
      ev("response.output_item.done", { output_index: 0, item: fc("completed", call.arguments) }),
    );
  } else {
    events.push(
      ev("response.output_item.added", { output_index: 0, item: msg("in_progress", null) }),
      ev("response.content_part.added", { item_id: "msg_mock", output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } }),
      ...pieces.map((p) => ev("response.output_text.delta", { item_id: "msg_mock", output_index: 0, content_index: 0, delta: p, logprobs: [] })),
      ev("response.output_text.done", { item_id: "msg_mock", output_index: 0, content_index: 0, text, logprobs: [] }),
      ev("response.content_part.done", { item_id: "msg_mock", output_index: 0, content_index: 0, part: { type: "output_text", text, annotations: [] } }),
      ev("response.output_item.done", { output_index: 0, item: msg("completed", text) }),
    );
  }
  if (!d.noUsage) events.push(ev("response.completed", { response: response("completed", true) }));
  const cut = d.truncate || d.stall ? 4 + Math.ceil(pieces.length / 2) : undefined;
  await writeSse(res, events, { slowChunks: d.slowChunks, cutAfter: cut, stall: d.stall });
}

/** Starts the mock on a random loopback port. */
export async function startOpenAiMock(name = "openai", port = 0): Promise<MockServer & { log: RequestLog }> {
  const log = new RequestLog();
  const server = createServer((req, res) => {
    handle(req, res, log).catch((e) => {
      if (!res.headersSent) json(res, 500, { error: { message: String(e), type: "server_error", param: null, code: null } });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 60_000;
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
