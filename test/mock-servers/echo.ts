import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { MockServer } from "./types";

/** Echoes method, path and body as JSON; proves the Worker can reach mock servers on loopback. */
export async function startEchoServer(): Promise<MockServer> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, path: req.url, body }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { name: "echo", url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
