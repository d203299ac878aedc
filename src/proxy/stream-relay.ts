/**
 * Relays an upstream SSE stream to the client chunk by chunk (never buffering the body) while a
 * usage tracker reads events on the side. When the usage chunk must be hidden from the client, the
 * relay forwards whole events instead of raw reads (a partial event waits for its terminator).
 * `outcome` resolves once the stream ended: completed, cut by the provider, or cancelled by the client.
 */
import { SseParser } from "./sse";
import type { StreamUsageTracker } from "./usage";

/** How a relayed stream ended. */
export type StreamOutcome = { kind: "complete" | "upstream_error" | "client_abort"; firstChunkAt: number | null };

/** Starts relaying `upstream` through a TransformStream; the caller returns `readable` to the client. */
export function relayStream(upstream: ReadableStream<Uint8Array>, tracker: StreamUsageTracker, stripUsageChunk: boolean, errorEvent: Uint8Array): { readable: ReadableStream<Uint8Array>; outcome: Promise<StreamOutcome> } {
  const parser = new SseParser();
  let firstChunkAt: number | null = null;
  let clientGone = false;
  const ts = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, ctl) {
      if (firstChunkAt === null) firstChunkAt = Date.now();
      const events = parser.push(chunk);
      if (!stripUsageChunk) {
        ctl.enqueue(chunk);
        for (const ev of events) tracker.onEvent(ev);
        return;
      }
      for (const ev of events) {
        tracker.onEvent(ev);
        if (!tracker.lastWasUsageOnlyChunk) ctl.enqueue(ev.raw);
      }
    },
    flush(ctl) {
      const tail = parser.end();
      if (tail) {
        tracker.onEvent(tail);
        if (stripUsageChunk && !tracker.lastWasUsageOnlyChunk) ctl.enqueue(tail.raw);
      }
    },
  });
  // A reader that cancels (client disconnect) makes pipeTo reject; so does an upstream read error.
  // The client's cancel wins: the upstream side may then end either way.
  const outcome = upstream.pipeTo(ts.writable).then(
    (): StreamOutcome => ({ kind: clientGone ? "client_abort" : "complete", firstChunkAt }),
    (): StreamOutcome => ({ kind: clientGone ? "client_abort" : "upstream_error", firstChunkAt }),
  );
  return { readable: cancelAware(ts.readable, () => (clientGone = true), errorEvent), outcome };
}

/**
 * Wraps a readable so a client cancel is noticed (and passed on, which aborts the upstream pipe),
 * and so an upstream failure mid-stream reaches the client as an SSE error event (which both SDKs
 * raise as an APIError) followed by a clean close, rather than a torn connection.
 */
function cancelAware(src: ReadableStream<Uint8Array>, onCancel: () => void, errorEvent: Uint8Array): ReadableStream<Uint8Array> {
  const reader = src.getReader();
  reader.closed.catch(() => {}); // an upstream error surfaces through read(); don't report it twice
  return new ReadableStream<Uint8Array>(
    {
      async pull(ctl) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch {
          ctl.enqueue(errorEvent);
          ctl.close();
          return;
        }
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      },
      cancel(reason) {
        onCancel();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
