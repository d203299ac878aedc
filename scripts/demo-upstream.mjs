// The demo model provider `npm start` runs: a tiny OpenAI-compatible server on loopback that answers
// chat completions, completions, embeddings and the Responses API (streamed and not, with tool calls) with
// canned text and real usage objects, in the shapes the OpenAI SDK and the Vercel AI SDK validate, so a
// first request works offline whichever client a new user picks. It is a stand-in for a real provider,
// never part of the gateway. test/sdk-vercel-ai.test.ts runs the SDKs against this very file.
import { createServer } from "node:http";

const SENTENCE = "Hello from the Tollgate demo provider. Your request was metered and priced exactly.";

/** Words of the answer; after a tool result the answer quotes it. */
function answerWords(toolResult) {
  const text = toolResult === null ? SENTENCE : `The tool returned ${toolResult.slice(0, 200)}. ${SENTENCE}`;
  return text.split(" ").map((w, i) => (i ? ` ${w}` : w));
}

const promptTokens = (v) => Math.max(1, Math.ceil(JSON.stringify(v ?? "").length / 4));

/** Deterministic arguments matching a JSON schema's shape. */
function argsFromSchema(schema) {
  if (!schema || typeof schema !== "object") return {};
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "string") return "Paris";
  if (type === "number" || type === "integer") return 1;
  if (type === "boolean") return true;
  if (type === "array") return [argsFromSchema(schema.items)];
  if (type === "object" || schema.properties) return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, argsFromSchema(v)]));
  return null;
}

/** The demo "decides" to call the forced tool, else the first one, until the conversation holds a tool result. */
function pickTool(tools, toolChoice, forcedName, hasResult) {
  if (hasResult || toolChoice === "none" || tools.length === 0) return null;
  const t = (forcedName && tools.find((x) => x.name === forcedName)) || tools[0];
  return { name: t.name, arguments: JSON.stringify(argsFromSchema(t.parameters)) };
}

const asText = (c) => (typeof c === "string" ? c : Array.isArray(c) ? c.map((p) => p?.text ?? p?.output ?? "").join("") : JSON.stringify(c ?? ""));

function chat(body, res) {
  const model = body.model ?? "gpt-4o-mini";
  const created = Math.floor(Date.now() / 1000);
  const id = `chatcmpl-demo${created}`;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const tools = (Array.isArray(body.tools) ? body.tools : []).filter((t) => t?.type === "function" && t.function?.name).map((t) => t.function);
  const lastTool = [...messages].reverse().find((m) => m?.role === "tool");
  const tc = body.tool_choice;
  const call = pickTool(tools, tc, typeof tc === "object" && tc ? tc.function?.name : null, lastTool !== undefined);
  const words = answerWords(lastTool ? asText(lastTool.content) : null);
  const prompt = promptTokens(messages);
  const completion = call ? promptTokens(call.arguments) : words.length;
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };
  const toolCall = call && { id: "call_demo1", type: "function", function: call };
  if (!body.stream) {
    const message = call ? { role: "assistant", content: null, tool_calls: [toolCall] } : { role: "assistant", content: words.join("") };
    return sendJson(res, 200, { id, object: "chat.completion", created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: call ? "tool_calls" : "stop" }], usage });
  }
  const withUsage = body.stream_options?.include_usage === true;
  const chunk = (delta, finish) => ({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) });
  const events = [];
  if (call) {
    events.push(chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, ...toolCall, function: { name: call.name, arguments: "" } }] }, null));
    events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: call.arguments } }] }, null));
    events.push(chunk({}, "tool_calls"));
  } else {
    events.push(chunk({ role: "assistant", content: "" }, null));
    for (const w of words) events.push(chunk({ content: w }, null));
    events.push(chunk({}, "stop"));
  }
  if (withUsage) events.push({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
  res.end("data: [DONE]\n\n");
}

function responses(body, res) {
  const model = body.model ?? "gpt-4o-mini";
  const created = Math.floor(Date.now() / 1000);
  const input = Array.isArray(body.input) ? body.input : [];
  const tools = (Array.isArray(body.tools) ? body.tools : []).filter((t) => t?.type === "function" && t.name);
  const lastResult = [...input].reverse().find((i) => i?.type === "function_call_output");
  const tc = body.tool_choice;
  const call = pickTool(tools, tc, typeof tc === "object" && tc ? tc.name : null, lastResult !== undefined);
  const words = answerWords(lastResult ? asText(lastResult.output) : null);
  const text = words.join("");
  const prompt = promptTokens([body.input, body.instructions]);
  const completion = call ? promptTokens(call.arguments) : words.length;
  const usage = { input_tokens: prompt, input_tokens_details: { cached_tokens: 0 }, output_tokens: completion, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + completion };
  const rid = `resp_demo${created}`;
  const msgId = `msg_demo${created}`;
  const fcId = `fc_demo${created}`;
  const msg = (status, t) => ({ id: msgId, type: "message", status, role: "assistant", content: t === null ? [] : [{ type: "output_text", text: t, annotations: [], logprobs: [] }] });
  const fc = (status, args) => ({ id: fcId, type: "function_call", status, call_id: "call_demo1", name: call.name, arguments: args });
  const response = (status) => ({
    id: rid, object: "response", created_at: created, status, model, error: null, incomplete_details: null,
    instructions: body.instructions ?? null, max_output_tokens: body.max_output_tokens ?? null, parallel_tool_calls: true,
    tool_choice: body.tool_choice ?? "auto", tools: body.tools ?? [], temperature: body.temperature ?? 1, top_p: body.top_p ?? 1, metadata: {},
    output: status === "completed" ? [call ? fc("completed", call.arguments) : msg("completed", text)] : [],
    usage: status === "completed" ? usage : null,
  });
  if (!body.stream) return sendJson(res, 200, response("completed"));
  let seq = 0;
  const events = [];
  const ev = (type, payload) => events.push([type, { type, sequence_number: seq++, ...payload }]);
  ev("response.created", { response: response("in_progress") });
  ev("response.in_progress", { response: response("in_progress") });
  if (call) {
    ev("response.output_item.added", { output_index: 0, item: fc("in_progress", "") });
    ev("response.function_call_arguments.delta", { item_id: fcId, output_index: 0, delta: call.arguments });
    ev("response.function_call_arguments.done", { item_id: fcId, output_index: 0, arguments: call.arguments });
    ev("response.output_item.done", { output_index: 0, item: fc("completed", call.arguments) });
  } else {
    ev("response.output_item.added", { output_index: 0, item: msg("in_progress", null) });
    ev("response.content_part.added", { item_id: msgId, output_index: 0, content_index: 0, part: { type: "output_text", text: "", annotations: [] } });
    for (const w of words) ev("response.output_text.delta", { item_id: msgId, output_index: 0, content_index: 0, delta: w, logprobs: [] });
    ev("response.output_text.done", { item_id: msgId, output_index: 0, content_index: 0, text, logprobs: [] });
    ev("response.content_part.done", { item_id: msgId, output_index: 0, content_index: 0, part: { type: "output_text", text, annotations: [] } });
    ev("response.output_item.done", { output_index: 0, item: msg("completed", text) });
  }
  ev("response.completed", { response: response("completed") });
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [type, data] of events) res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

function sendJson(res, status, obj) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(obj));
}

function handle(method, path, body, res) {
  const model = body.model ?? "gpt-4o-mini";
  const created = Math.floor(Date.now() / 1000);
  if (method === "GET" && path.endsWith("/models")) return sendJson(res, 200, { object: "list", data: [{ id: "gpt-4o-mini", object: "model", created: 0, owned_by: "demo" }] });
  if (path.endsWith("/chat/completions")) return chat(body, res);
  if (path.endsWith("/responses")) return responses(body, res);
  const prompt = promptTokens(body.input ?? body.prompt);
  if (path.endsWith("/completions")) {
    const words = answerWords(null);
    return sendJson(res, 200, { id: `cmpl-demo${created}`, object: "text_completion", created, model, choices: [{ index: 0, text: words.join(""), logprobs: null, finish_reason: "stop" }], usage: { prompt_tokens: prompt, completion_tokens: words.length, total_tokens: prompt + words.length } });
  }
  if (path.endsWith("/embeddings")) {
    const inputs = Array.isArray(body.input) && typeof body.input[0] !== "number" ? body.input : [body.input];
    return sendJson(res, 200, { object: "list", model, data: inputs.map((_, index) => ({ object: "embedding", index, embedding: [0.1, 0.2, 0.3] })), usage: { prompt_tokens: prompt, total_tokens: prompt } });
  }
  sendJson(res, 404, { error: { message: `not found: ${path}`, type: "invalid_request_error", param: null, code: "unknown_url" } });
}

/** Starts the demo provider on `port` (0 = any) and resolves with its base URL. */
export function startDemoUpstream(port) {
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      let body = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {}
      try {
        handle(req.method, new URL(req.url, "http://x").pathname, body ?? {}, res);
      } catch (e) {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(e), type: "server_error", param: null, code: null } });
        else res.destroy();
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        close: () => {
          server.closeAllConnections?.();
          server.close();
        },
      }),
    ),
  );
}
