/**
 * Data plane, Anthropic-native `POST /v1/messages` (docs/proxy.md): `x-api-key` or `Authorization: Bearer`,
 * `anthropic-version` passed through, errors in Anthropic's envelope. Served by `anthropic` providers.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { validationHook } from "../errors";
import { proxyRequest, type EndpointSpec } from "../proxy/pipeline";

const content = z.union([z.string(), z.array(z.looseObject({ type: z.string().min(1) })).min(1)]);

/** `POST /v1/messages` body. */
export const MessagesBody = z.looseObject({
  model: z.string().min(1).max(256),
  max_tokens: z.number().int().min(1).max(10_000_000),
  messages: z.array(z.looseObject({ role: z.enum(["user", "assistant"]), content })).min(1),
  system: z.union([z.string(), z.array(z.looseObject({ type: z.string().min(1) }))]).optional(),
  tools: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  metadata: z
    .looseObject({ user_id: z.string().max(256).nullable().optional(), customer_id: z.string().max(256).optional(), tags: z.record(z.string(), z.string()).optional() })
    .optional(),
});

const SPEC: EndpointSpec = { endpoint: "messages", flavor: "anthropic", upstreamPath: "/messages", schema: MessagesBody, providerTypes: ["anthropic"] };

/** Anthropic-format data-plane routes, mounted under `/v1`. */
export const v1AnthropicRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

v1AnthropicRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/messages",
  summary: "Anthropic Messages API (streamed with `stream: true`)",
  tags: ["data plane"],
  request: { body: { content: { "application/json": { schema: MessagesBody } }, required: true } },
  responses: { 200: { description: "The provider's response, passed through (JSON or text/event-stream)" } },
});
v1AnthropicRoutes.post("/messages", (c) => proxyRequest(c, SPEC));
