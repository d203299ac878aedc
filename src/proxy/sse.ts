/**
 * Byte-buffer Server-Sent Events parser. Events are split on blank lines (`\n\n`, `\r\n\r\n`,
 * `\r\r`) over the raw bytes, never per network read: an event split across reads is held until
 * its terminator arrives, and one read may carry many events. Text is decoded per complete event,
 * so a multi-byte UTF-8 character split across reads is never mangled.
 */

/** One complete SSE event. `raw` is the exact bytes, terminator included, for re-emission. */
export type SseEvent = { event: string | null; data: string; raw: Uint8Array };

const LF = 10;
const CR = 13;
const decoder = new TextDecoder();

/** Incremental SSE parser. Feed it reads with {@link SseParser.push}; call {@link SseParser.end} at EOF. */
export class SseParser {
  private buf: Uint8Array = new Uint8Array(0);
  /** Where the next terminator search starts (bytes before it were already scanned). */
  private scanFrom = 0;

  /** Appends one read and returns every event it completed, in order. */
  push(chunk: Uint8Array): SseEvent[] {
    if (this.buf.length === 0) this.buf = chunk;
    else {
      const merged = new Uint8Array(this.buf.length + chunk.length);
      merged.set(this.buf, 0);
      merged.set(chunk, this.buf.length);
      this.buf = merged;
    }
    const events: SseEvent[] = [];
    let start = 0;
    let i = Math.max(this.scanFrom, 0);
    const b = this.buf;
    while (i < b.length) {
      const c = b[i]!;
      let end = -1;
      if (c === LF) {
        if (b[i + 1] === LF) end = i + 2;
        else if (b[i + 1] === CR && b[i + 2] === LF) end = i + 3; // "\n\r\n"
      } else if (c === CR) {
        if (b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF) end = i + 4;
        else if (b[i + 1] === CR) end = i + 2;
        // Too few bytes after a CR to tell "\r\n\r\n" from "\r\n…": no match yet; the next push re-scans.
      }
      if (end > 0) {
        events.push(parseEvent(b.subarray(start, end)));
        start = end;
        i = end;
      } else i++;
    }
    this.buf = start === 0 ? b : b.slice(start);
    // Re-scan the last 3 bytes next time: a terminator may straddle two reads.
    this.scanFrom = Math.max(0, this.buf.length - 3);
    return events;
  }

  /** Bytes of an unterminated trailing event (a stream cut mid-event), if any. */
  end(): SseEvent | null {
    if (this.buf.length === 0) return null;
    const raw = this.buf;
    this.buf = new Uint8Array(0);
    this.scanFrom = 0;
    const ev = parseEvent(raw);
    return ev.data || ev.event ? ev : null;
  }
}

/** Parses the field lines of one event (`event:`, `data:`; comments and other fields ignored). */
export function parseEvent(raw: Uint8Array): SseEvent {
  const text = decoder.decode(raw);
  let event: string | null = null;
  let data = "";
  let hasData = false;
  for (const line of text.split(/\r\n|\r|\n/)) {
    if (line === "" || line.charCodeAt(0) === 58 /* ':' comment */) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") {
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
    } else if (field === "event") event = value;
  }
  return { event, data, raw };
}
