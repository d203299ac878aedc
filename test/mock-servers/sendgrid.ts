import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { MockServer } from "./types";

/** One request the mock accepted or refused, as the test reads it back from `GET /_requests`. */
export type RecordedSendGridRequest = { method: string; path: string; authorization: string | null; contentType: string | null; body: unknown; status: number };

/** API key that makes the mock answer 500, to exercise the failure path without shared state. */
export const SENDGRID_FAILING_KEY = "SG.mock-answers-500";

const sgError = (res: ServerResponse, status: number, message: string, field: string | null) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ errors: [{ message, field, help: null }] }));
};

/** Checks the documented v3 `/mail/send` body; returns [field, message] of the first problem, or null. */
function problemWith(body: any): [string | null, string] | null {
  if (!body || typeof body !== "object") return [null, "Bad Request"];
  const p = body.personalizations;
  if (!Array.isArray(p) || p.length === 0) return ["personalizations", "The personalizations field is required and must have at least one personalization."];
  for (const one of p) {
    if (!Array.isArray(one?.to) || one.to.length === 0 || one.to.some((t: any) => typeof t?.email !== "string" || !t.email.includes("@"))) {
      return ["personalizations.0.to", "The to array is required for all personalization objects, and must have at least one email object with a valid email address."];
    }
  }
  if (typeof body.from?.email !== "string" || !body.from.email.includes("@")) return ["from.email", "The from object must be provided for every email send. It is an object that requires an email parameter, but may also contain a name parameter."];
  if (typeof body.subject !== "string" || body.subject.length === 0) return ["subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined."];
  if (!Array.isArray(body.content) || body.content.length === 0) return ["content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block."];
  for (const c of body.content) {
    if (typeof c?.type !== "string" || typeof c?.value !== "string" || c.value.length === 0) return ["content.0.type", "The content value must be a string at least one character in length."];
  }
  if (body.content[0].type !== "text/plain" && body.content.some((c: any) => c.type === "text/plain")) return ["content", "If present, text/plain and text/html may only be provided in order of text/plain, then text/html."];
  return null;
}

/**
 * Stand-in for SendGrid's v3 Mail Send API (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send):
 * `POST /v3/mail/send` with `Authorization: Bearer <key>` and the documented JSON answers 202 with an empty body;
 * a malformed one 400 and a missing key 401, both with SendGrid's `{"errors":[{message,field,help}]}`.
 * The key {@link SENDGRID_FAILING_KEY} gets a 500. `GET /_requests?to=<email>` returns what was received.
 */
export async function startSendGridServer(): Promise<MockServer> {
  const received: RecordedSendGridRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://mock");
      if (req.method === "GET" && url.pathname === "/_requests") {
        const to = url.searchParams.get("to");
        const matching = to ? received.filter((r) => JSON.stringify(r.body).includes(`"email":"${to}"`)) : received;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(matching));
        return;
      }
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        /* recorded as text; refused below */
      }
      const record = (status: number) => received.push({ method: req.method ?? "", path: url.pathname, authorization: req.headers.authorization ?? null, contentType: req.headers["content-type"] ?? null, body, status });
      if (req.method !== "POST" || url.pathname !== "/v3/mail/send") {
        record(404);
        return sgError(res, 404, "Not Found", null);
      }
      const auth = req.headers.authorization ?? "";
      if (!/^Bearer \S+$/.test(auth)) {
        record(401);
        return sgError(res, 401, "The provided authorization grant is invalid, expired, or revoked", null);
      }
      if (!(req.headers["content-type"] ?? "").startsWith("application/json") || typeof body !== "object") {
        record(400);
        return sgError(res, 400, "Bad Request", null);
      }
      const problem = problemWith(body);
      if (problem) {
        record(400);
        return sgError(res, 400, problem[1], problem[0]);
      }
      if (auth === `Bearer ${SENDGRID_FAILING_KEY}`) {
        record(500);
        return sgError(res, 500, "Internal server error", null);
      }
      record(202);
      res.writeHead(202, { "x-message-id": `mock-${received.length}` });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { name: "sendgrid", url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
