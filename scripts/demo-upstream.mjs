// The demo model provider `npm start` runs: a tiny OpenAI-compatible server on loopback that answers
// chat completions (streamed and not), completions, embeddings and responses with canned text and real usage
// objects, so a first request works offline. It is a stand-in for a real provider, never part of the gateway.
import { createServer } from "node:http";

const words = "Hello from the Tollgate demo provider. Your request was metered and priced exactly.".split(" ");
const usage = (prompt, completion) => ({ prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion });

function handle(path, body, res) {
  const model = body.model ?? "gpt-4o-mini";
  const prompt = Math.max(1, Math.ceil(JSON.stringify(body.messages ?? body.input ?? body.prompt ?? "").length / 4));
  const created = Math.floor(Date.now() / 1000);
  if (path.endsWith("/chat/completions") && body.stream) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const id = `chatcmpl-demo${created}`;
    for (const [i, w] of words.entries()) {
      const chunk = { id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta: { content: (i ? " " : "") + w }, finish_reason: null }] };
      if (body.stream_options?.include_usage) chunk.usage = null;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
    if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage: usage(prompt, words.length) })}\n\n`);
    return res.end("data: [DONE]\n\n");
  }
  res.writeHead(200, { "content-type": "application/json" });
  if (path.endsWith("/chat/completions")) {
    return res.end(JSON.stringify({ id: `chatcmpl-demo${created}`, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content: words.join(" ") }, finish_reason: "stop" }], usage: usage(prompt, words.length) }));
  }
  if (path.endsWith("/completions")) {
    return res.end(JSON.stringify({ id: `cmpl-demo${created}`, object: "text_completion", created, model, choices: [{ index: 0, text: words.join(" "), finish_reason: "stop" }], usage: usage(prompt, words.length) }));
  }
  if (path.endsWith("/embeddings")) {
    return res.end(JSON.stringify({ object: "list", model, data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2, 0.3] }], usage: { prompt_tokens: prompt, total_tokens: prompt } }));
  }
  if (path.endsWith("/responses")) {
    return res.end(JSON.stringify({ id: `resp_demo${created}`, object: "response", created_at: created, model, status: "completed", output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text: words.join(" ") }] }], usage: { input_tokens: prompt, input_tokens_details: { cached_tokens: 0 }, output_tokens: words.length, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: prompt + words.length } }));
  }
  res.writeHead(404);
  res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
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
      handle(new URL(req.url, "http://x").pathname, body, res);
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() })));
}
