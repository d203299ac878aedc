/**
 * A stand-in for OpenAI's API (a service outside this machine) for the browser tests: answers
 * `/v1/chat/completions` (plain and streamed) with a fixed reply and exact `usage`, so spend is predictable.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { MockServer } from "../../mock-servers/types";

export const MOCK_USAGE = { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 };

export async function startMockOpenAI(): Promise<MockServer & { requests: () => number }> {
  let count = 0;
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      count++;
      let body: { model?: string; stream?: boolean } = {};
      try {
        body = JSON.parse(raw || "{}");
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: "bad json", type: "invalid_request_error" } }));
      }
      if (!req.url?.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: `mock has no ${req.url}`, type: "invalid_request_error" } }));
      }
      const id = `chatcmpl-mock${count}`;
      const model = body.model ?? "gpt-4o-mini";
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", model, choices: [{ index: 0, delta: { role: "assistant", content: "Hello from mock" }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", model, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", model, choices: [], usage: MOCK_USAGE })}\n\n`);
        return res.end("data: [DONE]\n\n");
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        id, object: "chat.completion", created: Math.floor(Date.now() / 1000), model,
        choices: [{ index: 0, message: { role: "assistant", content: "Hello from mock" }, finish_reason: "stop" }], usage: MOCK_USAGE,
      }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { name: "openai", url: `http://127.0.0.1:${port}`, requests: () => count, close: () => new Promise((r) => server.close(() => r())) };
}
