/**
 * Benchmark upstream: a minimal OpenAI-compatible server (Node http) answering
 * `POST /v1/chat/completions` with a fixed completion and usage, or an SSE stream (first event
 * immediately, then the rest), so all three paths (direct, no-op Worker, gateway) hit the same thing.
 */
import { createServer } from "node:http";

const completion = JSON.stringify({
  id: "chatcmpl-bench", object: "chat.completion", created: 1700000000, model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello from the bench upstream." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
});

function streamEvents(includeUsage) {
  const u = includeUsage ? { usage: null } : {};
  const chunk = (delta, finish = null) => `data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model: "gpt-4o-mini", choices: [{ index: 0, delta, finish_reason: finish }], ...u })}\n\n`;
  const events = [chunk({ role: "assistant", content: "" }), ...["Hello", " from", " the", " bench"].map((w) => chunk({ content: w })), chunk({}, "stop")];
  if (includeUsage) events.push(`data: ${JSON.stringify({ id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model: "gpt-4o-mini", choices: [], usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 } })}\n\n`);
  events.push("data: [DONE]\n\n");
  return events;
}

/** Starts the upstream on `port` (0 = random); resolves to { url, close }. */
export async function startUpstream(port = 0) {
  const server = createServer((req, res) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(parts).toString("utf8");
      const stream = raw.includes('"stream":true');
      if (!stream) {
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(completion) });
        res.end(completion);
        return;
      }
      const events = streamEvents(raw.includes('"include_usage":true'));
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(events[0]);
      setTimeout(() => res.end(events.slice(1).join("")), 2);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) };
}
