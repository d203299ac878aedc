/**
 * Which translator serves an endpoint on a provider that does not speak its format natively.
 * Today: `/v1/chat/completions` on `anthropic` and `gemini` providers, and `/v1/messages` on
 * `openai` / `openai_compatible` providers. Everything else keeps the pipeline's
 * "does not speak this endpoint's format" refusal. docs/providers.md has the tables.
 */
import type { Endpoint, UpstreamRoute } from "../../durable-objects/gate-protocol";
import { anthropicChat } from "./anthropic";
import { geminiChat } from "./gemini";
import { messagesToOpenAi } from "./messages-openai";
import type { ChatTranslator } from "./types";

export type { ChatTranslator } from "./types";

/** The translator for `endpoint` on a provider of `type`, or null when there is none. */
export function translatorFor(endpoint: Endpoint, type: UpstreamRoute["type"]): ChatTranslator | null {
  if (endpoint === "messages") return type === "openai" || type === "openai_compatible" ? messagesToOpenAi : null;
  if (endpoint !== "chat.completions") return null;
  if (type === "anthropic") return anthropicChat;
  if (type === "gemini") return geminiChat;
  return null;
}
