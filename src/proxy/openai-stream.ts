/**
 * OpenAI chat/legacy-completions streams send usage only when asked (`stream_options.include_usage`),
 * in one extra chunk with `choices: []` just before `data: [DONE]`. Tollgate always asks, so every
 * stream can be priced exactly, and removes that chunk again when the client did not ask for it
 * (the `"usage": null` on the other chunks is harmless and stays).
 */

/** Forces `stream_options.include_usage = true`; returns whether the client itself asked for usage. */
export function forceIncludeUsage(body: Record<string, unknown>): boolean {
  const so = body.stream_options;
  const opts = so && typeof so === "object" && !Array.isArray(so) ? (so as Record<string, unknown>) : {};
  const clientAsked = opts.include_usage === true;
  body.stream_options = { ...opts, include_usage: true };
  return clientAsked;
}
