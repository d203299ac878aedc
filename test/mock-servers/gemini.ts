/**
 * Stand-in for Google's Gemini API: `POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`, with the real envelope and usage semantics:
 * `usageMetadata.promptTokenCount` INCLUDES `cachedContentTokenCount`; `candidatesTokenCount`
 * EXCLUDES `thoughtsTokenCount` (both billed as output); streamed chunks are `data: {…}` events
 * separated by CRLF CRLF, each with the cumulative `usageMetadata`, the last one with `finishReason`.
 * Requires `x-goog-api-key`. Function calls carry a `thoughtSignature` that must come back on the
 * next turn (as Gemini 3 requires). Steered by `#mock:` directives (llm-common.ts), plus
 * `#mock:thoughts` (report 64 thinking tokens).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { argsFromSchema, contentPieces, directivesOf, json, pickToolCall, promptTokensOf, readBody, RequestLog, sleep, stringsOf, writeSse } from "./llm-common";
import type { MockServer } from "./types";

const STATUS: Record<number, string> = { 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE" };
const geminiError = (code: number, message: string) => ({ error: { code, message, status: STATUS[code] ?? "UNKNOWN" } });
export const GEMINI_THOUGHT_SIGNATURE = "c2lnbmF0dXJlLW1vY2stMQ==";

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
  const url = new URL(req.url ?? "/", "http://x");
  const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(url.pathname);
  if (req.method !== "POST" || !m) return json(res, 404, geminiError(404, `Not found: ${url.pathname}`));
  const key = req.headers["x-goog-api-key"];
  if (!key) return json(res, 403, geminiError(403, "Method doesn't allow unregistered callers. Please use API Key or other form of API consumer identity to call this API."));
  if (key === "bad-key") return json(res, 400, geminiError(400, "API key not valid. Please pass a valid API key."));
  if (!body || !Array.isArray(body.contents) || body.contents.length === 0) return json(res, 400, geminiError(400, "* GenerateContentRequest.contents: contents is not specified"));
  for (const [i, c] of body.contents.entries()) {
    for (const p of c?.parts ?? []) {
      if (c.role === "model" && p.functionCall && p.thoughtSignature !== GEMINI_THOUGHT_SIGNATURE) return json(res, 400, geminiError(400, `Function call is missing a thought_signature in functionCall parts (contents[${i}])`));
    }
  }

  const d = directivesOf(raw);
  if (d.hang) return;
  if (d.slowFirstByte) await sleep(d.slowFirstByte);
  if (d.fail) return json(res, d.fail, geminiError(d.fail, `mock failure ${d.fail}`));

  const model = m[1]!;
  const cached = d.cache ? 4096 : 0;
  const prompt = promptTokensOf(stringsOf([body.systemInstruction, body.contents])) + cached;
  const thoughts = /#mock:thoughts/.test(raw) ? 64 : 0;
  const pieces = contentPieces(d.chunks);
  const out = d.fill ? (body.generationConfig?.maxOutputTokens ?? pieces.length) : pieces.length;
  const usage = (candidates: number) => ({
    promptTokenCount: prompt,
    candidatesTokenCount: candidates,
    totalTokenCount: prompt + candidates + thoughts,
    ...(cached ? { cachedContentTokenCount: cached } : {}),
    ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: prompt }],
  });
  const call = toolCallOf(body);
  const callPart = call ? { functionCall: { name: call.name, args: argsFromSchema(call.parameters) }, thoughtSignature: GEMINI_THOUGHT_SIGNATURE } : null;
  const response = (parts: object[], finish: string | null, u: object | null) => ({
    candidates: [{ content: { role: "model", parts }, ...(finish ? { finishReason: finish } : {}), index: 0 }],
    ...(u ? { usageMetadata: u } : {}),
    modelVersion: model,
    responseId: "resp-gemini-mock",
  });

  if (m[2] === "generateContent") return json(res, 200, response(callPart ? [callPart] : [{ text: pieces.join("") }], "STOP", usage(out)));
  if (url.searchParams.get("alt") !== "sse") return json(res, 200, [response([{ text: pieces.join("") }], "STOP", usage(out))]);

  const ev = (obj: object) => `data: ${JSON.stringify(obj)}\r\n\r\n`;
  const events: string[] = [];
  const u = (n: number) => (d.noUsage ? null : usage(n));
  if (callPart) events.push(ev(response([callPart], "STOP", u(out))));
  else {
    pieces.forEach((p, i) => events.push(ev(response([{ text: p }], i === pieces.length - 1 && !d.streamError ? "STOP" : null, u(i === pieces.length - 1 ? out : i + 1)))));
    if (d.streamError) events.push(ev(geminiError(503, "The model is overloaded. Please try again later.")));
  }
  const cut = d.truncate || d.stall ? Math.ceil(pieces.length / 2) : undefined;
  await writeSse(res, events, { slowChunks: d.slowChunks, cutAfter: cut, stall: d.stall });
}

/** `tools[].functionDeclarations`; `toolConfig.functionCallingConfig` mode NONE / ANY + allowedFunctionNames; results are `functionResponse` parts. */
function toolCallOf(body: any) {
  const tools = (Array.isArray(body.tools) ? body.tools : []).flatMap((t: any) => (Array.isArray(t?.functionDeclarations) ? t.functionDeclarations : [])).map((f: any) => ({ name: f.name, parameters: f.parameters ?? f.parametersJsonSchema }));
  const cfg = body.toolConfig?.functionCallingConfig;
  const hasResult = body.contents.some((c: any) => (c?.parts ?? []).some((p: any) => p?.functionResponse));
  return pickToolCall(tools, cfg?.mode === "ANY" ? (cfg.allowedFunctionNames?.[0] ?? null) : null, cfg?.mode === "NONE", hasResult);
}

/** Starts the mock on a random loopback port. */
export async function startGeminiMock(name = "gemini", port = 0): Promise<MockServer & { log: RequestLog }> {
  const log = new RequestLog();
  const server = createServer((req, res) => {
    handle(req, res, log).catch((e) => {
      if (!res.headersSent) json(res, 500, geminiError(500, String(e)));
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
