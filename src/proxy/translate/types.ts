/**
 * The contract of a format translator: the pipeline calls one at its boundaries only (request body →
 * provider request; provider response or stream → OpenAI response or stream + the provider's exact
 * usage). Admission, reservation, settlement and error handling stay in the pipeline, unchanged.
 * Field-by-field rules: docs/providers.md.
 */
import type { Usage } from "../../durable-objects/gate-protocol";
import type { StreamUsageTracker } from "../usage";

export type Json = Record<string, any>;

/** A request the provider can take, or why it cannot (always a 400 `invalid_request` naming `param`). */
export type TranslatedRequest = { ok: true; body: Json; path: string } | { ok: false; message: string; param: string | null };

/** What the request translation needs besides the body. */
export type RequestContext = {
  /** The provider's model name (already in `body.model`). */
  upstreamModel: string;
  /** The model's output cap from the price row: the `max_tokens` sent when the client set none (it is also what the gate reserved). */
  maxOutputTokens: number;
  stream: boolean;
  providerName: string;
};

/** A translated non-streamed response. */
export type TranslatedResponse = { body: Json; usage: Usage | null; outputBytes: number };

/**
 * A translated stream. `transform` turns provider SSE bytes into OpenAI chat SSE bytes event by event
 * (never buffering more than one incomplete event); `tracker` is what the pipeline reads: exact usage
 * from the provider's own events, delivered-output bytes and the usage-only chunk from the OpenAI side.
 */
export type TranslatedStream = { transform: TransformStream<Uint8Array, Uint8Array>; tracker: StreamUsageTracker };

/** Translates OpenAI chat completions to and from one provider format. */
export interface ChatTranslator {
  request(body: Json, ctx: RequestContext): TranslatedRequest;
  response(json: Json): TranslatedResponse;
  stream(providerName: string): TranslatedStream;
}
