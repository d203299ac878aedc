/**
 * Data plane, OpenAI-compatible endpoints (docs/proxy.md). The handlers hand the request to the proxy
 * pipeline (src/proxy/pipeline.ts); the zod shapes below validate the fields Tollgate reads or that
 * are cheap to check, and let every other field through untouched (`looseObject`).
 * The body is read by the pipeline itself (size limit first, then JSON, then these schemas), so the
 * routes are registered in the OpenAPI document with `registerPath` rather than a body validator.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import type { Endpoint } from "../durable-objects/gate-protocol";
import { validationHook } from "../errors";
import { proxyRequest, type EndpointSpec } from "../proxy/pipeline";
import { listModels } from "../proxy/models";

const model = z.string().min(1).max(256);
const maxTokens = z.number().int().min(1).max(10_000_000).nullable().optional();
const streamOptions = z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional();
const metadata = z
  .looseObject({ customer_id: z.string().max(256).optional(), tags: z.record(z.string(), z.string()).optional() })
  .nullable()
  .optional();
const sampling = {
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  user: z.string().max(256).optional(),
  metadata,
  stream: z.boolean().nullable().optional(),
  stream_options: streamOptions,
};
const tokenArray = z.array(z.number().int().min(0));

const chatMessage = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string().min(1) })), z.null()]).optional(),
  name: z.string().optional(),
});

/** `POST /v1/chat/completions` body. */
export const ChatCompletionBody = z.looseObject({
  model,
  messages: z.array(chatMessage).min(1),
  max_tokens: maxTokens,
  max_completion_tokens: maxTokens,
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  ...sampling,
});

/** `POST /v1/completions` body (legacy). */
export const CompletionBody = z.looseObject({
  model,
  prompt: z.union([z.string(), z.array(z.string()), tokenArray, z.array(tokenArray)]),
  max_tokens: maxTokens,
  best_of: z.number().int().min(1).max(20).nullable().optional(),
  suffix: z.string().nullable().optional(),
  ...sampling,
});

/** `POST /v1/embeddings` body. */
export const EmbeddingBody = z.looseObject({
  model,
  input: z.union([z.string(), z.array(z.string()).min(1), tokenArray.min(1), z.array(tokenArray).min(1)]),
  dimensions: z.number().int().min(1).optional(),
  encoding_format: z.enum(["float", "base64"]).optional(),
  user: z.string().max(256).optional(),
});

/** `POST /v1/responses` body. */
export const ResponsesBody = z.looseObject({
  model,
  input: z.union([z.string(), z.array(z.looseObject({}))]).optional(),
  instructions: z.string().nullable().optional(),
  max_output_tokens: maxTokens,
  previous_response_id: z.string().nullable().optional(),
  tools: z.array(z.looseObject({ type: z.string() })).optional(),
  temperature: sampling.temperature,
  top_p: sampling.top_p,
  user: sampling.user,
  metadata,
  stream: sampling.stream,
});

const openaiOnly = ["openai", "openai_compatible"] as const;

function spec(endpoint: Endpoint, upstreamPath: string, schema: z.ZodType): EndpointSpec {
  return { endpoint, flavor: "openai", upstreamPath, schema, providerTypes: openaiOnly };
}

const SPECS = {
  chat: spec("chat.completions", "/chat/completions", ChatCompletionBody),
  completions: spec("completions", "/completions", CompletionBody),
  embeddings: spec("embeddings", "/embeddings", EmbeddingBody),
  responses: spec("responses", "/responses", ResponsesBody),
};

/** OpenAI-format data-plane routes, mounted under `/v1`. */
export const v1OpenaiRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

v1OpenaiRoutes.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", description: "A Tollgate virtual key (sk-tg-…)" });

const docs: Array<[string, z.ZodType, string]> = [
  ["/chat/completions", ChatCompletionBody, "Chat completion (streamed with `stream: true`)"],
  ["/completions", CompletionBody, "Legacy text completion"],
  ["/embeddings", EmbeddingBody, "Embeddings"],
  ["/responses", ResponsesBody, "Responses API (streamed with `stream: true`)"],
];
for (const [path, schema, summary] of docs) {
  v1OpenaiRoutes.openAPIRegistry.registerPath({
    method: "post",
    path,
    summary,
    tags: ["data plane"],
    security: [{ bearerAuth: [] }],
    request: { body: { content: { "application/json": { schema } }, required: true } },
    responses: { 200: { description: "The provider's response, passed through (JSON or text/event-stream)" } },
  });
}

v1OpenaiRoutes.post("/chat/completions", (c) => proxyRequest(c, SPECS.chat));
v1OpenaiRoutes.post("/completions", (c) => proxyRequest(c, SPECS.completions));
v1OpenaiRoutes.post("/embeddings", (c) => proxyRequest(c, SPECS.embeddings));
v1OpenaiRoutes.post("/responses", (c) => proxyRequest(c, SPECS.responses));

v1OpenaiRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/models",
  summary: "Models this key may use",
  tags: ["data plane"],
  security: [{ bearerAuth: [] }],
  responses: { 200: { description: "OpenAI-style model list" } },
});
v1OpenaiRoutes.get("/models", (c) => listModels(c));
